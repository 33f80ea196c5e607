"""orbax checkpoints of a run: the train state and everything its continuation needs.

A checkpoint holds the TrainState pytree and, as JSON, the position in the data
(epoch, batches done in it), the running metric sums of the current epoch, the
per-epoch history and the best validation result. Orders and keys are functions
of (seed, epoch, step), so this is all a bit-exact continuation needs.

The progress JSON also holds a digest of the state's bytes, checked on restore: a checkpoint
damaged after it was saved (flipped bytes that still decode) is set aside like an unreadable one.
"""

import contextlib
import dataclasses
import gc
import hashlib
import logging
import sys
import threading
import warnings
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from jaxmnist.errors import RunWarning

# orbax logs every save and restore at INFO level through absl.
logging.getLogger("absl").setLevel(logging.WARNING)
DIGEST_KEY = "state_digest"


@dataclasses.dataclass
class Progress:
    """Where a run stands, saved as JSON beside its TrainState: the rest of what its continuation needs."""

    epoch: int = 1  # the epoch under way; epochs + 1 once the run is complete
    batch: int = 0  # batches of it done
    totals: dict | None = None  # its running metric sums; None at an epoch's start
    history: list = dataclasses.field(default_factory=list)  # the per-epoch rows so far
    seconds: float = 0.0  # the time the epoch had taken when this was saved mid-epoch
    devices: int | None = None  # how many devices wrote it; None in checkpoints from before it was recorded

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, saved: dict) -> "Progress":
        """The record of a checkpoint's progress JSON, whose digest and missing keys are left out."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in saved.items() if key in names})


def saved_steps(workdir: Path) -> list[int]:
    """Steps of the finalised checkpoints in DIR/checkpoints, without opening a manager."""
    directory = Path(workdir) / "checkpoints"
    if not directory.is_dir():
        return []
    return sorted(int(path.name) for path in directory.iterdir() if path.name.isdigit() and path.is_dir())


def state_shapes(tree) -> dict[tuple[str, ...], tuple[tuple[int, ...], str]]:
    """{path: (shape, dtype)} of every array of a state pytree, or of its orbax metadata (where
    attributes and namedtuple fields are dict keys): paths as names, comparable between the two."""
    def name(key) -> str:
        return str(next(getattr(key, field) for field in ("key", "name", "idx") if hasattr(key, field)))

    return {tuple(name(key) for key in path): (tuple(leaf.shape), str(np.dtype(leaf.dtype)))
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def saved_state_shapes(workdir: Path) -> dict | None:
    """`state_shapes` of the newest checkpoint whose metadata reads, without restoring it; None if there is none."""
    for step in reversed(saved_steps(workdir)):
        try:
            with _orbax_quiet():
                metadata = ocp.StandardCheckpointer().metadata(Path(workdir).resolve() / "checkpoints" / str(step)
                                                               / "state")
            return state_shapes(metadata.item_metadata.tree)
        except Exception:  # noqa: BLE001 - an unreadable checkpoint is skipped, as restore_latest skips it
            continue
    return None


def state_digest(state) -> str:
    """SHA-256 of every leaf's dtype, shape and bytes, from this process's copy of the replicated state."""
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(state):
        array = np.asarray(leaf.addressable_shards[0].data if isinstance(leaf, jax.Array) else leaf)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _raised_in_orbax(source, traceback) -> bool:
    """Whether an exception came from orbax: its coroutine `source`, or a frame of its `traceback`."""
    code = getattr(source, "cr_code", None)
    if code is not None and "orbax" in code.co_filename:
        return True
    while traceback is not None:
        if "orbax" in traceback.tb_frame.f_code.co_filename:
            return True
        traceback = traceback.tb_next
    return False


class _DropOrbaxErrorLogs(logging.Filter):
    """orbax logs a failed save's traceback from each of its threads, and asyncio the same error of
    each of orbax's tasks, before the main thread raises it: the raised error is the one report."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL:
            return True
        from_orbax = "orbax" in record.pathname or (
            record.exc_info is not None and _raised_in_orbax(None, record.exc_info[2]))
        return not from_orbax


def keep_orbax_errors_out_of_the_terminal():
    """Report a failed save or restore once, by the exception the main thread raises (or the
    fallback's warning), without orbax's own reports of it: its error logs, its threads'
    tracebacks, and the "Exception ignored in ..." / "Event loop is closed" tracebacks of its
    unfinished reads and writes when they are collected. Other such reports are shown as before."""
    if getattr(sys.unraisablehook, "drops_orbax_errors", False):
        return
    for name in ("absl", "asyncio"):
        logging.getLogger(name).addFilter(_DropOrbaxErrorLogs())
    previous_unraisable, previous_thread_hook = sys.unraisablehook, threading.excepthook

    def unraisable_hook(unraisable):
        if not _raised_in_orbax(unraisable.object, unraisable.exc_traceback) \
                and "Event loop is closed" not in str(unraisable.exc_value):
            previous_unraisable(unraisable)

    def thread_hook(arguments):
        if not _raised_in_orbax(None, arguments.exc_traceback):
            previous_thread_hook(arguments)

    unraisable_hook.drops_orbax_errors = True
    sys.unraisablehook, threading.excepthook = unraisable_hook, thread_hook


@contextlib.contextmanager
def _orbax_quiet():
    """Keep orbax's own error logging out of the terminal while a failure is expected and reported."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    except Exception:
        keep_orbax_errors_out_of_the_terminal()
        gc.collect()  # the failed read's coroutines, while orbax's logging is still quiet
        raise
    finally:
        logger.setLevel(level)


def open_manager(workdir: Path, keep_last: int = 2, best_metric: str | None = None,
                 read_only: bool = False) -> ocp.CheckpointManager:
    """Manager under DIR/checkpoints keeping the last `keep_last` saves plus the best by `best_metric`."""
    keep_orbax_errors_out_of_the_terminal()
    policies = [checkpoint_managers.LatestN(n=keep_last)]
    if best_metric:
        policies.append(checkpoint_managers.BestN(get_metric_fn=lambda metrics: metrics[best_metric], n=1,
                                                  keep_checkpoints_without_metrics=False))
    options = ocp.CheckpointManagerOptions(
        preservation_policy=checkpoint_managers.AnyPreservationPolicy(policies),
        enable_async_checkpointing=True,  # training goes on while the previous save is written
        # Removes what a save cut short (SIGKILL, a second SIGTERM, a full disk) left behind.
        cleanup_tmp_directories=not read_only,
        create=not read_only, read_only=read_only)
    return ocp.CheckpointManager(Path(workdir).resolve() / "checkpoints", options=options)


def save(manager: ocp.CheckpointManager, step: int, state, progress: Progress, metrics: dict | None = None,
         digest: str | None = None):
    """Save `step`, replacing a checkpoint of the same step; `digest` is the state's `state_digest`
    where the caller has it.

    That happens when a run stopped right after an epoch's last batch resumes: its end-of-epoch
    save (with the epoch's evaluation) has the step of the stop's save. If the process dies
    between the deletion and the save, the run resumes from the previous checkpoint.
    """
    if step in manager.all_steps():
        manager.wait_until_finished()
        manager.delete(step)
    saved_progress = {**progress.to_json(), DIGEST_KEY: digest or state_digest(state)}
    manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                               progress=ocp.args.JsonSave(saved_progress)),
                 metrics=metrics, force=True)


class UnusableCheckpoint(Exception):
    """A finalised checkpoint that cannot be read ('unreadable') or no longer matches its digest ('damaged')."""

    def __init__(self, step: int, kind: str, problem: str):
        super().__init__(f"checkpoint at step {step} {problem}")
        self.step, self.kind, self.problem = step, kind, problem


def restore(manager: ocp.CheckpointManager, step: int, abstract_state):
    """(state, Progress) of the checkpoint at `step`; raises UnusableCheckpoint if it is unreadable or damaged."""
    try:
        with _orbax_quiet():
            restored = manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), progress=ocp.args.JsonRestore()))
    except Exception as error:  # noqa: BLE001 - orbax raises many types for an unreadable checkpoint
        # The first line, without the dump of tensorstore's spec that some of orbax's errors append.
        reason = (str(error).strip().splitlines() or [""])[0].split(" See full TensorStore details")[0][:200]
        raise UnusableCheckpoint(step, "unreadable", f"is unreadable ({type(error).__name__}: {reason})") from None
    saved_digest = restored.progress.get(DIGEST_KEY)
    if saved_digest is not None and saved_digest != state_digest(restored.state):
        raise UnusableCheckpoint(step, "damaged", "does not match the digest saved with it (damaged since)")
    return restored.state, Progress.from_json(restored.progress)


def restore_latest(manager: ocp.CheckpointManager, abstract_state, set_aside_unreadable: bool = True):
    """(state, Progress) of the newest readable, intact checkpoint, or None if there is none.

    orbax finalises a save by renaming its directory, so an interrupted save is never
    listed. A finalised one that cannot be read, or whose state no longer matches the digest
    saved with it (damaged since), is skipped with one warning and (with `set_aside_unreadable`)
    renamed `<step>.unreadable` or `<step>.damaged`, so the resumed run can save that step again.
    """
    for step in sorted(manager.all_steps(), reverse=True):
        try:
            return restore(manager, step, abstract_state)
        except UnusableCheckpoint as unusable:
            set_aside(manager, unusable, set_aside_unreadable)
    return None


def set_aside(manager: ocp.CheckpointManager, unusable: UnusableCheckpoint, rename: bool = True):
    """Warn of an unusable checkpoint and (with `rename`) rename it `<step>.unreadable` or `<step>.damaged`."""
    warnings.warn(f"{unusable}; using the previous one", RunWarning, stacklevel=3)
    if rename:
        path = Path(manager.directory) / str(unusable.step)
        path.rename(path.with_name(f"{unusable.step}.{unusable.kind}"))
        manager.reload()
