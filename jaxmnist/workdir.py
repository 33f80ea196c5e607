"""What keeps a directory a run writes to whole: one process at a time, files replaced atomically.

- `exclusive_lock`: an flock on a file inside the directory, held for the process's life. The
  OS drops it when the process dies, so a SIGKILLed run never blocks the rerun.
- `atomic_write_text`: a file is either its old or its new content, never half of either.
- `filesystem_error`: an OSError about the filesystem (not writable, not a directory, full) as
  the UserError a user can act on.
"""

import contextlib
import errno
import fcntl
import os
import sys
import tempfile
from pathlib import Path

from jaxmnist.errors import UserError

LOCK_NAME = ".lock"

# errno -> what to do about it
_FILESYSTEM_FIXES = {
    errno.ENOSPC: "no space left on the device: free some space and rerun",
    errno.EDQUOT: "disk quota exceeded: free some space and rerun",
    errno.EROFS: "the filesystem is read-only: choose a writable location",
    errno.EACCES: "permission denied: choose a location you may write to",
    errno.EPERM: "operation not permitted: choose a location you may write to",
    errno.ENOTDIR: "a part of the path is a file, not a directory: choose another path",
    errno.EEXIST: "it exists and is not a directory: choose another path",
    errno.EISDIR: "it is a directory where a file was expected: choose another path",
    errno.EFBIG: "the file grew past the size this process may write: raise the limit (ulimit -f) and rerun",
    # mkdir of a missing parent where none can be made (under /proc, /sys, a vanished mount)
    errno.ENOENT: "no such directory, and none can be made there: choose another path",
}
# Messages of errors that libraries (tensorstore, orbax) raise as other types for the same causes.
_FILESYSTEM_MESSAGES = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
                        "Read-only file system": errno.EROFS, "Permission denied": errno.EACCES,
                        "Not a directory": errno.ENOTDIR}


def filesystem_cause(error: BaseException) -> tuple[int, str | None] | None:
    """(errno, filename) of the filesystem problem behind `error` (or its causes), else None."""
    seen = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FILESYSTEM_FIXES:
            return current.errno, current.filename
        for message, number in _FILESYSTEM_MESSAGES.items():
            if message in str(current):
                return number, None
        pending += [current.__cause__, current.__context__, *getattr(current, "exceptions", ())]
    return None


def filesystem_error(error: BaseException, what: str | Path) -> UserError | None:
    """A one-line UserError for a filesystem problem behind `error` while using `what`, else None."""
    cause = filesystem_cause(error)
    if cause is None:
        return None
    number, filename = cause
    return UserError(f"{filename or what}: {_FILESYSTEM_FIXES[number]}")


@contextlib.contextmanager
def filesystem_errors_reported(what: str | Path):
    """Turn a filesystem problem inside the block into a UserError naming the file, or `what`."""
    try:
        yield
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001 - only filesystem problems become UserErrors
        user_error = filesystem_error(error, what)
        if user_error is None:
            raise
        raise user_error from None


def make_directory(path: Path) -> bool:
    """Create `path` (and its parents) if missing; True if it was created. Filesystem problems are UserErrors."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path} is a file, not a directory: choose another path")
    try:
        created = not path.exists()
        path.mkdir(parents=True, exist_ok=True)
        return created
    except OSError as error:
        raise filesystem_error(error, path) or error from None


def atomic_write_text(path: Path, text: str):
    """Replace `path` by `text` whole: written beside it, flushed to disk, then renamed over it."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: Path, data: bytes):
    """As `atomic_write_text`, for bytes."""
    path = Path(path)
    temporary = None
    try:
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                         delete=False) as file:
            temporary = file.name
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # readable like any file a run writes (a temporary file is private)
        os.replace(temporary, path)
    except OSError as error:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise filesystem_error(error, path) or error from None


def _holder(lock_path: Path) -> str:
    """'PID 123 is running jaxmnist train', from what the holder wrote in the lock file."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid, purpose = lock_path.read_text().split("\n")[:2]
        return f"PID {int(pid)} is running {purpose or 'jaxmnist'}"
    return "another process is using it"


@contextlib.contextmanager
def exclusive_lock(directory: Path, purpose: str, wait: bool = False):
    """Hold `directory`/.lock for the block, or raise UserError naming the PID that holds it
    (with `wait`: say so in one line and wait for it).

    The file holds the holder's PID and `purpose` (e.g. 'jaxmnist train'), for that message.

    The lock file is removed on release. A process that opened it just before then finds, once
    it holds the lock, that the name no longer points to its file, and starts over with the new one.
    """
    lock_path = Path(directory) / LOCK_NAME
    while True:
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise filesystem_error(error, directory) or error from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                os.close(descriptor)
                raise UserError(f"{directory} is in use: {_holder(lock_path)} in it. Wait for it to finish or "
                                "stop it, then rerun") from None
            print(f"waiting for {directory}: {_holder(lock_path)} in it", file=sys.stderr, flush=True)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:
            same_file = os.stat(lock_path).st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        os.close(descriptor)
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n{purpose}\n".encode())
    except OSError as error:
        _release(lock_path, descriptor)
        raise filesystem_error(error, directory) or error from None
    try:
        yield lock_path
    finally:
        _release(lock_path, descriptor)


def _release(lock_path: Path, descriptor: int):
    with contextlib.suppress(OSError):
        os.unlink(lock_path)  # while still held: nobody else can hold this file now
    os.close(descriptor)


def remove_if_empty(directory: Path):
    """Remove `directory` if nothing is in it (a run that created it and then failed)."""
    with contextlib.suppress(OSError):
        Path(directory).rmdir()


class Snapshot:
    """What a directory held when a run started, to put back if the run fails before it trains.

    Keeps the bytes of `files` and the names in `folders` and at the top level; `restore`
    rewrites those files and removes every entry that was not there.
    """

    def __init__(self, directory: Path, files: tuple[str, ...], folders: tuple[str, ...]):
        self.directory = Path(directory)
        self.entries = self._names(self.directory)
        self.contents = {name: (self.directory / name).read_bytes() for name in files
                         if (self.directory / name).is_file()}
        self.files = files
        self.folders = {name: self._names(self.directory / name) for name in folders}

    @staticmethod
    def _names(directory: Path) -> set[str] | None:
        return {path.name for path in directory.iterdir()} if directory.is_dir() else None

    def restore(self):
        """Best effort: a restore that fails too (a full disk) must not hide why the run failed."""
        with contextlib.suppress(OSError, UserError):
            for name in self.files:
                path = self.directory / name
                if name in self.contents and (not path.is_file() or path.read_bytes() != self.contents[name]):
                    atomic_write_bytes(path, self.contents[name])
            for folder, names in self.folders.items():
                if names is not None and (self.directory / folder).is_dir():
                    for path in (self.directory / folder).iterdir():
                        if path.name not in names:
                            _remove(path)
            for path in self.directory.iterdir():
                if path.name not in self.entries and path.name != LOCK_NAME:
                    _remove(path)


def _remove(path: Path):
    import shutil

    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
