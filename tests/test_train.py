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
    assert (workdir / "curves.png").stat().st_size > 10_000
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


def test_cpu_devices_split_the_batch_and_a_resume_on_another_count_says_so(uninterrupted, fixture_data_dir,
                                                                           tmp_path):
    _stop_with_sigterm_after_step_6(_cli(tmp_path, fixture_data_dir, cpu_devices=2), tmp_path)
    resumed = _cli(tmp_path, fixture_data_dir, cpu_devices=1)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "the checkpoint was written on 2 devices, this run has 1" in out + err
    one, split = _final_variables(uninterrupted[0]), _final_variables(tmp_path)
    for leaf_one, leaf_split in zip(jax.tree.leaves(one), jax.tree.leaves(split)):
        np.testing.assert_allclose(leaf_one, leaf_split, rtol=1e-5, atol=1e-5)


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
    resumed = _cli(tmp_path, fixture_data_dir)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    _assert_bit_identical(uninterrupted[0], tmp_path)


def test_a_workdir_with_another_config_is_refused(uninterrupted, fixture_data_dir):
    workdir, _ = uninterrupted
    with pytest.raises(UserError, match=r"different config \(epochs: 2 -> 3; seed: 3 -> 4\)"):
        train.train_and_evaluate(_config(fixture_data_dir, seed=4, epochs=3), str(workdir))


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(fixture_data_dir, tmp_path):
    config = _config(fixture_data_dir, model="lenet", optimizer={"name": "sgd", "learning_rate": 1e6, "momentum": 0.9})
    with pytest.raises(UserError, match=r"non-finite at step \d+ \(epoch 1\)"):
        train.train_and_evaluate(config, str(tmp_path))
    checkpoints = [path for path in (tmp_path / "checkpoints").iterdir() if path.name.isdigit()] \
        if (tmp_path / "checkpoints").exists() else []
    if checkpoints:
        variables = _final_variables(tmp_path)
        assert all(np.isfinite(leaf).all() for leaf in jax.tree.leaves(variables))


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


_PARALLEL_SCRIPT = """
import json, sys
import jax, numpy as np
from jaxmnist import config as config_lib, train
from jaxmnist.data import pipeline
config = config_lib.load_experiment(sys.argv[1])
config.model, config.model_overrides = sys.argv[3], json.loads(sys.argv[4])
split = pipeline.load("mnist", "train", sys.argv[2])
make_batch = pipeline.batch_fn(config.train_pp)
batches = [np.arange(i * 48, (i + 1) * 48) for i in range(3)] + [np.arange(200, 218)]  # 18 = 4*4 + 2
results = {}
for count in (1, 2, 4):
    engine = train.Engine(config, devices=jax.devices()[:count])
    state = engine.init_state(config.seed)
    for step, indices in enumerate(batches):
        images, labels, mask = engine.global_batch(make_batch, split, indices, jax.random.key(step))
        state, sums = engine.train_step(state, images, labels, mask, jax.random.key(100 + step))
    results[count] = [np.asarray(leaf) for leaf in jax.tree.leaves((state.params, state.batch_stats))]
print(json.dumps({str(count): max(float(np.abs(a - b).max()) for a, b in zip(results[1], results[count]))
                  for count in (2, 4)}))
"""


# LeNetBN, and Net (no dropout: its masks depend on the device count) whose 24x24 layer takes
# the matrix-product kernel gradient of layers.Conv2d: every custom gradient sums over devices.
@pytest.mark.parametrize("model, overrides", [("lenet_bn", {}), ("net", {"dropout_rate": 0.0})])
def test_data_parallel_steps_equal_one_device(fixture_data_dir, model, overrides):
    result = subprocess.run(
        [sys.executable, "-c", _PARALLEL_SCRIPT, str(CONFIG), str(fixture_data_dir), model, json.dumps(overrides)],
        capture_output=True,
        text=True, timeout=600, env={**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    assert result.returncode == 0, result.stderr
    differences = json.loads(result.stdout.strip().splitlines()[-1])
    assert differences["2"] <= 1e-5 and differences["4"] <= 1e-5, differences


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_train_like_one(uninterrupted, fixture_data_dir, tmp_path):
    port = _free_port()
    processes = [_cli(tmp_path, fixture_data_dir, "--distributed", "--coordinator", f"127.0.0.1:{port}",
                      "--num-processes", "2", "--process-id", str(index), cpu_devices=None) for index in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
    one, two = _final_variables(uninterrupted[0]), _final_variables(tmp_path)
    for leaf_one, leaf_two in zip(jax.tree.leaves(one), jax.tree.leaves(two)):
        np.testing.assert_allclose(leaf_one, leaf_two, rtol=1e-5, atol=1e-5)


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
