"""`jaxmnist schedule SPEC [--steps N]`: a schedule's rates, as a summary, JSON or a picture.

SPEC is a run's workdir or an experiment (its optimizer and schedule; by default over the whole run),
or a spec such as 'cosine(lr=1e-3,t_max=1000)'.
"""

import json
import re
from pathlib import Path

import numpy as np

from jaxmnist.config import load_experiment, parse_value
from jaxmnist.data import idx, pipeline
from jaxmnist.errors import UserError
from jaxmnist.optim import schedules, settings
from jaxmnist.report import plots, runs

_SPEC_PATTERN = re.compile(r"^\s*(\w+)\s*\((.*)\)\s*$", re.DOTALL)


def parse_schedule_spec(spec: str) -> tuple[dict, dict]:
    """'cosine(lr=1e-3,t_max=1000)' -> ({'learning_rate': 0.001}, {'name': 'cosine', 't_max': 1000}).

    Values are Python literals; bare words are strings (mode=triangular2); lr= sets the base rate.
    """
    match = _SPEC_PATTERN.match(spec)
    if not match:
        raise UserError(f"cannot parse schedule spec {spec!r}: expected NAME(key=value,...), "
                        "e.g. 'cosine(lr=1e-3,t_max=1000)'")
    name, arguments = match.groups()
    optimizer_config, schedule_config = {}, {"name": name}
    for argument in filter(None, (part.strip() for part in arguments.split(","))):
        key, separator, raw_value = (part.strip() for part in argument.partition("="))
        if not separator or not key.isidentifier():
            raise UserError(f"schedule spec {spec!r}: expected key=value, got {argument!r}")
        value = parse_value(raw_value)
        if key in ("lr", "learning_rate"):
            optimizer_config["learning_rate"] = value
        else:
            schedule_config[key] = value
    return optimizer_config, schedule_config


def steps_per_epoch(config) -> int:
    """The optimizer updates of one epoch of a config (or a workdir's config.json), from the datasets'
    published split sizes: no data are read."""
    split = config["train_split"]
    name = split.split("[")[0].strip()
    if name not in idx.OFFICIAL_COUNTS:
        raise UserError(f"train_split '{split}' is no split of {', '.join(idx.OFFICIAL_COUNTS)}: give --steps")
    _, start, stop = pipeline._slice_bounds(split, idx.OFFICIAL_COUNTS[name])
    examples = min(stop - start, config.get("limit_train") or stop - start)
    return -(-examples // config["batch_size"])


def _spec_configs(spec: str) -> tuple[dict, dict, int | None]:
    """(optimizer, schedule, the run's length in steps or None) of a workdir, an experiment or a schedule spec."""
    if "(" in spec:
        return *parse_schedule_spec(spec), None
    if Path(spec).is_dir():
        config = runs.run_config(spec)
    else:
        config = load_experiment(spec)
    if "optimizer" not in config:
        raise UserError(f"{spec} has no optimizer settings (config.optimizer)")
    run_steps = config["epochs"] * steps_per_epoch(config) \
        if all(key in config for key in ("epochs", "batch_size", "train_split")) else None
    return settings.as_dict(config["optimizer"]), settings.as_dict(config.get("schedule")), run_steps


def turning_points(learning_rates: np.ndarray) -> dict[int, str]:
    """{step: 'max' or 'min'} where the rate turns: the last step of a rise or a fall that the next
    change reverses (a cycle's peak or trough, the step before and after a restart)."""
    changes = np.diff(learning_rates.astype(np.float64))
    moving = np.flatnonzero(changes)
    directions = np.sign(changes[moving])
    turns = np.flatnonzero(directions[1:] != directions[:-1])
    return {int(moving[turn]) + 1: "max" if directions[turn] > 0 else "min" for turn in turns}


def schedule_command(args) -> int:
    """`jaxmnist schedule SPEC [--steps N] [--json] [--plot FILE.png]`."""
    if args.steps is not None and args.steps <= 0:
        raise UserError(f"--steps must be positive, got {args.steps}")
    optimizer_config, schedule_config, run_steps = _spec_configs(args.spec)
    steps = args.steps if args.steps is not None else run_steps
    if steps is None:
        raise UserError(f"give --steps: {args.spec} says nothing of how many steps a run takes")
    description = schedules.describe(optimizer_config, schedule_config)
    schedule = schedules.learning_rate_schedule(optimizer_config, schedule_config)
    learning_rates = np.asarray(schedule(np.arange(steps)), np.float32)
    if args.plot:
        is_experiment = "(" not in args.spec
        plots.plot_schedule(args.plot, learning_rates, f"{args.spec}: {description}" if is_experiment else description)
    if args.json:
        print(json.dumps({"spec": args.spec, "schedule": description, "steps": steps,
                          "learning_rates": [float(str(rate)) for rate in learning_rates]}))
        return 0
    lowest, highest = int(np.argmin(learning_rates)), int(np.argmax(learning_rates))
    whole_run = ", the whole run" if args.steps is None else ""
    print(f"schedule  {description}")
    print(f"steps     {steps}{whole_run} (0 .. {steps - 1}; step k is the rate of optimizer update k)")
    print(f"first     {learning_rates[0]:.6e}    last {learning_rates[-1]:.6e}")
    print(f"min       {learning_rates[lowest]:.6e} at step {lowest}")
    print(f"max       {learning_rates[highest]:.6e} at step {highest}")
    # Evenly spaced steps alone can fall on the same phase of every cycle: each turn is shown too.
    turns = turning_points(learning_rates)
    evenly_spaced = np.linspace(0, steps - 1, 9).round().astype(int).tolist()
    print(f"{'step':>10}  learning rate")
    for step in sorted({*evenly_spaced, *turns}):
        print(f"{step:>10}  {learning_rates[step]:.6e}  {turns.get(step, '')}".rstrip())
    if args.plot:
        print(f"plot      {args.plot}")
    return 0
