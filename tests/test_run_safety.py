"""A run is never destroyed and every value is checked before anything is written: --force continues
only checkpoints that fit, model overrides and unusable paths are one error line, a batch beyond its
split is that split, and a run failing before its first checkpoint leaves its workdir as found."""

import json

import numpy as np
import pytest

from jaxmnist import train
from jaxmnist.errors import UserError
from jaxmnist.data.batches import padded_rows

from conftest import FIXTURE_IDX
from test_train import _config, _diverging
from test_workdir import _assert_one_error_line, _contents, _copy, _train, finished  # noqa: F401 - a fixture

pytestmark = pytest.mark.files_and_messages

# Files whose loss would lose a run's history or its state.
RUN_FILES = ("config.json", "metrics.jsonl", "timing.jsonl")


def _run_files(workdir) -> dict:
    """The bytes of every checkpoint file and of the run's logs."""
    return {name: content for name, content in _contents(workdir).items()
            if name.startswith("checkpoints/") or name in RUN_FILES}


# --- --force continues only checkpoints that fit --------------------------------------------------

def test_force_refuses_a_run_of_another_model_and_keeps_every_file(fixture_data_dir, finished, tmp_path):
    workdir = _copy(finished, tmp_path)
    before = _contents(workdir)
    refused = _train(workdir, fixture_data_dir, "--set", "model=lenet")
    _assert_one_error_line(refused, "holds a run with a different config (model: 'lenet_bn' -> 'lenet')",
                           "its checkpoints hold another model or optimizer state", "use another --workdir")
    assert "--force" not in refused.stderr
    forced = _train(workdir, fixture_data_dir, "--set", "model=lenet", "--force")
    _assert_one_error_line(forced, "its checkpoints hold another model or optimizer state")
    assert _contents(workdir) == before


def test_force_refuses_another_optimizer_state(fixture_data_dir, finished, tmp_path):
    workdir = _copy(finished, tmp_path)
    before = _contents(workdir)
    config = _config(fixture_data_dir)
    with config.unlocked():
        config.optimizer = {"name": "adam", "learning_rate": 1e-3}
    with pytest.raises(UserError, match="another model or optimizer state .*: use another --workdir$"):
        train.train_and_evaluate(config, str(workdir), force=True)
    assert _contents(workdir) == before


def test_force_continues_a_run_that_fits_and_keeps_its_history(fixture_data_dir, finished, tmp_path):
    workdir = _copy(finished, tmp_path)
    before = _run_files(workdir)
    old_metrics = (workdir / "metrics.jsonl").read_text()
    config = _config(fixture_data_dir, epochs=3, optimizer={"name": "sgd", "learning_rate": 0.02, "momentum": 0.9})
    with pytest.raises(UserError, match=r"optimizer: .* -> .*Rerun with --force to continue its checkpoints"):
        train.train_and_evaluate(config, str(workdir))
    assert _run_files(workdir) == before
    history = train.train_and_evaluate(config, str(workdir), force=True)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert (workdir / "metrics.jsonl").read_text().startswith(old_metrics)
    assert json.loads((workdir / "config.json").read_text())["optimizer"]["learning_rate"] == 0.02
    assert not list((workdir / "checkpoints").glob("*.unreadable"))


def test_force_without_a_checkpoint_to_continue_changes_nothing(fixture_data_dir, finished, tmp_path):
    workdir = _copy(finished, tmp_path)
    for path in (workdir / "checkpoints").iterdir():
        path.rename(workdir / path.name)  # beside the logs: nothing left to continue
    before = _contents(workdir)
    with pytest.raises(UserError, match="it has no readable checkpoint to continue: use another --workdir$"):
        train.train_and_evaluate(_config(fixture_data_dir, seed=4), str(workdir), force=True)
    assert _contents(workdir) == before


# --- every value checked before anything is written -----------------------------------------------

@pytest.mark.parametrize("value, fragment", [
    ("1.5", "model_overrides.dropout_rate of model 'net' must be a probability in [0, 1]"),
    ("-0.1", "model_overrides.dropout_rate of model 'net' must be a probability in [0, 1]"),
])
def test_a_bad_model_override_is_one_error_line_and_no_workdir(value, fragment, fixture_data_dir, tmp_path):
    workdir = tmp_path / "run"
    result = _train(workdir, fixture_data_dir, "--set", f"model_overrides.dropout_rate={value}",
                    config="net8k/net_bn_dropout")
    _assert_one_error_line(result, fragment)
    assert not workdir.exists()


@pytest.mark.parametrize("overrides, fragment", [
    ({"channels": (16, 0)}, r"model 'lenet_bn' cannot be built with model_overrides \{'channels': \(16, 0\)\}"),
    ({"batch_norm": 1}, "model_overrides.batch_norm of model 'lenet_bn' must be bool, got 1"),
    ({"dropout2d_rate": 2}, r"model_overrides.dropout2d_rate of model 'lenet_bn' must be a probability in \[0, 1\]"),
    ({"batch_norm_axis_name": "x"}, "model_overrides.batch_norm_axis_name is the train step's to set"),
])
def test_model_overrides_are_checked_against_the_model(overrides, fragment, fixture_data_dir, finished, tmp_path):
    workdir = _copy(finished, tmp_path)
    before = _contents(workdir)
    for path in (workdir, tmp_path / "fresh"):
        with pytest.raises(UserError, match=fragment):
            train.train_and_evaluate(_config(fixture_data_dir, model_overrides=overrides), str(path), force=True)
    assert _contents(workdir) == before
    assert not (tmp_path / "fresh").exists()


def test_a_workdir_or_data_dir_under_proc_is_one_error_line(fixture_data_dir, tmp_path):
    _assert_one_error_line(_train("/proc/jaxmnist/run", fixture_data_dir),
                           "/proc/jaxmnist: no such directory, and none can be made there: choose another path")
    workdir = tmp_path / "run"
    # Preparing from IDX files makes the data dir first.
    _assert_one_error_line(_train(workdir, "/proc/jaxmnist/data", "--data-source", str(FIXTURE_IDX)),
                           "/proc/jaxmnist: no such directory, and none can be made there")
    assert not workdir.exists()


def test_a_batch_beyond_its_split_is_one_short_batch_padded_only_to_the_devices():
    rows = padded_rows(np.arange(10, 15), batch_size=100_000, devices=2, extra_rows=1)
    np.testing.assert_array_equal(rows, [[10, 11, 12, 13, 14, -1], [-1] * 6])


def test_batches_beyond_their_splits_train_as_batches_of_the_splits(fixture_data_dir, tmp_path, capsys):
    # 400 training and 500 test examples: one batch of each per epoch either way.
    whole = _config(fixture_data_dir, epochs=1, batch_size=400, eval_batch_size=500)
    train.train_and_evaluate(whole, str(tmp_path / "whole"))
    assert "note:" not in capsys.readouterr().out
    beyond = _config(fixture_data_dir, epochs=1, batch_size=4000, eval_batch_size=5000)
    train.train_and_evaluate(beyond, str(tmp_path / "beyond"))
    printed = capsys.readouterr().out
    assert "note: batch_size 4000 is larger than the 400 examples of the train split: each pass over them is " \
           "one batch of 400, as PyTorch's DataLoader makes it" in printed
    assert "note: eval_batch_size 5000 is larger than the 500 examples of the test split" in printed
    assert (tmp_path / "beyond" / "metrics.jsonl").read_bytes() == (tmp_path / "whole" / "metrics.jsonl").read_bytes()


# --- a run failing before its first checkpoint leaves its workdir as found --------------------------

def test_a_loss_gone_non_finite_before_the_first_checkpoint_leaves_the_workdir_as_found(fixture_data_dir, tmp_path):
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "notes.txt").write_text("mine")
    for workdir in (tmp_path / "fresh", existing):
        with pytest.raises(UserError, match="non-finite at step 3 .*no checkpoint had been saved yet$"):
            train.train_and_evaluate(_diverging(fixture_data_dir, 1e6), str(workdir))
    assert not (tmp_path / "fresh").exists()
    assert _contents(existing) == {"notes.txt": b"mine"}
