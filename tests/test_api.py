"""jaxmnist from Python: the README's code as written, reruns and resumes in one process, errors as UserError."""

import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import jaxmnist
from jaxmnist.train import logs

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "tests" / "configs" / "tiny_lenet_bn.py"


def _readme_python_code() -> str:
    section = (REPO / "README.md").read_text().split("\n## From Python\n", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def test_the_readme_code_runs_as_written(fixture_data_dir, tmp_path):
    result = subprocess.run([sys.executable, "-c", _readme_python_code()], cwd=tmp_path, capture_output=True,
                            text=True, env={**os.environ, "TFDS_DATA_DIR": str(fixture_data_dir)}, timeout=600)
    assert result.returncode == 0, result.stderr
    workdir = tmp_path / "workdirs" / "smoke"
    config = json.loads((workdir / "config.json").read_text())
    assert (config["experiment"], config["seed"], config["optimizer"]["learning_rate"]) == ("net8k/net_bn", 2, 0.02)
    assert (config["epochs"], config["limit_train"], config["shortened"]) == (1, 2000, True)
    (epoch,) = [row for row in map(json.loads, (workdir / "metrics.jsonl").read_text().splitlines())
                if row["kind"] == "epoch"]
    lines = result.stdout.splitlines()
    accuracy = epoch["test"]["accuracy"]
    assert str(accuracy) in lines  # the rows train_experiment returned
    # evaluate runs the training's own evaluation: the same accuracy at the run's last step.
    assert any(line.startswith(f"{accuracy} {{'class': 3, ") for line in lines)
    (compared,) = [line for line in lines if line.startswith("net8k/net_bn ")]
    assert compared.startswith("net8k/net_bn modified (optimizer.learning_rate=0.02), shortened (--epochs 1, --limit-train 2000) "
                               f"{accuracy} [{{'jaxmnist': ['{jaxmnist.__version__}']")
    assert f"'jax': ['{importlib.metadata.version('jax')}']" in compared


def _tiny_config(data_dir):
    return jaxmnist.load_experiment(str(CONFIG), data_dir=str(data_dir))


def test_a_run_interrupted_in_a_notebook_resumes_when_trained_again(fixture_data_dir, tmp_path, monkeypatch):
    """Several runs in one process, one interrupted as a notebook's interrupt does (SIGINT), then resumed."""
    unbroken = jaxmnist.train_experiment(_tiny_config(fixture_data_dir), tmp_path / "unbroken", cpu_devices=1)
    write = logs.MetricsLog.write

    def write_then_interrupt_after_step_4(log, row):
        write(log, row)
        if row["step"] == 4 and row["kind"] == "step":
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(logs.MetricsLog, "write", write_then_interrupt_after_step_4)
    with pytest.raises(jaxmnist.Interrupted, match="after step 4 "):
        jaxmnist.train_experiment(_tiny_config(fixture_data_dir), tmp_path / "resumed", cpu_devices=1)
    monkeypatch.setattr(logs.MetricsLog, "write", write)
    resumed = jaxmnist.train_experiment(_tiny_config(fixture_data_dir), tmp_path / "resumed", cpu_devices=1)
    assert [row["epoch"] for row in resumed] == [1, 2] and resumed == unbroken
    assert (tmp_path / "resumed" / "metrics.jsonl").read_text() == (tmp_path / "unbroken" / "metrics.jsonl").read_text()
    # Once complete, training again returns its rows and trains nothing.
    assert jaxmnist.train_experiment(_tiny_config(fixture_data_dir), tmp_path / "resumed") == unbroken
    assert jaxmnist.evaluate(tmp_path / "resumed")["accuracy"] == unbroken[-1]["test"]["accuracy"]


def test_load_experiment_takes_overrides_as_a_dict_or_as_set_strings():
    as_dict = jaxmnist.load_experiment("net8k/net_bn", {"optimizer.learning_rate": 0.02, "optimizer.name": "sgd"},
                                       seed=4, epochs=2, limit_train=300)
    as_strings = jaxmnist.load_experiment("net8k/net_bn", ["optimizer.learning_rate=0.02", "optimizer.name=sgd"],
                                          seed=4, epochs=2, limit_train=300)
    assert as_dict.to_dict() == as_strings.to_dict()
    assert (as_dict.optimizer.learning_rate, as_dict.optimizer.name, as_dict.seed) == (0.02, "sgd", 4)
    assert (as_dict.epochs, as_dict.limit_train, as_dict.shortened) == (2, 300, True)
    assert jaxmnist.load_experiment("net8k/net_bn").shortened is False


@pytest.mark.parametrize("call, message", [
    (lambda path: jaxmnist.load_experiment("no/such"), "unknown experiment 'no/such'"),
    (lambda path: jaxmnist.load_experiment("net8k/net_bn", {"optimizer.lr": 0.1}), "has no key 'optimizer.lr'"),
    (lambda path: jaxmnist.load_experiment("net8k/net_bn", "seed=3"), "a dict or a list of 'key=value' strings"),
    (lambda path: jaxmnist.load_experiment("net8k/net_bn", seed=2, overrides={"seed": 3}), "give the seed once"),
    (lambda path: jaxmnist.train_experiment(jaxmnist.load_experiment("net8k/net_bn", epochs=0), path),
     "epochs must be a whole number of at least 1"),
    (lambda path: jaxmnist.evaluate(path), "does not exist"),
    (lambda path: jaxmnist.compare(path.parent), "not a training workdir"),
])
def test_bad_input_raises_one_user_error_and_writes_nothing(call, message, tmp_path):
    path = tmp_path / "run"
    with pytest.raises(jaxmnist.UserError, match=re.escape(message)):
        call(path)
    assert not path.exists()
