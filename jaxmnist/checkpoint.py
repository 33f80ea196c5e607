"""orbax checkpoints of a run: the train state and everything its continuation needs.

A checkpoint holds the TrainState pytree and, as JSON, the position in the data
(epoch, batches done in it), the running metric sums of the current epoch, the
per-epoch history and the best validation result. Orders and keys are functions
of (seed, epoch, step), so this is all a bit-exact continuation needs.
"""

import logging
import warnings
from pathlib import Path

import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

# orbax logs every save and restore at INFO level through absl.
logging.getLogger("absl").setLevel(logging.WARNING)


def open_manager(workdir: Path, keep_last: int = 2, best_metric: str | None = None,
                 read_only: bool = False) -> ocp.CheckpointManager:
    """Manager under DIR/checkpoints keeping the last `keep_last` saves plus the best by `best_metric`."""
    policies = [checkpoint_managers.LatestN(n=keep_last)]
    if best_metric:
        policies.append(checkpoint_managers.BestN(get_metric_fn=lambda metrics: metrics[best_metric], n=1,
                                                  keep_checkpoints_without_metrics=False))
    options = ocp.CheckpointManagerOptions(
        preservation_policy=checkpoint_managers.AnyPreservationPolicy(policies),
        enable_async_checkpointing=True,  # training goes on while the previous save is written
        create=not read_only, read_only=read_only)
    return ocp.CheckpointManager(Path(workdir).resolve() / "checkpoints", options=options)


def save(manager: ocp.CheckpointManager, step: int, state, progress: dict, metrics: dict | None = None):
    """Save `step`, replacing a checkpoint of the same step.

    That happens when a run stopped right after an epoch's last batch resumes: its end-of-epoch
    save (with the epoch's evaluation) has the step of the stop's save. If the process dies
    between the deletion and the save, the run resumes from the previous checkpoint.
    """
    if step in manager.all_steps():
        manager.wait_until_finished()
        manager.delete(step)
    manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                               progress=ocp.args.JsonSave(progress)),
                 metrics=metrics, force=True)


def restore_latest(manager: ocp.CheckpointManager, abstract_state, set_aside_unreadable: bool = True):
    """(state, progress) of the newest readable checkpoint, or None if there is none.

    orbax finalises a save by renaming its directory, so an interrupted save is never
    listed. A finalised one that cannot be read (damaged since) is skipped with a warning
    and (with `set_aside_unreadable`) renamed `<step>.unreadable`, so the resumed run can
    save that step again.
    """
    for step in sorted(manager.all_steps(), reverse=True):
        try:
            restored = manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_state), progress=ocp.args.JsonRestore()))
        except Exception as error:  # noqa: BLE001 - any unreadable checkpoint falls back to the previous one
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            warnings.warn(f"checkpoint at step {step} is unreadable ({type(error).__name__}: {reason}); "
                          "using the previous one")
            if set_aside_unreadable:
                path = Path(manager.directory) / str(step)
                path.rename(path.with_name(f"{step}.unreadable"))
                manager.reload()
            continue
        return restored.state, restored.progress
    return None
