"""The one training loop for every experiment: `train_and_evaluate(config, workdir)`.

Epochs of compiled blocks of steps, the metrics log, checkpoints, SIGTERM/SIGINT and resuming.
With the batch order a function of (seed, epoch) and every key one of (seed, step), a checkpoint
of the TrainState plus the position in the data is all an exact continuation needs: rerunning
with the same workdir resumes.
"""

import dataclasses
import os
import signal
import sys
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from jaxmnist import checkpoint, runtime
from jaxmnist import workdir as workdir_lib
from jaxmnist.errors import UserError
from jaxmnist.report import plots
from jaxmnist.train import logs
from jaxmnist.train import programs
from jaxmnist.train.progress import EpochBar, format_duration, seconds_left, seconds_since_process_start
from jaxmnist.train.run_config import check_config, check_run
from jaxmnist.train.steps import eval_key, summarise, zero_totals


class Interrupted(Exception):
    """SIGTERM/SIGINT: the current step finished and a checkpoint was saved."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum


class _StopRequest:
    """Remembers SIGTERM/SIGINT so the loop can finish its step and save first."""

    def __init__(self):
        self.signum = None
        self.previous = {}

    def __enter__(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:
            # A second signal: stop now. Exiting here, not by an exception, keeps orbax's threads
            # from printing tracebacks; a save cut short is never listed, and its leftovers are
            # removed when the run resumes.
            name = signal.Signals(signum).name
            print(f"\nstopped by a second {name} without saving; rerun the same command to resume from the last "
                  "checkpoint", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        self.signum = signum

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


@dataclasses.dataclass
class _Started:
    """Whether a run has saved its first checkpoint: until then a failure leaves the workdir as it was."""

    first_save_done: bool = False


def describe_devices() -> str:
    """What this run computes on, for timing.jsonl and compare: e.g. '1 x NVIDIA H200', '2 x cpu'."""
    return f"{jax.device_count()} x {jax.devices()[0].device_kind}"


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, force: bool = False) -> list[dict]:
    """Train `config` in `workdir`, resuming from its latest checkpoint; returns the per-epoch rows.

    The config is checked before anything is written, one run at a time holds the workdir (the
    first process of a multi-process run holds it for all), and a run that fails before its first
    step leaves the workdir as it found it.
    """
    workdir = Path(workdir)
    check_run(config)
    is_writer = jax.process_index() == 0
    created = workdir_lib.make_directory(workdir)
    try:
        if not is_writer:
            return _train_in_workdir(config, workdir, force, is_writer)
        with workdir_lib.exclusive_lock(workdir, "jaxmnist train"):
            snapshot = workdir_lib.Snapshot(workdir, files=("config.json", "metrics.jsonl", "timing.jsonl"),
                                            folders=("tensorboard",))
            started = _Started()
            try:
                return _train_in_workdir(config, workdir, force, is_writer, started)
            except BaseException:
                if not started.first_save_done:
                    snapshot.restore()
                raise
    except (UserError, Interrupted):
        raise
    except Exception as error:  # noqa: BLE001 - a full or read-only disk is the user's to fix, not a bug
        user_error = workdir_lib.filesystem_error(error, f"the workdir {workdir}")
        if user_error is None:
            raise
        raise user_error from None
    finally:
        if created:
            workdir_lib.remove_if_empty(workdir)


def itstime(every: int, before: int, after: int) -> bool:
    """Whether a block of steps (before, after] reached a multiple of `every` (never when it is 0)."""
    return bool(every) and after // every > before // every


def _check_finite(manager, totals, epoch: int):
    """A UserError naming the first step whose loss was not finite, and the last good checkpoint."""
    bad_step = int(totals["first_nonfinite_step"])
    if bad_step >= 0:
        manager.wait_until_finished()
        last_good = manager.latest_step()
        kept = f"the last good checkpoint is at step {last_good}" if last_good is not None \
            else "no checkpoint had been saved yet"
        raise UserError(f"the training loss became non-finite at step {bad_step + 1} (epoch {epoch}); "
                        f"stopped: {kept}")


def _save(manager, engine: programs.Programs, step: int, state, progress: checkpoint.Progress,
          started: _Started | None, metrics: dict | None = None):
    if not bool(engine.all_finite(state.params)):
        raise UserError(f"parameters are not finite at step {step}: not saving them")
    checkpoint.save(manager, step, state, dataclasses.replace(progress, devices=engine.mesh.size), metrics)
    if started is not None:
        started.first_save_done = True


def _train_in_workdir(config: ml_collections.ConfigDict, workdir: Path, force: bool, is_writer: bool,
                      started: _Started | None = None) -> list[dict]:
    # --- setup and restore ----------------------------------------------------------------------
    config_text = check_config(workdir, config, force)
    engine = programs.Programs(config)
    best_metric = f"{config.best_split}_accuracy" if config.get("best_split") else None
    # Opened only where there are checkpoints to restore until everything that can fail before
    # training has run: a fresh workdir stays untouched by a run that never starts.
    has_checkpoints = (workdir / "checkpoints").is_dir()
    manager = checkpoint.open_manager(workdir, config.get("keep_checkpoints", 2), best_metric) \
        if has_checkpoints else None
    # A resumed run restores into the abstract state: initialising first would compile and run
    # an init whose result is thrown away (seconds of a resume's startup).
    restored = checkpoint.restore_latest(manager, engine.abstract_state(config.seed)) if manager else None
    if restored is not None and restored[1].epoch > config.epochs:
        # Restored before the data are read: a complete run is reported at once, and left as it is.
        manager.close()
        history = restored[1].history
        if is_writer:
            print(f"{workdir} holds a complete run ({history[-1]['epoch']} of {config.epochs} epochs): nothing to "
                  "train, nothing written. To train longer, rerun with a larger --epochs and --force", flush=True)
        return history

    # --- data on the devices, and the programs --------------------------------------------------
    run = programs.RunPrograms.load(config, engine)
    if is_writer:
        _note_batches_beyond_their_split(config, run)
    if restored is not None:
        state, progress = restored
        tqdm.write(f"resuming from step {int(state.step)} (epoch {progress.epoch}, batch {progress.batch})")
        if (progress.devices or engine.mesh.size) != engine.mesh.size:
            tqdm.write(f"note: the checkpoint was written on {progress.devices} devices, this run has "
                       f"{engine.mesh.size}: batches are split differently from here on, so the run continues "
                       "as the uninterrupted one only up to rounding (and with other dropout masks)")
    else:
        state, progress = engine.init_state(config.seed), checkpoint.Progress()
    history = progress.history
    if is_writer:
        workdir_lib.atomic_write_text(workdir / "config.json", config_text)
    if manager is None:
        manager = checkpoint.open_manager(workdir, config.get("keep_checkpoints", 2), best_metric)
    log = logs.MetricsLog(workdir, int(state.step)) if is_writer else None
    table = logs.EpochTable(list(config.eval))
    roots = engine.train_roots(config.seed)
    log_every = config.get("log_every_steps", 100)
    checkpoint_every = config.get("checkpoint_every_steps", 0)

    # --- epochs ---------------------------------------------------------------------------------
    step = int(state.step)  # counted on the host from here: reading state.step would wait for the device
    first_step = step + 1
    # A bar redrawn with carriage returns is noise in a CI log: there each epoch ends with one line instead.
    show_bar = is_writer and sys.stderr.isatty()
    last_epoch_seconds = None
    with _StopRequest() as stop:
        for epoch in range(progress.epoch, config.epochs + 1):
            first_batch = progress.batch if epoch == progress.epoch else 0
            # A resumed epoch's seconds count what it took before the interruption too.
            epoch_started = time.time() - (progress.seconds if first_batch else 0.0)
            totals = engine.replicate(jax.tree.map(lambda zero, saved: type(zero)(saved), zero_totals(),
                                                   progress.totals) if first_batch and progress.totals else zero_totals())
            epoch_rows = engine.epoch_rows(run.num_examples, config.batch_size, config.seed, epoch, config.shuffle)
            epoch_first_step = engine.replicate(np.int32(step - first_batch))
            bar = EpochBar(epoch, config.epochs, run.batches_per_epoch, first_batch, epoch_started,
                           last_epoch_seconds, enabled=show_bar)
            batch_index = first_batch
            while batch_index < run.batches_per_epoch:
                # Inside an epoch the programs take only what is on the devices: a host round trip is an error.
                with jax.transfer_guard("disallow"):
                    state, totals, rate = engine.in_turn(run.run_block(state, totals, run.train_data, epoch_rows,
                                                                     epoch_first_step, roots))
                done = min(run.steps_per_dispatch, run.batches_per_epoch - batch_index)
                before, step, batch_index = step, step + done, batch_index + done
                bar.update(done)
                if before < first_step <= step:
                    jax.block_until_ready(totals)
                    startup = seconds_since_process_start()
                    if log:
                        log.write_first_step(step, epoch, startup, describe_devices(), runtime.provenance())
                    if is_writer:
                        tqdm.write(f"first step done {startup:.1f} s after the process started")
                if itstime(log_every, before, step):
                    _check_finite(manager, totals, epoch)
                    live = summarise(totals)
                    bar.show(loss=f"{live['loss']:.4f}", acc=f"{live['accuracy']:.2f}%")
                    if log:
                        log.write({"kind": "step", "step": step, "epoch": epoch, "train": live,
                                   "learning_rate": float(rate)})
                periodic = itstime(checkpoint_every, before, step) and batch_index < run.batches_per_epoch
                if stop.signum is not None or periodic:
                    _check_finite(manager, totals, epoch)
                    _save(manager, engine, step, state, checkpoint.Progress(
                        epoch, batch_index, {key: float(value) for key, value in totals.items()}, history,
                        time.time() - epoch_started), started)
                if stop.signum is not None:
                    manager.wait_until_finished()
                    name = signal.Signals(stop.signum).name
                    raise Interrupted(stop.signum, f"stopped by {name} after step {step} (epoch {epoch}); "
                                                   "checkpoint saved. Rerun the same command to resume.")
            bar.close()
            _check_finite(manager, totals, epoch)
            # The rate of the epoch's last update, read from the state: a run resumed from a save
            # after the epoch's last batch has no step of its own here.
            row = {"kind": "epoch", "step": step, "epoch": epoch, "train": summarise(totals),
                   "learning_rate": float(state.learning_rate())}
            row.update(run.evaluate_all(state, eval_key(config.seed, step)))
            history.append(row)
            seconds = last_epoch_seconds = time.time() - epoch_started
            if is_writer:
                table.print_row(row, seconds)
                if not show_bar and epoch < config.epochs:
                    print(f"epoch {epoch}/{config.epochs} done; the run needs about "
                          f"{format_duration(seconds_left(seconds, config.epochs - epoch, 0.0, 0.0))} more",
                          file=sys.stderr, flush=True)
                log.write(row)
                log.write_timing(row["step"], epoch, seconds)
            metrics = {best_metric: row[config.best_split]["accuracy"]} if best_metric else None
            _save(manager, engine, step, state, checkpoint.Progress(epoch + 1, 0, None, history), started, metrics)

    # --- finish ---------------------------------------------------------------------------------
    manager.wait_until_finished()
    if is_writer and history:
        plots.plot_curves(workdir, workdir / "curves.png")
    return history


def _note_batches_beyond_their_split(config: ml_collections.ConfigDict, run: programs.RunPrograms):
    """One line per split smaller than its batch size: it is one short batch, as a DataLoader makes it."""
    sizes = {"train": ("batch_size", run.num_examples),
             **{name: ("eval_batch_size", len(split.labels)) for name, (_, split, _) in run.evaluations.items()}}
    for name, (key, examples) in sizes.items():
        if config[key] > examples:
            tqdm.write(f"note: {key} {config[key]} is larger than the {examples} examples of the {name} split: "
                       f"each pass over them is one batch of {examples}, as PyTorch's DataLoader makes it")
