"""The command line's messages for a new user: the closest names for a misspelled key, experiment or model,
what is wrong with a split slice, and the commands that show what can be set."""

import json
import pickle
import warnings

import numpy as np
import pytest

from jaxmnist import cli, models
from jaxmnist import config as config_lib
from jaxmnist.data import pipeline, prepare
from jaxmnist.errors import RunWarning, UserError
from jaxmnist.train import command, run_config

pytestmark = pytest.mark.files_and_messages


def _unknown(key: str, suggestion: str) -> str:
    return f"the config has no key '{key}' {suggestion}; `jaxmnist config EXPERIMENT` lists every key"


@pytest.mark.parametrize(("assignment", "message"), [
    ("dropout_rate=0.2", _unknown("dropout_rate", "(did you mean model_overrides.dropout_rate?)")),
    ("optimizer.lr=0.1", _unknown("optimizer.lr", "(did you mean optimizer.learning_rate?)")),
    ("optimizer.learnig_rate=0.1", _unknown("optimizer.learnig_rate", "(did you mean optimizer.learning_rate?)")),
    ("bach_size=64", _unknown("bach_size", "(did you mean batch_size?)")),
    ("epochs=2.5", "epochs takes a whole number, got '2.5'"),
    ("optimizer.learning_rate=fast", "optimizer.learning_rate takes a number, got 'fast'"),
    ("shuffle=3", "shuffle takes True or False, got '3'"),
    ("optimizer=3", "optimizer takes a dict (or --set optimizer.KEY=VALUE), got '3'"),
])
def test_a_bad_set_names_the_keys_meant_or_the_kind_a_key_takes(assignment, message):
    config = config_lib.load_experiment("net8k/net_bn")
    with pytest.raises(UserError) as error:
        config_lib.apply_overrides(config, [assignment])
    assert str(error.value) == f"--set {assignment}: {message}"


@pytest.mark.parametrize(("name", "suggestion"), [
    ("lenet/lenet_dep", "(did you mean lenet/lenet_deep, lenet/lenet_drop or lenet/lenet_dl?)"),
    ("net_bn", "(did you mean net8k/net_bn, lenet/lenet_bn or net8k/net_bn_dropout?)"),
    ("simple_net", "(did you mean lenet/simple_net_warm_restarts?)"),
])
def test_a_misspelled_experiment_gets_the_closest_names_only(name, suggestion):
    with pytest.raises(UserError) as error:
        config_lib.load_experiment(name)
    assert str(error.value) == f"unknown experiment '{name}' {suggestion}: `jaxmnist experiments` lists them all"


def test_a_misspelled_model_gets_the_closest_names_only():
    with pytest.raises(UserError) as error:
        models.canonical_name("lenet_dep")
    assert str(error.value).startswith("unknown model 'lenet_dep' (did you mean lenet_deep, lenet_drop or "
                                       "lenet_dl?): `jaxmnist models` lists them all")
    with pytest.raises(UserError) as error:
        models.canonical_name("no_such_net")
    assert "did you mean" not in str(error.value) and "network_cnn" not in str(error.value)


@pytest.mark.parametrize(("split", "message"), [
    ("test[:10001]", "split 'test[:10001]' is out of range: its stop 10001 lies outside 'test', which has "
                     "10,000 examples (bounds -10000 to 10000)"),
    ("test[-10001:]", "split 'test[-10001:]' is out of range: its start -10001 lies outside 'test', which has "
                      "10,000 examples (bounds -10000 to 10000)"),
    ("test[:101%]", "split 'test[:101%]' is out of range: its stop 101% lies outside 'test', which has "
                    "10,000 examples (bounds -10000 to 10000)"),
    ("test[5:3]", "split 'test[5:3]' selects no examples: it is empty, as its start 5 is not below its stop 3"),
])
def test_a_bad_split_slice_says_what_is_wrong(split, message):
    with pytest.raises(UserError) as error:
        pipeline._slice_bounds(split, 10_000)
    assert str(error.value) == message


def test_config_prints_every_key_as_the_run_records_it(capsys, tmp_path):
    arguments = ["net8k/net_bn", "--set", "optimizer.learning_rate=0.02", "--seed", "3", "--epochs", "2"]
    assert cli.main(["config", *arguments, "--json"]) == 0
    printed = capsys.readouterr().out
    # What `jaxmnist train` with the same arguments writes as its workdir's config.json.
    train_args = cli.build_parser().parse_args(["train", *arguments, "--workdir", str(tmp_path)])
    resolved = command.resolve_config(train_args, *train_args.experiments)
    assert printed == run_config.check_config(tmp_path, resolved, force=False)
    recorded = json.loads(printed)
    assert (recorded["optimizer"], recorded["seed"], recorded["epochs"], recorded["shortened"]) == (
        {"name": "sgd", "learning_rate": 0.02, "momentum": 0.9}, 3, 2, True)

    assert cli.main(["config", *arguments]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert rows["optimizer.learning_rate"] == "0.02" and rows["model_overrides.dropout_rate"] == "0.0"
    assert rows["train_pp"] == "'to_tensor|normalize(mean=0.1307, std=0.3081)'" and rows["seed"] == "3"
    assert "optimizer" not in rows and len(rows) == sum(  # one row per value, none per section
        not isinstance(value, dict) or not value for _, value in config_lib.dotted_items(recorded))


@pytest.mark.parametrize("arguments, shortened", [((), False), (("--epochs", "15"), False), (("--epochs", "3"), True),
                                                   (("--epochs", "30"), True), (("--limit-train", "600"), True)])
def test_only_other_epochs_or_fewer_examples_mark_a_run_shortened(arguments, shortened, capsys, tmp_path):
    assert cli.main(["config", "net8k/net_bn", *arguments, "--json"]) == 0  # 15 epochs configured
    recorded = json.loads(capsys.readouterr().out)
    assert recorded["shortened"] is shortened
    # A run recorded the other way (given its configured --epochs, before that counted as no cut) resumes.
    (tmp_path / "config.json").write_text(json.dumps({**recorded, "shortened": not shortened}))
    train_args = cli.build_parser().parse_args(["train", "net8k/net_bn", *arguments, "--workdir", str(tmp_path)])
    resolved = command.resolve_config(train_args, *train_args.experiments)
    assert json.loads(run_config.check_config(tmp_path, resolved, force=False))["shortened"] is shortened


def test_config_leaves_out_the_rate_a_cyclic_schedule_sets(capsys):
    assert cli.main(["config", "lenet/lenet_deep_triangular_1000"]) == 0
    rows = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert rows["optimizer.name"] == "'adam'" and "optimizer.learning_rate" not in rows
    assert rows["schedule.max_lr"] == "0.001" and rows["model_overrides"] == "{}"


def test_config_refuses_a_bad_value_in_one_line(capsys):
    assert cli.main(["config", "net8k/net_bn", "--set", "batch_size=0"]) == 2
    assert capsys.readouterr().err.startswith("error: batch_size must be a whole number of at least 1, got 0")


def _workdir_of(experiment: str, workdir, *arguments) -> str:
    """A workdir whose config.json is the one `jaxmnist train EXPERIMENT ARGUMENTS` writes."""
    train_args = cli.build_parser().parse_args(["train", experiment, "--workdir", str(workdir), *arguments])
    workdir.mkdir()
    (workdir / "config.json").write_text(
        run_config.check_config(workdir, command.resolve_config(train_args, *train_args.experiments), force=False))
    return str(workdir)


def test_schedule_of_an_experiment_or_a_workdir_covers_the_whole_run(capsys, tmp_path):
    # lenet_deep_triangular_1000: 100 epochs of ceil(48,000 / 250) = 192 batches.
    assert cli.main(["schedule", "lenet/lenet_deep_triangular_1000", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["steps"] == 100 * 192
    workdir = _workdir_of("lenet/lenet_deep_triangular_1000", tmp_path / "run", "--epochs", "2",
                          "--limit-train", "1000")
    assert cli.main(["schedule", workdir, "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["learning_rates"]) == 2 * 4
    assert cli.main(["schedule", "cosine(lr=1e-3,t_max=1000)"]) == 2
    assert capsys.readouterr().err == ("error: give --steps: cosine(lr=1e-3,t_max=1000) says nothing of how many "
                                       "steps a run takes\n")


def test_schedule_rows_show_every_peak_and_trough_of_a_cycle(capsys):
    # Evenly spaced rows fall every 6,000 steps here, each on a trough of the 2,000-step cycle.
    assert cli.main(["schedule", "cyclic(base_lr=1e-4,max_lr=1e-3,step_size_up=1000)", "--steps", "48001"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[lines.index(f"{'step':>10}  learning rate") + 1:]]
    turns = {int(row[0]): row[2] for row in rows if len(row) == 3}
    assert turns == {step: "max" if step % 2000 else "min" for step in range(1000, 48000, 1000)}
    rates = {int(row[0]): float(row[1]) for row in rows}
    assert all(rates[step] == pytest.approx(1e-3, rel=1e-6) for step in range(1000, 48000, 2000))
    assert all(rates[step] == pytest.approx(1e-4, rel=1e-6) for step in range(0, 48001, 2000))


def test_summary_of_a_workdir_is_its_model_s(capsys, tmp_path):
    workdir = _workdir_of("net8k/net_bn", tmp_path / "run")
    assert cli.main(["summary", workdir, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["name"], summary["params"]) == ("net", 7_864)


def test_train_help_says_where_data_are_looked_for():
    train = next(action for action in cli.build_parser()._subparsers._group_actions[0].choices["train"]._actions
                 if "--data-dir" in action.option_strings)
    assert "default: $TFDS_DATA_DIR, else ~/tensorflow_datasets" in train.help
    assert f"(default: ${prepare.DATA_SOURCE_ENV})" in train.help and "looked for first" in train.help


def test_a_one_epoch_run_ends_with_after_1_epoch(monkeypatch, capsys):
    for setting in ("keep_freed_host_memory", "enable_compilation_cache", "deterministic_gpu_ops",
                    "use_cpu_cores_as_devices"):  # process settings, not this test's
        monkeypatch.setattr(command.runtime, setting, lambda *args: None)
    totals = {"accuracy": 97.5, "correct": 9750, "total": 10000}
    for epochs, said in ((1, "after 1 epoch,"), (2, "after 2 epochs,")):
        monkeypatch.setattr(command, "train_group", lambda *args, **kwargs: [[{"epoch": epochs, "test": totals}]])
        assert cli.main(["train", "net8k/net_bn", "--workdir", "unused", "--epochs", str(epochs)]) == 0
        assert capsys.readouterr().out == (f"net8k/net_bn: {said} test accuracy 97.50% (9750/10000) "
                                           "[shortened run: not a reproduction]\n")


@pytest.mark.parametrize(("content", "message"), [
    ("a pickled list", "cannot read {file} as a PyTorch state_dict: it is no file written by torch.save"),
    ("a text file", "cannot read {file} as a PyTorch state_dict: it is no file written by torch.save"),
    ("a saved tensor", "{file} is not a state_dict: it holds a Tensor, not a dict of tensors"),
    ("a saved module", "cannot read {file} as a PyTorch state_dict: it holds objects other than tensors and dicts "
                       "(a whole model, saved by torch.save(model)?)"),
])
def test_import_torch_of_no_state_dict_says_so_in_one_line(content, message, capsys, tmp_path):
    torch = pytest.importorskip("torch")
    file = tmp_path / "weights.pt"
    if content == "a pickled list":
        file.write_bytes(pickle.dumps([1, 2, 3]))
    elif content == "a text file":
        file.write_text("conv1.weight 0.1 0.2\n")
    else:
        torch.save(torch.zeros(3) if content == "a saved tensor" else torch.nn.Linear(2, 2), file)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli.main(["import-torch", "net", str(file), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (f"error: {message.format(file=file)}; "
                                       "save one with torch.save(model.state_dict(), file)\n")
    assert not caught and not (tmp_path / "out").exists()


def test_a_damaged_data_cache_is_reported_in_one_line(tmp_path):
    version_dir = tmp_path / "mnist" / prepare.TFDS_VERSION
    version_dir.mkdir(parents=True)
    prepare._write_decoded_copy(version_dir, "test", np.zeros((3, 28, 28, 1), np.uint8), np.arange(3, dtype=np.int32))
    copy = version_dir / "jaxmnist-decoded-test.npz"
    copy.write_bytes(copy.read_bytes()[:100])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert prepare._decoded_copy("mnist", "test", tmp_path) is None
    assert [(warning.category, str(warning.message)) for warning in caught] == [
        (RunWarning, f"{copy} is damaged (File is not a zip file): the test split is read from the dataset again "
                     "and the file rewritten")]
