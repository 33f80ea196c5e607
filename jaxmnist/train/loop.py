"""The one training loop for every experiment: `train_and_evaluate(config, workdir)`.

Epochs of compiled blocks of steps, the metrics log, checkpoints, SIGTERM/SIGINT and resuming.
With the batch order a function of (seed, epoch) and every key one of (seed, step), a checkpoint
of the TrainState plus the position in the data is all an exact continuation needs: rerunning
with the same workdir resumes.
"""

import contextlib
import dataclasses
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from tqdm import tqdm

from jaxmnist import checkpoint, runtime
from jaxmnist import workdir as workdir_lib
from jaxmnist.errors import UserError
from jaxmnist.report import plots
from jaxmnist.report import runs as runs_lib
from jaxmnist.train import logs
from jaxmnist.train import programs
from jaxmnist.train.progress import (EpochBar, epoch_done_line, seconds_since_process_start,
                                     typical_epoch_seconds)
from jaxmnist.train.run_config import check_config, check_group
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
class Run:
    """One run of a group: its config and workdir, and what the loop writes there."""

    config: ml_collections.ConfigDict
    workdir: Path
    # Until a run has saved its first checkpoint, a failure leaves its workdir as it was.
    first_save_done: bool = False
    manager: Any = None
    log: Any = None
    history: list = dataclasses.field(default_factory=list)
    config_text: str = ""
    of_group: bool = False  # its lines name its workdir, also in a wave of its own

    @property
    def best_metric(self) -> str | None:
        return f"{self.config.best_split}_accuracy" if self.config.get("best_split") else None

    def open_manager(self):
        self.manager = checkpoint.open_manager(self.workdir, self.config.get("keep_checkpoints", 2), self.best_metric)


def describe_devices() -> str:
    """What this run computes on, for timing.jsonl and compare: e.g. '1 x NVIDIA H200', '2 x cpu'."""
    return f"{jax.device_count()} x {jax.devices()[0].device_kind}"


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, force: bool = False) -> list[dict]:
    """Train `config` in `workdir`, resuming from its latest checkpoint; returns the per-epoch rows.

    The config is checked before anything is written, one run at a time holds the workdir (the
    first process of a multi-process run holds it for all), and a run that fails before its first
    step leaves the workdir as it found it.
    """
    return train_group([config], [workdir], force)[0]


def train_group(configs: list[ml_collections.ConfigDict], workdirs: list, force: bool = False,
                runs_per_device: int | None = None) -> list[list[dict]]:
    """Train runs that differ only in their seeds, models of one shape and optimizer numbers as one group, each in
    its own workdir, as `train_and_evaluate` trains one; returns each run's per-epoch rows.

    The runs share every step: one program updates them all (`programs.Programs` with `runs`).
    `runs_per_device` bounds how many runs one device trains at once (default: 1 on CPU, where
    vmapped steps were slower than separate ones; every run on GPU and TPU, halved each time a
    device runs out of memory); a larger group trains in waves. Rerunning the same group resumes it
    from the last step every run saved.
    """
    check_group(configs, workdirs)
    histories = [_complete_history(config, Path(workdir), force) if len(configs) > 1 else None
                 for config, workdir in zip(configs, workdirs)]
    pending = [index for index, history in enumerate(histories) if history is None]
    # Runs that saved resume together, and apart from runs not started: a group stopped between
    # its waves, or halved for memory, holds both.
    saved = [index for index in pending if checkpoint.saved_steps(Path(workdirs[index]))]
    limit, done = runs_per_device, 0
    for part in (saved, [index for index in pending if index not in saved]):
        while part:
            wave = part[:programs.runs_per_wave(len(part), limit)]
            if len(wave) < len(pending) and jax.process_index() == 0:
                print(f"runs {done + 1}-{done + len(wave)} of {len(pending)}, at once: "
                      + ", ".join(str(workdirs[index]) for index in wave), flush=True)
            try:
                trained = _train_wave([Run(configs[index], Path(workdirs[index]), of_group=len(configs) > 1)
                                        for index in wave], force, later_runs=len(pending) - done - len(wave))
            except programs.DeviceOutOfMemory as error:
                limit = programs.fewer_runs_per_device(error, runs_per_device)
                continue
            for index, history in zip(wave, trained):
                histories[index] = history
            part, done = part[len(wave):], done + len(wave)
    return histories


def _complete_history(config: ml_collections.ConfigDict, workdir: Path, force: bool) -> list[dict] | None:
    """The epoch rows of a complete run of `config` in `workdir` (reported, left as it is), else None.

    A group leaves its complete runs out, as a run alone trains nothing in a complete workdir: the
    others may then be fresh (more seeds beside one run already made)."""
    rows = complete_rows(workdir, config.epochs)
    if rows is None:
        return None
    check_config(workdir, config, force)  # another config's run is refused, as the run alone refuses it
    _report_complete(workdir, rows[-1]["epoch"], config.epochs)
    return rows


def complete_rows(workdir: Path, epochs: int) -> list[dict] | None:
    """The epoch rows of `workdir` if it holds a run of `epochs` epochs whose newest checkpoint is its
    last epoch's, else None; read from its files, without opening a checkpoint."""
    steps = checkpoint.saved_steps(workdir)
    rows = runs_lib.epoch_rows(workdir) if steps else []
    return rows if rows and rows[-1]["epoch"] >= epochs and rows[-1]["step"] == steps[-1] else None


def _report_complete(workdir: Path, epochs_done: int, epochs: int):
    if jax.process_index() == 0:
        print(f"{workdir} holds a complete run ({epochs_done} of {epochs} epochs): nothing to train, nothing written. "
              "To train longer, rerun with a larger --epochs and --force", flush=True)


def _train_wave(runs: list[Run], force: bool, later_runs: int = 0) -> list[list[dict]]:
    """The runs of one group program, each workdir locked, checked and restored as a lone run's is;
    `later_runs` of the group train after them (the time left counts them)."""
    is_writer = jax.process_index() == 0
    with contextlib.ExitStack() as stack:
        for run in runs:
            if workdir_lib.make_directory(run.workdir):
                stack.callback(workdir_lib.remove_if_empty, run.workdir)
        try:
            if not is_writer:
                return _train_in_workdirs(runs, force, is_writer, later_runs)
            snapshots = []
            for run in runs:
                stack.enter_context(workdir_lib.exclusive_lock(run.workdir, "jaxmnist train"))
                snapshots.append(workdir_lib.Snapshot(run.workdir, files=("config.json", "metrics.jsonl",
                                                                          "timing.jsonl"), folders=("tensorboard",)))
            try:
                return _train_in_workdirs(runs, force, is_writer, later_runs)
            except BaseException:
                for run, snapshot in zip(runs, snapshots):
                    if not run.first_save_done:
                        snapshot.restore()
                raise
        except (UserError, Interrupted):
            raise
        except Exception as error:  # noqa: BLE001 - a full disk or a full device is the user's to fix, not a bug
            user_error = (workdir_lib.filesystem_error(error, f"the workdir {runs[0].workdir}" if len(runs) == 1
                                                       else "a workdir of the group")
                          or programs.out_of_memory_error(error, runs[0].config, len(runs)))
            if user_error is None:
                raise
            raise user_error from None


def itstime(every: int, before: int, after: int) -> bool:
    """Whether a block of steps (before, after] reached a multiple of `every` (never when it is 0)."""
    return bool(every) and after // every > before // every


def _check_finite(runs: list[Run], totals: list[dict], epoch: int):
    """A UserError naming the first step whose loss was not finite, and the last good checkpoint."""
    for run, run_totals in zip(runs, totals):
        bad_step = int(run_totals["first_nonfinite_step"])
        if bad_step >= 0:
            run.manager.wait_until_finished()
            last_good = run.manager.latest_step()
            kept = f"the last good checkpoint is at step {last_good}" if last_good is not None \
                else "no checkpoint had been saved yet"
            where = f" in {run.workdir}" if run.of_group else ""
            raise UserError(f"the training loss became non-finite at step {bad_step + 1} (epoch {epoch}){where}; "
                            f"stopped: {kept}")


def _host_totals(engine: programs.Programs, totals: dict, runs: int) -> list[dict]:
    """Each run's running sums, read from the devices once."""
    values = {key: value.reshape(runs) for key, value in engine.fetch(totals).items()}
    return [{key: value[run] for key, value in values.items()} for run in range(runs)]


def save_checkpoints(runs: list[Run], engine: programs.Programs, step: int, state, progress: checkpoint.Progress,
                     totals: list[dict] | None = None, metrics: list[dict | None] | None = None):
    """Every run's checkpoint at `step`: each workdir gets what the run alone would save."""
    for run, finite in zip(runs, engine.finite_runs(state.params)):
        if not finite:
            raise UserError(f"parameters are not finite at step {step}{f' in {run.workdir}' if run.of_group else ''}: "
                            "not saving them")
    states = engine.unstack_states(state)
    # Every digest before the first save, from one read of every run's state: once orbax's background
    # threads run, each small read and hash waits for the interpreter lock (measured: docs/groups.md).
    digests = [checkpoint.state_digest(host_state) for host_state in jax.device_get(states)]
    for index, (run, run_state) in enumerate(zip(runs, states)):
        run_progress = dataclasses.replace(
            progress, history=run.history, devices=engine.data_devices,
            totals=None if totals is None else {key: float(value) for key, value in totals[index].items()})
        checkpoint.save(run.manager, step, run_state, run_progress, None if metrics is None else metrics[index],
                        digests[index])
        if len(runs) > 1 and jax.process_count() > 1:
            # Each manager's background save ends with a barrier of every process; two at once
            # reached them in different orders on two processes and deadlocked (orbax, jax 0.11).
            run.manager.wait_until_finished()
        run.first_save_done = True


def _new_best(runs: list[Run]) -> bool:
    """Whether the epoch just evaluated is a run's best so far by its `best_split`: its checkpoint is kept."""
    for run in runs:
        if run.best_metric:
            accuracies = [row[run.config.best_split]["accuracy"] for row in run.history]
            if accuracies[-1] > max(accuracies[:-1], default=-math.inf):
                return True
    return False


def _time_to_save(last_saved: float, every_seconds: float) -> bool:
    """Whether `every_seconds` have passed since the last save, as the first process's clock says where
    several train: their saves must meet."""
    due = time.time() - last_saved >= every_seconds
    if every_seconds and jax.process_count() > 1:
        due = bool(multihost_utils.broadcast_one_to_all(np.bool_(due)))
    return due


def _restore(runs: list[Run], engine: programs.Programs):
    """(stacked state, Progress per run) from the newest step every run saved, or None for a fresh group.

    A run saved ahead of the others (the group was killed between their saves) continues from the
    common step; its later checkpoints go, as the group will save those steps again, bit for bit.
    """
    saved = [set(run.manager.all_steps()) if run.manager else set() for run in runs]
    if not any(saved):
        return None
    common = set.intersection(*saved)
    abstract = engine.abstract_state(runs[0].config.seed)
    while common:
        step = max(common)
        restored = []
        for run in runs:
            try:
                restored.append(checkpoint.restore(run.manager, step, abstract))
            except checkpoint.UnusableCheckpoint as unusable:
                checkpoint.set_aside(run.manager, unusable)
                break
        if len(restored) < len(runs):
            common.discard(step)
            continue
        for run in runs:
            for later in sorted(run.manager.all_steps()):
                if later > step:
                    run.manager.delete(later)
        return restored
    where = "; ".join(f"{run.workdir}: {max(steps) if steps else 'none'}" for run, steps in zip(runs, saved))
    raise UserError(f"the runs of this group have no checkpointed step in common (newest steps: {where}): "
                    "train them apart, or group runs at the same step")


def _train_in_workdirs(runs: list[Run], force: bool, is_writer: bool, later_runs: int) -> list[list[dict]]:
    # --- setup and restore ----------------------------------------------------------------------
    config = runs[0].config
    seeds = [run.config.seed for run in runs]
    for run in runs:
        run.config_text = check_config(run.workdir, run.config, force)
    # A run alone keeps the programs it always had: no runs axis.
    engine = programs.Programs(config, runs=len(runs) if len(runs) > 1 else None,
                               run_configs=[run.config for run in runs])
    # Opened only where there are checkpoints to restore until everything that can fail before
    # training has run: a fresh workdir stays untouched by a run that never starts.
    for run in runs:
        if (run.workdir / "checkpoints").is_dir():
            run.open_manager()
    # A resumed run restores into the abstract state: initialising first would compile and run
    # an init whose result is thrown away (seconds of a resume's startup).
    restored = _restore(runs, engine)
    if restored is not None and restored[0][1].epoch > config.epochs:
        # Restored before the data are read: a complete run is reported at once, and left as it is.
        for run, (_, progress) in zip(runs, restored):
            run.manager.close()
            _report_complete(run.workdir, progress.history[-1]["epoch"], config.epochs)
        return [progress.history for _, progress in restored]

    # --- data on the devices, and the programs --------------------------------------------------
    data = programs.RunPrograms.load(config, engine)
    if is_writer:
        _note_batches_beyond_their_split(config, data)
    if restored is not None:
        state = engine.stack_states([run_state for run_state, _ in restored])
        progress = restored[0][1]
        for run, (_, run_progress) in zip(runs, restored):
            run.history = run_progress.history
        saved_totals = [run_progress.totals for _, run_progress in restored]
        tqdm.write(f"resuming from step {int(restored[0][0].step)} (epoch {progress.epoch}, batch {progress.batch})"
                   + (f", {len(runs)} runs" if len(runs) > 1 else ""))
        if (progress.devices or engine.data_devices) != engine.data_devices:
            tqdm.write(f"note: the checkpoint was written on {progress.devices} devices, this run has "
                       f"{engine.data_devices}: batches are split differently from here on, so the run continues "
                       "as the uninterrupted one only up to rounding (and with other dropout masks)")
    else:
        state = engine.stack_states([engine.init_state(seed, index) for index, seed in enumerate(seeds)])
        progress = checkpoint.Progress()
        saved_totals = [None] * len(runs)
    step = int(restored[0][0].step) if restored else 0  # counted on the host from here on
    del restored
    for run in runs:
        if is_writer:
            workdir_lib.atomic_write_text(run.workdir / "config.json", run.config_text)
        if run.manager is None:
            run.open_manager()
        run.log = logs.MetricsLog(run.workdir, step) if is_writer else None
    table = logs.EpochTable(list(config.eval))
    roots = engine.group_roots(seeds)
    log_every = config.get("log_every_steps", 100)
    checkpoint_every = config.get("checkpoint_every_steps", 0)
    checkpoint_seconds = config.get("checkpoint_every_seconds", 0.0)
    last_saved = time.time()  # a resumed run's checkpoint is as good as one just saved

    # --- epochs ---------------------------------------------------------------------------------
    first_step = step + 1
    # A bar redrawn with carriage returns is noise in a CI log: there each epoch ends with one line instead.
    show_bar = is_writer and sys.stderr.isatty()
    epochs_seconds = []  # of the epochs this process completed, their saves included
    with _StopRequest() as stop:
        for epoch in range(progress.epoch, config.epochs + 1):
            first_batch = progress.batch if epoch == progress.epoch else 0
            # A resumed epoch's seconds count what it took before the interruption too.
            epoch_started = time.time() - (progress.seconds if first_batch else 0.0)
            totals = engine.stack([jax.tree.map(lambda zero, saved: type(zero)(saved), zero_totals(), saved)
                                   if first_batch and saved else zero_totals() for saved in saved_totals])
            epoch_rows = engine.group_epoch_rows(data.num_examples, config.batch_size, seeds, epoch, config.shuffle)
            epoch_first_step = engine.replicate(np.int32(step - first_batch))
            bar = EpochBar(epoch, config.epochs, data.batches_per_epoch, first_batch, epoch_started,
                           typical_epoch_seconds(epochs_seconds), enabled=show_bar, runs=len(runs),
                           later_runs=later_runs)
            batch_index = first_batch
            while batch_index < data.batches_per_epoch:
                # Inside an epoch the programs take only what is on the devices: a host round trip is an error.
                with jax.transfer_guard("disallow"):
                    state, totals, rate = engine.in_turn(data.run_block(state, totals, data.train_data, epoch_rows,
                                                                      epoch_first_step, roots))
                done = min(data.steps_per_dispatch, data.batches_per_epoch - batch_index)
                before, step, batch_index = step, step + done, batch_index + done
                bar.update(done)
                if before < first_step <= step:
                    jax.block_until_ready(totals)
                    startup = seconds_since_process_start()
                    for run in runs:
                        if run.log:
                            run.log.write_first_step(step, epoch, startup, describe_devices(), runtime.provenance())
                    if is_writer:
                        tqdm.write(f"first step done {startup:.1f} s after the process started")
                if itstime(log_every, before, step):
                    run_totals = _host_totals(engine, totals, len(runs))
                    _check_finite(runs, run_totals, epoch)
                    rates = engine.fetch(rate).reshape(len(runs))
                    live = [summarise(one) for one in run_totals]
                    bar.show_runs(live)
                    for index, run in enumerate(runs):
                        if run.log:
                            run.log.write({"kind": "step", "step": step, "epoch": epoch, "train": live[index],
                                           "learning_rate": float(rates[index])})
                periodic = itstime(checkpoint_every, before, step) and batch_index < data.batches_per_epoch
                if stop.signum is not None or periodic:
                    run_totals = _host_totals(engine, totals, len(runs))
                    _check_finite(runs, run_totals, epoch)
                    within_epoch = checkpoint.Progress(epoch, batch_index, None, None, time.time() - epoch_started)
                    save_checkpoints(runs, engine, step, state, within_epoch, run_totals)
                    last_saved = time.time()
                if stop.signum is not None:
                    for run in runs:
                        run.manager.wait_until_finished()
                    name = signal.Signals(stop.signum).name
                    raise Interrupted(stop.signum, f"stopped by {name} after step {step} (epoch {epoch}); "
                                                   "checkpoint saved. Rerun the same command to resume.")
            bar.close()
            run_totals = _host_totals(engine, totals, len(runs))
            _check_finite(runs, run_totals, epoch)
            # The rate of the epoch's last update, read from the state: a run resumed from a save
            # after the epoch's last batch has no step of its own here.
            rates = engine.fetch(state.learning_rate()).reshape(len(runs))
            evaluations = data.evaluate(state, engine.stack([eval_key(seed, step) for seed in seeds]))
            seconds = time.time() - epoch_started
            for index, run in enumerate(runs):
                row = {"kind": "epoch", "step": step, "epoch": epoch, "train": summarise(run_totals[index]),
                       "learning_rate": float(rates[index]), **evaluations[index]}
                run.history.append(row)
                if is_writer:
                    table.print_row(row, seconds, run=str(run.workdir) if run.of_group else None)
                    run.log.write(row)
                    run.log.write_timing(row["step"], epoch, seconds)
            metrics = [{run.best_metric: run.history[-1][config.best_split]["accuracy"]} if run.best_metric else None
                       for run in runs]
            saved_totals = [None] * len(runs)
            # Asked first and at every epoch's end: under several processes, every one takes part in it.
            if (_time_to_save(last_saved, checkpoint_seconds) or epoch == config.epochs or stop.signum is not None
                    or _new_best(runs)):
                save_checkpoints(runs, engine, step, state, checkpoint.Progress(epoch + 1, 0, None, None), None,
                                 metrics)
                last_saved = time.time()
            # The time left counts the epoch's saves, which timing.jsonl's epoch leaves out: a group
            # stops for every run's.
            epochs_seconds.append(time.time() - epoch_started)
            if is_writer and not show_bar and epoch < config.epochs:
                print(epoch_done_line(epoch, config.epochs, len(runs), later_runs,
                                      typical_epoch_seconds(epochs_seconds)), file=sys.stderr, flush=True)

    # --- finish ---------------------------------------------------------------------------------
    for run in runs:
        run.manager.wait_until_finished()
        if is_writer and run.history:
            plots.plot_curves(run.workdir, run.workdir / "curves.png")
    return [run.history for run in runs]


def _note_batches_beyond_their_split(config: ml_collections.ConfigDict, run: programs.RunPrograms):
    """One line per split smaller than its batch size: it is one short batch, as a DataLoader makes it."""
    sizes = {"train": ("batch_size", run.num_examples),
             **{name: ("eval_batch_size", len(split.labels)) for name, (_, split, _) in run.evaluations.items()}}
    for name, (key, examples) in sizes.items():
        if config[key] > examples:
            tqdm.write(f"note: {key} {config[key]} is larger than the {examples} examples of the {name} split: "
                       f"each pass over them is one batch of {examples}, as PyTorch's DataLoader makes it")
