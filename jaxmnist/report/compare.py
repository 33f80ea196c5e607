"""`jaxmnist compare`: our runs next to the notebooks' numbers, measured as each reference says.

Runs cut short (--epochs, --limit-train) or with a changed recipe are labelled and never
presented as reproductions; seeds of one run aggregate to mean ± std. Workdirs that ran the same
seed count as one: the first by path, with a warning naming the others.
"""

import json
import os
import statistics
import warnings
from pathlib import Path

from jaxmnist import config as config_lib
from jaxmnist.errors import RunWarning, UserError
from jaxmnist.report import plots, runs
from jaxmnist.report import reference as reference_lib


def read_run(workdir, recipe: dict | None = None) -> dict:
    """One workdir: its experiment, seed, how far it ran, whether it was cut short, and its measurement.

    A changed recipe is labelled against the experiment's file; `recipe` (a run's config.json) stands
    in for a config file that is no longer there."""
    workdir = Path(workdir)
    run_config = runs.run_config(workdir)
    name = config_lib.current_name(run_config.get("experiment", str(workdir)))
    registered = runs.registered_config(name)
    reference = runs.reference_of(run_config, registered) or _own_reference(workdir, run_config)
    configured_epochs = registered.epochs if registered is not None else run_config["epochs"]
    all_rows = runs.read_rows(workdir)
    timing = runs.read_timing(workdir)
    rows = [row for row in all_rows if row["kind"] == "epoch"]
    epochs_run = rows[-1]["epoch"] if rows else 0
    recipe = json.loads(registered.to_json_best_effort()) if registered is not None else recipe
    changed = [] if recipe is None else config_lib.changed_recipe_values(run_config, recipe)
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
    value, at_epoch = reference_lib.measure(rows, reference)
    # An unfinished (not shortened) run that got past the epoch notebook 000 is read at has computed
    # exactly what the full run would have by then; otherwise only complete runs compare.
    comparable = status == "complete" or (
        reference["reduce"] == "epoch" and status == "incomplete" and at_epoch is not None)
    return {"workdir": str(workdir), "experiment": name, "seed": run_config.get("seed"), "status": status,
            "epochs_run": epochs_run, "epochs_configured": configured_epochs, "reference": reference,
            "measured": value, "measured_epoch": at_epoch, "comparable": comparable, "rows": rows,
            "training_rows": runs.training_rows(all_rows), "batch_size": run_config.get("batch_size"),
            "seconds": runs.training_seconds(timing), "devices": runs.devices(timing),
            "provenance": runs.provenance(timing)}


def _own_reference(workdir: Path, run_config: dict) -> dict:
    """What a run of a config without a notebook (the user's own) is measured by: its `best_split`'s
    accuracy after the last epoch, with no notebook number beside it."""
    evaluations = run_config.get("eval")
    if "model" not in run_config or not isinstance(evaluations, dict) or "epochs" not in run_config:
        raise UserError(f"{workdir}: its config.json is not a jaxmnist run's (no model, eval or epochs)")
    split = run_config.get("best_split") or next(iter(evaluations), "train")
    return {"source": "", "split": split, "reduce": "final", "epoch": None, "value": None,
            "text": "no notebook: the run's own config", "curves": {}, "notes": "", "noise": "",
            "notebook_seconds": None}


def _aggregate(group: list[dict]) -> dict:
    reference = group[0]["reference"]
    values = [run["measured"] for run in group if run["measured"] is not None]
    mean = statistics.fmean(values) if values else None
    std = statistics.stdev(values) if len(values) > 1 else None
    comparable = group[0]["comparable"] and mean is not None and reference["value"] is not None
    difference = mean - reference["value"] if comparable else None
    # Whether the notebook's one run could be one more of our seeds: inside their range.
    spread = [min(values), max(values)] if len(values) > 1 else None
    inside = spread[0] <= reference["value"] <= spread[1] if comparable and spread else None
    return {
        "experiment": group[0]["experiment"], "status": group[0]["status"],
        "epochs_run": group[0]["epochs_run"], "epochs_configured": group[0]["epochs_configured"],
        "metric": reference_lib.describe(reference), "reference": reference["value"],
        "reference_text": reference["text"],
        "reference_noise": reference["noise"],
        "measured": mean, "std": std, "n": len(values), "difference_pp": difference,
        "range": spread, "reference_inside_range": inside,
        "seeds": [run["seed"] for run in group], "workdirs": [run["workdir"] for run in group],
        "measured_runs": [run["measured"] for run in group],
        "seconds_runs": [run["seconds"] for run in group], "notebook_seconds": reference["notebook_seconds"],
        "devices_runs": [run["devices"] for run in group],
        "provenance_runs": [run["provenance"] for run in group],
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
    measured, first_recipes = [], {}
    for workdir, named in expand_workdirs(paths):
        try:
            run_config = runs.run_config(workdir)
            # The runs of a config file no longer there (a sweep copied from another machine) are
            # told apart by what each changed from the first of them given.
            recipe = first_recipes.setdefault(run_config.get("experiment"), run_config)
            measured.append(read_run(workdir, recipe))
        except UserError as error:
            if named:
                raise
            warnings.warn(f"skipped {error}", RunWarning, stacklevel=2)
    return measured


def _one_run_per_seed(group: list[dict]) -> list[dict]:
    """The group's runs, one per seed: of workdirs that ran the same seed (a copy or a rerun, not another
    draw) the first by path counts, and a warning names each one left out."""
    counted: dict = {}
    for run in sorted(group, key=lambda run: run["workdir"]):
        first = counted.setdefault(run["seed"], run)
        if first is not run:
            warnings.warn(f"{run['workdir']} repeats seed {run['seed']} of {run['experiment']} ({run['status']}): "
                          f"only {first['workdir']}, the first by path, counts", RunWarning, stacklevel=3)
    return [run for run in group if counted[run["seed"]] is run]


def compare(workdirs: list, measured: list[dict] | None = None) -> list[dict]:
    """One row per (experiment, status, epochs run): seeds of the same run aggregate to mean ± std, each
    seed once.

    Complete runs are never averaged with shortened or incomplete ones, and the difference to the
    notebook is given only where the measurement is the notebook's (complete runs, or unfinished
    ones past the epoch the reference is read at): a shortened run is never a reproduction.
    """
    groups: dict[tuple, list[dict]] = {}
    for run in read_runs(workdirs) if measured is None else measured:
        groups.setdefault((run["experiment"], run["status"], run["epochs_run"]), []).append(run)
    return [_aggregate(_one_run_per_seed(group)) for _, group in sorted(groups.items(), key=lambda item: item[0])]


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


def _format_devices(devices_runs: list[list[str]]) -> str:
    """Each device set the seeds ran on, once: '1 x NVIDIA H200', or '2 x cpu, 1 x cpu'."""
    described = list(dict.fromkeys(devices for run in devices_runs for devices in run))
    return ", ".join(described) if described else "—"


def format_table(rows: list[dict]) -> str:
    header = ["experiment", "epochs", "metric", "notebook", "ours", "diff (pp)", "n", "notebook in our range",
              "minutes", "devices", "status", "workdir"]
    lines = []
    for row in rows:
        reference = _format_number(row["reference"]) if row["reference"] is not None \
            else f"— \"{row['reference_text'][:40]}\""
        ours = _format_number(row["measured"])
        if row["std"] is not None:
            ours += f" ± {row['std']:.2f}"
        difference = "—" if row["difference_pp"] is None else f"{row['difference_pp']:+.2f}"
        inside = "—" if row["reference_inside_range"] is None else \
            f"{'yes' if row['reference_inside_range'] else 'no'} ({row['range'][0]:.2f}-{row['range'][1]:.2f})"
        seconds = [value for value in row["seconds_runs"] if value is not None]
        minutes = f"{statistics.fmean(seconds) / 60:.1f}" if seconds else "—"
        lines.append([row["experiment"], f"{row['epochs_run']}/{row['epochs_configured']}", row["metric"],
                      reference, ours, difference, str(row["n"]), inside, minutes,
                      _format_devices(row["devices_runs"]), row["status"], format_workdirs(row["workdirs"])])
    widths = [max(len(str(cells[index])) for cells in [header, *lines]) for index in range(len(header))]
    text = [" | ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
            for cells in [header, *lines]]
    text.insert(1, "-+-".join("-" * width for width in widths))
    if any(row["status"] != "complete" for row in rows):
        text.append("Runs not 'complete' are not reproductions of the notebook: no difference is given "
                    "unless they got past the epoch the notebook is read at.")
    return "\n".join(text)


def compare_command(args) -> int:
    measured = read_runs(args.workdirs)
    if not measured:
        raise UserError(f"no run to compare in {', '.join(map(str, args.workdirs))}")
    rows = compare(args.workdirs, measured)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_table(rows))
    if args.plot:
        plots.plot_comparison(measured, args.plot)
        if not args.json:
            print(f"wrote {args.plot}")
    return 0
