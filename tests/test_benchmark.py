"""scripts/benchmark.py: one model, both sides, as JSON."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.files_and_messages

pytest.importorskip("torch")
REPO = Path(__file__).resolve().parent.parent


@pytest.mark.torch
def test_one_model_side_by_side_as_json(tmp_path):
    partial = tmp_path / "partial.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "benchmark.py"), "--models", "cnn", "--steps", "2", "--repeats", "1",
         "--json", "--partial-json", str(partial)], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    (row,) = report["results"]
    assert (row["model"], row["experiment"], row["batch_size"]) == ("cnn", "fashion/cnn", 64)
    assert row["jax_images_per_s"] > 0 and row["torch_images_per_s"] > 0
    assert row["ratio"] == pytest.approx(row["jax_images_per_s"] / row["torch_images_per_s"])
    # Loading the compiled train step from the persistent cache skips XLA's compilation.
    assert 0 < row["cached_compile_seconds"] < row["compile_seconds"] and not row["program_was_cached"]
    assert report["geometric_mean_ratio"] == pytest.approx(row["ratio"])
    # What a run stopped after this model would have left: its figures, marked partial.
    saved = json.loads(partial.read_text())
    assert saved["partial"] is True and saved["results"] == report["results"]
