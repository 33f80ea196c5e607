"""Reading and checking the `optimizer` and `schedule` sections of a config.

Every bad value becomes one UserError naming the key, e.g. "schedule.t_max must be an integer >= 1".
"""

import math
import numbers
from collections.abc import Mapping

from jaxmnist.errors import UserError

# Marks a parameter that has no default: the config must set it.
REQUIRED = object()

# torch.optim's default rate of SGD, Adam and AdamW; also the base rate a spec without lr= gets.
DEFAULT_LEARNING_RATE = 1e-3


def as_dict(section) -> dict:
    if section is None:
        return {}
    if hasattr(section, "to_dict"):  # ml_collections.ConfigDict
        return section.to_dict()
    if not isinstance(section, Mapping):
        raise UserError(f"expected a dict of settings, got {section!r}")
    return dict(section)


def resolve(section_name: str, section, defaults_by_name: dict, default_name=None) -> tuple[str, dict]:
    """Return (name, parameters with defaults filled in) of a config section, or raise UserError."""
    parameters = as_dict(section)
    name = parameters.pop("name", default_name)
    if name is None:
        raise UserError(f"{section_name}.name is required (one of: {', '.join(defaults_by_name)})")
    if name not in defaults_by_name:
        raise UserError(f"unknown {section_name}.name {name!r} "
                        f"(known: {', '.join(defaults_by_name)})")
    defaults = defaults_by_name[name]
    for key in parameters:
        if key not in defaults:
            raise UserError(f"{section_name}.{key}: {section_name} {name!r} has no parameter {key!r} "
                            f"(known: {', '.join(defaults) or 'none'})")
    resolved = {**defaults, **parameters}
    for key, value in resolved.items():
        if value is REQUIRED:
            raise UserError(f"{section_name}.{key} is required by {section_name} {name!r}")
    return name, resolved


def _fail(key: str, requirement: str, value):
    raise UserError(f"{key} must be {requirement}, got {value!r}")


def number(key: str, value, *, minimum=None, above=None, maximum=None, below=None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        _fail(key, "a number", value)
    if minimum is not None and value < minimum:
        _fail(key, f">= {minimum}", value)
    if above is not None and value <= above:
        _fail(key, f"> {above}", value)
    if maximum is not None and value > maximum:
        _fail(key, f"<= {maximum}", value)
    if below is not None and value >= below:
        _fail(key, f"< {below}", value)
    return float(value)


def integer(key: str, value, *, minimum: int) -> int:
    # Integral floats are accepted because overrides such as `--set schedule.t_max=1e3` parse as floats.
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) and float(value).is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        _fail(key, f"an integer >= {minimum}", value)
    return int(value)


def choice(key: str, value, choices: tuple):
    if value not in choices:
        _fail(key, f"one of {', '.join(map(repr, choices))}", value)
    return value


def boolean(key: str, value) -> bool:
    if not isinstance(value, bool):
        _fail(key, "True or False", value)
    return value
