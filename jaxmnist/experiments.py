"""`jaxmnist experiments`, `jaxmnist compare` and `jaxmnist plot`: our runs next to the notebooks'.

The reference of an experiment
------------------------------
Every experiment config carries `config.reference`, what its notebook printed, built by
`jaxmnist.recipes.reference`:

    source            where the numbers are: notebook file, cell / table
    split             the eval name of ours that measures what the notebook measured ('test', 'valid')
    reduce            how the notebook condenses its run into one number, and how we measure ours:
                        'final'  accuracy after the last epoch
                        'max'    maximum over the epochs (notebook 003's "maximal accuracy reached",
                                 notebook 002's "Best Test Accuracy")
                        'epoch'  accuracy after epoch `epoch` (notebook 000, whose output stops at 16)
    epoch             the epoch of reduce 'epoch', else None
    value             that accuracy in percent as the notebook prints it, or None where the notebook
                      prints no number (output cut, or only words such as "about 98%")
    text              the notebook's own words or printed line, verbatim
    curves            per-epoch series as printed, keyed by split: {'test': {'epoch': [...],
                      'loss': [...], 'accuracy': [...] (percent), ...}}; epochs count from 1 (after one
                      epoch of training); other keys (e.g. 'examples_seen', 'last_batch_loss') as printed
    notes             what is cut off, quirks of the measurement
    noise             the run-to-run noise the notebook itself shows, as text ('' or "unknown" if none)
    notebook_seconds  the run's duration where the notebook prints it (its own hardware)

A workdir written by `jaxmnist train` holds config.json (the resolved config, with `shortened`
true when run with --epochs / --limit-train) and metrics.jsonl (one row per epoch and per
logged step, see jaxmnist.reporting). `compare` measures a run exactly as its reference says;
runs cut short are labelled and never presented as reproductions.
"""

import json
import math
import os
import statistics
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from jaxmnist import config as config_lib
from jaxmnist.errors import RunWarning, UserError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REDUCTIONS = ("final", "max", "epoch")
# What a run computes, apart from its seed and length: a run differing here is not the notebook's run.
RECIPE_KEYS = ("dataset", "train_split", "train_pp", "shuffle", "eval", "model", "model_overrides", "loss",
               "optimizer", "schedule", "batch_size", "eval_batch_size")
REFERENCE_KEYS = ("source", "split", "reduce", "epoch", "value", "text", "curves", "notes", "noise",
                  "notebook_seconds")


def _plain(value):
    """ConfigDicts (and lists of them) as plain dicts and lists."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def check_reference(reference: dict) -> None:
    """Raise UserError unless `reference` has the documented fields with sensible values."""
    missing = [key for key in REFERENCE_KEYS if key not in reference]
    if missing:
        raise UserError(f"reference lacks {', '.join(missing)}")
    if reference["reduce"] not in REDUCTIONS:
        raise UserError(f"reference reduce must be one of {REDUCTIONS}, got {reference['reduce']!r}")
    if (reference["reduce"] == "epoch") != (reference["epoch"] is not None):
        raise UserError("reference epoch is set exactly when reduce is 'epoch'")
    value = reference["value"]
    if value is not None and not 0 <= value <= 100:
        raise UserError(f"reference value {value} is not a percentage")
    for split, curve in reference["curves"].items():
        lengths = {key: len(series) for key, series in curve.items() if isinstance(series, list)}
        if len(set(lengths.values())) > 1:
            raise UserError(f"reference curve '{split}' has series of different lengths: {lengths}")


def describe(reference: dict) -> str:
    """What the reference number is, e.g. 'test accuracy, max over epochs'."""
    how = {"final": "after the last epoch", "max": "max over epochs",
           "epoch": f"after epoch {reference['epoch']}"}[reference["reduce"]]
    return f"{reference['split']} accuracy, {how}"


def notebook_of(reference: dict) -> str:
    """'000'..'004', from the source, which starts with the notebook's file name."""
    return reference["source"][:3]


# --- measuring a run -------------------------------------------------------------------------

def _metric_rows(workdir, kind: str) -> list[dict]:
    """The rows of metrics.jsonl of one kind ('epoch' or 'step'), in order."""
    path = Path(workdir) / "metrics.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in rows if row.get("kind") == kind]


def epoch_rows(workdir) -> list[dict]:
    return _metric_rows(workdir, "epoch")


def step_rows(workdir) -> list[dict]:
    return _metric_rows(workdir, "step")


def measure(rows: list[dict], reference: dict) -> tuple[float | None, int | None]:
    """(our accuracy measured as the reference is, the epoch it comes from); (None, None) if not reached."""
    split = reference["split"]
    rows = [row for row in rows if split in row]
    if not rows:
        return None, None
    if reference["reduce"] == "final":
        return rows[-1][split]["accuracy"], rows[-1]["epoch"]
    if reference["reduce"] == "max":
        best = max(rows, key=lambda row: row[split]["accuracy"])
        return best[split]["accuracy"], best["epoch"]
    at_epoch = [row for row in rows if row["epoch"] == reference["epoch"]]
    return (at_epoch[0][split]["accuracy"], reference["epoch"]) if at_epoch else (None, None)


def _registered_config(name: str):
    """The experiment's config as its file says now: a registered name, or a config file's path
    (as the run was started with it) while that file is still there; else None."""
    is_config_file = name.endswith(".py") and Path(name).is_file()
    if name not in config_lib.experiment_names() and not is_config_file:
        return None
    try:
        return config_lib.load_experiment(name)
    except UserError:
        return None


def _run_config(workdir: Path) -> dict:
    config_path = Path(workdir) / "config.json"
    if not config_path.exists():
        raise UserError(f"{workdir} is not a training workdir (no config.json)")
    try:
        run_config = json.loads(config_path.read_text())
    except (ValueError, UnicodeDecodeError):
        run_config = None
    if not isinstance(run_config, dict):
        raise UserError(f"{config_path} is damaged (not a JSON object)")
    return run_config


def _reference_of(run_config: dict, registered) -> dict | None:
    # The registered file's reference wins: corrections to the notebook record apply to old runs too.
    if registered is not None and "reference" in registered:
        return _plain(registered.reference)
    return run_config.get("reference")


def _training_seconds(workdir: Path) -> float | None:
    """Wall time of the run's epochs (timing.jsonl, one row per epoch; a resumed epoch counts once)."""
    path = workdir / "timing.jsonl"
    if not path.exists():
        return None
    seconds_by_epoch = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            if "seconds" in row:  # epoch rows; "first_step" rows time a process's startup
                seconds_by_epoch[row["epoch"]] = row["seconds"]
    return sum(seconds_by_epoch.values()) if seconds_by_epoch else None


def _changed_recipe_keys(run_config: dict, registered) -> list[str]:
    """Recipe keys the run changed from the experiment file (e.g. with --set)."""
    original = json.loads(registered.to_json_best_effort())
    return [key for key in RECIPE_KEYS if run_config.get(key) != original.get(key)]


def read_run(workdir) -> dict:
    """One workdir: its experiment, seed, how far it ran, whether it was cut short, and its measurement."""
    workdir = Path(workdir)
    run_config = _run_config(workdir)
    name = run_config.get("experiment", str(workdir))
    registered = _registered_config(name)
    reference = _reference_of(run_config, registered)
    if reference is None:
        raise UserError(f"{workdir}: experiment '{name}' has no reference")
    configured_epochs = registered.epochs if registered is not None else run_config["epochs"]
    rows = epoch_rows(workdir)
    epochs_run = rows[-1]["epoch"] if rows else 0
    changed = [] if registered is None else _changed_recipe_keys(run_config, registered)
    labels = [f"modified ({', '.join(changed)})"] if changed else []
    if run_config.get("shortened"):
        cuts = []
        if run_config.get("epochs") != configured_epochs:
            cuts.append(f"--epochs {run_config.get('epochs')}")
        if run_config.get("limit_train") is not None:
            cuts.append(f"--limit-train {run_config['limit_train']}")
        labels.append(f"shortened ({', '.join(cuts) or 'by command-line options'})")
    if labels:
        status = ", ".join(labels)
    elif epochs_run < configured_epochs:
        status = "incomplete"
    else:
        status = "complete"
    value, at_epoch = measure(rows, reference)
    # An unfinished (not shortened) run that got past the epoch notebook 000 is read at has computed
    # exactly what the full run would have by then; otherwise only complete runs compare.
    comparable = status == "complete" or (
        reference["reduce"] == "epoch" and status == "incomplete" and at_epoch is not None)
    return {"workdir": str(workdir), "experiment": name, "seed": run_config.get("seed"), "status": status,
            "epochs_run": epochs_run, "epochs_configured": configured_epochs, "reference": reference,
            "measured": value, "measured_epoch": at_epoch, "comparable": comparable, "rows": rows,
            "seconds": _training_seconds(workdir)}


def _aggregate(runs: list[dict]) -> dict:
    reference = runs[0]["reference"]
    values = [run["measured"] for run in runs if run["measured"] is not None]
    mean = statistics.fmean(values) if values else None
    std = statistics.stdev(values) if len(values) > 1 else None
    comparable = runs[0]["comparable"] and mean is not None and reference["value"] is not None
    difference = mean - reference["value"] if comparable else None
    return {
        "experiment": runs[0]["experiment"], "status": runs[0]["status"],
        "epochs_run": runs[0]["epochs_run"], "epochs_configured": runs[0]["epochs_configured"],
        "metric": describe(reference), "reference": reference["value"], "reference_text": reference["text"],
        "reference_noise": reference["noise"],
        "measured": mean, "std": std, "n": len(values), "difference_pp": difference,
        "seeds": [run["seed"] for run in runs], "workdirs": [run["workdir"] for run in runs],
        "measured_runs": [run["measured"] for run in runs],
        "seconds_runs": [run["seconds"] for run in runs], "notebook_seconds": reference["notebook_seconds"],
    }


def expand_workdirs(paths: list) -> list[tuple[Path, bool]]:
    """(workdir, named) for each workdir as given (named), or every workdir found below a directory
    that is not one itself."""
    workdirs = []
    for path in map(Path, paths):
        if (path / "config.json").exists():
            workdirs.append((path, True))
            continue
        found = sorted(config.parent for config in path.rglob("config.json"))
        if not found:
            raise UserError(f"{path} is not a training workdir (no config.json) and holds none")
        workdirs += [(workdir, False) for workdir in found]
    return workdirs


def read_runs(paths: list) -> list[dict]:
    """`read_run` of every workdir of `paths`. A folder found below a given one that is not a run
    (e.g. a config.json of something else) is skipped with a warning; a named one is an error."""
    runs = []
    for workdir, named in expand_workdirs(paths):
        try:
            runs.append(read_run(workdir))
        except UserError as error:
            if named:
                raise
            warnings.warn(f"skipped {error}", RunWarning, stacklevel=2)
    return runs


def compare(workdirs: list, runs: list[dict] | None = None) -> list[dict]:
    """One row per (experiment, status, epochs run): seeds of the same run aggregate to mean ± std.

    Complete runs are never averaged with shortened or incomplete ones, and the difference to the
    notebook is given only where the measurement is the notebook's (complete runs, or unfinished
    ones past the epoch the reference is read at): a shortened run is never a reproduction.
    """
    groups: dict[tuple, list[dict]] = {}
    for run in read_runs(workdirs) if runs is None else runs:
        groups.setdefault((run["experiment"], run["status"], run["epochs_run"]), []).append(run)
    return [_aggregate(runs) for _, runs in sorted(groups.items(), key=lambda item: item[0])]


def _format_number(value, digits=2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def format_workdirs(workdirs: list[str]) -> str:
    """One workdir as given; several as their common folder and their names, e.g. 'runs/{seed0,seed1}'."""
    if len(workdirs) == 1:
        return workdirs[0]
    try:
        parent = os.path.commonpath(workdirs)
    except ValueError:  # absolute and relative paths mixed
        return ",".join(workdirs)
    names = ",".join(os.path.relpath(workdir, parent) for workdir in workdirs)
    return os.path.join(parent, f"{{{names}}}") if parent else f"{{{names}}}"


def format_table(rows: list[dict]) -> str:
    header = ["experiment", "epochs", "metric", "notebook", "ours", "diff (pp)", "n", "minutes", "status",
              "workdir"]
    lines = []
    for row in rows:
        reference = _format_number(row["reference"]) if row["reference"] is not None \
            else f"— \"{row['reference_text'][:40]}\""
        ours = _format_number(row["measured"])
        if row["std"] is not None:
            ours += f" ± {row['std']:.2f}"
        difference = "—" if row["difference_pp"] is None else f"{row['difference_pp']:+.2f}"
        seconds = [value for value in row["seconds_runs"] if value is not None]
        minutes = f"{statistics.fmean(seconds) / 60:.1f}" if seconds else "—"
        lines.append([row["experiment"], f"{row['epochs_run']}/{row['epochs_configured']}", row["metric"],
                      reference, ours, difference, str(row["n"]), minutes, row["status"],
                      format_workdirs(row["workdirs"])])
    widths = [max(len(str(cells[index])) for cells in [header, *lines]) for index in range(len(header))]
    text = [" | ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
            for cells in [header, *lines]]
    text.insert(1, "-+-".join("-" * width for width in widths))
    if any(row["status"] != "complete" for row in rows):
        text.append("Runs not 'complete' are not reproductions of the notebook: no difference is given "
                    "unless they got past the epoch the notebook is read at.")
    return "\n".join(text)


# --- commands -----------------------------------------------------------------------------------

def list_command(args) -> int:
    entries = []
    for name in config_lib.experiment_names():
        config = config_lib.load_experiment(name)
        reference = _plain(config.reference)
        entries.append({"name": name, "notebook": notebook_of(reference), "model": config.model,
                        "epochs": config.epochs, "metric": describe(reference), "reference": reference})
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    width = max(len(entry["name"]) for entry in entries)
    for entry in entries:
        reference = entry["reference"]
        text = reference["text"] if len(reference["text"]) <= 60 else reference["text"][:59] + "…"
        number = f"{reference['value']:.2f}%" if reference["value"] is not None else f"no number: \"{text}\""
        print(f"{entry['name']:<{width}}  {entry['notebook']}  {entry['model']:<13} {entry['epochs']:>3} epochs  "
              f"{entry['metric']}: {number}")
    return 0


def compare_command(args) -> int:
    runs = read_runs(args.workdirs)
    if not runs:
        raise UserError(f"no run to compare in {', '.join(map(str, args.workdirs))}")
    rows = compare(args.workdirs, runs)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
    if args.plot:
        plot_comparison(runs, args.plot)
        if not args.json:
            print(f"wrote {args.plot}")
    return 0


# --- pictures ---------------------------------------------------------------------------------
# Each plot_* saves its picture and returns the closed Figure: its axes, lines and images stay readable.

def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_comparison(runs: list[dict], out) -> "Figure":
    """Per experiment: accuracy and loss per epoch of our runs (solid) over the notebook's (dashed)."""
    plt = _pyplot()
    by_experiment: dict[str, list[dict]] = {}
    for run in runs:
        by_experiment.setdefault(run["experiment"], []).append(run)
    figure, axes = plt.subplots(len(by_experiment), 2, figsize=(12, 3.6 * len(by_experiment)), squeeze=False)
    for (name, experiment_runs), (accuracy_axis, loss_axis) in zip(sorted(by_experiment.items()), axes):
        reference = experiment_runs[0]["reference"]
        split = reference["split"]
        # The measured split, and the training curves where the notebook printed them too.
        shown = [split] + (["train"] if "train" in reference["curves"] else [])
        for name_shown, marker, notebook_color in zip(shown, ("o", "s"), ("black", "grey")):
            for run in experiment_runs:
                label = f"ours {name_shown}, seed {run['seed']}" + (
                    "" if run["status"] == "complete" else f" [{run['status']}]")
                rows = [row for row in run["rows"] if name_shown in row]
                epochs = [row["epoch"] for row in rows]
                accuracy_axis.plot(epochs, [row[name_shown]["accuracy"] for row in rows], marker=marker,
                                   markersize=3, label=label)
                loss_axis.plot(epochs, [row[name_shown]["loss"] for row in rows], marker=marker, markersize=3,
                               label=label)
            curve = reference["curves"].get(name_shown, {})
            if "epoch" in curve and "accuracy" in curve:
                accuracy_axis.plot(curve["epoch"], curve["accuracy"], "--", color=notebook_color, marker=marker,
                                   markersize=3, label=f"notebook {name_shown}")
            if "epoch" in curve and "loss" in curve:
                loss_axis.plot(curve["epoch"], curve["loss"], "--", color=notebook_color, marker=marker,
                               markersize=3, label=f"notebook {name_shown}")
        curve = reference["curves"].get(split, {})
        if reference["value"] is not None and not curve.get("accuracy"):
            # Only the summary number is printed (e.g. notebook 003's maximum): a line at its height.
            accuracy_axis.axhline(reference["value"], color="k", linestyle="--",
                                  label=f"notebook {reference['reduce']}: {reference['value']:.2f}")
        accuracy_axis.set_title(f"{name}: accuracy (compared: {describe(reference)})", fontsize=9)
        accuracy_axis.set(xlabel="epoch", ylabel="accuracy (%)")
        loss_axis.set_title(f"{name}: loss", fontsize=9)
        loss_axis.set(xlabel="epoch", ylabel="loss", yscale="log")
        for axis in (accuracy_axis, loss_axis):
            axis.grid(alpha=0.3)
            axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return figure


def _examples_seen(step_row: dict, train_size: int, batch_size: int) -> int:
    """Training examples consumed after `step` updates, counting the smaller last batch of each epoch."""
    steps_per_epoch = math.ceil(train_size / batch_size)
    completed_epochs = step_row["epoch"] - 1
    steps_this_epoch = step_row["step"] - completed_epochs * steps_per_epoch
    return completed_epochs * train_size + min(steps_this_epoch * batch_size, train_size)


def _full_train_size(run_config: dict) -> int:
    """Examples in the experiment's training split at full size (both datasets have 60,000 training images)."""
    from jaxmnist.data import pipeline

    _, start, stop = pipeline._slice_bounds(run_config["train_split"], 60_000)
    return stop - start


def plot_curves(workdir, out) -> "Figure":
    """Notebook 001's plot_graph: loss and accuracy against the number of training examples seen,
    with the points the notebook printed (its run used the full training split)."""
    plt = _pyplot()
    run_config = _run_config(workdir)
    rows, steps = epoch_rows(workdir), step_rows(workdir)
    if not rows:
        raise UserError(f"{workdir} has no finished epoch in metrics.jsonl yet")
    train_size = rows[0]["train"]["total"]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(12, 4))
    step_x = [_examples_seen(row, train_size, run_config["batch_size"]) for row in steps]
    epoch_x = [row["epoch"] * train_size for row in rows]
    for key, axis in (("loss", loss_axis), ("accuracy", accuracy_axis)):
        axis.plot(step_x, [row["train"][key] for row in steps], color="blue", alpha=0.4,
                  label="train (running mean within the epoch)")
        axis.plot(epoch_x, [row["train"][key] for row in rows], color="blue", marker="o", linestyle="none",
                  label="train (epoch)")
        for name, color in zip(run_config["eval"], ("red", "green", "purple")):
            axis.plot(epoch_x, [row[name][key] for row in rows], color=color, marker="o", label=name)
    reference = _reference_of(run_config, _registered_config(run_config.get("experiment", "")))
    notebook_train_size = _full_train_size(run_config)
    colors = iter(("black", "grey", "brown", "olive"))
    for name, curve in (reference or {}).get("curves", {}).items():
        if "examples_seen" in curve:
            x = curve["examples_seen"]
        elif "epoch" in curve:
            x = [epoch * notebook_train_size for epoch in curve["epoch"]]
        else:
            continue  # printed points whose epochs are unknown
        style = dict(color=next(colors), linestyle="--", marker="x", markersize=4, alpha=0.8,
                     label=f"notebook {name}")
        for key, axis in (("loss", loss_axis), ("accuracy", accuracy_axis)):
            if key in curve:
                axis.plot(x, curve[key], **style)
    loss_axis.set(xlabel="number of training examples seen", ylabel="loss", yscale="log")
    accuracy_axis.set(xlabel="number of training examples seen", ylabel="accuracy (%)")
    for axis in (loss_axis, accuracy_axis):
        axis.grid(alpha=0.3)
        axis.legend(loc="best", fontsize=8)
    shortened = " [shortened run]" if run_config.get("shortened") else ""
    figure.suptitle(run_config.get("experiment", str(workdir)) + shortened)
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return figure


def plot_errors(workdir, out) -> "Figure":
    """Notebook 001's error plot: error rate (%) per epoch of training and each evaluated split."""
    plt = _pyplot()
    run_config = _run_config(workdir)
    rows = epoch_rows(workdir)
    if not rows:
        raise UserError(f"{workdir} has no finished epoch in metrics.jsonl yet")
    train_size = rows[0]["train"]["total"]
    x = [row["epoch"] * train_size for row in rows]
    figure, axis = plt.subplots(figsize=(7, 4))
    for name, color in zip(["train", *run_config["eval"]], ("blue", "red", "green", "purple")):
        axis.plot(x, [100.0 - row[name]["accuracy"] for row in rows], color=color, marker="o", label=name)
    axis.set(xlabel="number of training examples seen", ylabel="error (%)",
             title=f"{run_config.get('experiment', workdir)}: error rate after each epoch")
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right")
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return figure


def plot_learning_rate(workdir, out) -> "Figure":
    """Notebook 003's learning-rate monitor: the schedule's rate at every update, and the logged rates."""
    import numpy as np

    from jaxmnist import optim

    plt = _pyplot()
    run_config = _run_config(workdir)
    rows = epoch_rows(workdir)
    total_steps = rows[-1]["step"] if rows else 0
    if not total_steps:
        raise UserError(f"{workdir} has no finished epoch in metrics.jsonl yet")
    schedule = optim.learning_rate_schedule(run_config["optimizer"], run_config.get("schedule"))
    rates = np.asarray(schedule(np.arange(total_steps, dtype=np.int32)))
    figure, axis = plt.subplots(figsize=(9, 4))
    # Update k (1-based) uses schedule(k - 1); a logged row at step k reports that rate.
    axis.plot(np.arange(1, total_steps + 1), rates, color="orange", label="schedule")
    logged = step_rows(workdir) + rows
    axis.plot([row["step"] for row in logged], [row["learning_rate"] for row in logged], "k.", markersize=4,
              label="logged during training")
    axis.set(xlabel="optimizer update", ylabel="learning rate",
             title=f"{run_config.get('experiment', workdir)}: learning rate per update")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return figure


def _load_trained(workdir):
    """(config, module, variables) of the workdir's latest checkpoint; tests replace this seam."""
    from jaxmnist import train

    return train.load_trained(workdir)


def _eval_images(config, data_dir, data_source, count: int, start: int = 0):
    """The first `count` images (from `start`) of the run's test split, preprocessed as its eval does."""
    import jax
    import numpy as np

    from jaxmnist.data import pipeline

    # By default the data the run was trained on.
    data_dir, data_source = data_dir or config.get("data_dir"), data_source or config.get("data_source")
    eval_name = "test" if "test" in config["eval"] else next(iter(config["eval"]))
    spec = config["eval"][eval_name]
    split = pipeline.load(config["dataset"], spec["split"], data_dir, data_source)
    stats = None
    if "'train'" in spec["pp"] or '"train"' in spec["pp"]:
        stats = pipeline.pixel_stats(pipeline.load(config["dataset"], config["train_split"], data_dir, data_source))
    indices = np.arange(start, min(start + count, len(split.labels)))
    images, labels = pipeline.batch_fn(spec["pp"], stats)(split, indices, jax.random.key(0))
    return np.asarray(split.images[indices]), images, np.asarray(labels)


def plot_predictions(workdir, out, count: int = 12, data_dir=None, data_source=None) -> "Figure":
    """Notebook 001's predict_batch + plot_data: test images titled with the predicted label."""
    import numpy as np

    plt = _pyplot()
    config, module, variables = _load_trained(workdir)
    raw, images, labels = _eval_images(config, data_dir, data_source, count)
    predictions = np.asarray(module.apply(variables, images, train=False)).argmax(axis=1)
    columns = min(6, len(labels))
    rows = math.ceil(len(labels) / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(2 * columns, 2.3 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= len(labels):
            axis.axis("off")
            continue
        axis.imshow(raw[index, :, :, 0], cmap="gray", interpolation="none")
        correct = predictions[index] == labels[index]
        axis.set_title(f"Predicted: {predictions[index]}" + ("" if correct else f" (true {labels[index]})"),
                       color="black" if correct else "red", fontsize=10)
    figure.suptitle(f"{config.get('experiment', workdir)}: first {len(labels)} test images")
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    return figure


def feature_maps(module, variables, image) -> list[tuple[str, object]]:
    """[(stage name, (H, W, C) maps)] for one image: the model's `visualize` stages where it has them
    (notebook 004's relu(conv1), pool, relu(conv2), pool), else the output of every conv layer."""
    import numpy as np
    from flax import traverse_util

    from jaxmnist.models.layers import Conv2d

    batch = image[None]
    if hasattr(module, "visualize"):
        stages = module.apply(variables, batch, method="visualize")
        names = ["relu(conv1)", "max_pool(relu(conv1))", "relu(conv2)", "max_pool(relu(conv2))"]
        return [(name, np.asarray(stage[0])) for name, stage in zip(names, stages)]
    _, state = module.apply(variables, batch, train=False, mutable=["intermediates"],
                            capture_intermediates=lambda layer, method: isinstance(layer, Conv2d))
    # Leaves are tuples of the captured call outputs, at paths ending in '__call__', in call order.
    return [("conv " + "/".join(path[:-1]), np.asarray(outputs[0][0]))
            for path, outputs in traverse_util.flatten_dict(state["intermediates"]).items()]


def plot_feature_maps(workdir, out, index: int = 0, channels: int = 20, data_dir=None,
                      data_source=None) -> "Figure":
    """Notebook 004's pictures: the first `channels` maps of each stage for test image `index`."""
    import numpy as np

    plt = _pyplot()
    config, module, variables = _load_trained(workdir)
    raw, images, labels = _eval_images(config, data_dir, data_source, 1, start=index)
    stages = feature_maps(module, variables, images[0])
    if not stages:
        raise UserError(f"model '{config['model']}' has no conv layer to show")
    # As notebook 004's filter_convert: maps clipped to [0, 1], default colour map.
    clip = hasattr(module, "visualize")
    columns = 10
    rows_per_stage = [math.ceil(min(channels, maps.shape[-1]) / columns) for _, maps in stages]
    figure = plt.figure(figsize=(columns * 1.3, 1.6 + sum(rows_per_stage) * 1.5))
    grid = figure.add_gridspec(sum(rows_per_stage) + 1, columns + 1)
    input_axis = figure.add_subplot(grid[0, 0])
    input_axis.imshow(raw[0, :, :, 0], cmap="gray")
    input_axis.set(xticks=[], yticks=[], title=f"test[{index}]: {labels[0]}")
    row = 1
    for (name, maps), stage_rows in zip(stages, rows_per_stage):
        for channel in range(min(channels, maps.shape[-1])):
            axis = figure.add_subplot(grid[row + channel // columns, 1 + channel % columns])
            picture = np.clip(maps[:, :, channel], 0, 1) if clip else maps[:, :, channel]
            axis.imshow(picture)
            axis.set(xticks=[], yticks=[])
            if channel == 0:
                axis.set_title(f"{name} {maps.shape[0]}x{maps.shape[1]}", fontsize=8, loc="left")
        row += stage_rows
    figure.suptitle(f"{config.get('experiment', workdir)}: feature maps"
                    + (" (clipped to [0, 1] as the notebook)" if clip else " (conv outputs, before any activation)"))
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return figure


PLOT_KINDS = ("curves", "errors", "predictions", "feature-maps", "lr")


def plot_command(args) -> int:
    if args.kind == "curves":
        plot_curves(args.workdir, args.out)
    elif args.kind == "errors":
        plot_errors(args.workdir, args.out)
    elif args.kind == "lr":
        plot_learning_rate(args.workdir, args.out)
    elif args.kind == "predictions":
        plot_predictions(args.workdir, args.out, args.n, args.data_dir, args.data_source)
    elif args.kind == "feature-maps":
        plot_feature_maps(args.workdir, args.out, args.index, data_dir=args.data_dir,
                          data_source=args.data_source)
    else:
        raise UserError(f"unknown plot kind '{args.kind}' (known: {', '.join(PLOT_KINDS)})")
    print(f"wrote {args.out}")
    return 0
