"""Experiment configs: small Python files with `get_config() -> ml_collections.ConfigDict`.

As in Flax's examples and big_vision, the config file *is* the experiment record.
`load_experiment` accepts a registered name (a path below `experiments/`, without
`.py`, e.g. `net8k/net_bn`) or a path to any config file.
"""

import importlib.util
import math
from pathlib import Path

import ml_collections

from jaxmnist.errors import UserError, closest_names, did_you_mean

EXPERIMENTS_DIR = Path(__file__).resolve().parent.parent / "experiments"


def experiment_names() -> list[str]:
    """Registered experiment names, e.g. ['activations/def_net', ...]."""
    return sorted(
        str(path.relative_to(EXPERIMENTS_DIR).with_suffix(""))
        for path in EXPERIMENTS_DIR.rglob("*.py")
        if not path.name.startswith("_"))


# Groups renamed to say what they hold (notebook 002's 8k-parameter Net; notebook 004's CNN and
# its feature maps): names recorded under the former ones still load, compare and resume.
RENAMED_GROUPS = {"tiny/": "net8k/", "report/": "feature_maps/"}


def current_name(name: str) -> str:
    """The registered name of an experiment, also when given under a group's former name."""
    for old, new in RENAMED_GROUPS.items():
        if name.startswith(old):
            return new + name[len(old):]
    return name


def _config_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix == ".py":
        if not path.is_file():
            raise UserError(f"config file {name_or_path} does not exist")
        return path
    registered = EXPERIMENTS_DIR / f"{current_name(name_or_path)}.py"
    if not registered.is_file():
        suggestion = did_you_mean(closest_names(name_or_path, experiment_names(), separator="/"))
        raise UserError(f"unknown experiment '{name_or_path}'{suggestion}: `jaxmnist experiments` lists them all")
    return registered


def load_experiment(name_or_path: str) -> ml_collections.ConfigDict:
    path = _config_path(name_or_path)
    spec = importlib.util.spec_from_file_location(f"jaxmnist_experiment_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise UserError(f"{path}, line {error.lineno}: {error.msg}: fix the config file") from None
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror}") from None
    except Exception as error:  # noqa: BLE001 - the config file's own code failed: its author's to fix
        raise UserError(f"{path} failed when loaded{_where(error, path)}: {type(error).__name__}: {error}") from None
    if not callable(getattr(module, "get_config", None)):
        raise UserError(f"{path} has no get_config() function")
    try:
        config = module.get_config()
    except Exception as error:  # noqa: BLE001 - as above
        raise UserError(f"get_config() of {path} failed{_where(error, path)}: {type(error).__name__}: {error}") \
            from None
    if not isinstance(config, ml_collections.ConfigDict):
        raise UserError(f"get_config() of {path} returned {type(config).__name__}, not an ml_collections.ConfigDict")
    config.experiment = str(path.resolve().relative_to(EXPERIMENTS_DIR).with_suffix("")) \
        if path.resolve().is_relative_to(EXPERIMENTS_DIR) else str(path)
    return config


def _where(error: BaseException, path: Path) -> str:
    """' (line N)' of the innermost frame of `error` inside the config file at `path`, or ''."""
    import traceback

    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if Path(frame.filename).resolve() == path.resolve()]
    return f" (line {lines[-1]})" if lines else ""


def parse_value(text: str):
    """A Python literal (1e-3, True, [1, 2]) or, where the text is none, the text itself (a bare word)."""
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def apply_overrides(config: ml_collections.ConfigDict, assignments: list[str]) -> ml_collections.ConfigDict:
    """Apply `key=value` strings (dotted keys; values parsed as Python literals when possible)."""
    for assignment in assignments:
        key, separator, raw_value = assignment.partition("=")
        if not separator or not key:
            raise UserError(f"--set expects KEY=VALUE, got '{assignment}'")
        value = parse_value(raw_value)
        node = config
        *parents, leaf = key.split(".")
        for part in parents:
            if not isinstance(node, ml_collections.ConfigDict) or part not in node:
                raise _unknown_key(config, key, assignment)
            node = node[part]
        # A model override may be any attribute of the model (its check names the unknown ones), and
        # a config of one's own may leave out the optional keys.
        adds_model_override = parents == ["model_overrides"] and isinstance(node, ml_collections.ConfigDict)
        adds_optional_key = not parents and leaf in DEFAULTS
        if not isinstance(node, ml_collections.ConfigDict) or (
                leaf not in node and not adds_model_override and not adds_optional_key):
            raise _unknown_key(config, key, assignment)
        try:
            node[leaf] = value
        except TypeError:
            raise UserError(f"--set {assignment}: {key} takes {_value_kind(node[leaf], key)}, "
                            f"got {raw_value.strip()!r}") from None
    return config


def _value_kind(current, key: str) -> str:
    """What a key holding `current` accepts, in words: 'a whole number', 'a dict (or --set optimizer.KEY=VALUE)'."""
    if isinstance(current, ml_collections.ConfigDict):
        return f"a dict (or --set {key}.KEY=VALUE)"
    kinds = {bool: "True or False", int: "a whole number", float: "a number", str: "a word or quoted text"}
    return kinds.get(type(current), type(current).__name__)


def dotted_items(tree, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) of every key of a config or plain dict, sections and the keys inside them:
    ('optimizer', {...}), ('optimizer.learning_rate', 0.01), ..."""
    items = []
    for key, value in tree.items():
        items.append((prefix + key, value))
        if isinstance(value, (dict, ml_collections.ConfigDict)):
            items += dotted_items(value, f"{prefix}{key}.")
    return items


def _unknown_key(config: ml_collections.ConfigDict, key: str, assignment: str) -> UserError:
    suggestion = did_you_mean(closest_names(key, [name for name, _ in dotted_items(config)]))
    return UserError(f"--set {assignment}: the config has no key '{key}'{suggestion}; "
                     "`jaxmnist config EXPERIMENT` lists every key")


# Keys every training config sets; the others are optional (DEFAULTS, and the keys runs read as off when absent).
REQUIRED_KEYS = ("dataset", "train_split", "train_pp", "shuffle", "eval", "model", "loss", "optimizer",
                 "batch_size", "eval_batch_size", "epochs", "seed")
# The values of the optional keys that a run does not read as off when a config leaves them out
# (jaxmnist.recipes.base writes them into every experiment's config).
DEFAULTS = {
    "log_every_steps": 100,
    "checkpoint_every_steps": 0,  # at the end of each epoch only: every epoch here is short
    # An epoch's end saves once this many seconds have passed since the last save (0: every epoch's end).
    "checkpoint_every_seconds": 0.0,
    "keep_checkpoints": 2,
    "model_overrides": {},
    "schedule": {"name": "constant"},
    "matmul_precision": "highest",  # every dot and convolution in float32, as the notebooks ran
}
# How a user sets a key from the command line, for the fix an error message suggests.
_SET_BY_FLAG = {"epochs": "--epochs N", "limit_train": "--limit-train N", "steps_per_dispatch": "--steps-per-dispatch K"}


# The allowed values of the keys whose owners read them by name: jaxmnist.data.prepare (dataset),
# jaxmnist.train.steps (loss), jaxmnist.train.programs (matmul_precision).
DATASETS = ("mnist", "fashion_mnist")
LOSSES = ("nll", "cross_entropy", "cross_entropy_on_probabilities")
MATMUL_PRECISIONS = ("highest", "tensorfloat32", "bfloat16")
# torch's cyclic schedulers set the optimizer's rate themselves, ignoring optimizer.learning_rate.
RATE_SETTING_SCHEDULES = ("cyclic", "one_cycle")
# Keys that leave every number a run computes unchanged: where its data is read from, the notebook's
# reference, how many steps one program runs, whether it is labelled shortened (runs given their
# configured --epochs were, before that left them unlabelled) and how often in time it saves. A
# resumed run may change them.
NOT_COMPUTED_KEYS = ("data_dir", "data_source", "reference", "steps_per_dispatch", "shortened",
                     "checkpoint_every_seconds")
# Keys that say which run of a recipe this is, how far it goes and what it keeps, not the recipe:
# a run that changes only these is no modified recipe (a shortened one is labelled as such).
RUN_KEYS = ("experiment", "seed", "epochs", "limit_train", "shortened", "log_every_steps", "keep_checkpoints",
            "checkpoint_every_steps", "best_split")
# Recipe keys that configs saved before they existed lack; such a run computed with this value.
ADDED_KEY_DEFAULTS = {"matmul_precision": DEFAULTS["matmul_precision"]}


def recorded(config: dict) -> dict:
    """`config` (a plain dict) as config.json records it: missing recipe keys at the value runs
    without them computed with, and no optimizer.learning_rate where the schedule sets the rate."""
    config = {**ADDED_KEY_DEFAULTS, **config}
    schedule, optimizer = config.get("schedule"), config.get("optimizer")
    if not (isinstance(schedule, dict) and schedule.get("name") in RATE_SETTING_SCHEDULES
            and isinstance(optimizer, dict)):
        return config
    return {**config, "optimizer": {key: value for key, value in optimizer.items() if key != "learning_rate"}}


def changed_keys(saved: dict, current: dict, ignore: tuple[str, ...] = NOT_COMPUTED_KEYS) -> list[str]:
    """The keys whose recorded values differ between two configs (plain dicts), except `ignore`."""
    saved, current = recorded(saved), recorded(current)
    return sorted(key for key in set(saved) | set(current) if key not in ignore and saved.get(key) != current.get(key))


def changed_recipe_keys(run: dict, experiment: dict) -> list[str]:
    """The recipe keys a run changed from its experiment file (e.g. with --set)."""
    return changed_keys(run, experiment, NOT_COMPUTED_KEYS + RUN_KEYS)


def changed_recipe_values(run: dict, experiment: dict) -> list[str]:
    """'key=value' of each recipe value a run changed from its experiment file, a section's keys
    one by one: e.g. ['optimizer.learning_rate=0.02'], so that the runs of a sweep stay apart."""
    run, experiment = recorded(run), recorded(experiment)
    changed = []
    for key in changed_recipe_keys(run, experiment):
        value, original = run.get(key), experiment.get(key)
        if isinstance(value, dict) and isinstance(original, dict) and value:
            changed += [f"{key}.{inner}={value[inner]}" for inner in sorted(value)
                        if value[inner] != original.get(inner)]
            changed += [f"{key}.{inner} unset" for inner in sorted(set(original) - set(value))]
        else:
            changed.append(f"{key}={value}")
    return changed


def _whole_number(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def validate(config: ml_collections.ConfigDict):
    """Raise one UserError naming the first bad value of a training config and how to set it.

    Runs before a run writes anything, so a bad value never reaches a workdir's config.json. The
    model and the optimizer and schedule sections are checked by their owners (jaxmnist.models.create,
    jaxmnist.optim.create_optimizer) when jaxmnist.train builds them, before it writes anything.
    """
    source = config.get("experiment") or "the config"
    missing = [key for key in REQUIRED_KEYS if key not in config]
    if missing:
        raise UserError(f"{source} lacks the key{'s' if len(missing) > 1 else ''} {', '.join(missing)}: "
                        "add them to its get_config()")

    def bad(key: str, requirement: str, value):
        fix = _SET_BY_FLAG.get(key, f"--set {key}=...")
        return UserError(f"{key} must be {requirement}, got {value!r}: fix it in {source} or with {fix}")

    for key, minimum in (("batch_size", 1), ("eval_batch_size", 1), ("epochs", 1), ("seed", 0),
                         ("log_every_steps", 0), ("checkpoint_every_steps", 0), ("keep_checkpoints", 1)):
        value = config.get(key, minimum)
        if not _whole_number(value, minimum):
            raise bad(key, f"a whole number of at least {minimum}", value)
    if config.get("limit_train") is not None and not _whole_number(config.limit_train, 1):
        raise bad("limit_train", "a whole number of at least 1", config.limit_train)
    every_seconds = config.get("checkpoint_every_seconds", 0.0)
    if (isinstance(every_seconds, bool) or not isinstance(every_seconds, (int, float))
            or not 0 <= every_seconds < math.inf):
        raise bad("checkpoint_every_seconds", "a number of seconds of at least 0", every_seconds)
    steps = config.get("steps_per_dispatch")
    if steps is not None and steps != "epoch" and not _whole_number(steps, 1):
        raise bad("steps_per_dispatch", "a whole number of at least 1 or 'epoch'", steps)
    if not isinstance(config.shuffle, bool):
        raise bad("shuffle", "True or False", config.shuffle)
    if config.dataset not in DATASETS:
        raise bad("dataset", f"one of {', '.join(DATASETS)}", config.dataset)
    if config.loss not in LOSSES:
        raise bad("loss", f"one of {', '.join(LOSSES)}", config.loss)
    precision = config.get("matmul_precision", ADDED_KEY_DEFAULTS["matmul_precision"])
    if precision not in MATMUL_PRECISIONS:
        raise bad("matmul_precision", f"one of {', '.join(MATMUL_PRECISIONS)}", precision)
    for key in ("train_split", "train_pp"):
        if not isinstance(config[key], str):
            raise bad(key, "a string", config[key])
    if not isinstance(config.eval, ml_collections.ConfigDict) or not config.eval:
        raise bad("eval", "a dict of split names to {'split': ..., 'pp': ...}", config.eval)
    for name, spec in config.eval.items():
        if not isinstance(spec, ml_collections.ConfigDict) or not isinstance(spec.get("split"), str) \
                or not isinstance(spec.get("pp"), str):
            raise bad(f"eval.{name}", "a dict with the strings 'split' and 'pp'", spec)
    best = config.get("best_split")
    if best is not None and best not in config.eval:
        raise bad("best_split", f"None or one of the eval splits ({', '.join(config.eval)})", best)
    overrides = config.get("model_overrides") or {}
    if not isinstance(overrides, (dict, ml_collections.ConfigDict)):
        raise bad("model_overrides", "a dict", overrides)
