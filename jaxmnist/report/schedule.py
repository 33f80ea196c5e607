"""`jaxmnist schedule SPEC --steps N`: a schedule's rates, as a summary, JSON or a picture.

SPEC is an experiment (its optimizer and schedule) or a spec such as 'cosine(lr=1e-3,t_max=1000)'.
"""

import json
import re

import numpy as np

from jaxmnist.config import load_experiment, parse_value
from jaxmnist.errors import UserError
from jaxmnist.optim import schedules, settings
from jaxmnist.report import plots

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


def _spec_configs(spec: str) -> tuple[dict, dict]:
    if "(" not in spec:
        config = load_experiment(spec)
        if "optimizer" not in config:
            raise UserError(f"experiment {spec} has no optimizer settings (config.optimizer)")
        return settings.as_dict(config.optimizer), settings.as_dict(config.get("schedule"))
    return parse_schedule_spec(spec)


def schedule_command(args) -> int:
    """`jaxmnist schedule SPEC --steps N [--json] [--plot FILE.png]`."""
    if args.steps <= 0:
        raise UserError(f"--steps must be positive, got {args.steps}")
    optimizer_config, schedule_config = _spec_configs(args.spec)
    description = schedules.describe(optimizer_config, schedule_config)
    schedule = schedules.learning_rate_schedule(optimizer_config, schedule_config)
    learning_rates = np.asarray(schedule(np.arange(args.steps)), np.float32)
    if args.plot:
        is_experiment = "(" not in args.spec
        plots.plot_schedule(args.plot, learning_rates, f"{args.spec}: {description}" if is_experiment else description)
    if args.json:
        print(json.dumps({"spec": args.spec, "schedule": description, "steps": args.steps,
                          "learning_rates": [float(str(rate)) for rate in learning_rates]}))
        return 0
    lowest, highest = int(np.argmin(learning_rates)), int(np.argmax(learning_rates))
    print(f"schedule  {description}")
    print(f"steps     {args.steps} (0 .. {args.steps - 1}; step k is the rate of optimizer update k)")
    print(f"first     {learning_rates[0]:.6e}    last {learning_rates[-1]:.6e}")
    print(f"min       {learning_rates[lowest]:.6e} at step {lowest}")
    print(f"max       {learning_rates[highest]:.6e} at step {highest}")
    print(f"{'step':>10}  learning rate")
    for step in sorted(set(np.linspace(0, args.steps - 1, 9).round().astype(int).tolist())):
        print(f"{step:>10}  {learning_rates[step]:.6e}")
    if args.plot:
        print(f"plot      {args.plot}")
    return 0
