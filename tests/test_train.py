"""The training engine: data parallelism, exact resume, refusals, non-finite stops, determinism, multi-process."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util

from jaxmnist import config as config_lib
from jaxmnist import reporting, train
from jaxmnist.data import pipeline
from jaxmnist.errors import UserError

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
    _, _, variables = train.load_trained(str(workdir))
    return jax.tree.map(np.asarray, variables)


def _assert_bit_identical(workdir_a, workdir_b):
    a, b = _final_variables(workdir_a), _final_variables(workdir_b)
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for leaf_a, leaf_b in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(leaf_a, leaf_b)
    assert (Path(workdir_a) / "metrics.jsonl").read_text() == (Path(workdir_b) / "metrics.jsonl").read_text()


def _tensorboard_scalars(workdir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of one scalar, as TensorBoard reads the run's event files."""
    accumulator = event_accumulator.EventAccumulator(str(workdir / "tensorboard"))
    accumulator.Reload()
    return [(event.step, float(tensor_util.make_ndarray(event.tensor_proto)))
            for event in accumulator.Tensors(tag)]


@pytest.fixture(scope="module")
def uninterrupted(fixture_data_dir, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("uninterrupted")
    history = train.train_and_evaluate(_config(fixture_data_dir), str(workdir))
    return workdir, history


def test_run_writes_metrics_curves_and_checkpoints(uninterrupted):
    workdir, history = uninterrupted
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[-1]["step"] == 18 and history[-1]["train"]["total"] == 400
    assert history[-1]["test"]["total"] == 500
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows if row["kind"] == "step"] == [2, 4, 6, 8, 10, 12, 14, 16, 18]
    assert (workdir / "curves.png").is_file()  # what it shows: test_experiments.py::test_training_curves_plot_*
    assert _tensorboard_scalars(workdir, "test/accuracy") == [
        (row["step"], pytest.approx(row["test"]["accuracy"])) for row in rows if row["kind"] == "epoch"]
    assert json.loads((workdir / "config.json").read_text())["model"] == "lenet_bn"


def test_same_seed_twice_gives_identical_metrics(uninterrupted, fixture_data_dir, tmp_path):
    train.train_and_evaluate(_config(fixture_data_dir), str(tmp_path))
    _assert_bit_identical(uninterrupted[0], tmp_path)


def test_clean_stop_with_sigterm_then_resume_is_bit_identical(uninterrupted, fixture_data_dir, tmp_path):
    # Also what the default compilation cache does: the resumed process loads the programs the
    # first one compiled, and must still continue bit-identically.
    cache_env = {"JAX_COMPILATION_CACHE_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    _stop_with_sigterm_after_step_6(_cli(tmp_path, fixture_data_dir, env=cache_env), tmp_path)
    assert any(path.name.startswith("jit_train_step") for path in (tmp_path / "cache" / "jaxmnist" / "xla").iterdir())
    resumed = _cli(tmp_path, fixture_data_dir, env={**cache_env, "JAX_LOG_COMPILES": "1"})
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "resuming from step" in err + out
    assert "Persistent compilation cache hit for 'jit_train_step'" in err
    _assert_bit_identical(uninterrupted[0], tmp_path)
    for tag in ("train/loss", "test/accuracy", "learning_rate"):
        assert _tensorboard_scalars(tmp_path, tag) == _tensorboard_scalars(uninterrupted[0], tag)
    # Each process timed its startup: the first run's step 1, and the resumed run's first step after the save.
    timing = [json.loads(line) for line in (tmp_path / "timing.jsonl").read_text().splitlines()]
    first_steps = [row for row in timing if row.get("kind") == "first_step"]
    assert [row["step"] for row in first_steps][0] == 1 and first_steps[-1]["step"] > 6
    assert len(first_steps) == 2 and all(0 < row["seconds_since_start"] < 300 for row in first_steps)
    assert sorted(row["epoch"] for row in timing if "seconds" in row) == [1, 2]


def test_stop_after_an_epochs_last_batch_then_resume(uninterrupted, fixture_data_dir, tmp_path, monkeypatch):
    """The resumed run has no batch left in epoch 1: its end-of-epoch save has the stop's step."""
    write = reporting.MetricsLog.write

    def write_then_stop_after_step_9(log, row):
        write(log, row)
        if row["step"] == 9 and row["kind"] == "step":  # the last of epoch 1's 9 batches
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(reporting.MetricsLog, "write", write_then_stop_after_step_9)
    config = _config(fixture_data_dir, log_every_steps=9)
    with pytest.raises(train.Interrupted, match="after step 9 "):
        train.train_and_evaluate(config, str(tmp_path))
    monkeypatch.setattr(reporting.MetricsLog, "write", write)
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


@pytest.mark.parametrize("kill_when", ["mid_epoch", "during_save"])
def test_sigkill_then_resume_is_bit_identical(uninterrupted, fixture_data_dir, tmp_path, kill_when):
    process = _cli(tmp_path, fixture_data_dir)
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
    resumed = _cli(tmp_path, fixture_data_dir)
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
    assert _saved_steps(tmp_path) == []


def test_the_last_smaller_batch_runs_the_compiled_train_step(fixture_data_dir):
    config = _config(fixture_data_dir)
    engine = train.Engine(config, devices=jax.devices()[:1])
    split = pipeline.load("mnist", "train[:400]", str(fixture_data_dir))
    make_batch = pipeline.batch_fn(config.train_pp)
    state = engine.init_state(config.seed)
    full = engine.global_batch(make_batch, split, np.arange(48), jax.random.key(0), size=48)
    last = engine.global_batch(make_batch, split, np.arange(384, 400), jax.random.key(1), size=48)
    assert last[0].shape == full[0].shape == (48, 28, 28, 1)
    np.testing.assert_array_equal(last[2], np.arange(48) < 16)
    state, _ = engine.train_step(state, *full, jax.random.key(2))
    state, sums = engine.train_step(state, *last, jax.random.key(3))
    assert int(sums["count"]) == 16 and engine.train_step._cache_size() == 1


def test_padding_rows_enter_no_sum_and_no_gradient(fixture_data_dir):
    """Rows the mask marks as padding change neither the metric sums nor the update.

    LeNet has no BatchNorm or dropout, so its outputs are the same in both modes; labels set
    to its own predictions make every row count as correct, padding included, if it is counted.
    """
    config = _config(fixture_data_dir, model="lenet")
    engine = train.Engine(config, devices=jax.devices()[:1])
    state = engine.init_state(config.seed)
    images = np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype(np.float32)
    outputs = np.asarray(engine.module.apply({"params": state.params}, images, train=False))
    labels = outputs.argmax(axis=1).astype(np.int32)
    mask = np.arange(8) < 5
    real_losses = train.per_example_loss(outputs[:5], labels[:5], config.loss)

    sums = engine.eval_steps[False](state, images, labels, mask, jax.random.key(0))
    assert (int(sums["count"]), int(sums["correct"])) == (5, 5)
    np.testing.assert_allclose(float(sums["loss_sum"]), float(real_losses.sum()), rtol=1e-5)

    other_padding = images.copy()
    other_padding[5:] = np.random.default_rng(1).normal(size=(3, 28, 28, 1))
    on_host = jax.tree.map(np.asarray, state)  # train_step donates the state it is given
    results = [jax.tree.map(np.asarray, engine.train_step(jax.device_put(on_host, engine.replicated), batch,
                                                          labels, mask, jax.random.key(0)))
               for batch in (images, other_padding)]
    assert (int(results[0][1]["count"]), int(results[0][1]["correct"])) == (5, 5)
    np.testing.assert_allclose(float(results[0][1]["loss_sum"]), float(real_losses.sum()), rtol=1e-5)
    for leaf, other in zip(jax.tree.leaves(results[0][0]), jax.tree.leaves(results[1][0])):
        np.testing.assert_array_equal(leaf, other)


_PARALLEL_SCRIPT = """
import json, sys
import jax, numpy as np
from jaxmnist import config as config_lib, train
from jaxmnist.data import pipeline
assert jax.device_count() == 4, jax.devices()
config = config_lib.load_experiment(sys.argv[1])
config.model, config.model_overrides = sys.argv[3], json.loads(sys.argv[4])
split = pipeline.load("mnist", config.train_split, sys.argv[2])
make_batch = pipeline.batch_fn(config.train_pp)
counts = (1, 2, 3, 4)
engines = {count: train.Engine(config, devices=jax.devices()[:count]) for count in counts}
state = jax.tree.map(np.asarray, engines[1].init_state(config.seed))
differences = {count: {"state": 0.0, "loss_sum": 0.0, "counts_equal": True} for count in counts[1:]}
step = 0
for epoch in (1, 2):  # 18 steps, each epoch ending with a batch of 16 real examples padded to 48
    for indices in pipeline.train_batches(len(split.labels), config.batch_size, config.seed, epoch, True):
        results = {}
        for count, engine in engines.items():
            batch = engine.global_batch(make_batch, split, indices, jax.random.key(step), config.batch_size)
            new_state, sums = engine.train_step(jax.device_put(state, engine.replicated), *batch,
                                                jax.random.key(100 + step))
            results[count] = (jax.tree.map(np.asarray, new_state), jax.tree.map(np.asarray, sums))
        for count in counts[1:]:
            leaves = zip(jax.tree.leaves(results[1][0]), jax.tree.leaves(results[count][0]))
            found = differences[count]
            # Relative to the leaf's largest value; leaves that are ~0 (a bias before BatchNorm) count absolutely.
            found["state"] = max(found["state"], max(float(np.abs(a - b).max()) / max(float(np.abs(a).max()), 1e-2)
                                                     for a, b in leaves))
            found["loss_sum"] = max(found["loss_sum"], abs(float(results[1][1]["loss_sum"] - results[count][1]["loss_sum"])))
            found["counts_equal"] &= all(int(results[1][1][key]) == int(results[count][1][key])
                                         for key in ("correct", "count"))
        state = results[1][0]  # every count takes the next step from the same state
        step += 1
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
    differs by its own rounding only, largest in the momentum (this step's gradient) where
    BatchNorm divides by a small batch variance: at most 3.0e-4 of a leaf's largest value
    (LeNetBN, 2 devices; 7.1e-5 for Net), the same with default and AVX kernels, measured with
    this script on an AVX-512 CPU; the bound is about 7x that. A loss averaged per device
    instead of over the global batch moves a step by 1.0 (Net) to 1.6 (LeNetBN) of a leaf's
    largest value on 2 devices; BatchNorm statistics taken per device fail to trace.
    """
    flags = "--xla_force_host_platform_device_count=4" + (f" --xla_cpu_max_isa={max_isa}" if max_isa else "")
    result = subprocess.run(
        [sys.executable, "-c", _PARALLEL_SCRIPT, str(CONFIG), str(fixture_data_dir), model, json.dumps(overrides)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "XLA_FLAGS": flags})
    assert result.returncode == 0, result.stderr
    differences = json.loads(result.stdout.strip().splitlines()[-1])
    for count, found in differences.items():
        assert found["counts_equal"], (count, found)
        assert found["state"] <= 2e-3 and found["loss_sum"] <= 1e-3, (count, found)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_train_exactly_like_one_process_with_two_devices(two_devices, fixture_data_dir, tmp_path):
    """Each process feeds its own device the rows one process would put there, and a sum of two
    shards is the same addition either way: bit-identical on any CPU, so any wrong cross-process
    reduction, order or key shows."""
    port = _free_port()
    processes = [_cli(tmp_path, fixture_data_dir, "--distributed", "--coordinator", f"127.0.0.1:{port}",
                      "--num-processes", "2", "--process-id", str(index), cpu_devices=None) for index in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    _assert_bit_identical(two_devices, tmp_path)


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
