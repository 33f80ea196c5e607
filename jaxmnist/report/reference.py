"""The notebook reference of an experiment, how a run is measured against it, and `jaxmnist experiments`.

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
"""

import json

from jaxmnist import config as config_lib
from jaxmnist.errors import UserError
from jaxmnist.report import runs

REDUCTIONS = ("final", "max", "epoch")
REFERENCE_KEYS = ("source", "split", "reduce", "epoch", "value", "text", "curves", "notes", "noise",
                  "notebook_seconds")


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


def list_command(args) -> int:
    entries = []
    for name in config_lib.experiment_names():
        config = config_lib.load_experiment(name)
        reference = runs.plain(config.reference)
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
