"""Reading a workdir's files: config.json, metrics.jsonl, timing.jsonl, and the reference of its experiment.

A workdir written by `jaxmnist train` holds config.json (the resolved config, with `shortened`
true when run with --epochs / --limit-train), metrics.jsonl (one row per epoch and per logged
step, written by jaxmnist.train.logs.MetricsLog) and timing.jsonl (wall time per epoch).
"""

import json
import math
import warnings
from pathlib import Path

from jaxmnist import config as config_lib
from jaxmnist.errors import RunWarning, UserError


def parse_lines(path: Path, warn: bool = False) -> list[tuple[dict, str]]:
    """(row, line) of a .jsonl log; a last line cut short is left out (with a RunWarning if `warn`)."""
    text = path.read_text(errors="replace")
    lines = text.split("\n")
    rows = []
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or "step" not in row:
                raise ValueError("not a row")
        except ValueError:
            if number == len(lines):  # no newline after it: the write of this row was cut short
                if warn:
                    warnings.warn(f"{path}: dropped its last line, cut short when it was written", RunWarning,
                                  stacklevel=2)
                break
            raise UserError(f"{path}, line {number} is damaged (not a JSON row): delete that line, or the "
                            "file to start its log afresh") from None
        rows.append((row, line))
    return rows


def read_rows(workdir) -> list[dict]:
    """Every row of metrics.jsonl in order; [] before the first is written."""
    path = Path(workdir) / "metrics.jsonl"
    return [row for row, _ in parse_lines(path)] if path.exists() else []


def epoch_rows(workdir) -> list[dict]:
    return [row for row in read_rows(workdir) if row["kind"] == "epoch"]


def training_rows(rows: list[dict]) -> list[dict]:
    """One row per logged step, epoch rows included, in step order: an epoch row and a step row
    logged at the same step carry the same running totals, so the later written one stands."""
    by_step = {row["step"]: row for row in rows}
    return [by_step[step] for step in sorted(by_step)]


def examples_seen(row: dict, train_size: int, batch_size: int) -> int:
    """Training examples consumed after the row's step, counting the smaller last batch of each epoch."""
    steps_per_epoch = math.ceil(train_size / batch_size)
    completed_epochs = row["epoch"] - 1
    steps_this_epoch = row["step"] - completed_epochs * steps_per_epoch
    return completed_epochs * train_size + min(steps_this_epoch * batch_size, train_size)


def run_config(workdir) -> dict:
    """The workdir's config.json as a dict; UserError if it is missing or damaged."""
    config_path = Path(workdir) / "config.json"
    if not config_path.exists():
        raise UserError(f"{workdir} is not a training workdir (no config.json)")
    try:
        config = json.loads(config_path.read_text())
    except (ValueError, UnicodeDecodeError):
        config = None
    if not isinstance(config, dict):
        raise UserError(f"{config_path} is damaged (not a JSON object): rerun the training command with --force "
                        "to write it again")
    return config


def read_timing(workdir) -> list[dict]:
    """timing.jsonl's rows: one per epoch ("seconds"), and one per process ("first_step": its startup
    and devices); [] where there is none."""
    path = Path(workdir) / "timing.jsonl"
    return [row for row, _ in parse_lines(path)] if path.exists() else []


def training_seconds(timing: list[dict]) -> float | None:
    """Wall time of the run's epochs (a resumed epoch counts once)."""
    seconds_by_epoch = {row["epoch"]: row["seconds"] for row in timing if "seconds" in row}
    return sum(seconds_by_epoch.values()) if seconds_by_epoch else None


def devices(timing: list[dict]) -> list[str]:
    """The devices each process of the run computed on ('1 x NVIDIA H200'), in order, each once; [] for
    runs from before timing.jsonl recorded them."""
    return list(dict.fromkeys(row["devices"] for row in timing if "devices" in row))


def provenance(timing: list[dict]) -> dict | None:
    """Each value of the software the run's processes recorded (jaxmnist.runtime.provenance), in order,
    each once, by field; None for runs from before timing.jsonl recorded it."""
    recorded = [row["provenance"] for row in timing if isinstance(row.get("provenance"), dict)]
    if not recorded:
        return None
    fields = dict.fromkeys(field for entry in recorded for field in entry)
    return {field: list(dict.fromkeys(entry.get(field) for entry in recorded)) for field in fields}


def plain(value):
    """ConfigDicts (and lists of them) as plain dicts and lists."""
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def registered_config(name: str):
    """The experiment's config as its file says now: a registered name, or a config file's path
    (as the run was started with it) while that file is still there; else None."""
    is_config_file = name.endswith(".py") and Path(name).is_file()
    if config_lib.current_name(name) not in config_lib.experiment_names() and not is_config_file:
        return None
    try:
        return config_lib.load_experiment(name)
    except UserError:
        return None


def reference_of(config: dict, registered) -> dict | None:
    """The notebook reference of a run (format: jaxmnist.report.reference)."""
    # The registered file's reference wins: corrections to the notebook record apply to old runs too.
    if registered is not None and "reference" in registered:
        return plain(registered.reference)
    return config.get("reference")
