"""The pictures of a run's files and of the notebooks' numbers: curves, error rates, learning rates.

Every plot_* saves its picture and returns the closed Figure: its axes, lines and images stay
readable. Training is drawn per logged step (the running mean since its epoch began, as the
progress bar shows it), so a one-epoch run has a curve, not one point; evaluations are drawn per
epoch. Every x axis counts epochs: training points sit at fractional epochs, a shortened run counts
its own (shorter) epochs and the notebook's points its epochs. Loss axes are logarithmic and
labelled in plain decimals.
"""

import statistics
from collections import Counter
from typing import TYPE_CHECKING

from jaxmnist.data import pipeline
from jaxmnist.errors import UserError
from jaxmnist.report import reference as reference_lib
from jaxmnist.report import runs

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Train blue and test red as notebook 001's plot_graph; the notebook's own points in black and grey.
SPLIT_COLORS = {"train": "tab:blue", "test": "tab:red", "valid": "tab:green"}
NOTEBOOK_COLORS = {"test": "black", "valid": "black", "train": "grey"}
# More runs of one recipe than this (seeds of a group) are drawn as their mean and range: one line
# each would tangle, and the legend would list every seed.
SEEDS_DRAWN_APART = 3


def pyplot():
    """matplotlib.pyplot drawing to files only (the Agg backend), the setup of every picture."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(figure: "Figure", out) -> "Figure":
    """Write the picture (a bad path is one UserError) and close it; returns the Figure."""
    try:
        figure.savefig(out, dpi=100)
    except OSError as error:
        raise UserError(f"cannot write {out}: {error.strerror or error}") from None
    finally:
        pyplot().close(figure)
    return figure


def _decimal(value: float) -> str:
    """0.00008, 0.25, 2: a tick label without exponent (rounded to 10 decimals, which ticks never need)."""
    return f"{value:.10f}".rstrip("0").rstrip(".")


def _plain_log_scale(axis: "Axes"):
    """A logarithmic y axis whose labels read 0.02, 0.1, 1.5 (matplotlib's default: 2×10⁻²)."""
    from matplotlib import ticker

    class PlainLogFormatter(ticker.LogFormatter):
        # LogFormatter decides which ticks get a label (minor ones only on a short range); this writes it.
        def _num_to_string(self, value, vmin, vmax):
            return _decimal(value)

    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(PlainLogFormatter())
    axis.yaxis.set_minor_formatter(PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _plain_numbers(axis: "Axes"):
    """y labels such as 0.00005 instead of 5 under a '1e-5' written above the axis."""
    from matplotlib import ticker

    axis.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: _decimal(value)))


def _finish(axis: "Axes", ylabel: str, legend: bool = True):
    axis.set_xlabel("epoch")
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    if legend:
        axis.legend(fontsize=8)


# --- one run ----------------------------------------------------------------------------------

def _series(label: str, x: list, loss, accuracy, evaluated=False, **style) -> dict:
    return {"label": label, "x": x, "loss": loss, "accuracy": accuracy, "evaluated": evaluated, "style": style}


def _draw(axis: "Axes", series: list[dict], key: str, errors: bool = False):
    """Every series that has `key` ('loss' or 'accuracy'; `errors`: 100 - accuracy), from x = 0, the error
    rate from 0; then each evaluated split's last value written beside its point, facing the middle."""
    drawn = [(item, [100.0 - value for value in item[key]] if errors else item[key])
             for item in series if item[key] is not None]
    for item, values in drawn:
        axis.plot(item["x"], values, label=item["label"], **item["style"])
    axis.set_xlim(left=0)
    if errors:
        axis.set_ylim(bottom=0)
    for item, values in drawn:
        if item["evaluated"]:
            x, y = item["x"][-1], values[-1]
            right, high = axis.transAxes.inverted().transform(axis.transData.transform((x, y))) > 0.5
            axis.annotate(f"{y:.2f}%" if key == "accuracy" else f"{y:.4g}", (x, y), textcoords="offset points",
                          xytext=(-6 if right else 6, -8 if high else 8), ha="right" if right else "left",
                          va="top" if high else "bottom", fontsize=8, color=item["style"]["color"])


def _separate_end_labels(axis: "Axes", gap_points: float = 1.0):
    """Move `_draw`'s end-value labels apart where their boxes overlap in the laid-out figure, keeping the
    order of their values: stacked down from the highest when it is written below its point, else up from
    the lowest, so that each moves away from its point (close values would otherwise print over each other)."""
    labels = sorted(axis.texts, key=lambda label: label.xy[1], reverse=True)
    downwards = bool(labels) and labels[0].get_va() == "top"
    if not downwards:
        labels.reverse()
    renderer = axis.figure.canvas.get_renderer()
    gap = gap_points * axis.figure.dpi / 72
    for placed, label in zip(labels, labels[1:]):
        placed_box, box = placed.get_window_extent(renderer), label.get_window_extent(renderer)
        overlap = box.y1 + gap - placed_box.y0 if downwards else placed_box.y1 + gap - box.y0
        if overlap > 0:
            x, y = label.xyann
            shift = overlap * 72 / axis.figure.dpi
            label.xyann = (x, y - shift if downwards else y + shift)


def _training_epochs(rows: list[dict], train_size: int, batch_size: int) -> list[float]:
    """Where each logged training row lies in epochs of `train_size` examples: 2.5 is half-way through epoch 3."""
    return [runs.examples_seen(row, train_size, batch_size) / train_size for row in rows]


def _run_series(workdir) -> tuple[dict, list[dict]] | None:
    """(config.json, series to draw) of a workdir; None before its first epoch.

    x is in epochs of the run; 'loss' and 'accuracy' are lists, or None where unknown.
    """
    config = runs.run_config(workdir)
    rows = runs.read_rows(workdir)
    epochs = [row for row in rows if row["kind"] == "epoch"]
    if not epochs:
        return None
    train_size = epochs[0]["train"]["total"]
    training = runs.training_rows(rows)
    series = [_series("train (mean since the epoch began)",
                      _training_epochs(training, train_size, config["batch_size"]),
                      [row["train"]["loss"] for row in training], [row["train"]["accuracy"] for row in training],
                      color=SPLIT_COLORS["train"], linewidth=1.2)]
    for name in config["eval"]:
        series.append(_series(name, [row["epoch"] for row in epochs],
                              [row[name]["loss"] for row in epochs], [row[name]["accuracy"] for row in epochs],
                              evaluated=True, color=SPLIT_COLORS.get(name), marker="o", markersize=4))
    return config, series + _notebook_series(config)


def _notebook_series(config: dict) -> list[dict]:
    """The points the notebook printed, at the notebook's epochs (of its training split at full size)."""
    reference = runs.reference_of(config, runs.registered_config(config.get("experiment", ""))) or {}
    # Both datasets have 60,000 training images.
    _, start, stop = pipeline._slice_bounds(config["train_split"], 60_000)
    series = []
    for name, curve in reference.get("curves", {}).items():
        if "examples_seen" in curve:
            x = [examples / (stop - start) for examples in curve["examples_seen"]]
        elif "epoch" in curve:
            x = curve["epoch"]
        else:
            continue  # printed points whose epochs are unknown
        series.append(_series(f"notebook {name}", x, curve.get("loss"), curve.get("accuracy"),
                              color=NOTEBOOK_COLORS.get(name, "grey"), linestyle="--", marker="x", markersize=5))
    return series


def _title(config: dict, workdir) -> str:
    shortened = " [shortened run]" if config.get("shortened") else ""
    return f"{config.get('experiment', str(workdir))}{shortened}"


def plot_curves(workdir, out) -> "Figure | None":
    """A run's loss, accuracy and learning rate per epoch, as notebook 001's plot_graph, with the
    notebook's printed points; None, writing nothing, before the first epoch."""
    found = _run_series(workdir)
    if found is None:
        return None
    config, series = found
    figure, (loss_axis, accuracy_axis, rate_axis) = pyplot().subplots(1, 3, figsize=(17, 4.6))
    _plain_log_scale(loss_axis)
    _draw(loss_axis, series, "loss")
    _draw(accuracy_axis, series, "accuracy")
    training = series[0]
    rows = runs.training_rows(runs.read_rows(workdir))
    rate_axis.plot(training["x"], [row["learning_rate"] for row in rows], color="tab:orange",
                   label="learning rate at each logged step")
    rate_axis.set_xlim(left=0)
    rate_axis.set_ylim(bottom=0)
    _plain_numbers(rate_axis)
    for axis, ylabel in ((loss_axis, "loss"), (accuracy_axis, "accuracy (%)"), (rate_axis, "learning rate")):
        _finish(axis, ylabel, legend=axis is not rate_axis)
    figure.suptitle(_title(config, workdir))
    figure.tight_layout()
    _separate_end_labels(loss_axis)
    _separate_end_labels(accuracy_axis)
    return save(figure, out)


def plot_errors(workdir, out) -> "Figure | None":
    """Notebook 001's error plot: the error rate (%) of training and of each evaluated split per epoch;
    None, writing nothing, before the first epoch."""
    found = _run_series(workdir)
    if found is None:
        return None
    config, series = found
    figure, axis = pyplot().subplots(figsize=(8, 4.6))
    _draw(axis, series, "accuracy", errors=True)
    _finish(axis, "error (%)")
    figure.suptitle(f"{_title(config, workdir)}: error rate")
    figure.tight_layout()
    _separate_end_labels(axis)
    return save(figure, out)


def plot_schedule(out, rates, title: str, logged: list[dict] = ()) -> "Figure":
    """The rate of every optimizer update (index k: update k + 1), and `logged` rows' rates at their steps."""
    figure, axis = pyplot().subplots(figsize=(10, 4.2))
    axis.plot(range(1, len(rates) + 1), rates, color="tab:orange", linewidth=1.2, label="schedule")
    if logged:
        # A logged row at step k reports the rate update k used.
        axis.plot([row["step"] for row in logged], [row["learning_rate"] for row in logged], "k.", markersize=4,
                  label="logged during training")
        axis.legend(fontsize=9)
    axis.set(xlabel="optimizer update", ylabel="learning rate", xlim=(0, len(rates) + 1))
    axis.set_ylim(bottom=0, top=max(float(max(rates)), 1e-12) * 1.08)
    _plain_numbers(axis)
    axis.set_title(title, fontsize=10, wrap=True)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    return save(figure, out)


def plot_learning_rate(workdir, out) -> "Figure | None":
    """Notebook 003's learning-rate monitor: the schedule's rate at every update of the run, and the rates
    it logged; None, writing nothing, before the first epoch."""
    import numpy as np

    from jaxmnist import optim

    config = runs.run_config(workdir)
    rows = runs.training_rows(runs.read_rows(workdir))
    if not any(row["kind"] == "epoch" for row in rows):
        return None
    schedule = optim.learning_rate_schedule(config["optimizer"], config.get("schedule"))
    rates = np.asarray(schedule(np.arange(rows[-1]["step"], dtype=np.int32)))
    return plot_schedule(out, rates, f"{_title(config, workdir)}: learning rate per update", logged=rows)


# --- several runs against the notebooks -------------------------------------------------------

def _run_curves(run: dict, shown: list[str], split: str):
    """(what, x, {"accuracy": y, "loss": y}, marker, line width) of each curve `plot_comparison` draws
    of one run (compare.read_run's dict): the splits `shown` per epoch, and a one-epoch run's training
    per logged step."""
    for name_shown, marker in zip(shown, ("o", "s")):
        rows = [row for row in run["rows"] if name_shown in row]
        yield (f"ours {name_shown}", [row["epoch"] for row in rows],
               {key: [row[name_shown][key] for row in rows] for key in ("accuracy", "loss")},
               marker, 1.5 if name_shown == split else 0.8)
    if run["epochs_run"] == 1 and run["training_rows"]:
        rows = run["training_rows"]
        yield ("ours train (mean since the epoch began)",
               _training_epochs(rows, run["rows"][0]["train"]["total"], run["batch_size"]),
               {key: [row["train"][key] for row in rows] for key in ("accuracy", "loss")}, None, 0.8)


def _draw_spread(accuracy_axis: "Axes", loss_axis: "Axes", runs_of_recipe: list[dict], shown: list[str], split: str,
                 color: str, suffix: str):
    """Runs of one recipe as each curve's mean over them, their lowest to highest value shaded."""
    curves: dict[str, tuple] = {}  # what: (marker, width, [(x, values) of each run])
    for run in runs_of_recipe:
        for what, x, values, marker, width in _run_curves(run, shown, split):
            curves.setdefault(what, (marker, width, []))[2].append((x, values))
    for what, (marker, width, of_runs) in curves.items():
        for key, axis in (("accuracy", accuracy_axis), ("loss", loss_axis)):
            at: dict[float, list[float]] = {}  # a run stopped early adds nothing to the later points
            for x, values in of_runs:
                for point, value in zip(x, values[key]):
                    at.setdefault(point, []).append(value)
            x = sorted(at)
            axis.fill_between(x, [min(at[point]) for point in x], [max(at[point]) for point in x], color=color,
                              alpha=0.25, linewidth=0)
            axis.plot(x, [statistics.fmean(at[point]) for point in x], marker=marker, markersize=3, color=color,
                      linewidth=width, label=f"{what}, mean of {len(of_runs)} runs, range shaded{suffix}")


def plot_comparison(measured: list[dict], out) -> "Figure":
    """Per experiment: accuracy and loss per epoch of our runs (solid) over the notebook's (dashed); more
    than SEEDS_DRAWN_APART runs of one recipe as their mean and range.

    `measured` are jaxmnist.report.compare.read_run's dicts.
    """
    by_experiment: dict[str, list[dict]] = {}
    for run in measured:
        by_experiment.setdefault(run["experiment"], []).append(run)
    figure, axes = pyplot().subplots(len(by_experiment), 2, figsize=(13, 4 * len(by_experiment)), squeeze=False)
    for (name, experiment_runs), (accuracy_axis, loss_axis) in zip(sorted(by_experiment.items()), axes):
        reference = experiment_runs[0]["reference"]
        split = reference["split"]
        # The measured split, and the training curves where the notebook printed them too.
        shown = [split] + (["train"] if "train" in reference["curves"] else [])
        repeated = Counter((run["seed"], run["status"]) for run in experiment_runs)
        recipes: dict[str, list[dict]] = {}  # by status: what a sweep changed, or how far a run got
        for run in experiment_runs:
            recipes.setdefault(run["status"], []).append(run)
        colors = iter(f"C{index % 10}" for index in range(len(experiment_runs)))
        for status, recipe_runs in recipes.items():
            status_suffix = "" if status == "complete" else f" [{status}]"
            if len(recipe_runs) > SEEDS_DRAWN_APART:
                _draw_spread(accuracy_axis, loss_axis, recipe_runs, shown, split, next(colors), status_suffix)
                continue
            for run in recipe_runs:
                # One colour per run: its evaluated split with markers, its training curve thinner.
                suffix = f", seed {run['seed']}" + status_suffix
                if repeated[(run["seed"], run["status"])] > 1:
                    suffix += f" ({run['workdir']})"  # workdirs of one seed, told apart
                color = next(colors)
                for what, x, values, marker, width in _run_curves(run, shown, split):
                    for key, axis in (("accuracy", accuracy_axis), ("loss", loss_axis)):
                        axis.plot(x, values[key], marker=marker, markersize=4, color=color, linewidth=width,
                                  label=f"{what}{suffix}")
        for name_shown, marker in zip(shown, ("o", "s")):
            curve = reference["curves"].get(name_shown, {})
            for key, axis in (("accuracy", accuracy_axis), ("loss", loss_axis)):
                if "epoch" in curve and key in curve:
                    axis.plot(curve["epoch"], curve[key], "--", color=NOTEBOOK_COLORS.get(name_shown, "grey"),
                              marker=marker, markersize=4, label=f"notebook {name_shown}")
        if reference["value"] is not None and not reference["curves"].get(split, {}).get("accuracy"):
            # Only the summary number is printed (e.g. notebook 003's maximum): a line at its height.
            accuracy_axis.axhline(reference["value"], color="black", linestyle="--",
                                  label=f"notebook {reference['reduce']}: {reference['value']:.2f}")
        accuracy_axis.set_title(f"{name}: accuracy (compared: {reference_lib.describe(reference)})", fontsize=10)
        loss_axis.set_title(f"{name}: loss", fontsize=10)
        _plain_log_scale(loss_axis)
        for axis, ylabel in ((accuracy_axis, "accuracy (%)"), (loss_axis, "loss")):
            axis.set_xlim(left=0)
            _finish(axis, ylabel)
    figure.tight_layout()
    return save(figure, out)
