"""The one exception type a user ever sees: printed as a single line, never a traceback."""


class UserError(Exception):
    """Bad input or a missing prerequisite.

    The CLI prints `error: <message>` on one line and exits with `exit_code`.
    """

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


class RunWarning(UserWarning):
    """A problem a run recovered from (a damaged checkpoint, a partial log line): one `warning:` line."""
