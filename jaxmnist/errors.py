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


def closest_names(name: str, known, separator: str = ".", count: int = 3) -> list[str]:
    """The names of `known` a misspelled `name` most likely meant, at most `count`.

    First those whose last component (after `separator`) is the same word, its initials
    (`lr`: `learning_rate`), starts with it or is a close spelling of it, closest whole name first;
    without such, difflib's.
    """
    import difflib

    word = name.rsplit(separator, 1)[-1]

    def same_word(candidate: str) -> bool:
        other = candidate.rsplit(separator, 1)[-1]
        parts = other.split("_")
        return (other == word or (len(parts) > 1 and "".join(part[:1] for part in parts) == word)
                or (len(word) >= 3 and other.startswith(word))
                or difflib.SequenceMatcher(None, other, word).ratio() >= 0.8)

    by_word = sorted((candidate for candidate in known if same_word(candidate)),
                     key=lambda candidate: -difflib.SequenceMatcher(None, candidate, name).ratio())
    return by_word[:count] or difflib.get_close_matches(name, list(known), n=count, cutoff=0.6)


def did_you_mean(names: list[str]) -> str:
    """' (did you mean a, b or c?)' for names from `closest_names`, '' for none."""
    if not names:
        return ""
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"
    return f" (did you mean {listed}?)"
