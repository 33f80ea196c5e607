"""The training engine: data parallelism, exact resume, refusals, non-finite stops, determinism, multi-process."""

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator
from tensorboard.util import tensor_util

from jaxmnist import config as config_lib
from jaxmnist import checkpoint, train
from jaxmnist.data import augment, pipeline
from jaxmnist.data.batches import padded_rows
from jaxmnist.errors import UserError
from jaxmnist.inference.load import load_trained
from jaxmnist.train import logs, loop, programs
from jaxmnist.train.programs import Programs
from jaxmnist.train.steps import per_example_loss, zero_totals

CONFIG = Path(__file__).resolve().parent / "configs" / "tiny_lenet_bn.py"
REPO = Path(__file__).resolve().parent.parent


def _config(data_dir, **overrides):
    config = config_lib.load_experiment(str(CONFIG))
    with config.unlocked():
        config.data_dir = str(data_dir)
        config.data_source = None
        config.shortened = False
        config.update(overrides)
    return config


def _cli(workdir, data_dir, *extra, env=None, cpu_devices=1):
    """`jaxmnist train` of CONFIG; one CPU device (as the in-process runs here) unless told otherwise."""
    command = [sys.executable, "-m", "jaxmnist.cli", "train", str(CONFIG), "--workdir", str(workdir),
               "--data-dir", str(data_dir), *extra]
    if cpu_devices is not None:
        command += ["--cpu-devices", str(cpu_devices)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, cwd=REPO)


def _final_variables(workdir):
    _, _, variables = load_trained(str(workdir))
    return jax.tree.map(np.asarray, variables)


def _assert_bit_identical(workdir_a, workdir_b):
    a, b = _final_variables(workdir_a), _final_variables(workdir_b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for leaf_a, leaf_b in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(leaf_a, leaf_b)
    assert (Path(workdir_a) / "metrics.jsonl").read_text() == (Path(workdir_b) / "metrics.jsonl").read_text()


def _tensorboard_scalars(workdir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of one scalar, as EventAccumulator.Scalars reads the run's event files."""
    accumulator = event_accumulator.EventAccumulator(str(workdir / "tensorboard"))
    accumulator.Reload()
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def _tensorboard_server_scalars(workdir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of one scalar as the TensorBoard server's scalar dashboard reads it."""
    accumulator = plugin_event_accumulator.EventAccumulator(str(workdir / "tensorboard"))
    accumulator.Reload()
    assert accumulator.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"
    return [(event.step, float(tensor_util.make_ndarray(event.tensor_proto))) for event in accumulator.Tensors(tag)]


@pytest.fixture(scope="module")
def uninterrupted(fixture_data_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    history = train.train_and_evaluate(_config(fixture_data_dir), str(workdir))
    return workdir, history


@pytest.fixture(scope="module")
def in_blocks(fixture_data_dir, tmp_path_factory):
    """The uninterrupted run with 4 steps per program (blocks end at steps 4, 8, 9 of each 9-batch epoch)."""
    workdir = tmp_path_factory.mktemp("in_blocks")
    history = train.train_and_evaluate(_config(fixture_data_dir, steps_per_dispatch=4), str(workdir))
    return workdir, history


def _assert_close_runs(history_a, history_b, workdir_a, workdir_b):
    """Same accuracies and counts per epoch, losses and every parameter within rounding."""
    for row_a, row_b in zip(history_a, history_b, strict=True):
        for split in ("train", "test"):
            assert {key: row_a[split][key] for key in ("correct", "total")} == \
                {key: row_b[split][key] for key in ("correct", "total")}
            assert row_a[split]["loss"] == pytest.approx(row_b[split]["loss"], rel=1e-5)
    for leaf_a, leaf_b in zip(jax.tree.leaves(_final_variables(workdir_a)), jax.tree.leaves(_final_variables(workdir_b))):
        np.testing.assert_allclose(leaf_a, leaf_b, rtol=1e-5, atol=1e-5)


def test_blocks_of_steps_train_as_single_steps(uninterrupted, in_blocks):
    _assert_close_runs(uninterrupted[1], in_blocks[1], uninterrupted[0], in_blocks[0])
    rows = [json.loads(line) for line in (in_blocks[0] / "metrics.jsonl").read_text().splitlines()]
    # Logged every 2 steps, rounded up to the end of a block.
    assert [row["step"] for row in rows if row["kind"] == "step"] == [4, 8, 13, 17, 18]
    assert [row["train"]["total"] for row in rows if row["kind"] == "step"][:2] == [192, 384]


def test_a_checkpoint_of_one_block_size_resumes_with_another(uninterrupted, fixture_data_dir, tmp_path,
                                                              monkeypatch):
    write = logs.MetricsLog.write

    def write_then_stop_after_step_8(log, row):
        write(log, row)
        if row["step"] == 8 and row["kind"] == "step":
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(logs.MetricsLog, "write", write_then_stop_after_step_8)
    with pytest.raises(train.Interrupted, match="after step 8 "):
        train.train_and_evaluate(_config(fixture_data_dir, steps_per_dispatch=4), str(tmp_path))
    monkeypatch.setattr(logs.MetricsLog, "write", write)
    history = train.train_and_evaluate(_config(fixture_data_dir, steps_per_dispatch=1), str(tmp_path))
    _assert_close_runs(uninterrupted[1], history, uninterrupted[0], tmp_path)


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5"])
def test_bad_steps_per_dispatch_is_one_error_line(value, capsys):
    from jaxmnist import cli

    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "lenet/lenet", "--workdir", "unused", "--steps-per-dispatch", value])
    assert exit_info.value.code == 2
    error_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("jaxmnist train: error:")]
    assert error_lines == [f"jaxmnist train: error: argument --steps-per-dispatch: must be a whole number of at "
                           f"least 1, got '{value}'"]


def test_run_writes_metrics_curves_and_checkpoints(uninterrupted):
    workdir, history = uninterrupted
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[-1]["step"] == 18 and history[-1]["train"]["total"] == 400
    assert history[-1]["test"]["total"] == 500
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if row["kind"] == "step"] == [2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert (workdir / "curves.png").is_file()  # what it shows: test_experiments.py::test_training_curves_plot_from_the_log_the_engine_writes
    assert json.loads((workdir / "config.json").read_text())["model"] == "lenet_bn"


def test_tensorboard_scalars_equal_metrics_jsonl(uninterrupted):
    """Every logged value, at its step, for EventAccumulator.Scalars and for the TensorBoard server."""
    workdir, _ = uninterrupted
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    expected = {"learning_rate": [(row["step"], row["learning_rate"]) for row in rows]}
    for split in ("train", "test"):
        for metric in ("loss", "accuracy"):
            expected[f"{split}/{metric}"] = [(row["step"], row[split][metric]) for row in rows if split in row]
    assert len(expected["test/accuracy"]) == 2 and len(expected["train/loss"]) == 11  # 9 steps + 2 epochs
    for tag, values in expected.items():
        # simple_value is a float32: its rounding is within 6e-8 relative.
        approximate = [(step, pytest.approx(value, rel=1e-7)) for step, value in values]
        assert _tensorboard_scalars(workdir, tag) == approximate, tag
        assert _tensorboard_server_scalars(workdir, tag) == approximate, tag


def test_same_seed_twice_gives_identical_metrics(uninterrupted, fixture_data_dir, tmp_path):
    train.train_and_evaluate(_config(fixture_data_dir), str(tmp_path))
    _assert_bit_identical(uninterrupted[0], tmp_path)


def test_clean_stop_with_sigterm_then_resume_is_bit_identical(uninterrupted, fixture_data_dir, tmp_path):
    # Also what the default compilation cache does: the resumed process loads the programs the
    # first one compiled, and must still continue bit-identically.
    cache_env = {"JAX_COMPILATION_CACHE_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    _stop_with_sigterm_after_step_6(_cli(tmp_path, fixture_data_dir, env=cache_env), tmp_path)
    assert any(path.name.startswith("jit_step_on_batch") for path in (tmp_path / "cache" / "jaxmnist" / "xla").iterdir())
    resumed = _cli(tmp_path, fixture_data_dir, env={**cache_env, "JAX_LOG_COMPILES": "1"})
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming from step" in err + out
    assert "Persistent compilation cache hit for 'jit_step_on_batch'" in err
    _assert_bit_identical(uninterrupted[0], tmp_path)
    for tag in ("train/loss", "test/accuracy", "learning_rate"):
        assert _tensorboard_scalars(tmp_path, tag) == _tensorboard_scalars(uninterrupted[0], tag)
    # Each process timed its startup: the first run's step 1, and the resumed run's first step after the save.
    timing = [json.loads(line) for line in (tmp_path / "timing.jsonl").read_text().splitlines()]
    first_steps = [row for row in timing if row.get("kind") == "first_step"]
    assert [row["step"] for row in first_steps][0] == 1 and first_steps[-1]["step"] > 6
    assert len(first_steps) == 2 and all(0 < row["seconds_since_start"] < 300 for row in first_steps)
    assert [row["devices"] for row in first_steps] == ["1 x cpu", "1 x cpu"]  # what compare shows
    assert sorted(row["epoch"] for row in timing if "seconds" in row) == [1, 2]


def test_stop_after_an_epochs_last_batch_then_resume(uninterrupted, fixture_data_dir, tmp_path, monkeypatch):
    """The resumed run has no batch left in epoch 1: its end-of-epoch save has the stop's step."""
    write = logs.MetricsLog.write

    def write_then_stop_after_step_9(log, row):
        write(log, row)
        if row["step"] == 9 and row["kind"] == "step":  # the last of epoch 1's 9 batches
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(logs.MetricsLog, "write", write_then_stop_after_step_9)
    config = _config(fixture_data_dir, log_every_steps=9)
    with pytest.raises(train.Interrupted, match="after step 9 "):
        train.train_and_evaluate(config, str(tmp_path))
    monkeypatch.setattr(logs.MetricsLog, "write", write)
    history = train.train_and_evaluate(config, str(tmp_path))
    assert [row["epoch"] for row in history] == [1, 2] and history[0]["step"] == 9
    assert history == uninterrupted[1]
    final, expected = _final_variables(tmp_path), _final_variables(uninterrupted[0])
    for leaf, expected_leaf in zip(jax.tree.leaves(final), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(leaf, expected_leaf)


def _stop_with_sigterm_after_step_6(process, workdir):
    metrics = workdir / "metrics.jsonl"
    while process.poll() is None and not (metrics.exists() and '"step": 6' in metrics.read_text()):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signal.SIGTERM, stderr


@pytest.fixture(scope="module")
def two_devices(fixture_data_dir, tmp_path_factory):
    """The uninterrupted run on 2 CPU devices, as `jaxmnist train --cpu-devices 2`."""
    workdir = tmp_path_factory.mktemp("two_devices")
    process = _cli(workdir, fixture_data_dir, cpu_devices=2)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    return workdir


def _largest_difference(workdir_a, workdir_b) -> float:
    return max(float(np.abs(a - b).max()) for a, b in zip(jax.tree.leaves(_final_variables(workdir_a)),
                                                           jax.tree.leaves(_final_variables(workdir_b))))


def test_cpu_devices_split_the_batch_and_a_resume_on_another_count_says_so(uninterrupted, two_devices,
                                                                           fixture_data_dir, tmp_path):
    """Stopped on 2 devices, resumed on 1: ends as near the 1-device run as the 2-device run does.

    The two uninterrupted runs differ only in how sums are split, and BatchNorm amplifies that
    rounding over the run by an amount that depends on the CPU (here 6e-4; 5e-5 elsewhere): their
    distance, measured in this run, is the bound. A resume that lost or repeated a batch, or the
    momentum, lands 1e-2 or more away.
    """
    _stop_with_sigterm_after_step_6(_cli(tmp_path, fixture_data_dir, cpu_devices=2), tmp_path)
    resumed = _cli(tmp_path, fixture_data_dir, cpu_devices=1)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "the checkpoint was written on 2 devices, this run has 1" in out + err
    rounding = _largest_difference(uninterrupted[0], two_devices)
    assert _largest_difference(uninterrupted[0], tmp_path) <= max(3 * rounding, 1e-5), rounding


@pytest.mark.parametrize("kill_when, steps_per_dispatch", [("mid_epoch", 1), ("during_save", 1), ("mid_epoch", 4)])
def test_sigkill_then_resume_is_bit_identical(uninterrupted, in_blocks, fixture_data_dir, tmp_path, kill_when,
                                              steps_per_dispatch):
    blocks = ["--steps-per-dispatch", str(steps_per_dispatch)]
    process = _cli(tmp_path, fixture_data_dir, *blocks)
    checkpoints = tmp_path / "checkpoints"

    def should_kill():
        if not checkpoints.exists():
            return False
        names = [path.name for path in checkpoints.iterdir()]
        if kill_when == "during_save":
            return any("tmp" in name for name in names)  # a save that has not been finalised
        return any(name.isdigit() and int(name) >= 6 for name in names)

    while process.poll() is None and not should_kill():
        time.sleep(0.01)
    process.kill()
    process.communicate(timeout=60)
    # Killed while it ran: a run that had already finished would make the resume below trivial.
    assert process.returncode == -signal.SIGKILL
    resumed = _cli(tmp_path, fixture_data_dir, *blocks)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    _assert_bit_identical((uninterrupted if steps_per_dispatch == 1 else in_blocks)[0], tmp_path)


def test_epochs_shorter_than_checkpoint_every_seconds_save_within_and_at_the_last_only(uninterrupted,
                                                                                        fixture_data_dir, tmp_path):
    """An epoch here takes seconds: at most one save a day leaves out epoch 1's end (step 9), unless
    it is the best epoch so far by `best_split` (as every epoch of this short run is); the saves
    every 3 steps and the last epoch's end stay, and the run computes what it computes saving at
    every epoch's end."""
    for best_split, saved in ((None, [3, 6, 12, 15, 18]), ("test", [3, 6, 9, 12, 15, 18])):
        workdir = tmp_path / str(best_split)
        config = _config(fixture_data_dir, checkpoint_every_seconds=86400.0, keep_checkpoints=10,
                         best_split=best_split)
        history = train.train_and_evaluate(config, str(workdir))
        assert checkpoint.saved_steps(workdir) == saved
        assert history == uninterrupted[1]
        _assert_bit_identical(uninterrupted[0], workdir)


def test_sigkill_after_an_epoch_end_that_saved_nothing_then_resume_is_bit_identical(uninterrupted, fixture_data_dir,
                                                                                   tmp_path):
    once_a_day = ("--set", "checkpoint_every_seconds=86400", "--set", "best_split=None")
    process = _cli(tmp_path, fixture_data_dir, *once_a_day)
    metrics = tmp_path / "metrics.jsonl"
    while process.poll() is None and not (metrics.exists() and '"kind": "epoch"' in metrics.read_text()):
        time.sleep(0.01)
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert 9 not in checkpoint.saved_steps(tmp_path)  # epoch 1 logged, its end not saved
    resumed = _cli(tmp_path, fixture_data_dir, *once_a_day)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    _assert_bit_identical(uninterrupted[0], tmp_path)


def test_a_workdir_with_another_config_is_refused(uninterrupted, fixture_data_dir):
    workdir, _ = uninterrupted
    with pytest.raises(UserError, match=r"different config \(epochs: 2 -> 3; seed: 3 -> 4\)"):
        train.train_and_evaluate(_config(fixture_data_dir, seed=4, epochs=3), str(workdir))


def _diverging(data_dir, learning_rate):
    return _config(data_dir, model="lenet", optimizer={"name": "sgd", "learning_rate": learning_rate, "momentum": 0.9})


def _saved_steps(workdir) -> list[str]:
    return sorted(path.name for path in (workdir / "checkpoints").iterdir() if path.name.isdigit())


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(fixture_data_dir, tmp_path):
    # At this rate the loss overflows at step 4, after the periodic save at step 3.
    with pytest.raises(UserError, match=r"non-finite at step 4 \(epoch 1\); stopped: the last good checkpoint "
                                        r"is at step 3$"):
        train.train_and_evaluate(_diverging(fixture_data_dir, 1e3), str(tmp_path))
    assert _saved_steps(tmp_path) == ["3"]
    assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(_final_variables(tmp_path)))


def test_non_finite_loss_before_the_first_save_says_none_was_kept(fixture_data_dir, tmp_path):
    with pytest.raises(UserError, match=r"non-finite at step 3 \(epoch 1\); stopped: no checkpoint had been "
                                        r"saved yet$"):
        train.train_and_evaluate(_diverging(fixture_data_dir, 1e6), str(tmp_path))
    assert not (tmp_path / "checkpoints").exists()  # the workdir as found: tests/test_run_safety.py


def _one_step_program(config, devices=1):
    engine = Programs(config, devices=jax.devices()[:devices])
    return engine, engine.train_program(augment.parse(config.train_pp), steps=1)


def _roots(engine, seed=0):
    return tuple(jax.device_put(jax.random.fold_in(jax.random.key(seed), index), engine.replicated)
                 for index in (2, 1))


def _zero_totals(engine):
    return engine.replicate(zero_totals())


def test_a_host_round_trip_inside_an_epoch_is_an_error(fixture_data_dir, tmp_path, monkeypatch):
    load_run = programs.RunPrograms.load

    def load_with_a_round_trip(config, engine):
        run = load_run(config, engine)

        def run_block(state, totals, *inputs):
            return run.run_block(state, {**totals, "count": np.asarray(totals["count"])}, *inputs)
        return dataclasses.replace(run, run_block=run_block)

    monkeypatch.setattr(programs.RunPrograms, "load", load_with_a_round_trip)
    with pytest.raises(Exception, match="Disallowed (host-to-device|device-to-host) transfer"):
        train.train_and_evaluate(_config(fixture_data_dir), str(tmp_path))


@pytest.mark.fast
def test_a_checkpoint_holds_the_state_leaves_and_gives_back_its_progress(fixture_data_dir, tmp_path):
    """orbax saves step, params, batch_stats and opt_state: the model, optimizer and loss are no leaves."""
    engine = Programs(_config(fixture_data_dir), devices=jax.devices()[:1])
    state = engine.init_state(seed=0)
    saved_keys = {path[0].name for path, _ in jax.tree_util.tree_flatten_with_path(state)[0]}
    assert saved_keys == {"step", "params", "batch_stats", "opt_state"}
    progress = checkpoint.Progress(epoch=2, batch=3, totals={"loss_sum": 1.5, "correct": 7.0, "count": 9.0,
                                                             "first_nonfinite_step": -1.0},
                                   history=[{"kind": "epoch", "epoch": 1}], seconds=4.5, devices=1)
    manager = checkpoint.open_manager(tmp_path)
    checkpoint.save(manager, 5, state, progress)
    manager.wait_until_finished()
    restored, restored_progress = checkpoint.restore_latest(manager, engine.abstract_state(seed=0))
    assert restored_progress == progress
    assert (restored.apply_fn, restored.tx, restored.loss_name) == (state.apply_fn, state.tx, state.loss_name)
    for leaf, restored_leaf in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(leaf, restored_leaf)


def test_padded_rows_keep_the_last_smaller_batch_and_fit_the_devices():
    rows = padded_rows(np.arange(10, 20), batch_size=4, devices=3, extra_rows=1)
    np.testing.assert_array_equal(rows, [[10, 11, 12, 13, -1, -1], [14, 15, 16, 17, -1, -1],
                                         [18, 19, -1, -1, -1, -1], [-1] * 6])


def test_evaluation_in_blocks_counts_every_example_once(fixture_data_dir):
    """One batch per program (CPU) and the whole split in one (GPU/TPU) give the same sums."""
    config = _config(fixture_data_dir)
    engine = Programs(config, devices=jax.devices()[:1])
    split = engine.replicate(pipeline.load("mnist", "test", str(fixture_data_dir)))  # 500 = 3 x 128 + 116
    evaluate = engine.eval_program(augment.parse(config.eval.test.pp))
    state = engine.init_state(config.seed)
    results = {}
    for per_dispatch in (1, 3, 100):
        blocks = engine.eval_blocks(500, 128, per_dispatch)
        sums = [evaluate(state, split, batch_indices, rows, jax.random.key(0)) for batch_indices, rows in blocks]
        results[per_dispatch] = (len(blocks), {key: float(sum(part[key] for part in sums)) for key in sums[0]})
    assert [results[per_dispatch][0] for per_dispatch in (1, 3, 100)] == [4, 2, 1]
    for per_dispatch in (3, 100):
        assert results[per_dispatch][1]["count"] == results[1][1]["count"] == 500
        assert results[per_dispatch][1]["correct"] == results[1][1]["correct"]
        assert results[per_dispatch][1]["loss_sum"] == pytest.approx(results[1][1]["loss_sum"], rel=1e-6)


@pytest.mark.fast
def test_the_last_smaller_batch_runs_the_compiled_train_step(fixture_data_dir):
    config = _config(fixture_data_dir)
    engine, program = _one_step_program(config)
    split = engine.replicate(pipeline.load("mnist", "train[:400]", str(fixture_data_dir)))
    rows = engine.put_rows(padded_rows(np.arange(400), 48, devices=1))  # 8 x 48, then 16
    state, first_step = engine.init_state(config.seed), engine.replicate(np.int32(0))
    state, sums, _ = program(state, _zero_totals(engine), split, rows, first_step, _roots(engine))
    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, seconds, **_: compiles.append(event) if event.endswith("backend_compile_duration") else None)
    for _ in range(8):  # 7 more full batches, then the last one of 16
        state, sums, _ = program(state, _zero_totals(engine), split, rows, first_step, _roots(engine))
    assert int(state.step) == 9 and int(sums["count"]) == 16 and compiles == []


def test_padding_rows_enter_no_sum_and_no_gradient(fixture_data_dir):
    """Rows marked as padding (-1) change neither the metric sums nor the update.

    LeNet has no BatchNorm or dropout, so its outputs are the same in both modes; labels set
    to its own predictions make every row count as correct, padding included, if it is counted.
    """
    config = _config(fixture_data_dir, model="lenet", train_pp="to_tensor")
    engine, program = _one_step_program(config)
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28, 1), dtype=np.uint8)
    state = engine.init_state(config.seed)
    outputs = np.asarray(engine.module.apply({"params": state.params}, images / np.float32(255), train=False))
    labels = outputs.argmax(axis=1).astype(np.int32)
    split = engine.replicate(pipeline.Split(images, labels))
    real_losses = per_example_loss(outputs, labels, config.loss)
    padded = engine.put_rows(np.array([[0, 1, 2, 3, 4, -1, -1, -1]], np.int32))

    ((batch_indices, eval_rows),) = engine.eval_blocks(5, batch_size=8, batches_per_dispatch=1)
    sums = engine.eval_program(augment.parse("to_tensor"))(state, split, batch_indices, eval_rows, jax.random.key(0))
    assert (int(sums["count"]), int(sums["correct"])) == (5, 5)
    np.testing.assert_allclose(float(sums["loss_sum"]), float(real_losses.sum()), rtol=1e-5)

    on_host = jax.tree.map(np.asarray, state)  # the program donates the state it is given
    results = [jax.tree.map(np.asarray, program(jax.device_put(on_host, engine.replicated), _zero_totals(engine),
                                                split, rows, engine.replicate(np.int32(0)), _roots(engine)))
               for rows in (padded, engine.put_rows(np.arange(5, dtype=np.int32)[None]))]
    padded_sums = results[0][1]
    assert (int(padded_sums["count"]), int(padded_sums["correct"])) == (5, 5)
    np.testing.assert_allclose(float(padded_sums["loss_sum"]), float(real_losses.sum()), rtol=1e-5)
    # The unpadded batch has another shape, so another program: equal up to rounding.
    for leaf, unpadded in zip(jax.tree.leaves(results[0][0]), jax.tree.leaves(results[1][0])):
        np.testing.assert_allclose(leaf, unpadded, rtol=1e-5, atol=1e-7)


_PARALLEL_SCRIPT = """
import json, sys
import jax, numpy as np
from jaxmnist import config as config_lib
from jaxmnist.data import augment, pipeline
from jaxmnist.train.programs import Programs
from jaxmnist.train.steps import zero_totals
assert jax.device_count() == 4, jax.devices()
config = config_lib.load_experiment(sys.argv[1])
config.model, config.model_overrides = sys.argv[3], json.loads(sys.argv[4])
split = pipeline.load("mnist", config.train_split, sys.argv[2])
counts = (1, 2, 3, 4)
engines = {count: Programs(config, devices=jax.devices()[:count]) for count in counts}
programs = {count: engine.train_program(augment.parse(config.train_pp), steps=1) for count, engine in engines.items()}
data = {count: engine.replicate(split) for count, engine in engines.items()}
roots = (jax.random.key(2), jax.random.key(1))
zeros = zero_totals()
state = jax.tree.map(np.asarray, engines[1].init_state(config.seed))
differences = {count: {"state": 0.0, "loss_sum": 0.0, "counts_equal": True} for count in counts[1:]}
for epoch in (1, 2):  # 18 steps, each epoch ending with a batch of 16 real examples padded to 48
    rows = {count: engine.epoch_rows(len(split.labels), config.batch_size, config.seed, epoch, True)
            for count, engine in engines.items()}
    first_step = np.int32(int(state.step))
    for _ in range(-(-len(split.labels) // config.batch_size)):
        results = {}
        for count, engine in engines.items():
            new_state, sums, _ = programs[count](engine.replicate(state), engine.replicate(zeros), data[count],
                                                 rows[count], engine.replicate(first_step),
                                                 jax.device_put(roots, engine.replicated))
            results[count] = (jax.tree.map(np.asarray, new_state), jax.tree.map(np.asarray, sums))
        for count in counts[1:]:
            found = differences[count]
            for a, b in zip(jax.tree.leaves(results[1][0]), jax.tree.leaves(results[count][0])):
                # Relative to the leaf's largest value; leaves that are ~0 (a bias before BatchNorm) count absolutely.
                found["state"] = max(found["state"], float(np.abs(a - b).max()) / max(float(np.abs(a).max()), 1e-2))
            found["loss_sum"] = max(found["loss_sum"], abs(float(results[1][1]["loss_sum"] - results[count][1]["loss_sum"])))
            found["counts_equal"] &= all(int(results[1][1][key]) == int(results[count][1][key])
                                         for key in ("correct", "count"))
        state = results[1][0]  # every count takes the next step from the same state
print(json.dumps(differences))
"""


# LeNetBN, and Net (no dropout: its masks depend on the device count) whose 24x24 layer takes
# the matrix-product kernel gradient of layers.Conv2d: every custom gradient sums over devices.
@pytest.mark.parametrize("model, overrides", [("lenet_bn", {}), ("net", {"dropout_rate": 0.0})])
# XLA's default kernels for this CPU, and the AVX ones (other kernels, other rounding) that an
# older CPU runs: one machine covers both kinds.
@pytest.mark.parametrize("max_isa", [None, "AVX"])
def test_data_parallel_steps_equal_one_device(fixture_data_dir, model, overrides, max_isa):
    """Each of 2 epochs' steps, taken from one state on 1, 2, 3 and 4 devices, gives one result.

    Step by step, not whole runs: on batches of 48, BatchNorm amplifies a rounding difference
    4e4-fold within 18 steps (LeNetBN, 1 vs 2 devices: 1.5e-8 after step 1, 6e-4 after step
    18), so whole runs agree to 1e-5 on some CPUs and not on others. One step from one state
    differs by its own rounding, up to 1.4e-5 of a leaf's largest value (LeNetBN), except where
    rounding decides a tie at a max-pooling window or a ReLU's kink and the gradient takes
    another path: Net's last kernel then moves by up to 1.2e-2 in one step (3 devices; 3 and 4
    with AVX kernels). Measured with this script on an AVX-512 CPU, default and AVX kernels; the
    bound is 4x that. A loss averaged per device instead of over the global batch moves every
    leaf, by 1.0 (Net) to 1.6 (LeNetBN) on 2 devices; BatchNorm statistics taken per device fail
    to trace.
    """
    flags = "--xla_force_host_platform_device_count=4" + (f" --xla_cpu_max_isa={max_isa}" if max_isa else "")
    result = subprocess.run(
        [sys.executable, "-c", _PARALLEL_SCRIPT, str(CONFIG), str(fixture_data_dir), model, json.dumps(overrides)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "XLA_FLAGS": flags})
    assert result.returncode == 0, result.stderr
    differences = json.loads(result.stdout.strip().splitlines()[-1])
    for count, found in differences.items():
        assert found["counts_equal"], (count, found)
        assert found["state"] <= 5e-2 and found["loss_sum"] <= 1e-3, (count, found)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("extra", [(), ("--set", "checkpoint_every_seconds=86400", "--set", "best_split=None",
                                          "--set", "keep_checkpoints=10")], ids=["every_epoch", "once_a_day"])
def test_two_processes_train_exactly_like_one_process_with_two_devices(two_devices, fixture_data_dir, tmp_path,
                                                                       extra):
    """Each process feeds its own device the rows one process would put there, and a sum of two
    shards is the same addition either way: bit-identical on any CPU, so any wrong cross-process
    reduction, order or key shows. Whether an epoch's end saves, the first process decides for both."""
    port = _free_port()
    processes = [_cli(tmp_path, fixture_data_dir, "--distributed", "--coordinator", f"127.0.0.1:{port}",
                      "--num-processes", "2", "--process-id", str(index), *extra, cpu_devices=None)
                 for index in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    _assert_bit_identical(two_devices, tmp_path)
    if extra:
        assert checkpoint.saved_steps(tmp_path) == [3, 6, 12, 15, 18]  # not epoch 1's end


def test_unreadable_latest_checkpoint_falls_back_to_the_previous_one(uninterrupted, fixture_data_dir, tmp_path):
    import shutil

    workdir = tmp_path / "run"
    shutil.copytree(uninterrupted[0], workdir)
    latest = max(int(path.name) for path in (workdir / "checkpoints").iterdir() if path.name.isdigit())
    for path in (workdir / "checkpoints" / str(latest) / "state").rglob("*"):
        if path.is_file() and path.stat().st_size > 0:
            path.write_bytes(b"damaged")
    with pytest.warns(UserWarning, match=f"checkpoint at step {latest} is unreadable"):
        train.train_and_evaluate(_config(fixture_data_dir), str(workdir))
    assert (workdir / "checkpoints" / f"{latest}.unreadable").is_dir()
    _assert_bit_identical(uninterrupted[0], workdir)


def _files(workdir: Path) -> dict:
    """Every entry below `workdir` with its bytes and modification time."""
    return {str(path.relative_to(workdir)): (path.stat().st_mtime_ns, path.read_bytes() if path.is_file() else None)
            for path in sorted(workdir.rglob("*"))}


def test_rerunning_a_complete_run_says_so_and_writes_nothing(uninterrupted, fixture_data_dir, capsys):
    workdir, history = uninterrupted
    before = _files(workdir)
    assert train.train_and_evaluate(_config(fixture_data_dir), str(workdir)) == history
    out = capsys.readouterr().out
    assert f"{workdir} holds a complete run (2 of 2 epochs): nothing to train, nothing written" in out
    assert "resuming" not in out
    assert _files(workdir) == before  # no second TensorBoard events file either


def test_a_complete_run_extended_with_more_epochs_trains_on(uninterrupted, fixture_data_dir, tmp_path):
    workdir = tmp_path / "extended"
    shutil.copytree(uninterrupted[0], workdir)
    history = train.train_and_evaluate(_config(fixture_data_dir, epochs=3), str(workdir), force=True)
    assert [row["epoch"] for row in history] == [1, 2, 3] and history[:2] == uninterrupted[1]
    assert len(list((workdir / "tensorboard").iterdir())) == 2


class _ShiftedClock:
    """The time module, with time.time() running `shift` seconds ahead."""

    def __init__(self):
        self.shift = 0.0

    def time(self):
        return time.time() + self.shift

    def __getattr__(self, name):
        return getattr(time, name)


def test_a_resumed_epoch_counts_its_seconds_before_the_interruption(fixture_data_dir, tmp_path, monkeypatch):
    clock = _ShiftedClock()
    monkeypatch.setattr(loop, "time", clock)
    write = logs.MetricsLog.write

    def write_then_stop_after_step_4(log, row):
        write(log, row)
        if row["step"] == 4 and row["kind"] == "step":
            clock.shift += 1000.0  # epoch 1 took 1000 s up to here
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(logs.MetricsLog, "write", write_then_stop_after_step_4)
    with pytest.raises(train.Interrupted, match="after step 4 "):
        train.train_and_evaluate(_config(fixture_data_dir), str(tmp_path))
    monkeypatch.setattr(logs.MetricsLog, "write", write)
    train.train_and_evaluate(_config(fixture_data_dir), str(tmp_path))
    timing = [json.loads(line) for line in (tmp_path / "timing.jsonl").read_text().splitlines()]
    seconds = {row["epoch"]: row["seconds"] for row in timing if "seconds" in row}
    assert 1000 <= seconds[1] < 1300 and seconds[2] < 300
    assert "seconds" not in (tmp_path / "metrics.jsonl").read_text()

