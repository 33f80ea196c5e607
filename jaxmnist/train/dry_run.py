"""`estimate`: a dry run (`jaxmnist train --dry-run`) that measures how long a run, or a group of
runs, takes here, and writes nothing."""

import tempfile
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np

from jaxmnist import checkpoint
from jaxmnist.train import loop, programs
from jaxmnist.train.run_config import check_group
from jaxmnist.train.steps import eval_key, zero_totals


def estimate(configs: list[ml_collections.ConfigDict], runs_per_device: int | None = None, steps: int = 40,
             kernels: str | None = None) -> dict:
    """How long a run of `configs[0]` (or a group of the seeds of `configs`) takes here, measured
    on a short warm-up; writes nothing.

    Times the setup (data, initialisation, compiling the train and eval programs), then at
    least `steps` train steps in whole programs, a second pass of the evaluations and a save of
    every run's checkpoint: an epoch is its steps at the measured pace plus the evaluations and
    its saves (one per `checkpoint_every_steps` and one at its end, or the part of one that
    `checkpoint_every_seconds` leaves to an epoch shorter than it). A group larger than one program's
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
    within_epoch = (run.batches_per_epoch - 1) // every if every else 0
    timed_saves = _timed_saves(engine, configs[:wave], state)
    first_save, saving, written = timed_saves or (0.0, 0.0, None)  # not timed: none counted
    unsaved_epoch = step_seconds * run.batches_per_epoch + evaluation + within_epoch * saving
    # Epochs shorter than checkpoint_every_seconds save at their end only every so many of them.
    seconds_between = config.get("checkpoint_every_seconds", 0.0)
    saves_per_epoch = within_epoch + (min(1.0, unsaved_epoch / seconds_between) if seconds_between else 1)
    epoch_save_seconds = saves_per_epoch * saving
    epoch_seconds = step_seconds * run.batches_per_epoch + evaluation + epoch_save_seconds
    # The warm-up's first block, evaluation and save also did work an epoch does: only the rest is startup.
    startup = (max(0.0, setup - step_seconds * run.steps_per_dispatch - evaluation)
               + max(0.0, first_save - saving))
    return {"experiment": ", ".join(dict.fromkeys(run_config.experiment for run_config in configs)),
            "runs": len(configs), "runs_per_wave": wave, "kernels": engine.kernels, "epochs": config.epochs,
            "steps_per_epoch": run.batches_per_epoch,
            "steps_timed": blocks * run.steps_per_dispatch, "step_seconds": step_seconds,
            "evaluation_seconds": evaluation, "save_seconds": saving if timed_saves else None,
            "save_written_seconds": written, "saves_per_epoch": saves_per_epoch,
            "epoch_save_seconds": epoch_save_seconds,
            "epoch_seconds": epoch_seconds, "startup_seconds": startup,
            "total_seconds": waves * (startup + config.epochs * epoch_seconds)}


def _timed_saves(engine: programs.Programs, configs: list[ml_collections.ConfigDict],
                 state) -> tuple[float, float, float] | None:
    """Seconds training stops to save every run's checkpoint as it does, twice to a temporary folder
    (the first pays one-time costs: compiling), and the seconds from the second's start until orbax,
    writing in the background while training goes on, has written every file: the host's work
    a save costs, which epochs shorter than it would wait for. None where several processes train,
    whose saves meet in one folder."""
    if jax.process_count() > 1:
        return None
    with tempfile.TemporaryDirectory() as folder:
        runs = [loop.Run(config, Path(folder) / str(index), of_group=len(configs) > 1)
                for index, config in enumerate(configs)]
        for run in runs:
            run.open_manager()
        seconds = []
        for step in (1, 2):
            started = time.perf_counter()
            loop.save_checkpoints(runs, engine, step, state, checkpoint.Progress())
            seconds.append(time.perf_counter() - started)
            for run in runs:  # in training, the steps between two saves outlast the writing
                run.manager.wait_until_finished()
            written = time.perf_counter() - started
    return seconds[0], seconds[1], written
