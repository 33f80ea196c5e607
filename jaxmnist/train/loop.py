"""The one training loop for every experiment: `train_and_evaluate(config, workdir)`.

Epochs of compiled blocks of steps, the metrics log, checkpoints, SIGTERM/SIGINT and resuming.
With the batch order a function of (seed, epoch) and every key one of (seed, step), a checkpoint
of the TrainState plus the position in the data is all an exact continuation needs: rerunning
with the same workdir resumes.
"""

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from jaxmnist import checkpoint, models, optim, reporting, runtime
from jaxmnist import config as config_lib
from jaxmnist import workdir as workdir_lib
from jaxmnist.errors import UserError
from jaxmnist.report import plots, runs
from jaxmnist.train import programs
from jaxmnist.train.progress import EpochBar, format_duration, seconds_left, seconds_since_process_start
from jaxmnist.train.run_config import check_config, check_run
from jaxmnist.train.steps import model_variables, summarise, zero_totals


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


def describe_devices() -> str:
    """What this run computes on, for timing.jsonl and compare: e.g. '1 x NVIDIA H200', '2 x cpu'."""
    return f"{jax.device_count()} x {jax.devices()[0].device_kind}"


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, force: bool = False) -> list[dict]:
    """Train `config` in `workdir`, resuming from its latest checkpoint; returns the per-epoch rows.

    The config is checked before anything is written, one run at a time holds the workdir (the
    first process of a multi-process run holds it for all), and a run that fails before its first
    checkpoint (a bad value, a loss gone non-finite) leaves the workdir as it found it.
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
            progress = {"first_save_done": False}
            try:
                return _train_in_workdir(config, workdir, force, is_writer, progress)
            except BaseException:
                if not progress["first_save_done"]:
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


def _train_in_workdir(config: ml_collections.ConfigDict, workdir: Path, force: bool, is_writer: bool,
                      progress_flags: dict | None = None) -> list[dict]:
    config_text = check_config(workdir, config, force)
    compiled = programs.CompiledPrograms(config)
    best_metric = f"{config.best_split}_accuracy" if config.get("best_split") else None
    # Opened only where there are checkpoints to restore until everything that can fail before
    # training has run: a fresh workdir stays untouched by a run that never starts.
    has_checkpoints = (workdir / "checkpoints").is_dir()
    manager = checkpoint.open_manager(workdir, config.get("keep_checkpoints", 2), best_metric) \
        if has_checkpoints else None
    # A resumed run restores into the abstract state: initialising first would compile and run
    # an init whose result is thrown away (seconds of a resume's startup).
    restored = checkpoint.restore_latest(manager, compiled.abstract_state(config.seed)) if manager else None
    if restored is not None and restored[1]["epoch"] > config.epochs:
        # Restored before the data are read: a complete run is reported at once, and left as it is.
        manager.close()
        history = restored[1]["history"]
        if is_writer:
            print(f"{workdir} holds a complete run ({history[-1]['epoch']} of {config.epochs} epochs): nothing to "
                  "train, nothing written. To train longer, rerun with a larger --epochs and --force", flush=True)
        return history

    run = programs.RunPrograms.load(config, compiled)
    if is_writer:
        _note_batches_beyond_their_split(config, run)
    num_examples, batch_size = run.num_examples, config.batch_size
    batches_per_epoch, steps_per_dispatch = run.batches_per_epoch, run.steps_per_dispatch
    run_block, train_data = run.run_block, run.train_data
    if restored is not None:
        state, progress = restored
        tqdm.write(f"resuming from step {int(state.step)} (epoch {progress['epoch']}, "
                   f"batch {progress['batch']})")
        if progress.get("devices", compiled.mesh.size) != compiled.mesh.size:
            tqdm.write(f"note: the checkpoint was written on {progress['devices']} devices, this run has "
                       f"{compiled.mesh.size}: batches are split differently from here on, so the run continues "
                       "as the uninterrupted one only up to rounding (and with other dropout masks)")
    else:
        state = compiled.init_state(config.seed)
        progress = {"epoch": 1, "batch": 0, "totals": None, "history": []}
    history = progress["history"]
    if is_writer:
        workdir_lib.atomic_write_text(workdir / "config.json", config_text)
    if manager is None:
        manager = checkpoint.open_manager(workdir, config.get("keep_checkpoints", 2), best_metric)
    log = reporting.MetricsLog(workdir, int(state.step)) if is_writer else None
    table = reporting.EpochTable(list(config.eval))
    roots, eval_root = compiled.key_roots(config.seed)
    log_every = config.get("log_every_steps", 100)
    checkpoint_every = config.get("checkpoint_every_steps", 0)

    def save(progress_now: dict, metrics: dict | None = None):
        if not bool(compiled.all_finite(state.params)):
            raise UserError(f"parameters are not finite at step {step}: not saving them")
        checkpoint.save(manager, step, state, {**progress_now, "devices": compiled.mesh.size}, metrics)
        if progress_flags is not None:
            progress_flags["first_save_done"] = True

    def check_finite(totals, epoch):
        bad_step = int(totals["first_nonfinite_step"])
        if bad_step >= 0:
            manager.wait_until_finished()
            last_good = manager.latest_step()
            kept = f"the last good checkpoint is at step {last_good}" if last_good is not None \
                else "no checkpoint had been saved yet"
            raise UserError(f"the training loss became non-finite at step {bad_step + 1} (epoch {epoch}); "
                            f"stopped: {kept}")

    def crossed(every: int, before: int, after: int) -> bool:
        """Whether a block of steps (before, after] reached a multiple of `every`."""
        return bool(every) and after // every > before // every

    in_turn = compiled.in_turn
    step = int(state.step)  # counted on the host from here: reading state.step would wait for the device
    first_step = step + 1
    # A bar redrawn with carriage returns is noise in a CI log: there each epoch ends with one line instead.
    show_bar = is_writer and sys.stderr.isatty()
    last_epoch_seconds = None
    with _StopRequest() as stop:
        for epoch in range(progress["epoch"], config.epochs + 1):
            first_batch = progress["batch"] if epoch == progress["epoch"] else 0
            # A resumed epoch's seconds count what it took before the interruption too.
            started = time.time() - (progress.get("seconds", 0.0) if first_batch else 0.0)
            totals = compiled.replicate(jax.tree.map(lambda zero, saved: type(zero)(saved), zero_totals(),
                                                     progress["totals"])
                                        if first_batch and progress["totals"] else zero_totals())
            epoch_rows = compiled.epoch_rows(num_examples, batch_size, config.seed, epoch, config.shuffle)
            epoch_first_step = compiled.replicate(np.int32(step - first_batch))
            bar = EpochBar(epoch, config.epochs, batches_per_epoch, first_batch, started, last_epoch_seconds,
                            enabled=show_bar)
            batch_index = first_batch
            while batch_index < batches_per_epoch:
                state, totals, rate = in_turn(run_block(state, totals, train_data, epoch_rows, epoch_first_step,
                                                        roots))
                done = min(steps_per_dispatch, batches_per_epoch - batch_index)
                before, step, batch_index = step, step + done, batch_index + done
                bar.update(done)
                if before < first_step <= step:
                    jax.block_until_ready(totals)
                    startup = seconds_since_process_start()
                    if log:
                        log.write_first_step(step, epoch, startup, describe_devices(), runtime.provenance())
                    if is_writer:
                        tqdm.write(f"first step done {startup:.1f} s after the process started")
                if crossed(log_every, before, step):
                    check_finite(totals, epoch)
                    live = summarise(totals)
                    bar.show(loss=f"{live['loss']:.4f}", acc=f"{live['accuracy']:.2f}%")
                    if log:
                        log.write({"kind": "step", "step": step, "epoch": epoch, "train": live,
                                   "learning_rate": float(rate)})
                periodic = crossed(checkpoint_every, before, step) and batch_index < batches_per_epoch
                if stop.signum is not None or periodic:
                    check_finite(totals, epoch)
                    save({"epoch": epoch, "batch": batch_index, "history": history,
                          "totals": {key: float(value) for key, value in totals.items()},
                          "seconds": time.time() - started})
                if stop.signum is not None:
                    manager.wait_until_finished()
                    name = signal.Signals(stop.signum).name
                    raise Interrupted(stop.signum, f"stopped by {name} after step {step} (epoch {epoch}); "
                                                   "checkpoint saved. Rerun the same command to resume.")
            bar.close()
            check_finite(totals, epoch)
            # The rate of the epoch's last update, read from the state: a run resumed from a save
            # after the epoch's last batch has no step of its own here.
            row = {"kind": "epoch", "step": step, "epoch": epoch, "train": summarise(totals),
                   "learning_rate": float(optim.current_learning_rate(state.opt_state))}
            row.update(run.evaluate_all(state, jax.random.fold_in(eval_root, step)))
            history.append(row)
            seconds = last_epoch_seconds = time.time() - started
            if is_writer:
                table.print_row(row, seconds)
                if not show_bar and epoch < config.epochs:
                    print(f"epoch {epoch}/{config.epochs} done; the run needs about "
                          f"{format_duration(seconds_left(seconds, config.epochs - epoch, 0.0, 0.0))} more",
                          file=sys.stderr, flush=True)
                log.write(row)
                log.write_timing(row["step"], epoch, seconds)
            metrics = {best_metric: row[config.best_split]["accuracy"]} if best_metric else None
            save({"epoch": epoch + 1, "batch": 0, "history": history, "totals": None}, metrics)
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


def load_trained(workdir: str) -> tuple[ml_collections.ConfigDict, Any, dict]:
    """(config, module, variables) of the latest checkpoint in `workdir`, for evaluation and pictures."""
    workdir = Path(workdir)
    config = ml_collections.ConfigDict(runs.run_config(workdir))
    compiled = programs.CompiledPrograms(config, devices=jax.devices()[:1])
    restored = checkpoint.restore_latest(checkpoint.open_manager(workdir, read_only=True),
                                         compiled.abstract_state(config.seed), set_aside_unreadable=False)
    if restored is None:
        raise UserError(f"{workdir} has no checkpoint yet")
    state = restored[0]
    module = models.create(config.model, **config.get("model_overrides", {}))
    return config, module, model_variables(state, state.params)
