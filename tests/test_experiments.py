"""Experiment configs, their notebook references, `compare`'s arithmetic, the plot kinds and a run's curves.png."""

import argparse
import ast
import json
import math
import re
import statistics
from pathlib import Path

import jax
import matplotlib.colors
import numpy as np
import pytest

from jaxmnist import config as config_lib
from jaxmnist import models, optim, pictures
from jaxmnist.data import augment, pipeline
from jaxmnist.errors import RunWarning, UserError
from jaxmnist.inference import evaluate
from jaxmnist.report import compare as compare_lib
from jaxmnist.report import plots
from jaxmnist.report import reference as reference_lib
from jaxmnist.report import runs as runs_lib
from jaxmnist.train import logs

REQUIRED_RUNS = {
    # Notebook 000: the eleven runs.
    "activations/def_net", "activations/sig_net", "activations/dro_net_25", "activations/dro_net_50",
    "activations/dro_net_75", "activations/dro_net_100", "activations/best_net", "activations/best_net_bn",
    "activations/bn_xavier", "activations/bn_kaiming", "activations/tmp_xavier",
    # Notebook 001: CNN3 as main() ran it, CNN and CNN2 with the same recipe.
    "fashion/cnn3", "fashion/cnn", "fashion/cnn2",
    # Notebook 002: the three tables.
    "net8k/net_bn", "net8k/net_bn_dropout", "net8k/net_bn_dropout_aug",
    # Notebook 003.
    "lenet/lenet", "lenet/lenet_bn", "lenet/lenet_drop",
    "lenet/lenet_bn_50", "lenet/lenet_drop_50", "lenet/lenet_drop_bn", "lenet/lenet_dl", "lenet/lenet_dl_k3",
    "lenet/lenet_deep", "lenet/lenet_deep_aug_erase_norm", "lenet/lenet_deep_aug_erase", "lenet/lenet_deep_aug",
    "lenet/lenet_deep_cosine_lr1e-2", "lenet/lenet_deep_cosine_lr1e-3", "lenet/lenet_deep_cosine_aug_b100",
    "lenet/lenet_deep_cosine_aug_b250", "lenet/lenet_deep_triangular_2500", "lenet/lenet_deep_triangular_1000",
    "lenet/lenet_deep_triangular2", "lenet/lenet_deep_warm_restarts", "lenet/simple_net_warm_restarts",
    # Notebook 004.
    "feature_maps/network_cnn",
}

ENGINE_KEYS = {"dataset", "train_split", "train_pp", "shuffle", "eval", "best_split", "model", "model_overrides",
               "loss", "optimizer", "schedule", "batch_size", "eval_batch_size", "epochs", "seed",
               "log_every_steps", "checkpoint_every_steps", "checkpoint_every_seconds", "keep_checkpoints", "reference"}


def test_every_required_run_has_exactly_one_config():
    assert set(config_lib.experiment_names()) == REQUIRED_RUNS


@pytest.mark.parametrize("name", sorted(REQUIRED_RUNS))
def test_smoke_config_builds_model_optimizer_schedule_and_preprocessing(name):
    """Smoke test: every part of the recipe builds, and the reference has the documented fields."""
    config = config_lib.load_experiment(name)
    assert ENGINE_KEYS <= set(config.keys())
    models.create(config.model, **config.model_overrides)
    optim.create_optimizer(config)
    rates = optim.learning_rate_schedule(config.optimizer, config.schedule)(jax.numpy.arange(3))
    assert all(rate > 0 for rate in rates.tolist())
    augment.parse(config.train_pp, (0.13, 0.31))
    for spec in config.eval.values():
        augment.parse(spec.pp, (0.13, 0.31))
    assert config.best_split in config.eval
    reference = runs_lib.plain(config.reference)
    reference_lib.check_reference(reference)
    assert reference["split"] in config.eval
    for split in reference["curves"]:
        assert split in [*config.eval, "train"] or split in ("train_batch", "test_later_epochs_unknown")


@pytest.mark.parametrize("name", sorted(REQUIRED_RUNS))
def test_smoke_docstring_gives_the_train_command_and_the_notebook_reference(name):
    """Smoke test: the config file's docstring, the record of the run, names its command and its notebook."""
    config_path = config_lib.EXPERIMENTS_DIR / f"{name}.py"
    docstring = ast.get_docstring(ast.parse(config_path.read_text()))
    assert f"jaxmnist train {name} --workdir workdirs/{name}" in docstring
    assert "Reference" in docstring
    # The notebook it names is the one its reference numbers come from, and no other.
    assert set(re.findall(r"Notebook 00\d", docstring)) == {f"Notebook {reference_lib.notebook_of(_reference(name))}"}


def _reference(name):
    return runs_lib.plain(config_lib.load_experiment(name).reference)


def test_reference_numbers_equal_the_notebooks():
    augmentation = _reference("net8k/net_bn_dropout_aug")
    assert (augmentation["reduce"], augmentation["value"]) == ("max", 99.35)
    assert max(augmentation["curves"]["test"]["accuracy"]) == 99.35
    assert _reference("net8k/net_bn")["value"] == 99.31
    report = _reference("feature_maps/network_cnn")
    assert (report["reduce"], report["value"]) == ("final", 99.20)
    assert report["curves"]["test"]["accuracy"][-1] == 99.20 and len(report["curves"]["test"]["epoch"]) == 50
    def_net = _reference("activations/def_net")
    assert (def_net["reduce"], def_net["epoch"]) == ("epoch", 16)
    assert def_net["curves"]["test"]["correct"][15] == 9820 and def_net["value"] == 98.20
    assert len(def_net["curves"]["test"]["epoch"]) == 16  # the output is cut after 16 of 20 epochs
    assert _reference("fashion/cnn3")["value"] == 87.11
    assert _reference("lenet/simple_net_warm_restarts")["value"] == 99.69
    assert _reference("lenet/lenet_deep_triangular_1000")["value"] == 99.58


def test_qualitative_references_record_text_and_no_number():
    lenet = _reference("lenet/lenet")
    assert lenet["value"] is None and lenet["text"] == "The accuracy is about 98%."
    assert _reference("lenet/lenet_bn")["text"] == "We easily reach accuracies of 98.5-99% over ten epochs."
    assert _reference("fashion/cnn2")["value"] is None


def test_notebook_quirks_are_in_the_configs():
    normalised_train = config_lib.load_experiment("lenet/lenet_deep_aug_erase_norm")
    assert "normalize(mean=0.5, std=0.5)" in normalised_train.train_pp
    assert normalised_train.eval.test.pp == "to_tensor"  # tested on unnormalised images, as the notebook
    assert normalised_train.eval.valid.pp == normalised_train.train_pp  # validation split augmented
    assert config_lib.load_experiment("fashion/cnn3").train_pp.endswith("normalize(mean=0.1307, std=0.3081)")
    report = config_lib.load_experiment("feature_maps/network_cnn")
    assert report.loss == "cross_entropy_on_probabilities"
    cyclic = config_lib.load_experiment("lenet/lenet_deep_triangular_1000").schedule
    assert (cyclic.step_size_up, cyclic.cycle_momentum) == (1000, False)


@pytest.mark.parametrize("name, uniform", [("activations/best_net", True), ("activations/best_net_bn", True),
                                           ("activations/bn_xavier", True), ("activations/bn_kaiming", True),
                                           ("net8k/net_bn", False), ("lenet/lenet_bn", False)])
def test_notebook_000_starts_batchnorm_weights_as_its_pytorch_did_and_later_notebooks_at_one(name, uniform):
    config = config_lib.load_experiment(name)
    variables = models.init_variables(models.create(config.model, **config.model_overrides), jax.random.key(0))
    scales = np.concatenate([np.ravel(leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]
                             if path[-1].key == "scale"])
    assert scales.size >= 20  # every BatchNorm layer's weight
    if uniform:  # PyTorch <= 1.1: U(0, 1)
        assert 0 <= scales.min() and scales.max() < 1 and len(np.unique(scales)) == len(scales)
    else:
        np.testing.assert_array_equal(scales, 1)


def test_an_experiment_file_given_by_a_relative_path_gets_its_registered_name(monkeypatch):
    monkeypatch.chdir(config_lib.EXPERIMENTS_DIR.parent)
    assert config_lib.load_experiment("experiments/net8k/net_bn.py").experiment == "net8k/net_bn"


# --- compare on synthetic workdirs -------------------------------------------------------------

def _split_metrics(accuracy):
    """One split's metrics after an epoch; the loss falls as the accuracy rises, as in a run."""
    return {"loss": (100.0 - accuracy) / 10, "accuracy": accuracy, "correct": round(accuracy * 100), "total": 10000}


def _workdir(tmp_path, name, experiment, test_accuracies, seed=0, shortened=False, epochs=None, steps_per_epoch=10,
             **changes):
    """A workdir as the engine writes it, with these test (= valid) accuracies per epoch, train 1 pp below,
    and the schedule's rates."""
    config = config_lib.load_experiment(experiment)
    schedule = optim.learning_rate_schedule(config.optimizer, config.schedule)
    run_config = config_lib.recorded(json.loads(config.to_json_best_effort()))
    run_config.update(seed=seed, shortened=shortened)
    if epochs is not None:
        run_config["epochs"] = epochs
    run_config.update(changes)
    workdir = tmp_path / name
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps(run_config))
    rows = []
    for epoch, accuracy in enumerate(test_accuracies, start=1):
        train, test = _split_metrics(accuracy - 1.0), _split_metrics(accuracy)
        for step in range((epoch - 1) * steps_per_epoch + 5, epoch * steps_per_epoch, 5):
            rows.append({"kind": "step", "step": step, "epoch": epoch, "train": train,
                         "learning_rate": float(schedule(step - 1))})
        last = epoch * steps_per_epoch
        rows.append({"kind": "epoch", "step": last, "epoch": epoch, "train": train, "test": test,
                     "valid": test, "learning_rate": float(schedule(last - 1))})
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return workdir


def test_measure_final_max_and_epoch():
    rows = [{"kind": "epoch", "epoch": epoch, "test": {"accuracy": accuracy}}
            for epoch, accuracy in enumerate([97.0, 99.4, 99.1], start=1)]
    assert reference_lib.measure(rows, {"split": "test", "reduce": "final", "epoch": None}) == (99.1, 3)
    assert reference_lib.measure(rows, {"split": "test", "reduce": "max", "epoch": None}) == (99.4, 2)
    assert reference_lib.measure(rows, {"split": "test", "reduce": "epoch", "epoch": 2}) == (99.4, 2)
    assert reference_lib.measure(rows, {"split": "test", "reduce": "epoch", "epoch": 16}) == (None, None)


def test_compare_aggregates_seeds_and_labels_short_runs(tmp_path):
    fifteen = [98.0] * 14
    seeds = [_workdir(tmp_path, f"seed{seed}", "net8k/net_bn_dropout_aug", fifteen + [final], seed=seed)
             for seed, final in enumerate([99.30, 99.40, 99.20])]
    short = _workdir(tmp_path, "short", "net8k/net_bn_dropout_aug", [97.0, 99.5], shortened=True, epochs=2)
    cut = _workdir(tmp_path, "cut", "net8k/net_bn_dropout_aug", [97.0, 98.0, 98.5])
    rows = compare_lib.compare([*seeds, short, cut])
    by_status = {row["status"]: row for row in rows}
    assert set(by_status) == {"complete", "shortened (--epochs 2)", "incomplete"}
    complete = by_status["complete"]
    assert complete["n"] == 3 and complete["epochs_run"] == 15 and complete["epochs_configured"] == 15
    assert complete["measured"] == pytest.approx(99.30)  # max over epochs of each seed, then the mean
    assert complete["std"] == pytest.approx(statistics.stdev([99.30, 99.40, 99.20]))
    assert complete["difference_pp"] == pytest.approx(99.30 - 99.35)
    shortened = by_status["shortened (--epochs 2)"]
    assert (shortened["n"], shortened["measured"], shortened["epochs_run"]) == (1, 99.5, 2)
    assert shortened["std"] is None and shortened["difference_pp"] is None  # never passed off as a reproduction
    assert by_status["incomplete"]["epochs_run"] == 3 and by_status["incomplete"]["difference_pp"] is None
    table = compare_lib.format_table(rows)
    assert "99.30 ± 0.10" in table and "-0.05" in table and "not reproductions" in table


def test_compare_labels_runs_with_a_changed_recipe_by_each_changed_value(tmp_path):
    runs = [_workdir(tmp_path, f"lr{rate}", "net8k/net_bn", [99.4] * 15,
                     optimizer={"name": "sgd", "learning_rate": rate, "momentum": 0.9}) for rate in (0.1, 0.2)]
    plain = _workdir(tmp_path, "plain", "net8k/net_bn", [99.4] * 15, optimizer={"name": "sgd", "learning_rate": 0.1})
    rows = compare_lib.compare([*runs, plain])
    # The runs of a sweep are rows of their own, never averaged as seeds of one recipe.
    assert [row["status"] for row in rows] == ["modified (optimizer.learning_rate=0.1)",
                                               "modified (optimizer.learning_rate=0.1, optimizer.momentum unset)",
                                               "modified (optimizer.learning_rate=0.2)"]
    assert all(row["n"] == 1 and row["difference_pp"] is None for row in rows)


def test_compare_reads_a_run_whose_schedule_sets_the_rate_as_the_recipe(tmp_path):
    run = _workdir(tmp_path, "cyclic", "lenet/lenet_deep_triangular_1000", [99.0] * 99 + [99.5])
    assert "learning_rate" not in json.loads((run / "config.json").read_text())["optimizer"]  # torch ignores it
    (row,) = compare_lib.compare([run])
    assert (row["status"], row["measured"], row["reference"]) == ("complete", 99.5, 99.58)


def test_compare_at_epoch_reference_and_missing_epoch(tmp_path):
    run = _workdir(tmp_path, "def", "activations/def_net", [90.0] * 15 + [98.0] + [99.0] * 4)
    (row,) = compare_lib.compare([run])
    assert (row["measured"], row["reference"], row["status"]) == (98.0, 98.20, "complete")
    assert row["difference_pp"] == pytest.approx(-0.20)
    early = _workdir(tmp_path, "early", "activations/def_net", [90.0] * 3, shortened=True, epochs=3)
    (row,) = compare_lib.compare([early])
    assert row["measured"] is None and row["difference_pp"] is None and row["status"].startswith("shortened")
    # Stopped after epoch 17 of 20: epoch 16 is what the full run computes, so it compares.
    unfinished = _workdir(tmp_path, "unfinished", "activations/def_net", [90.0] * 15 + [98.5, 98.6])
    (row,) = compare_lib.compare([unfinished])
    assert row["status"] == "incomplete" and row["difference_pp"] == pytest.approx(0.30)


def test_compare_without_reference_number(tmp_path):
    run = _workdir(tmp_path, "lenet", "lenet/lenet", [97.0 + epoch / 10 for epoch in range(10)])
    (row,) = compare_lib.compare([run])
    assert row["reference"] is None and row["difference_pp"] is None
    assert row["measured"] == pytest.approx(97.9)
    assert "about 98%" in compare_lib.format_table([row])


def test_compare_command_prints_json_and_plots_the_runs(tmp_path, capsys, monkeypatch):
    runs = [_workdir(tmp_path, f"run{seed}", "feature_maps/network_cnn", [94.0 + 0.1 * epoch for epoch in range(50)],
                     seed=seed) for seed in range(2)]
    plotted = []
    # The picture is checked by test_comparison_plot_draws_each_seed_over_the_notebook_curve_or_its_number.
    monkeypatch.setattr(plots, "plot_comparison", lambda runs, out: plotted.append((runs, out)))
    compare_lib.compare_command(argparse.Namespace(workdirs=runs, json=True, plot="compare.png"))
    (row,) = json.loads(capsys.readouterr().out)
    assert row["n"] == 2 and row["difference_pp"] == pytest.approx(98.9 - 99.20)
    ((plotted_runs, out),) = plotted
    assert [run["workdir"] for run in plotted_runs] == [str(run) for run in runs] and out == "compare.png"


def test_compare_rejects_a_directory_without_run(tmp_path):
    with pytest.raises(UserError, match="not a training workdir"):
        compare_lib.compare([tmp_path])


def test_compare_finds_the_runs_below_a_directory_and_their_wall_time(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for seed in range(2):
        workdir = _workdir(runs, f"net_bn_seed{seed}", "net8k/net_bn", [99.0] * 15, seed=seed)
        # Epoch 2 was interrupted and rerun: it counts once.
        timing = [(1, 60.0), (2, 10.0), (2, 60.0)] + [(epoch, 60.0) for epoch in range(3, 16)]
        # Seed 1 was resumed on a GPU: each process records its devices with its first step.
        processes = [(1, "2 x cpu")] + [(3, "1 x NVIDIA H200")] * seed
        rows = [{"kind": "first_step", "step": 469 * (epoch - 1) + 1, "epoch": epoch, "seconds_since_start": 5.0,
                 "devices": devices} for epoch, devices in processes]
        rows += [{"step": 469 * epoch, "epoch": epoch, "seconds": seconds} for epoch, seconds in timing]
        (workdir / "timing.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (row,) = compare_lib.compare([runs])
    assert row["n"] == 2 and row["seconds_runs"] == [900.0, 900.0]
    assert row["devices_runs"] == [["2 x cpu"], ["2 x cpu", "1 x NVIDIA H200"]]
    header, _, line = compare_lib.format_table([row]).splitlines()
    cells = dict(zip([cell.strip() for cell in header.split(" | ")], [cell.strip() for cell in line.split(" | ")]))
    assert (cells["minutes"], cells["devices"]) == ("15.0", "2 x cpu, 1 x NVIDIA H200")


def test_compare_skips_a_folder_below_that_is_no_run_with_a_warning(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    run = _workdir(runs, "net_bn", "net8k/net_bn", [99.0] * 15)
    other = _workdir(runs, "other", "net8k/net_bn", [99.0] * 15)
    (other / "config.json").write_text(json.dumps({"experiment": "no/such/experiment", "epochs": 1}))
    damaged = runs / "damaged"
    damaged.mkdir()
    (damaged / "config.json").write_text("{not json")
    with pytest.warns(RunWarning) as caught:
        (row,) = compare_lib.compare([runs])
    assert row["workdirs"] == [str(run)]
    messages = sorted(str(warning.message) for warning in caught)
    assert len(messages) == 2
    assert "damaged" in messages[0] and f"{other}: its config.json is not a jaxmnist run's" in messages[1]
    with pytest.raises(UserError, match="not a jaxmnist run's"):  # named, it is still an error
        compare_lib.compare([other])


def test_compare_measures_runs_of_a_config_without_notebook_each_recipe_apart(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    own = Path("my_lenet_bn.py")
    own.write_text((Path(__file__).parent / "configs" / "tiny_lenet_bn.py").read_text())
    sweep = {rate: {"name": "sgd", "learning_rate": rate, "momentum": 0.9} for rate in (0.01, 0.05)}
    workdirs = [_workdir(tmp_path, "run-seed1", str(own), [60.0, 75.0], seed=1, optimizer=sweep[0.01]),
                _workdir(tmp_path, "run-seed2", str(own), [60.0, 77.0], seed=2, optimizer=sweep[0.01]),
                _workdir(tmp_path, "run-lr0.05-seed1", str(own), [50.0, 45.0], seed=1, optimizer=sweep[0.05])]
    with_file = compare_lib.compare(workdirs)
    own.unlink()  # runs copied to another machine: the first run given stands for the recipe
    for rows in (with_file, compare_lib.compare(workdirs)):
        assert [(row["status"], row["n"], row["measured"]) for row in rows] == [
            ("complete", 2, 76.0), ("modified (optimizer.learning_rate=0.05)", 1, 45.0)]
        assert all(row["reference"] is None and row["difference_pp"] is None for row in rows)
        assert rows[0]["metric"] == "test accuracy, after the last epoch"
        assert '— "no notebook: the run\'s own config"' in compare_lib.format_table(rows)


def test_compare_table_names_the_workdirs_of_each_row(tmp_path):
    seeds = [_workdir(tmp_path, f"seed{seed}", "net8k/net_bn", [99.0] * 15, seed=seed) for seed in range(2)]
    cut = _workdir(tmp_path, "cut", "net8k/net_bn", [99.0] * 3)
    table = compare_lib.format_table(compare_lib.compare([*seeds, cut]))
    header, _, *lines, _note = table.splitlines()
    assert header.split(" | ")[-1].strip() == "workdir"
    cells = [[cell.strip() for cell in line.split(" | ")][-2:] for line in lines]
    assert cells == [["complete", f"{tmp_path}/{{seed0,seed1}}"], ["incomplete", str(cut)]]


def test_compare_counts_each_seed_once_and_names_the_workdirs_that_repeat_one(tmp_path):
    first = _workdir(tmp_path, "net_bn-a", "net8k/net_bn", [98.0] * 14 + [99.2], seed=1)
    repeat = _workdir(tmp_path, "net_bn-b", "net8k/net_bn", [98.0] * 14 + [99.6], seed=1)
    other = _workdir(tmp_path, "net_bn-c", "net8k/net_bn", [98.0] * 14 + [99.4], seed=2)
    with pytest.warns(RunWarning) as caught:
        (row,) = compare_lib.compare([repeat, other, first])  # given out of path order
    assert [str(warning.message) for warning in caught] == [
        f"{repeat} repeats seed 1 of net8k/net_bn (complete): only {first}, the first by path, counts"]
    assert (row["n"], row["seeds"], row["workdirs"]) == (2, [2, 1], [str(other), str(first)])
    assert row["measured"] == pytest.approx(99.3) and row["std"] == pytest.approx(statistics.stdev([99.2, 99.4]))
    assert row["range"] == [99.2, 99.4]
    header, _, line = compare_lib.format_table([row]).splitlines()
    cells = dict(zip([cell.strip() for cell in header.split(" | ")], [cell.strip() for cell in line.split(" | ")]))
    assert (cells["ours"], cells["n"]) == ("99.30 ± 0.14", "2")

@pytest.mark.parametrize("cut, status", [({}, "complete"), ({"epochs_run": 3}, "incomplete"),
                                         ({"shortened": True, "epochs": 2}, "shortened (--epochs 2)"),
                                         ({"batch_size": 32}, "modified (batch_size=32)")])
def test_compare_gives_a_config_file_path_the_status_of_its_registered_name(tmp_path, monkeypatch, cut, status):
    monkeypatch.chdir(tmp_path)
    copy = Path("my_net_bn.py")
    copy.write_text((config_lib.EXPERIMENTS_DIR / "net8k/net_bn.py").read_text())
    cut = dict(cut)
    accuracies = [99.0] * cut.pop("epochs_run", cut.get("epochs", 15))
    by_name = _workdir(tmp_path, "by_name", "net8k/net_bn", accuracies, **cut)
    by_path = _workdir(tmp_path, "by_path", str(copy), accuracies, **cut)
    (named,), (pathed,) = compare_lib.compare([by_name]), compare_lib.compare([by_path])
    assert named["status"] == pathed["status"] == status
    assert pathed["experiment"] == "my_net_bn.py" and pathed["epochs_configured"] == 15


@pytest.mark.parametrize("bests, inside, cell", [([99.0, 99.2, 99.4], True, "yes (99.00-99.40)"),
                                                  ([99.5, 99.6], False, "no (99.50-99.60)")])
def test_compare_says_whether_the_notebook_lies_inside_the_range_of_our_seeds(tmp_path, bests, inside, cell):
    seeds = [_workdir(tmp_path, f"seed{seed}", "net8k/net_bn", [98.0] * 14 + [best], seed=seed)
             for seed, best in enumerate(bests)]
    (row,) = compare_lib.compare(seeds)
    assert (row["reference"], row["range"], row["reference_inside_range"]) == (99.31, [min(bests), max(bests)], inside)
    header, _, line = compare_lib.format_table([row]).splitlines()
    cells = dict(zip([name.strip() for name in header.split(" | ")], [value.strip() for value in line.split(" | ")]))
    assert cells["notebook in our range"] == cell
    (single,) = compare_lib.compare(seeds[:1])
    assert single["range"] is None and single["reference_inside_range"] is None


def test_a_renamed_group_still_names_its_experiments_by_the_former_name(tmp_path):
    assert config_lib.load_experiment("tiny/net_bn").experiment == "net8k/net_bn"
    assert config_lib.load_experiment("report/network_cnn").experiment == "feature_maps/network_cnn"
    recorded = _workdir(tmp_path, "recorded", "net8k/net_bn", [99.0] * 15)
    run_config = json.loads((recorded / "config.json").read_text())
    (recorded / "config.json").write_text(json.dumps({**run_config, "experiment": "tiny/net_bn"}))
    (row,) = compare_lib.compare([recorded])
    assert (row["experiment"], row["status"], row["reference"]) == ("net8k/net_bn", "complete", 99.31)


@pytest.mark.fast
def test_list_command(capsys):
    reference_lib.list_command(argparse.Namespace(json=True))
    entries = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert set(entries) == REQUIRED_RUNS
    assert entries["net8k/net_bn_dropout_aug"]["reference"]["value"] == 99.35
    assert entries["net8k/net_bn_dropout_aug"]["notebook"] == "002"
    reference_lib.list_command(argparse.Namespace(json=False))
    assert "about 98%" in capsys.readouterr().out


# --- plots ------------------------------------------------------------------------------------
# The plot functions return the Figure they saved; these tests read what a reader would see in it.

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _legend(axis) -> list[str]:
    return [text.get_text() for text in axis.get_legend().get_texts()]


def _line(axis, label):
    (line,) = [line for line in axis.get_lines() if line.get_label() == label]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)


def _assert_line(axis, label, x, y):
    line_x, line_y = _line(axis, label)
    np.testing.assert_allclose(line_x, x, err_msg=label)
    np.testing.assert_allclose(line_y, y, rtol=1e-6, err_msg=label)


def _image(axis):
    (image,) = axis.get_images()
    return np.asarray(image.get_array())


def _labels_and_scale(axis) -> tuple[str, str, str]:
    return axis.get_xlabel(), axis.get_ylabel(), axis.get_yscale()


ACCURACIES = [97.0, 98.0, 98.5]
TRAIN_ACCURACIES = [accuracy - 1.0 for accuracy in ACCURACIES]


def _losses(accuracies):
    return [_split_metrics(accuracy)["loss"] for accuracy in accuracies]


TRAIN_LABEL = "train (mean since the epoch began)"


def _tick_labels(axis) -> list[str]:
    axis.figure.canvas.draw()
    return [label.get_text() for label in axis.get_yticklabels(minor=True) + axis.get_yticklabels()
            if label.get_text()]


def test_curves_plot_shows_loss_accuracy_and_rate_per_epoch_with_the_notebook_points(tmp_path):
    # fashion/cnn3 trains with batches of 64: 157 steps cover an epoch of the workdir's 10,000 examples.
    run = _workdir(tmp_path, "run", "fashion/cnn3", ACCURACIES, steps_per_epoch=157)
    out = tmp_path / "curves.png"
    figure = plots.plot_curves(run, out)
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    loss_axis, accuracy_axis, rate_axis = figure.axes[:3]
    assert figure.get_suptitle() == "fashion/cnn3"
    assert _labels_and_scale(loss_axis) == ("epoch", "loss", "log")
    assert _labels_and_scale(accuracy_axis) == ("epoch", "accuracy (%)", "linear")
    assert _labels_and_scale(rate_axis) == ("epoch", "learning rate", "linear")
    # The notebook printed the loss of every 20th batch (train_batch) and the test split before and after.
    assert _legend(loss_axis) == [TRAIN_LABEL, "test", "notebook test", "notebook train_batch"]
    assert _legend(accuracy_axis) == [TRAIN_LABEL, "test", "notebook test"]
    epoch_x = [1, 2, 3]
    _assert_line(accuracy_axis, "test", epoch_x, ACCURACIES)
    _assert_line(loss_axis, "test", epoch_x, _losses(ACCURACIES))
    # Step rows every 5 steps, 31 per epoch, then the epoch row: steps 5 and 162 (5 into epoch 2) saw
    # 5 x 64 examples of their epoch's 10,000; the epoch rows sit at the epochs' ends.
    running_x, running_y = _line(accuracy_axis, TRAIN_LABEL)
    assert len(running_x) == 3 * 32
    np.testing.assert_allclose(running_x[[0, 31, 32]], [320 / 10_000, 1, 1 + 320 / 10_000])
    np.testing.assert_array_equal(running_y, np.repeat(TRAIN_ACCURACIES, 32))
    # The notebook counted the examples its batches saw of its 60,000 training images.
    reference = _reference("fashion/cnn3")["curves"]
    _assert_line(accuracy_axis, "notebook test", np.divide(reference["test"]["examples_seen"], 60_000),
                 reference["test"]["accuracy"])
    _assert_line(loss_axis, "notebook train_batch", np.divide(reference["train_batch"]["examples_seen"], 60_000),
                 reference["train_batch"]["loss"])
    (rate_line,) = rate_axis.get_lines()
    np.testing.assert_array_equal(rate_line.get_xdata(), running_x)
    np.testing.assert_allclose(rate_line.get_ydata(), 1e-3, rtol=1e-6)
    assert rate_axis.get_ylim()[0] == 0
    # The last value of each evaluated split is written beside its point, towards the middle of the axes:
    # left of both (the notebook's one epoch ends at a third of ours), below the highest accuracy, above
    # the lowest loss.
    assert [(text.get_text(), text.get_ha(), text.get_va()) for text in accuracy_axis.texts] == [
        ("98.50%", "right", "top")]
    assert [(text.get_text(), text.get_ha(), text.get_va()) for text in loss_axis.texts] == [
        ("0.15", "right", "bottom")]


def test_loss_axes_are_labelled_in_plain_decimals(tmp_path):
    run = _workdir(tmp_path, "run", "fashion/cnn3", ACCURACIES, steps_per_epoch=157)
    loss_axis = plots.plot_curves(run, tmp_path / "curves.png").axes[0]
    labels = _tick_labels(loss_axis)
    assert labels and all(re.fullmatch(r"[0-9.]+", label) for label in labels), labels


@pytest.mark.parametrize("kind", ["curves", "errors"])
def test_end_value_labels_of_nearly_equal_values_do_not_overlap(tmp_path, kind):
    run = _workdir(tmp_path, "run", "lenet/lenet", ACCURACIES)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    # Test and valid end closer than `make run`'s (0.0017 and 0.22 pp apart), on the same side of the middle.
    rows[-1]["test"].update(loss=0.09047, accuracy=98.72)
    rows[-1]["valid"].update(loss=0.08873, accuracy=98.80)
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    if kind == "curves":
        loss_axis, accuracy_axis = plots.plot_curves(run, tmp_path / "curves.png").axes[:2]
        # (label of the higher value, label of the lower value)
        pairs = [(loss_axis, "0.09047", "0.08873"), (accuracy_axis, "98.80%", "98.72%")]
    else:
        (error_axis,) = plots.plot_errors(run, tmp_path / "errors.png").axes
        pairs = [(error_axis, "1.28%", "1.20%")]
    for axis, higher, lower in pairs:
        axis.figure.canvas.draw()
        boxes = {text.get_text(): text.get_window_extent() for text in axis.texts}
        assert sorted(boxes) == sorted([higher, lower])
        assert not boxes[higher].overlaps(boxes[lower]), boxes
        assert boxes[higher].y0 >= boxes[lower].y1  # in the order of their values

def test_a_one_epoch_run_is_drawn_per_logged_step(tmp_path):
    run = _workdir(tmp_path, "run", "fashion/cnn", [80.0], steps_per_epoch=157)
    figure = plots.plot_curves(run, tmp_path / "curves.png")
    accuracy_axis = figure.axes[1]
    running_x, _ = _line(accuracy_axis, TRAIN_LABEL)
    assert len(running_x) == 32 and running_x[0] == pytest.approx(320 / 10_000) and running_x[-1] == 1
    assert accuracy_axis.get_xlim()[0] == 0 and accuracy_axis.get_xlim()[1] > 1


def test_curves_plot_draws_a_short_run_at_its_own_epochs_beside_the_notebook_epochs_and_labels_it(tmp_path):
    run = _workdir(tmp_path, "run", "feature_maps/network_cnn", ACCURACIES, shortened=True, epochs=3)
    figure = plots.plot_curves(run, tmp_path / "curves.png")
    loss_axis, accuracy_axis = figure.axes[:2]
    assert figure.get_suptitle() == "feature_maps/network_cnn [shortened run]"
    assert _legend(accuracy_axis) == [TRAIN_LABEL, "test", "notebook test", "notebook train"]
    reference = _reference("feature_maps/network_cnn")["curves"]
    # The notebook's epoch e (of 60,000 examples) and ours (of the run's 10,000) both sit at x = e.
    notebook_x = list(range(1, 51))
    _assert_line(accuracy_axis, "notebook test", notebook_x, reference["test"]["accuracy"])
    _assert_line(loss_axis, "notebook train", notebook_x, reference["train"]["loss"])
    _assert_line(accuracy_axis, "test", [1, 2, 3], ACCURACIES)
    assert [axis.get_xlabel() for axis in figure.axes] == ["epoch"] * 3


def test_errors_plot_shows_the_error_rate_of_training_per_step_and_each_split_per_epoch(tmp_path):
    run = _workdir(tmp_path, "run", "lenet/lenet_deep_warm_restarts", ACCURACIES, steps_per_epoch=192)
    figure = plots.plot_errors(run, tmp_path / "errors.png")
    axis = figure.axes[0]
    assert figure.get_suptitle() == "lenet/lenet_deep_warm_restarts: error rate"
    assert _labels_and_scale(axis) == ("epoch", "error (%)", "linear")
    assert _legend(axis) == [TRAIN_LABEL, "valid", "test"]  # the config's eval order
    epoch_x = [1, 2, 3]
    _assert_line(axis, "test", epoch_x, [3.0, 2.0, 1.5])
    _assert_line(axis, "valid", epoch_x, [3.0, 2.0, 1.5])
    running_x, running_y = _line(axis, TRAIN_LABEL)
    assert running_x[-1] == 3
    np.testing.assert_array_equal(np.unique(running_y), [2.5, 3.0, 4.0])


def test_learning_rate_plot_draws_the_schedule_through_the_logged_rates(tmp_path):
    run = _workdir(tmp_path, "run", "lenet/lenet_deep_warm_restarts", ACCURACIES, steps_per_epoch=192)
    figure = plots.plot_learning_rate(run, tmp_path / "lr.png")
    (axis,) = figure.axes
    assert axis.get_title() == "lenet/lenet_deep_warm_restarts: learning rate per update"
    assert _labels_and_scale(axis) == ("optimizer update", "learning rate", "linear")
    assert _legend(axis) == ["schedule", "logged during training"]
    assert axis.get_ylim()[0] == 0
    updates, rates = _line(axis, "schedule")
    np.testing.assert_array_equal(updates, np.arange(1, 3 * 192 + 1))
    # Cosine warm restarts from 1e-3 with t_0=250, t_mult=2: cycles start at updates 1 and 251 and
    # are half-way down (5e-4) 125 and 250 updates later.
    np.testing.assert_allclose(rates[[0, 125, 250, 500]], [1e-3, 5e-4, 1e-3, 5e-4], rtol=1e-5)
    logged_steps, logged_rates = _line(axis, "logged during training")
    rows = runs_lib.training_rows(runs_lib.read_rows(run))  # one dot per logged step
    np.testing.assert_array_equal(logged_steps, [row["step"] for row in rows])
    np.testing.assert_array_equal(logged_rates, [row["learning_rate"] for row in rows])
    # A row logged at update k reports that update's rate: the dots lie on the line.
    np.testing.assert_allclose(rates[logged_steps.astype(int) - 1], logged_rates, rtol=1e-6)
    assert all(re.fullmatch(r"[0-9.]+", label) for label in _tick_labels(axis))  # no '1e-3' above the axis


def test_comparison_plot_draws_each_seed_over_the_notebook_curve_or_its_number(tmp_path):
    network_accuracies = [94.0 + 0.1 * epoch for epoch in range(50)]
    workdirs = [_workdir(tmp_path, f"network_cnn{seed}", "feature_maps/network_cnn", network_accuracies, seed=seed)
                for seed in range(2)]
    workdirs.append(_workdir(tmp_path, "warm_restarts", "lenet/lenet_deep_warm_restarts", ACCURACIES,
                             shortened=True, epochs=3))
    out = tmp_path / "compare.png"
    figure = plots.plot_comparison([compare_lib.read_run(workdir) for workdir in workdirs], out)
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    network_accuracy, network_loss, warm_accuracy, warm_loss = figure.axes  # one row per experiment, by name
    assert [axis.get_title() for axis in figure.axes] == [
        "feature_maps/network_cnn: accuracy (compared: test accuracy, after the last epoch)",
        "feature_maps/network_cnn: loss",
        "lenet/lenet_deep_warm_restarts: accuracy (compared: test accuracy, max over epochs)",
        "lenet/lenet_deep_warm_restarts: loss"]
    assert [_labels_and_scale(axis) for axis in figure.axes] == [("epoch", "accuracy (%)", "linear"),
                                                            ("epoch", "loss", "log")] * 2
    # Notebook 003 printed only its maximum: a horizontal line at that number.
    assert _legend(warm_accuracy) == ["ours test, seed 0 [shortened (--epochs 3)]", "notebook max: 99.51"]
    _assert_line(warm_accuracy, "notebook max: 99.51", [0, 1], [99.51, 99.51])
    _assert_line(warm_loss, "ours test, seed 0 [shortened (--epochs 3)]", [1, 2, 3], _losses(ACCURACIES))
    assert _legend(network_accuracy) == ["ours test, seed 0", "ours train, seed 0", "ours test, seed 1",
                                         "ours train, seed 1", "notebook test", "notebook train"]
    epochs = list(range(1, 51))
    _assert_line(network_accuracy, "ours test, seed 1", epochs, network_accuracies)
    _assert_line(network_accuracy, "ours train, seed 0", epochs, [accuracy - 1.0 for accuracy in network_accuracies])
    reference = _reference("feature_maps/network_cnn")["curves"]
    _assert_line(network_accuracy, "notebook test", reference["test"]["epoch"], reference["test"]["accuracy"])
    _assert_line(network_loss, "notebook train", reference["train"]["epoch"], reference["train"]["loss"])
    # A seed's lines share its colour.
    colors = {line.get_label(): line.get_color() for line in network_accuracy.get_lines()}
    assert colors["ours test, seed 1"] == colors["ours train, seed 1"] != colors["ours test, seed 0"]


def test_comparison_plot_draws_a_one_epoch_run_per_logged_step(tmp_path):
    run = _workdir(tmp_path, "cnn", "fashion/cnn", [80.0], steps_per_epoch=157)
    figure = plots.plot_comparison([compare_lib.read_run(run)], tmp_path / "compare.png")
    accuracy_axis = figure.axes[0]
    x, y = _line(accuracy_axis, "ours train (mean since the epoch began), seed 0")
    assert len(x) == 32 and x[0] == pytest.approx(320 / 10_000) and x[-1] == 1.0
    np.testing.assert_array_equal(y, 79.0)
    assert accuracy_axis.get_xlim()[0] == 0


def test_comparison_plot_tells_apart_the_workdirs_of_one_seed(tmp_path):
    accuracies = [94.0 + 0.1 * epoch for epoch in range(50)]
    workdirs = [_workdir(tmp_path, name, "feature_maps/network_cnn", accuracies, seed=seed)
                for name, seed in (("run", 1), ("copy", 1), ("other", 2))]
    figure = plots.plot_comparison([compare_lib.read_run(workdir) for workdir in workdirs], tmp_path / "compare.png")
    run, copy, _ = workdirs
    assert _legend(figure.axes[0]) == [f"ours test, seed 1 ({run})", f"ours train, seed 1 ({run})",
                                       f"ours test, seed 1 ({copy})", f"ours train, seed 1 ({copy})",
                                       "ours test, seed 2", "ours train, seed 2", "notebook test", "notebook train"]

def test_comparison_plot_draws_many_seeds_of_a_recipe_as_their_mean_and_range(tmp_path):
    """Five seeds of the recipe and four of a sweep's other learning rate: a mean line and a shaded band
    each; two seeds of a third rate stay lines of their own."""
    def runs(name, count, **changes):
        return [_workdir(tmp_path, f"{name}{seed}", "feature_maps/network_cnn",
                         [94.0 + 0.1 * epoch + 0.2 * seed for epoch in range(50)], seed=seed, **changes)
                for seed in range(count)]
    sgd = config_lib.load_experiment("feature_maps/network_cnn").optimizer.to_dict()
    workdirs = (runs("run", 5) + runs("fast", 4, optimizer={**sgd, "learning_rate": 0.05})
                + runs("slow", 2, optimizer={**sgd, "learning_rate": 0.001}))
    figure = plots.plot_comparison([compare_lib.read_run(workdir) for workdir in workdirs], tmp_path / "compare.png")
    accuracy, loss = figure.axes
    fast = " [modified (optimizer.learning_rate=0.05)]"
    slow = " [modified (optimizer.learning_rate=0.001)]"
    assert _legend(accuracy) == [
        "ours test, mean of 5 runs, range shaded", "ours train, mean of 5 runs, range shaded",
        f"ours test, mean of 4 runs, range shaded{fast}",
        f"ours train, mean of 4 runs, range shaded{fast}",
        f"ours test, seed 0{slow}", f"ours train, seed 0{slow}", f"ours test, seed 1{slow}",
        f"ours train, seed 1{slow}", "notebook test", "notebook train"]
    epochs = np.arange(1, 51)
    _assert_line(accuracy, "ours test, mean of 5 runs, range shaded", epochs, 94.4 + 0.1 * (epochs - 1))
    _assert_line(accuracy, f"ours train, mean of 4 runs, range shaded{fast}", epochs,
                 93.3 + 0.1 * (epochs - 1))
    _assert_line(loss, f"ours test, seed 1{slow}", epochs, _losses(94.2 + 0.1 * (epochs - 1)))
    # The bands: seeds 0 and 4 of the recipe bound its test accuracy, seeds 0 and 3 the sweep's.
    bands = [band.get_paths()[0].vertices for band in accuracy.collections]
    assert len(bands) == 4 and len(loss.collections) == 4
    np.testing.assert_allclose(np.unique(bands[0][bands[0][:, 0] == 1.0, 1]), [94.0, 94.8])
    np.testing.assert_allclose(np.unique(bands[2][bands[2][:, 0] == 50.0, 1]), [98.9, 99.5])
    (line,) = [line for line in accuracy.get_lines() if line.get_label().startswith("ours test, mean of 4")]
    band_color = accuracy.collections[2].get_facecolor()[0][:3]
    np.testing.assert_allclose(band_color, matplotlib.colors.to_rgb(line.get_color()))  # a band in its line's colour


def test_training_curves_plot_from_the_log_the_engine_writes(tmp_path):
    """The curves.png `jaxmnist train` writes, from a metrics.jsonl written by logs.MetricsLog."""
    config = config_lib.load_experiment("lenet/lenet_deep_warm_restarts")
    run_config = json.loads(config.to_json_best_effort())
    run_config["batch_size"] = 1000
    (tmp_path / "config.json").write_text(json.dumps(run_config))
    log = logs.MetricsLog(tmp_path, resume_step=0)
    for epoch, accuracy in enumerate(ACCURACIES, start=1):
        log.write({"kind": "step", "step": 10 * epoch - 5, "epoch": epoch, "train": _split_metrics(accuracy - 2.0),
                   "learning_rate": 0.1 / (10 * epoch - 5)})
        log.write({"kind": "epoch", "step": 10 * epoch, "epoch": epoch, "train": _split_metrics(accuracy - 1.0),
                   "test": _split_metrics(accuracy), "valid": _split_metrics(accuracy - 0.5),
                   "learning_rate": 0.1 / (10 * epoch)})
    out = tmp_path / "curves.png"
    figure = plots.plot_curves(tmp_path, out)
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    loss_axis, accuracy_axis, rate_axis = figure.axes[:3]
    for axis in (loss_axis, accuracy_axis):
        assert _legend(axis)[:3] == [TRAIN_LABEL, "valid", "test"]  # the config's eval order
    # 10,000 training examples a epoch (the split metrics' total), batches of 1,000: step 5 is half an epoch.
    epoch_x = [1, 2, 3]
    _assert_line(accuracy_axis, "test", epoch_x, ACCURACIES)
    _assert_line(accuracy_axis, "valid", epoch_x, [accuracy - 0.5 for accuracy in ACCURACIES])
    _assert_line(loss_axis, "test", epoch_x, _losses(ACCURACIES))
    _assert_line(accuracy_axis, TRAIN_LABEL, [0.5, 1, 1.5, 2, 2.5, 3],
                 [accuracy + change for accuracy in ACCURACIES for change in (-2.0, -1.0)])
    (rate_line,) = rate_axis.get_lines()
    np.testing.assert_array_equal(rate_line.get_xdata(), [0.5, 1, 1.5, 2, 2.5, 3])
    np.testing.assert_allclose(rate_line.get_ydata(), [0.1 / step for step in (5, 10, 15, 20, 25, 30)], rtol=1e-12)


def test_training_curves_plot_waits_for_the_first_epoch(tmp_path):
    config = config_lib.load_experiment("fashion/cnn3")
    (tmp_path / "config.json").write_text(config.to_json_best_effort())
    log = logs.MetricsLog(tmp_path, resume_step=0)
    log.write({"kind": "step", "step": 5, "epoch": 1, "train": _split_metrics(90.0), "learning_rate": 0.1})
    assert plots.plot_curves(tmp_path, tmp_path / "curves.png") is None
    assert not (tmp_path / "curves.png").exists()


def test_examples_seen_counts_the_short_last_batch():
    assert runs_lib.examples_seen({"epoch": 1, "step": 10}, 1000, 64) == 640
    assert runs_lib.examples_seen({"epoch": 1, "step": 16}, 1000, 64) == 1000
    assert runs_lib.examples_seen({"epoch": 2, "step": 17}, 1000, 64) == 1064


@pytest.mark.parametrize("kind, module, function, call", [
    ("curves", plots, "plot_curves", lambda args: ((args.workdir, args.out), {})),
    ("errors", plots, "plot_errors", lambda args: ((args.workdir, args.out), {})),
    ("lr", plots, "plot_learning_rate", lambda args: ((args.workdir, args.out), {})),
    ("predictions", pictures, "plot_predictions",
     lambda args: ((args.workdir, args.out, args.n, args.data_dir, args.data_source), {})),
    ("feature-maps", pictures, "plot_feature_maps",
     lambda args: ((args.workdir, args.out, args.index), {"data_dir": args.data_dir,
                                                           "data_source": args.data_source})),
])
def test_plot_command_runs_the_plot_of_its_kind(monkeypatch, capsys, kind, module, function, call):
    calls = []
    monkeypatch.setattr(module, function, lambda *args, **kwargs: calls.append((args, kwargs)) or "figure")
    args = argparse.Namespace(workdir="run", kind=kind, out="picture.png", n=8, index=3, data_dir="data",
                              data_source="idx")
    assert pictures.plot_command(args) == 0
    assert calls == [call(args)]
    assert capsys.readouterr().out == "wrote picture.png\n"


def test_plot_command_says_when_a_run_has_no_epoch_to_draw(tmp_path):
    run = _workdir(tmp_path, "run", "fashion/cnn3", [])
    with pytest.raises(UserError, match="has no finished epoch in metrics.jsonl yet"):
        pictures.plot_command(argparse.Namespace(workdir=run, kind="errors", out=tmp_path / "errors.png"))
    assert not (tmp_path / "errors.png").exists()


def test_plot_command_rejects_an_unknown_kind():
    with pytest.raises(UserError, match="unknown plot kind 'histogram'"):
        pictures.plot_command(argparse.Namespace(workdir="run", kind="histogram", out="picture.png"))


@pytest.fixture
def untrained(monkeypatch, fixture_data_dir):
    """Stand in for inference.load.load_trained: fresh variables of the workdir's model."""

    def load(workdir):
        run_config = json.loads((workdir / "config.json").read_text())
        module = models.create(run_config["model"], **run_config["model_overrides"])
        return run_config, module, models.init_variables(module, jax.random.key(0))

    monkeypatch.setattr(pictures, "_load_trained", load)
    return fixture_data_dir


def test_predictions_plot_titles_each_test_image_with_its_prediction(tmp_path, untrained):
    run = _workdir(tmp_path, "run", "fashion/cnn3", [80.0])
    figure = pictures.plot_predictions(run, tmp_path / "predictions.png", count=8, data_dir=str(untrained))
    assert figure.get_suptitle() == "fashion/cnn3: first 8 test images (red: wrong prediction)"
    assert len(figure.axes) == 12  # 2 rows of 6; the last 4 cells are blank
    shown, blank = figure.axes[:8], figure.axes[8:]
    assert [axis.axison for axis in blank] == [False] * 4 and all(not axis.get_images() for axis in blank)
    config, module, variables = pictures._load_trained(run)
    raw, images, labels = pictures._eval_images(config, str(untrained), None, np.arange(8))
    test_split = pipeline.load("fashion_mnist", "test", str(untrained))
    np.testing.assert_array_equal(labels, np.asarray(test_split.labels[:8]))
    for index, axis in enumerate(shown):
        np.testing.assert_array_equal(_image(axis), np.asarray(test_split.images[index, :, :, 0]))
    predictions = np.asarray(module.apply(variables, images, train=False)).argmax(axis=1)
    names = evaluate.FASHION_MNIST_CLASSES
    expected = [(f"Predicted: {names[predicted]}", "black") if predicted == label else
                (f"Predicted: {names[predicted]}\n(true: {names[label]})", "red")
                for predicted, label in zip(predictions, labels)]
    assert [(axis.get_title(), axis.title.get_color()) for axis in shown] == expected


@pytest.mark.parametrize("experiment, index, stage_names, clipped", [
    # network_cnn's visualize stages, clipped to [0, 1] as notebook 004's filter_convert, of the first '5'.
    ("feature_maps/network_cnn", None, ["relu(conv1): 24x24, 20 of 32 maps", "max_pool(relu(conv1)): 12x12, 20 of 32 maps",
                                  "relu(conv2): 8x8, 20 of 64 maps", "max_pool(relu(conv2)): 4x4, 20 of 64 maps"],
     True),
    # Other models: every conv layer's raw output, of the training image asked for.
    ("lenet/lenet", 3, ["conv block1/0: 28x28, 16 of 16 maps", "conv block2/0: 14x14, 20 of 32 maps"], False),
])
def test_feature_maps_plot_shows_the_first_20_maps_of_each_stage(tmp_path, untrained, experiment, index,
                                                                  stage_names, clipped):
    # The whole fixture training split: notebook 003's train[:48000] is beyond its 1,500 images.
    run = _workdir(tmp_path, "run", experiment, [80.0], train_split="train")
    figure = pictures.plot_feature_maps(run, tmp_path / "maps.png", index=index, data_dir=str(untrained))
    train_labels = pipeline.load("mnist", "train", str(untrained)).labels
    shown_index = int(np.flatnonzero(train_labels == 5)[0]) if index is None else index
    config, module, variables = pictures._load_trained(run)
    raw, images, labels = pictures._eval_images(config, str(untrained), None, [shown_index], split="train")
    stages = pictures.feature_maps(module, variables, images[0])
    input_figure, *stage_figures = figure.subfigs
    (input_axis,) = input_figure.axes
    assert input_axis.get_title(loc="left") == f"train image {shown_index}: label {labels[0]}"
    if index is None:
        assert labels[0] == 5
    np.testing.assert_array_equal(_image(input_axis), raw[0, :, :, 0])
    assert [stage_figure._suptitle.get_text() for stage_figure in stage_figures] == stage_names
    map_axes = [axis for stage_figure in stage_figures for axis in stage_figure.axes if axis.get_images()]
    expected_maps = [np.clip(maps[:, :, channel], 0, 1) if clipped else maps[:, :, channel]
                     for _, maps in stages for channel in range(min(20, maps.shape[-1]))]
    assert len(map_axes) == len(expected_maps)
    for axis, expected in zip(map_axes, expected_maps):
        np.testing.assert_array_equal(_image(axis), expected)
    shown = np.concatenate([_image(axis).ravel() for axis in map_axes])
    assert (shown.min() >= 0 and shown.max() <= 1) == clipped  # raw conv outputs go below 0 and above 1
    (heading,) = input_figure.texts
    chosen = "the first training image labelled 5, standing in for notebook 004's '5'" if index is None \
        else f"training image {index}"
    assert heading.get_text().startswith(f"{experiment}: feature maps of {chosen}\n")
    assert heading.get_text().endswith("maps clipped to [0, 1] as the notebook" if clipped
                                       else "conv outputs, before any activation")


def test_predictions_need_at_least_one_image(tmp_path):
    with pytest.raises(UserError, match="--n must be at least 1, got 0"):
        pictures.plot_predictions(tmp_path, tmp_path / "predictions.png", count=0)


def test_feature_maps_refuse_an_index_outside_the_training_split(tmp_path, untrained):
    run = _workdir(tmp_path, "run", "feature_maps/network_cnn", [80.0])
    with pytest.raises(UserError, match=r"--index 60000 is outside train \(0 \.\. 1499\)"):
        pictures.plot_feature_maps(run, tmp_path / "maps.png", index=60_000, data_dir=str(untrained))


def test_feature_maps_of_network_cnn_follow_visualize():
    module = models.create("network_cnn")
    variables = models.init_variables(module, jax.random.key(0))
    stages = pictures.feature_maps(module, variables, jax.numpy.ones((28, 28, 1)))
    assert [maps.shape for _, maps in stages] == [(24, 24, 32), (12, 12, 32), (8, 8, 64), (4, 4, 64)]
    conv_stages = pictures.feature_maps(models.create("lenet"), models.init_variables(
        models.create("lenet"), jax.random.key(0)), jax.numpy.ones((28, 28, 1)))
    assert [maps.shape[-1] for _, maps in conv_stages] == [16, 32]
    assert math.isclose(float(stages[0][1].min()), 0.0, abs_tol=1e-6)  # relu'd
