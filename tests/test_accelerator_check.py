"""scripts/accelerator_check.py: the dry run of every phase on CPU, a phase out of time, refusals without CUDA."""

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
CHECK = SCRIPTS / "accelerator_check.py"


def _run(script: Path, *args, timeout=600):
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout)


def _load(script: Path):
    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _torch_has_cuda() -> bool:
    torch = pytest.importorskip("torch")
    return torch.cuda.is_available()


@pytest.mark.torch
def test_dry_run_runs_every_phase_at_toy_size(tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "check.json"
    result = _run(CHECK, "--dry-run", "--out", str(out), timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads(out.read_text())
    phases = report["phases"]
    check = _load(CHECK)
    assert list(phases) == list(check.PHASES)
    assert {name: phase["status"] for name, phase in phases.items()} == dict.fromkeys(check.PHASES, "ok")
    assert report["dry_run"] and 0 < report["seconds"] < sum(report["timeouts"].values())

    environment = phases["environment"]["result"]
    assert environment["versions"]["jax"] and environment["versions"]["torch"]
    assert environment["jax_backend"] == "cpu" and environment["jax_devices"]

    unit_tests = phases["unit_tests"]["result"]
    assert unit_tests["matmul_precision"] == "highest"
    # Each name selects a test (the torch comparison on both layer paths); the rest of the files is deselected.
    assert unit_tests["passed"] >= len(check.DRY_RUN_UNIT_TESTS) and unit_tests["failed"] == unit_tests["errors"] == 0
    assert unit_tests["deselected"] > 100 and unit_tests["all_passed"]

    parity = phases["parity"]["result"]
    assert parity["count"] == len(parity["models"]) == len(check.DRY_RUN_MODELS)
    for name, errors in parity["models"].items():
        assert 0 < errors["max_error"] < 1e-5, name
        assert 0 < errors["max_error_float64_reference"] < 1e-5, name
    assert "running_statistics" in parity["models"]["lenet_bn"]  # a BatchNorm model's statistics compared
    assert parity["target_met"]

    benchmark = phases["benchmark"]["result"]
    assert set(benchmark["ratios"]) == set(check.DRY_RUN_MODELS) and benchmark["torch_device"] == "cpu"
    assert all(row["jax_images_per_s"] > 0 and row["torch_images_per_s"] > 0 for row in benchmark["results"])
    assert benchmark["min_ratio"] == min(benchmark["ratios"].values()) > 0

    epoch = phases["epoch"]["result"]
    (recipe,) = epoch["results"]
    assert recipe["shortened"] and recipe["jax"]["median_seconds"] > 0
    if epoch["torch_side"] == "ran":  # where a python with torchvision was found
        assert recipe["torch"]["median_seconds"] > 0 and recipe["ratio_torch_over_jax"] > 0

    determinism = phases["determinism"]["result"]
    assert determinism["identical"] and determinism["rows"][0] == determinism["rows"][1] > 2

    # The summary table comes last, one row per phase.
    lines = result.stdout.strip().splitlines()
    header = next(index for index, line in enumerate(lines) if line.startswith("phase "))
    assert [line.split()[:2] for line in lines[header + 1:header + 1 + len(phases)]] == \
        [[name, "ok"] for name in check.PHASES]
    assert lines[-1].startswith("DRY RUN")


def test_a_phase_out_of_time_is_recorded_and_the_exit_code_says_so(tmp_path):
    out = tmp_path / "check.json"
    result = _run(CHECK, "--dry-run", "--out", str(out), "--phases", "environment", "--timeout", "environment=0.5")
    assert result.returncode == 1
    phase = json.loads(out.read_text())["phases"]["environment"]
    assert phase["status"] == "timed_out" and phase["timeout_seconds"] == 0.5 and "result" not in phase
    assert "environment  timed_out" in result.stdout


def test_a_bad_timeout_is_one_error_line(tmp_path):
    result = _run(CHECK, "--dry-run", "--out", str(tmp_path / "check.json"), "--timeout", "parity=soon")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: --timeout takes PHASE=SECONDS")


@pytest.mark.torch
@pytest.mark.parametrize("script, extra", [
    (CHECK, ()),
    (SCRIPTS / "benchmark.py", ("--models", "net")),
    (SCRIPTS / "benchmark_epoch.py", ("--torch-python", sys.executable, "--limit-batches", "1")),
])
def test_torch_device_cuda_without_cuda_is_one_error_line(script, extra, tmp_path):
    if _torch_has_cuda():
        pytest.skip("this torch sees a CUDA device")
    result = _run(script, "--torch-device", "cuda", *extra, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: --torch-device cuda: torch ") and "sees no CUDA device" in result.stderr


def test_the_device_run_call_fits_the_tool():
    pack = _load(SCRIPTS / "pack_for_device.py")
    assert len(pack.RUN_COMMAND) < 2000 and pack.RUN_TIMEOUT_S <= 600
    # The check finds the carried files where the command points it.
    assert "--data-source .device/data" in pack.RUN_COMMAND and pack.DATA == _load(CHECK).CARRIED_DATA
    assert "/.device/" in (REPO / ".gitignore").read_text().splitlines()


def test_the_device_session_rehearsal_writes_every_phase_json(tmp_path):
    session = _load(SCRIPTS / "device_session.py")
    out = tmp_path / "out"
    result = subprocess.run(["bash", str(SCRIPTS / "device_session.sh"), "--dry-run", "--seconds", "2400"],
                            capture_output=True, text=True, cwd=REPO, timeout=2500,
                            env={**os.environ, "OUT": str(out), "PYTHON": sys.executable})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # What the device tool brings back: at most 8 plain files, no folder.
    files = sorted(path.name for path in out.iterdir())
    assert len(files) <= 8 and all((out / name).is_file() for name in files)
    report = json.loads((out / "session.json").read_text())
    assert report["dry_run"] and list(report["phases"]) == list(session.PHASES)
    statuses = {name: phase["status"] for name, phase in report["phases"].items()}
    assert statuses == {"check": "ok", "ab": "ok", "many_runs": "ok", "reproduce": "ok"}

    # (a) the check in two calls, the correctness phases compiled at autotune level 0.
    check = json.loads((out / "check.json").read_text())
    assert {name: call["status"] for name, call in check["calls"].items()} == \
        {"check_correctness": "ok", "check_speed": "ok"}
    for name, (phases, _, _) in session.DRY_RUN_CHECK_CALLS.items():
        report = check["calls"][name]["report"]
        assert report["dry_run"] and {phase: entry["status"] for phase, entry in report["phases"].items()} == \
            dict.fromkeys(phases, "ok")
    assert session.CHECK_CALLS["check_correctness"][2] == {"xla_gpu_autotune_level": "0"}

    # (b) A, B, A, B per recipe; the second run of each choice starts from its cache and writes the same metrics.
    ab = json.loads((out / "ab.json").read_text())
    (pair,) = session.DRY_RUN_AB_PAIRS
    assert [(run["choice"], run["run"], run["cache"]) for run in ab["runs"]] == [
        (pair[0], 1, "cold"), (pair[1], 1, "cold"), (pair[0], 2, "warm"), (pair[1], 2, "warm")]
    assert all(run["status"] == "ok" and len(run["epoch_seconds"]) == 2 for run in ab["runs"])
    assert all(run["rerun_bit_exact"] for run in ab["runs"] if run["run"] == 2) and not ab["left_out"]

    # (c) and (d)
    many_runs = json.loads((out / "many_runs.json").read_text())
    assert many_runs["status"] == "ok"
    assert [(row["runs"], row["kernels"], row["measurements"]) for row in many_runs["result"]["results"]] == [
        (1, "xla", 1), (1, "patches", 1), (2, "xla", 1), (2, "patches", 1)]
    assert all(row["throughput_ratio"] > 0 and row["alone_kernels"] == "cpu" and row["group_device_peak_bytes"] is None
               and row["group_save_seconds"] > 0 and row["alone_save_seconds"] > 0
               and row["group_save_written_seconds"] >= row["group_save_seconds"]
               for row in many_runs["result"]["results"])
    reproduce = json.loads((out / "reproduce.json").read_text())
    assert [call["status"] for call in reproduce["calls"]] == ["ok"] and reproduce["workdirs"] == ["net8k/net_bn"]
    assert reproduce["run_epochs"] == 1  # the dry run's one run of one epoch
    assert (out / "runs.tar.gz").stat().st_size > 0 and (out / "logs.tar.gz").stat().st_size > 0


def test_the_runs_that_come_back_hold_each_runs_last_checkpoint_and_no_events(tmp_path):
    session = _load(SCRIPTS / "device_session.py")
    run = tmp_path / "runs" / "lenet" / "lenet_deep_aug-seed1"
    for path in ("metrics.jsonl", "checkpoints/900/state/data", "checkpoints/1800/state/data",
                 "checkpoints/1800/commit_success.txt", "tensorboard/events.out"):
        (run / path).parent.mkdir(parents=True, exist_ok=True)
        (run / path).write_text("x")
    for last_checkpoint, expected in ((True, {"metrics.jsonl", "checkpoints/1800/state/data",
                                              "checkpoints/1800/commit_success.txt"}),
                                      (False, {"metrics.jsonl"})):
        archive = tmp_path / f"runs-{last_checkpoint}.tar.gz"
        with tarfile.open(archive, "w:gz") as packed:
            packed.add(tmp_path / "runs", arcname="runs", filter=session._run_records(tmp_path, last_checkpoint))
        with tarfile.open(archive) as packed:
            files = {str(Path(member.name).relative_to("runs/lenet/lenet_deep_aug-seed1"))
                     for member in packed.getmembers() if member.isfile()}
        assert files == expected
