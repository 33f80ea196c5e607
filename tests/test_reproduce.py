"""scripts/reproduce.py: shortened runs passed through to `jaxmnist train`, and its one-line errors."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.files_and_messages

REPO = Path(__file__).resolve().parent.parent


def _reproduce(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "reproduce.py"), *argv], capture_output=True,
                          text=True, cwd=REPO, timeout=600)


def test_a_shortened_run_trains_the_given_epochs_and_examples_then_compares(fixture_data_dir, tmp_path):
    result = _reproduce("--dir", str(tmp_path), "--data-dir", str(fixture_data_dir), "--epochs", "1",
                        "--limit-train", "200", "--cpu-devices", "1", "net8k/net_bn")
    assert result.returncode == 0, result.stderr
    workdir = tmp_path / "net8k" / "net_bn"
    epochs = [row for row in map(json.loads, (workdir / "metrics.jsonl").read_text().splitlines())
              if row["kind"] == "epoch"]
    assert [(row["epoch"], row["step"], row["train"]["total"]) for row in epochs] == [(1, 2, 200)]  # batches of 128
    config = json.loads((workdir / "config.json").read_text())
    assert (config["epochs"], config["limit_train"], config["shortened"]) == (1, 200, True)
    first_line, *compare_lines = result.stdout.splitlines()
    assert first_line == "[1/1] net8k/net_bn"
    assert any(str(workdir) in line for line in compare_lines)  # the compare table of the run


def test_the_seeds_of_an_experiment_train_as_one_group(fixture_data_dir, tmp_path):
    result = _reproduce("--dir", str(tmp_path), "--data-dir", str(fixture_data_dir), "--epochs", "1",
                        "--limit-train", "200", "--cpu-devices", "2", "--seeds", "3", "net8k/net_bn")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "[1/1] net8k/net_bn (seeds 1,2,3)"  # one process
    for workdir, seed in (("net_bn", 1), ("net_bn-seed2", 2), ("net_bn-seed3", 3)):
        assert json.loads((tmp_path / "net8k" / workdir / "config.json").read_text())["seed"] == seed
        assert '"epoch": 1' in (tmp_path / "net8k" / workdir / "metrics.jsonl").read_text()


def test_a_dry_run_estimates_each_process_and_their_sum_and_writes_nothing(fixture_data_dir, tmp_path):
    result = _reproduce("--dir", str(tmp_path / "runs"), "--data-dir", str(fixture_data_dir), "--epochs", "2",
                        "--limit-train", "200", "--cpu-devices", "1", "--seeds", "2", "--dry-run",
                        "activations/dro_net_25", "activations/dro_net_50")
    assert result.returncode == 0, result.stderr
    group, total = result.stdout.splitlines()
    # 200 examples in batches of 64: 4 steps an epoch; 4 runs one per device (one CPU device).
    assert group.startswith("[1/1] activations/dro_net_25, activations/dro_net_50 (seeds 0,1): 4 run(s) in 4 "
                            "wave(s), 2 epochs of 4 steps, ")
    assert total == f"1 process(es), 4 run(s), 32 steps of their programs, one after another: about " \
                    f"{group.split(': ')[-1]}"
    assert not (tmp_path / "runs").exists()


def _script():
    spec = importlib.util.spec_from_file_location("reproduce", REPO / "scripts" / "reproduce.py")
    reproduce = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reproduce)
    return reproduce


def test_experiments_that_share_a_program_train_as_one_group(fixture_data_dir, tmp_path):
    result = _reproduce("--dir", str(tmp_path), "--data-dir", str(fixture_data_dir), "--epochs", "1",
                        "--limit-train", "200", "--cpu-devices", "2", "--seeds", "2", "activations/dro_net_25",
                        "activations/dro_net_50")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "[1/1] activations/dro_net_25, activations/dro_net_50 (seeds 0,1)"
    for name, rate in (("dro_net_25", 0.25), ("dro_net_50", 0.5)):
        for workdir, seed in ((name, 0), (f"{name}-seed1", 1)):
            config = json.loads((tmp_path / "activations" / workdir / "config.json").read_text())
            assert (config["seed"], config["model_overrides"], config["experiment"]) == (
                seed, {"dropout_rate": rate}, f"activations/{name}")
            assert '"epoch": 1' in (tmp_path / "activations" / workdir / "metrics.jsonl").read_text()


def test_experiments_group_only_with_runs_saved_at_the_same_step(tmp_path):
    """dro_net_50 stopped at step 100 trains apart; dro_net_75, complete, joins the fresh dro_net_25;
    net8k/net_bn, another dataset split and model, trains apart."""
    stopped, complete = tmp_path / "activations" / "dro_net_50", tmp_path / "activations" / "dro_net_75"
    (stopped / "checkpoints" / "100").mkdir(parents=True)
    (complete / "checkpoints" / "9380").mkdir(parents=True)
    (complete / "metrics.jsonl").write_text(json.dumps({"kind": "epoch", "epoch": 20, "step": 9380}) + "\n")
    names = ["activations/dro_net_25", "activations/dro_net_50", "activations/dro_net_75", "net8k/net_bn"]
    assert [(label, log_name, arguments) for label, log_name, arguments in
            _script().grouped_runs(names, 1, 0, tmp_path)] == [
        ("activations/dro_net_25, activations/dro_net_75", "activations/dro_net_25",
         ["--dir", str(tmp_path), "activations/dro_net_25", "activations/dro_net_75"]),
        ("activations/dro_net_50", "activations/dro_net_50", ["--dir", str(tmp_path), "activations/dro_net_50"]),
        ("net8k/net_bn", "net8k/net_bn", ["--dir", str(tmp_path), "net8k/net_bn"])]


def test_runs_per_device_goes_to_each_process_that_trains_a_group(fixture_data_dir, tmp_path):
    names = ["activations/dro_net_25", "activations/dro_net_50", "net8k/net_bn"]
    assert [arguments for _, _, arguments in _script().grouped_runs(names, 1, 0, tmp_path, runs_per_device=2)] == [
        ["--dir", str(tmp_path), "activations/dro_net_25", "activations/dro_net_50", "--runs-per-device", "2"],
        ["--dir", str(tmp_path), "net8k/net_bn"]]  # a run alone takes no --runs-per-device
    result = _reproduce("--dir", str(tmp_path / "runs"), "--data-dir", str(fixture_data_dir), "--epochs", "1",
                        "--limit-train", "200", "--cpu-devices", "1", "--seeds", "2", "--runs-per-device", "2",
                        "--dry-run", "activations/dro_net_25", "activations/dro_net_50")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith(
        "[1/1] activations/dro_net_25, activations/dro_net_50 (seeds 0,1): 4 run(s) in 2 wave(s), ")


@pytest.mark.parametrize("arguments, message", [
    (("--runs-per-device", "0"), "--runs-per-device must be at least 1, got 0"),
    (("--runs-per-device", "2", "--no-group"), "--runs-per-device goes with groups, not with --no-group")])
def test_bad_runs_per_device_is_one_error_line(arguments, message, tmp_path):
    result = _reproduce("--dir", str(tmp_path / "runs"), *arguments, "net8k/net_bn")
    assert (result.returncode, result.stderr, result.stdout) == (2, f"error: {message}\n", "")
    assert not (tmp_path / "runs").exists()


def test_parallel_runs_of_the_later_seeds_log_to_files(fixture_data_dir, tmp_path):
    result = _reproduce("--dir", str(tmp_path), "--data-dir", str(fixture_data_dir), "--epochs", "1",
                        "--limit-train", "200", "--cpu-devices", "1", "--parallel", "2", "--seeds", "3",
                        "--skip-seeds", "1", "--no-group", "net8k/net_bn")
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "net8k").iterdir()) == [
        "net_bn-seed2", "net_bn-seed2.log", "net_bn-seed3", "net_bn-seed3.log"]  # the config's seed is 1
    for seed in (2, 3):
        assert json.loads((tmp_path / "net8k" / f"net_bn-seed{seed}" / "config.json").read_text())["seed"] == seed
        log = (tmp_path / "net8k" / f"net_bn-seed{seed}.log").read_text()
        assert "net8k/net_bn: after 1 epoch, test accuracy" in log
    assert {line for line in result.stdout.splitlines() if line.startswith(("[", "finished"))} == {
        "[1/2] net8k/net_bn-seed2", "[2/2] net8k/net_bn-seed3",
        "finished net8k/net_bn-seed2 (exit 0)", "finished net8k/net_bn-seed3 (exit 0)"}


def test_stop_after_stops_the_running_run_with_sigterm_and_starts_no_other(tmp_path):
    reproduce = _script()
    # Stands in for `jaxmnist train`, which saves a checkpoint on SIGTERM and exits with 143.
    run = [sys.executable, "-c", "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *_: sys.exit(143)); "
           "time.sleep(60)"]
    pool = reproduce._Pool(parallel=1, stop_after=2)
    pool.run([("first", "first", run), ("second", "second", run)], tmp_path)
    assert pool.failed == ["first (exit 143)", "second (not started)"]


def test_parallel_processes_allocate_gpu_memory_as_they_need_it(tmp_path, monkeypatch):
    reproduce = _script()
    for name in ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_CLIENT_MEM_FRACTION"):
        monkeypatch.delenv(name, raising=False)
    probe = [sys.executable, "-c", "import os; print(os.environ.get('XLA_PYTHON_CLIENT_PREALLOCATE'))"]
    pool = reproduce._Pool(parallel=2, stop_after=None)
    pool.run([("first", "first", probe), ("second", "second", probe)], tmp_path)
    monkeypatch.setenv("XLA_PYTHON_CLIENT_MEM_FRACTION", ".1")  # the user's own choice is kept
    pool.run([("first", "first", probe)], tmp_path)
    assert pool.failed == []
    assert (tmp_path / "first.log").read_text() == "false\nNone\n"
    assert (tmp_path / "second.log").read_text() == "false\n"


@pytest.mark.parametrize(("argv", "message"), [
    (["--epochs", "0", "net8k/net_bn"], "error: --epochs must be at least 1, got 0"),
    (["--limit-train", "-5", "net8k/net_bn"], "error: --limit-train must be at least 1, got -5"),
    (["net8k/no_such"], "error: unknown experiment(s) net8k/no_such (did you mean net8k/net_bn?) (see `jaxmnist experiments`)"),
    (["lenet/lenett", "activation/", "lenet"], "error: unknown experiment(s) lenet/lenett (did you mean lenet/lenet?), "
     "activation/ (did you mean activations/?), lenet (did you mean lenet/?) (see `jaxmnist experiments`)"),
    (["--parallel", "0", "net8k/net_bn"], "error: --parallel must be at least 1, got 0"),
    (["--skip-seeds", "1", "net8k/net_bn"], "error: --skip-seeds must be at least 0 and below --seeds (1), got 1"),
    (["--stop-after", "0", "net8k/net_bn"], "error: --stop-after must be above 0 seconds, got 0"),
])
def test_bad_input_is_one_error_line(argv, message, tmp_path):
    result = _reproduce("--dir", str(tmp_path), *argv)
    assert (result.returncode, result.stderr, result.stdout) == (2, message + "\n", "")
    assert list(tmp_path.iterdir()) == []
