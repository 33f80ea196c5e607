"""scripts/reproduce.py: shortened runs passed through to `jaxmnist train`, and its one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.parametrize(("argv", "message"), [
    (["--epochs", "0", "net8k/net_bn"], "error: --epochs must be at least 1, got 0"),
    (["--limit-train", "-5", "net8k/net_bn"], "error: --limit-train must be at least 1, got -5"),
    (["net8k/no_such"], "error: unknown experiment(s) net8k/no_such (see `jaxmnist experiments`)"),
])
def test_bad_input_is_one_error_line(argv, message, tmp_path):
    result = _reproduce("--dir", str(tmp_path), *argv)
    assert (result.returncode, result.stderr, result.stdout) == (2, message + "\n", "")
    assert list(tmp_path.iterdir()) == []
