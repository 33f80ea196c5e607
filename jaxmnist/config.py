"""Experiment configs: small Python files with `get_config() -> ml_collections.ConfigDict`.

As in Flax's examples and big_vision, the config file *is* the experiment record.
`load_experiment` accepts a registered name (a path below `experiments/`, without
`.py`, e.g. `tiny/net_bn`) or a path to any config file.
"""

import importlib.util
from pathlib import Path

import ml_collections

from jaxmnist.errors import UserError

EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "experiments"


def experiment_names() -> list[str]:
    """Registered experiment names, e.g. ['activations/def_net', ...]."""
    return sorted(
        str(path.relative_to(EXPERIMENTS_DIR).with_suffix(""))
        for path in EXPERIMENTS_DIR.rglob("*.py")
        if not path.name.startswith("_"))


def _config_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".py":
        if not path.is_file():
            raise UserError(f"config file {name_or_path} does not exist")
        return path
    registered = EXPERIMENTS_DIR / f"{name_or_path}.py"
    if not registered.is_file():
        raise UserError(f"unknown experiment '{name_or_path}' "
                        f"(known: {', '.join(experiment_names()) or 'none'})")
    return registered


def load_experiment(name_or_path: str) -> ml_collections.ConfigDict:
    path = _config_path(name_or_path)
    spec = importlib.util.spec_from_file_location(f"jaxmnist_experiment_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise UserError(f"{path} has no get_config() function")
    config = module.get_config()
    config.experiment = str(path.relative_to(EXPERIMENTS_DIR).with_suffix("")) \
        if path.resolve().is_relative_to(EXPERIMENTS_DIR) else str(path)
    return config


def apply_overrides(config: ml_collections.ConfigDict, assignments: list[str]) -> ml_collections.ConfigDict:
    """Apply `key=value` strings (dotted keys; values parsed as Python literals when possible)."""
    import ast

    for assignment in assignments:
        key, separator, raw_value = assignment.partition("=")
        if not separator or not key:
            raise UserError(f"--set expects KEY=VALUE, got '{assignment}'")
        try:
            value = ast.literal_eval(raw_value)
        except (ValueError, SyntaxError):
            value = raw_value
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            if part not in node:
                raise UserError(f"--set {assignment}: the config has no key '{key}'")
            node = node[part]
        if leaf not in node:
            raise UserError(f"--set {assignment}: the config has no key '{key}'")
        try:
            node[leaf] = value
        except TypeError as error:
            raise UserError(f"--set {assignment}: {error}") from None
    return config
