"""What produced a run: each process's software in timing.jsonl, and `compare --json` showing it per run."""

import argparse
import importlib.metadata
import json
import platform
import shutil
import subprocess
from pathlib import Path

import jax
import pytest

import jaxmnist
from jaxmnist import config as config_lib
from jaxmnist import runtime, train
from jaxmnist.report import compare as compare_lib

pytestmark = pytest.mark.files_and_messages

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def short_run(fixture_data_dir, tmp_path_factory) -> Path:
    """net8k/net_bn for one epoch on 200 fixture images: a run compare reads."""
    config = config_lib.load_experiment("net8k/net_bn")
    with config.unlocked():
        config.update(epochs=1, limit_train=200, shortened=True, data_dir=str(fixture_data_dir), data_source=None)
    workdir = tmp_path_factory.mktemp("net_bn")
    train.train_and_evaluate(config, str(workdir))
    return workdir


def _timing(workdir: Path) -> list[dict]:
    return [json.loads(line) for line in (workdir / "timing.jsonl").read_text().splitlines()]


def _write_timing(workdir: Path, rows: list[dict]):
    (workdir / "timing.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def _git_output(*arguments: str) -> str | None:
    result = subprocess.run(["git", "-C", str(REPO), *arguments], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def _compare_json(workdirs, capsys) -> list[dict]:
    compare_lib.compare_command(argparse.Namespace(workdirs=workdirs, json=True, plot=None))
    return json.loads(capsys.readouterr().out)


def test_a_run_records_its_software_in_timing_jsonl_and_not_in_config_json(short_run):
    (first_step,) = [row for row in _timing(short_run) if row.get("kind") == "first_step"]
    commit = _git_output("rev-parse", "HEAD")
    status = _git_output("status", "--porcelain")
    assert first_step["provenance"] == {
        "jaxmnist": jaxmnist.__version__,
        "git_commit": commit.strip() if commit else None,
        "git_uncommitted_changes": bool(status.strip()) if status is not None else None,
        "python": platform.python_version(),
        "jax": jax.__version__, "jaxlib": importlib.metadata.version("jaxlib"),
        "flax": importlib.metadata.version("flax"), "optax": importlib.metadata.version("optax"),
        "orbax-checkpoint": importlib.metadata.version("orbax-checkpoint"),
        "device_kind": jax.devices()[0].device_kind,
    }
    # config.json is what a resumed run compares: it must not change with the software.
    assert not {"provenance", "jax", "git_commit"} & set(json.loads((short_run / "config.json").read_text()))


def test_compare_json_shows_each_value_of_the_runs_processes(short_run, tmp_path, capsys):
    workdir = tmp_path / "resumed_elsewhere"
    shutil.copytree(short_run, workdir)
    # Another seed, so that compare counts it beside the original rather than as its duplicate.
    config = json.loads((workdir / "config.json").read_text())
    (workdir / "config.json").write_text(json.dumps({**config, "seed": config["seed"] + 1}, indent=2, sort_keys=True))
    timing = _timing(workdir)
    (first_step,) = [row for row in timing if row.get("kind") == "first_step"]
    recorded = first_step["provenance"]
    elsewhere = {**recorded, "jaxmnist": "9.9.9", "device_kind": "NVIDIA H200"}
    _write_timing(workdir, [*timing, {**first_step, "devices": "1 x NVIDIA H200", "provenance": elsewhere}])
    rows = _compare_json([short_run, workdir], capsys)
    (row,) = rows
    by_workdir = dict(zip(row["workdirs"], row["provenance_runs"]))
    assert by_workdir[str(short_run)] == {field: [value] for field, value in recorded.items()}
    resumed = by_workdir[str(workdir)]
    assert resumed["jaxmnist"] == [jaxmnist.__version__, "9.9.9"]
    assert resumed["device_kind"] == [recorded["device_kind"], "NVIDIA H200"]
    assert resumed["jax"] == [jax.__version__]


def test_a_timing_jsonl_from_before_provenance_still_compares(short_run, tmp_path, capsys):
    workdir = tmp_path / "old"
    shutil.copytree(short_run, workdir)
    _write_timing(workdir, [{key: value for key, value in row.items() if key != "provenance"}
                            for row in _timing(workdir)])
    (row,) = _compare_json([workdir], capsys)
    assert row["provenance_runs"] == [None]
    assert row["devices_runs"] == [[f"1 x {jax.devices()[0].device_kind}"]] and row["measured"] is not None


def test_git_state_is_none_outside_a_checkout_of_the_package(tmp_path, monkeypatch):
    assert runtime.git_state(tmp_path) == (None, None)
    # An installed copy inside another project's repository (a venv there) is no checkout of jaxmnist.
    project = tmp_path / "project"
    package = project / ".venv" / "jaxmnist"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    assert runtime.git_state(package) == (None, None)
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))
    assert runtime.git_state(REPO / "jaxmnist") == (None, None)
