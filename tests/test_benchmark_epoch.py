"""scripts/benchmark_epoch.py: the JAX side for two batches on the fixture, and its refusal without the torch venv."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.files_and_messages

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "benchmark_epoch.py"


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=REPO,
                          timeout=600)


def test_jax_side_reports_timed_epochs_as_json(fixture_data_dir):
    result = _run("--only", "jax", "--recipes", "net8k/net_bn_dropout_aug", "--limit-batches", "2",
                  "--repeats", "1", "--data-dir", str(fixture_data_dir), "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)  # the loop's own epoch table went to stderr
    assert report["repeats"] == 1 and report["limit_batches"] == 2
    assert report["environment"]["jax"] and report["environment"]["cpus"]
    (recipe,) = report["results"]
    assert recipe["experiment"] == "net8k/net_bn_dropout_aug" and recipe["shortened"]
    jax_side = recipe["jax"]
    warm_up, timed = jax_side["epochs"]
    assert jax_side["first_epoch_seconds"] == warm_up["seconds"]
    assert jax_side["median_seconds"] == jax_side["min_seconds"] == jax_side["max_seconds"] == timed["seconds"] > 0
    assert jax_side["compile_seconds"] > 0 and jax_side["compile_seconds_in_timed_epochs"] == 0
    assert 0 <= timed["test_accuracy"] <= 100
    assert recipe["torch"] is None and recipe["ratio_torch_over_jax"] is None


def test_missing_torch_python_is_one_clear_line(tmp_path):
    result = _run("--torch-python", str(tmp_path / "no-venv" / "bin" / "python"), "--limit-batches", "1")
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"error: no PyTorch python at {tmp_path / 'no-venv' / 'bin' / 'python'}")
