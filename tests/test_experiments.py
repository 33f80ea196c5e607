"""Experiment configs, their notebook references, `compare`'s arithmetic and the plot kinds."""

import argparse
import ast
import json
import math
import statistics

import jax
import pytest

from jaxmnist import config as config_lib
from jaxmnist import experiments, models, optim
from jaxmnist.data import augment
from jaxmnist.errors import UserError

REQUIRED_RUNS = {
    # Notebook 000: the eleven runs.
    "activations/def_net", "activations/sig_net", "activations/dro_net_25", "activations/dro_net_50",
    "activations/dro_net_75", "activations/dro_net_100", "activations/best_net", "activations/best_net_bn",
    "activations/bn_xavier", "activations/bn_kaiming", "activations/tmp_xavier",
    # Notebook 001: CNN3 as main() ran it, CNN and CNN2 with the same recipe.
    "fashion/cnn3", "fashion/cnn", "fashion/cnn2",
    # Notebook 002: the three tables.
    "tiny/net_bn", "tiny/net_bn_dropout", "tiny/net_bn_dropout_aug",
    # Notebook 003.
    "lenet/lenet", "lenet/lenet_bn", "lenet/lenet_drop",
    "lenet/lenet_bn_50", "lenet/lenet_drop_50", "lenet/lenet_drop_bn", "lenet/lenet_dl", "lenet/lenet_dl_k3",
    "lenet/lenet_deep", "lenet/lenet_deep_aug_erase_norm", "lenet/lenet_deep_aug_erase", "lenet/lenet_deep_aug",
    "lenet/lenet_deep_cosine_lr1e-2", "lenet/lenet_deep_cosine_lr1e-3", "lenet/lenet_deep_cosine_aug_b100",
    "lenet/lenet_deep_cosine_aug_b250", "lenet/lenet_deep_triangular_2500", "lenet/lenet_deep_triangular_1000",
    "lenet/lenet_deep_triangular2", "lenet/lenet_deep_warm_restarts", "lenet/simple_net_warm_restarts",
    # Notebook 004.
    "report/network_cnn",
}

ENGINE_KEYS = {"dataset", "train_split", "train_pp", "shuffle", "eval", "best_split", "model", "model_overrides",
               "loss", "optimizer", "schedule", "batch_size", "eval_batch_size", "epochs", "seed",
               "log_every_steps", "checkpoint_every_steps", "keep_checkpoints", "reference"}


def test_every_required_run_has_exactly_one_config():
    assert set(config_lib.experiment_names()) == REQUIRED_RUNS


@pytest.mark.parametrize("name", sorted(REQUIRED_RUNS))
def test_config_builds_model_optimizer_schedule_and_preprocessing(name):
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
    reference = experiments._plain(config.reference)
    experiments.check_reference(reference)
    assert reference["split"] in config.eval
    for split in reference["curves"]:
        assert split in [*config.eval, "train"] or split in ("train_batch", "test_later_epochs_unknown")


@pytest.mark.parametrize("name", sorted(REQUIRED_RUNS))
def test_docstring_is_the_record_of_the_run(name):
    config_path = config_lib.EXPERIMENTS_DIR / f"{name}.py"
    docstring = ast.get_docstring(ast.parse(config_path.read_text()))
    assert f"jaxmnist train {name} --workdir workdirs/{name}" in docstring
    assert "Notebook 00" in docstring and "Reference" in docstring


def _reference(name):
    return experiments._plain(config_lib.load_experiment(name).reference)


def test_reference_numbers_equal_the_notebooks():
    augmentation = _reference("tiny/net_bn_dropout_aug")
    assert (augmentation["reduce"], augmentation["value"]) == ("max", 99.35)
    assert max(augmentation["curves"]["test"]["accuracy"]) == 99.35
    assert _reference("tiny/net_bn")["value"] == 99.31
    report = _reference("report/network_cnn")
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
    report = config_lib.load_experiment("report/network_cnn")
    assert report.loss == "cross_entropy_on_probabilities"
    cyclic = config_lib.load_experiment("lenet/lenet_deep_triangular_1000").schedule
    assert (cyclic.step_size_up, cyclic.cycle_momentum) == (1000, False)


# --- compare on synthetic workdirs -------------------------------------------------------------

def _workdir(tmp_path, name, experiment, test_accuracies, seed=0, shortened=False, epochs=None, steps_per_epoch=10,
             **changes):
    """A workdir as the engine writes it, with these test accuracies per epoch (and rates from the schedule)."""
    config = config_lib.load_experiment(experiment)
    schedule = optim.learning_rate_schedule(config.optimizer, config.schedule)
    run_config = json.loads(config.to_json_best_effort())
    run_config.update(seed=seed, shortened=shortened)
    if epochs is not None:
        run_config["epochs"] = epochs
    run_config.update(changes)
    workdir = tmp_path / name
    workdir.mkdir()
    (workdir / "config.json").write_text(json.dumps(run_config))
    rows = []
    for epoch, accuracy in enumerate(test_accuracies, start=1):
        metrics = {"loss": 0.1, "accuracy": accuracy, "correct": round(accuracy * 100), "total": 10000}
        for step in range((epoch - 1) * steps_per_epoch + 5, epoch * steps_per_epoch, 5):
            rows.append({"kind": "step", "step": step, "epoch": epoch, "train": metrics,
                         "learning_rate": float(schedule(step - 1))})
        last = epoch * steps_per_epoch
        rows.append({"kind": "epoch", "step": last, "epoch": epoch, "train": metrics, "test": metrics,
                     "valid": metrics, "learning_rate": float(schedule(last - 1))})
    (workdir / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return workdir


def test_measure_final_max_and_epoch():
    rows = [{"kind": "epoch", "epoch": epoch, "test": {"accuracy": accuracy}}
            for epoch, accuracy in enumerate([97.0, 99.4, 99.1], start=1)]
    assert experiments.measure(rows, {"split": "test", "reduce": "final", "epoch": None}) == (99.1, 3)
    assert experiments.measure(rows, {"split": "test", "reduce": "max", "epoch": None}) == (99.4, 2)
    assert experiments.measure(rows, {"split": "test", "reduce": "epoch", "epoch": 2}) == (99.4, 2)
    assert experiments.measure(rows, {"split": "test", "reduce": "epoch", "epoch": 16}) == (None, None)


def test_compare_aggregates_seeds_and_labels_short_runs(tmp_path):
    fifteen = [98.0] * 14
    seeds = [_workdir(tmp_path, f"seed{seed}", "tiny/net_bn_dropout_aug", fifteen + [final], seed=seed)
             for seed, final in enumerate([99.30, 99.40, 99.20])]
    short = _workdir(tmp_path, "short", "tiny/net_bn_dropout_aug", [97.0, 99.5], shortened=True, epochs=2)
    cut = _workdir(tmp_path, "cut", "tiny/net_bn_dropout_aug", [97.0, 98.0, 98.5])
    rows = experiments.compare([*seeds, short, cut])
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
    table = experiments.format_table(rows)
    assert "99.30 ± 0.10" in table and "-0.05" in table and "not reproductions" in table


def test_compare_labels_runs_with_a_changed_recipe(tmp_path):
    run = _workdir(tmp_path, "fast", "tiny/net_bn", [99.4] * 15, optimizer={"name": "sgd", "learning_rate": 0.1})
    (row,) = experiments.compare([run])
    assert row["status"] == "modified (optimizer)" and row["difference_pp"] is None


def test_compare_at_epoch_reference_and_missing_epoch(tmp_path):
    run = _workdir(tmp_path, "def", "activations/def_net", [90.0] * 15 + [98.0] + [99.0] * 4)
    (row,) = experiments.compare([run])
    assert (row["measured"], row["reference"], row["status"]) == (98.0, 98.20, "complete")
    assert row["difference_pp"] == pytest.approx(-0.20)
    early = _workdir(tmp_path, "early", "activations/def_net", [90.0] * 3, shortened=True, epochs=3)
    (row,) = experiments.compare([early])
    assert row["measured"] is None and row["difference_pp"] is None and row["status"].startswith("shortened")
    # Stopped after epoch 17 of 20: epoch 16 is what the full run computes, so it compares.
    unfinished = _workdir(tmp_path, "unfinished", "activations/def_net", [90.0] * 15 + [98.5, 98.6])
    (row,) = experiments.compare([unfinished])
    assert row["status"] == "incomplete" and row["difference_pp"] == pytest.approx(0.30)


def test_compare_without_reference_number(tmp_path):
    run = _workdir(tmp_path, "lenet", "lenet/lenet", [97.0 + epoch / 10 for epoch in range(10)])
    (row,) = experiments.compare([run])
    assert row["reference"] is None and row["difference_pp"] is None
    assert row["measured"] == pytest.approx(97.9)
    assert "about 98%" in experiments.format_table([row])


def test_compare_command_json_and_plot(tmp_path, capsys):
    runs = [_workdir(tmp_path, f"run{seed}", "report/network_cnn", [94.0 + 0.1 * epoch for epoch in range(50)],
                     seed=seed) for seed in range(2)]
    plot = tmp_path / "compare.png"
    experiments.compare_command(argparse.Namespace(workdirs=runs, json=True, plot=str(plot)))
    (row,) = json.loads(capsys.readouterr().out)
    assert row["n"] == 2 and row["difference_pp"] == pytest.approx(98.9 - 99.20)
    assert plot.stat().st_size > 10_000


def test_compare_rejects_a_directory_without_run(tmp_path):
    with pytest.raises(UserError, match="not a training workdir"):
        experiments.compare([tmp_path])


def test_compare_finds_the_runs_below_a_directory_and_their_wall_time(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    for seed in range(2):
        workdir = _workdir(runs, f"net_bn_seed{seed}", "tiny/net_bn", [99.0] * 15, seed=seed)
        # Epoch 2 was interrupted and rerun: it counts once.
        timing = [(1, 60.0), (2, 10.0), (2, 60.0)] + [(epoch, 60.0) for epoch in range(3, 16)]
        (workdir / "timing.jsonl").write_text("".join(
            json.dumps({"step": 469 * epoch, "epoch": epoch, "seconds": seconds}) + "\n" for epoch, seconds in timing))
    (row,) = experiments.compare([runs])
    assert row["n"] == 2 and row["seconds_runs"] == [900.0, 900.0]
    assert "15.0" in experiments.format_table([row])


def test_list_command(capsys):
    experiments.list_command(argparse.Namespace(json=True))
    entries = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert set(entries) == REQUIRED_RUNS
    assert entries["tiny/net_bn_dropout_aug"]["reference"]["value"] == 99.35
    assert entries["tiny/net_bn_dropout_aug"]["notebook"] == "002"
    experiments.list_command(argparse.Namespace(json=False))
    assert "about 98%" in capsys.readouterr().out


# --- plots ------------------------------------------------------------------------------------

@pytest.mark.parametrize("experiment, kind", [("fashion/cnn3", "curves"), ("report/network_cnn", "curves"),
                                              ("lenet/lenet_deep_warm_restarts", "errors"),
                                              ("lenet/lenet_deep_warm_restarts", "lr")])
def test_metric_plots(tmp_path, experiment, kind):
    run = _workdir(tmp_path, "run", experiment, [97.0, 98.0, 98.5], steps_per_epoch=192)
    out = tmp_path / f"{kind}.png"
    experiments.plot_command(argparse.Namespace(workdir=run, kind=kind, out=str(out)))
    assert out.stat().st_size > 10_000


def test_examples_seen_counts_the_short_last_batch():
    assert experiments._examples_seen({"epoch": 1, "step": 10}, 1000, 64) == 640
    assert experiments._examples_seen({"epoch": 1, "step": 16}, 1000, 64) == 1000
    assert experiments._examples_seen({"epoch": 2, "step": 17}, 1000, 64) == 1064


@pytest.fixture
def untrained(monkeypatch, fixture_data_dir):
    """Stand in for train.load_trained: fresh variables of the workdir's model."""

    def load(workdir):
        run_config = json.loads((workdir / "config.json").read_text())
        module = models.create(run_config["model"], **run_config["model_overrides"])
        return run_config, module, models.init_variables(module, jax.random.key(0))

    monkeypatch.setattr(experiments, "_load_trained", load)
    return fixture_data_dir


@pytest.mark.parametrize("experiment, kind", [("fashion/cnn3", "predictions"),
                                              ("report/network_cnn", "feature-maps"),
                                              ("lenet/lenet", "feature-maps")])
def test_model_plots(tmp_path, untrained, experiment, kind):
    run = _workdir(tmp_path, "run", experiment, [80.0])
    out = tmp_path / "picture.png"
    experiments.plot_command(argparse.Namespace(workdir=run, kind=kind, out=str(out), n=12, index=0,
                                                data_dir=str(untrained), data_source=None))
    assert out.stat().st_size > 10_000


def test_feature_maps_of_network_cnn_follow_visualize():
    module = models.create("network_cnn")
    variables = models.init_variables(module, jax.random.key(0))
    stages = experiments.feature_maps(module, variables, jax.numpy.ones((28, 28, 1)))
    assert [maps.shape for _, maps in stages] == [(24, 24, 32), (12, 12, 32), (8, 8, 64), (4, 4, 64)]
    conv_stages = experiments.feature_maps(models.create("lenet"), models.init_variables(
        models.create("lenet"), jax.random.key(0)), jax.numpy.ones((28, 28, 1)))
    assert [maps.shape[-1] for _, maps in conv_stages] == [16, 32]
    assert math.isclose(float(stages[0][1].min()), 0.0, abs_tol=1e-6)  # relu'd
