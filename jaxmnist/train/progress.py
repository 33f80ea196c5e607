"""What a run shows while it trains (an epoch's bar, the time the run still needs) and `estimate`,
a dry run that measures how long a run takes here."""

import os
import statistics
import tempfile
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from jaxmnist import checkpoint
from jaxmnist.train import programs
from jaxmnist.train.run_config import check_group
from jaxmnist.train.steps import eval_key, zero_totals

_MODULE_LOADED = time.perf_counter()


class EpochBar(tqdm):
    """One epoch's progress bar, `epoch i/N` (`, R runs` for a group), with the time the whole run still
    needs (`run_left`; `group_left` where `later_runs` of the group train after these)."""

    def __init__(self, epoch: int, epochs: int, batches: int, first_batch: int, started: float,
                 epoch_seconds: float | None, enabled: bool, runs: int = 1, later_runs: int = 0):
        description = f"epoch {epoch}/{epochs}" + (f", {runs} runs" if runs > 1 else "")
        super().__init__(total=batches, initial=first_batch, desc=description, unit="batch",
                         leave=False, dynamic_ncols=True, disable=not enabled)
        self.epochs_after = epochs - epoch + later_wave_epochs(later_runs, runs, epochs)
        self.started, self.epoch_seconds = started, epoch_seconds
        self.left_name = "group_left" if later_runs else "run_left"
        self.shown = {}
        self.show()

    def show(self, **metrics):
        """Shows `metrics` and the run's remaining time as of now beside the bar."""
        if self.disable:
            return
        self.shown.update(metrics)
        left = seconds_left(self.epoch_seconds, self.epochs_after, self.n / self.total,
                            time.time() - self.started)
        self.set_postfix(self.shown if left is None else {**self.shown, self.left_name: format_duration(left)})

    def show_runs(self, live: list[dict]):
        """Shows the running loss and accuracy of the epoch so far: a run's own, a group's range."""
        def spread(key: str, digits: int, unit: str = "") -> str:
            low, high = (f"{value:.{digits}f}" for value in (min(one[key] for one in live),
                                                           max(one[key] for one in live)))
            return (low if low == high else f"{low}-{high}") + unit
        self.show(loss=spread("loss", 4), acc=spread("accuracy", 2, "%"))


def later_wave_epochs(later_runs: int, runs: int, epochs: int) -> int:
    """The epochs a group's `later_runs` train after a wave of `runs`, in waves of as many, each an
    epoch at about this wave's pace."""
    return -(-later_runs // runs) * epochs


def epoch_done_line(epoch: int, epochs: int, runs: int, later_runs: int, epoch_seconds: float) -> str:
    """'epoch 3/20 done; the run needs about 2m10s more', with a group's later waves counted."""
    who = "the run needs" if runs == 1 else f"the {runs} runs need"
    if later_runs:
        who = f"the {runs} runs and the {later_runs} after them need"
    left = seconds_left(epoch_seconds, epochs - epoch + later_wave_epochs(later_runs, runs, epochs), 1.0, 0.0)
    return f"epoch {epoch}/{epochs} done; {who} about {format_duration(left)} more"


def typical_epoch_seconds(epochs_seconds: list[float]) -> float | None:
    """What an epoch takes, from the seconds of those timed so far: the median of the last five,
    which neither the first epoch's compiles nor another process's burst on the machine moves."""
    return statistics.median(epochs_seconds[-5:]) if epochs_seconds else None


def seconds_left(epoch_seconds: float | None, epochs_after: int, epoch_fraction: float,
                 epoch_elapsed: float) -> float | None:
    """Seconds the run still needs: the rest of this epoch and `epochs_after` more.

    An epoch takes `epoch_seconds` (evaluation included: `typical_epoch_seconds`); before one is
    complete, as this epoch's pace so far says. None when nothing is timed yet.
    """
    if epoch_seconds is None:
        if epoch_fraction <= 0:
            return None
        epoch_seconds = epoch_elapsed / epoch_fraction
    return epoch_seconds * (1 - epoch_fraction + epochs_after)


def format_duration(seconds: float) -> str:
    """'45s', '3m12s', '2h05m': whole seconds up to an hour, whole minutes from there."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def seconds_since_process_start() -> float:
    """Wall time since this process started: what a user waits for, imports and compilation included."""
    try:  # Linux: the start time in clock ticks since boot is field 22 of /proc/self/stat
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):  # elsewhere: since this module was imported
        return time.perf_counter() - _MODULE_LOADED


def estimate(configs: list[ml_collections.ConfigDict], runs_per_device: int | None = None, steps: int = 40,
             kernels: str | None = None) -> dict:
    """How long a run of `configs[0]` (or a group of the seeds of `configs`) takes here, measured
    on a short warm-up; writes nothing.

    Times the setup (data, initialisation, compiling the train and eval programs), then at
    least `steps` train steps in whole programs, a second pass of the evaluations and a save of
    every run's checkpoint: an epoch is its steps at the measured pace plus the evaluations and
    its saves (one at its end and one per `checkpoint_every_steps`). A group larger than one program's
    wave is its waves one after another, of the size training would choose (halved where a device
    runs out of memory). Python's imports are not counted. `kernels`: the layers' kernels
    (`programs.Programs`; by default the backend's). On GPU and TPU, `device_peak_bytes` is the
    most the process held on a device (the splits, the wave's states, a program's buffers) against
    `device_bytes_limit`: how many more runs a wave could hold.
    """
    check_group(configs)  # refused here as training would refuse it
    limit = runs_per_device
    while True:
        wave = programs.runs_per_wave(len(configs), limit)
        try:
            result = _estimate_waves(configs, wave, steps, kernels)
        except jax.errors.JaxRuntimeError as error:
            out_of_memory = programs.out_of_memory_error(error, configs[0], wave)
            if out_of_memory is None:
                raise
            limit = programs.fewer_runs_per_device(out_of_memory, runs_per_device)
            continue
        memory = programs.device_memory()
        if limit != runs_per_device:  # the peak is the failed larger wave's
            memory["device_peak_bytes"] = None
        return result | memory


def _estimate_waves(configs: list[ml_collections.ConfigDict], wave: int, steps: int, kernels: str | None) -> dict:
    """`estimate` with `wave` runs in one program."""
    config = configs[0]
    waves = -(-len(configs) // wave)
    seeds = [run_config.seed for run_config in configs[:wave]]
    started = time.perf_counter()
    # One run in a program keeps a run alone's programs (no runs axis), as training does.
    engine = programs.Programs(config, runs=wave if wave > 1 else None, run_configs=configs[:wave], kernels=kernels)
    run = programs.RunPrograms.load(config, engine)
    state = engine.stack_states([engine.init_state(seed, index) for index, seed in enumerate(seeds)])
    roots = engine.group_roots(seeds)
    epoch_rows = engine.group_epoch_rows(run.num_examples, config.batch_size, seeds, 1, config.shuffle)
    totals = engine.stack([zero_totals()] * wave)
    eval_keys = engine.stack([eval_key(seed, 0) for seed in seeds])
    step = 0

    def one_block(state, totals):
        # Every block trains on the epoch's first batches: the epoch appears to start at this block.
        return engine.in_turn(run.run_block(state, totals, run.train_data, epoch_rows,
                                              engine.replicate(np.int32(step)), roots))

    def timed_evaluation() -> float:
        evaluated = time.perf_counter()
        run.evaluate(state, eval_keys)
        return time.perf_counter() - evaluated

    state, totals, _ = jax.block_until_ready(one_block(state, totals))
    step += run.steps_per_dispatch
    timed_evaluation()  # compiles the evaluations
    setup = time.perf_counter() - started
    blocks = -(-steps // run.steps_per_dispatch)
    timed = time.perf_counter()
    for _ in range(blocks):
        state, totals, _ = one_block(state, totals)
        step += run.steps_per_dispatch
    jax.block_until_ready(totals)
    step_seconds = (time.perf_counter() - timed) / (blocks * run.steps_per_dispatch)
    evaluation = timed_evaluation()
    every = config.get("checkpoint_every_steps", 0)
    saves_per_epoch = 1 + ((run.batches_per_epoch - 1) // every if every else 0)
    first_save, saving = _timed_saves(engine, state) or (0.0, None)
    epoch_seconds = step_seconds * run.batches_per_epoch + evaluation + saves_per_epoch * (saving or 0.0)
    # The warm-up's first block, evaluation and save also did work an epoch does: only the rest is startup.
    startup = (max(0.0, setup - step_seconds * run.steps_per_dispatch - evaluation)
               + max(0.0, first_save - (saving or 0.0)))
    return {"experiment": ", ".join(dict.fromkeys(run_config.experiment for run_config in configs)),
            "runs": len(configs), "runs_per_wave": wave, "kernels": engine.kernels, "epochs": config.epochs,
            "steps_per_epoch": run.batches_per_epoch,
            "steps_timed": blocks * run.steps_per_dispatch, "step_seconds": step_seconds,
            "evaluation_seconds": evaluation, "save_seconds": saving, "saves_per_epoch": saves_per_epoch,
            "epoch_seconds": epoch_seconds, "startup_seconds": startup,
            "total_seconds": waves * (startup + config.epochs * epoch_seconds)}


def _timed_saves(engine: programs.Programs, state) -> list[float] | None:
    """Seconds training stops to save every run's checkpoint (orbax writes the files in the background
    while the next steps run), twice to a temporary folder: the first pays one-time costs (compiling).
    None where several processes train, whose saves meet in one folder."""
    if jax.process_count() > 1:
        return None
    with tempfile.TemporaryDirectory() as folder:
        managers = [checkpoint.open_manager(Path(folder) / str(run)) for run in range(engine.runs or 1)]
        seconds = []
        for step in (1, 2):
            for manager in managers:  # in training, the steps between two saves outlast the writing
                manager.wait_until_finished()
            started = time.perf_counter()
            for manager, run_state in zip(managers, engine.unstack_states(state)):
                checkpoint.save(manager, step, run_state, checkpoint.Progress())
            seconds.append(time.perf_counter() - started)
        for manager in managers:
            manager.wait_until_finished()
    return seconds
