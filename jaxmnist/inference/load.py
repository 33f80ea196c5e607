"""A trained or imported model, and the config saying how to evaluate it.

A model comes from one of
- a training workdir (config.json and checkpoints/): the run's config says the dataset, the
  evaluation preprocessing and the loss. `--step N` picks a saved step, by default the latest;
  a step's own folder (WORKDIR/checkpoints/N) names the same;
- a checkpoint directory written by `jaxmnist import-torch`: it holds only the variables (and
  the model's name), so `--experiment NAME` supplies the rest, and the experiment's model must
  be the checkpoint's.
"""

import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import ml_collections
import numpy as np

from jaxmnist import checkpoint, models, torch_port
from jaxmnist import config as config_lib
from jaxmnist.errors import UserError
from jaxmnist.report import runs
from jaxmnist.train.programs import Programs
from jaxmnist.train.steps import TrainState, model_variables

# Written by `jaxmnist import-torch` beside the variables: {"model": registry name}.
IMPORTED_MODEL_FILE = torch_port.MODEL_FILE


@dataclasses.dataclass
class LoadedModel:
    """A model's variables on the programs' devices and the config saying how to evaluate it."""

    config: ml_collections.ConfigDict
    programs: Programs
    state: TrainState  # params and batch_stats; no optimizer state
    step: int | None  # the checkpoint's step; None for an imported checkpoint
    source: str  # what the variables come from, for the reports
    imported: bool


# --- where the variables come from ------------------------------------------------------------

def locate(path) -> tuple[Path, int | None, bool]:
    """(directory, step named by the path, whether it is an imported checkpoint) of WORKDIR_OR_CHECKPOINT."""
    path = Path(path)
    if (path / "config.json").exists():
        return path, None, False
    if path.name.isdigit() and path.parent.name == "checkpoints" and (path.parent.parent / "config.json").exists():
        return path.parent.parent, int(path.name), False
    if (path / "_CHECKPOINT_METADATA").exists() or (path / IMPORTED_MODEL_FILE).exists():
        return path, None, True
    if not path.exists():
        raise UserError(f"{path} does not exist")
    raise UserError(f"{path} is neither a training workdir (no config.json) nor a checkpoint written by "
                    "`jaxmnist import-torch`")


def _chosen_step(workdir: Path, step: int | None) -> int:
    steps = checkpoint.saved_steps(workdir)
    if not steps:
        raise UserError(f"{workdir} has no checkpoint yet")
    if step is None:
        return steps[-1]
    if step not in steps:
        raise UserError(f"{workdir} has no checkpoint at step {step} (saved steps: {', '.join(map(str, steps))})")
    return step


def saved_device_count(path, step: int | None = None) -> int:
    """How many devices wrote a workdir's checkpoint (1 for an imported one or where unknown).

    Read from the checkpoint's progress JSON without JAX, so a CPU process can be given that many
    devices before JAX starts: the evaluation then sums over devices as training did.
    """
    directory, named_step, imported = locate(path)
    if imported:
        return 1
    try:
        chosen = _chosen_step(directory, step if step is not None else named_step)
        progress = checkpoint.Progress.from_json(json.loads(
            (directory / "checkpoints" / str(chosen) / "progress" / "metadata").read_text()))
        return max(1, int(progress.devices or 1))
    except (UserError, OSError, ValueError, TypeError, AttributeError):
        return 1  # the restore reports what is wrong with it


def _restore_workdir_state(workdir: Path, run_config, programs: Programs,
                           step: int | None) -> tuple[TrainState, int]:
    """(TrainState, step) of the chosen checkpoint; the latest readable one without `step`."""
    manager = checkpoint.open_manager(workdir, read_only=True)
    abstract = programs.abstract_state(run_config.seed)
    if step is None:
        restored = checkpoint.restore_latest(manager, abstract, set_aside_unreadable=False)
        if restored is None:
            raise UserError(f"{workdir} has no readable checkpoint")
        return restored[0], int(restored[0].step)
    try:
        return checkpoint.restore(manager, step, abstract)[0], step
    except checkpoint.UnusableCheckpoint as unusable:
        raise UserError(f"the checkpoint at step {step} of {workdir} {unusable.problem}") from None


def _variable_shapes(model: str, overrides: dict) -> dict:
    shapes = models.variable_shapes(models.create(model, **overrides))
    return {"params": shapes["params"], "batch_stats": shapes.get("batch_stats", {})}


def _same_shapes(variables: dict, model: str, overrides: dict) -> bool:
    expected = _variable_shapes(model, overrides)
    try:
        found = {"params": variables["params"], "batch_stats": variables.get("batch_stats") or {}}
    except (KeyError, TypeError):
        return False
    if jax.tree.structure(found) != jax.tree.structure(expected):
        return False
    return all(np.shape(a) == b.shape for a, b in zip(jax.tree.leaves(found), jax.tree.leaves(expected)))


def _experiments_of_model(model: str) -> list[str]:
    names = []
    for name in config_lib.experiment_names():
        try:
            if config_lib.load_experiment(name).model == model:
                names.append(name)
        except UserError:
            continue
    return names


def _imported_model_name(directory: Path) -> str | None:
    try:
        return models.canonical_name(json.loads((directory / IMPORTED_MODEL_FILE).read_text())["model"])
    except (OSError, ValueError, KeyError, TypeError, UserError):
        return None  # written before import-torch recorded the model: only the shapes are checked


def _experiment_config(experiment: str, data_dir, data_source) -> ml_collections.ConfigDict:
    config = config_lib.load_experiment(experiment)
    with config.unlocked():
        config.data_dir = data_dir
        config.data_source = data_source
    return config


def _program_devices(count: int) -> list:
    devices = jax.devices()
    return devices[:count] if len(devices) >= count else devices


def load(path, experiment: str | None = None, step: int | None = None, data_dir=None, data_source=None,
         devices: int | None = None) -> LoadedModel:
    """The model at `path` (workdir, one of its checkpoints/N folders, or an import-torch checkpoint).

    `experiment` replaces the run's config for the evaluation (its model must be the checkpoint's);
    an imported checkpoint needs it. `devices`: how many devices evaluate (default: as many as
    wrote the checkpoint, where there are that many).
    """
    directory, named_step, imported = locate(path)
    if step is not None and named_step is not None and step != named_step:
        raise UserError(f"{path} is the checkpoint of step {named_step}, but --step {step} was given")
    step = step if step is not None else named_step
    devices = _program_devices(devices or saved_device_count(path, step))
    if imported:
        return _load_imported(directory, experiment, step, data_dir, data_source, devices)
    run_config = ml_collections.ConfigDict(runs.run_config(directory))
    with run_config.unlocked():
        # By default the data the run was trained on.
        run_config.data_dir = data_dir or run_config.get("data_dir")
        run_config.data_source = data_source or run_config.get("data_source")
    if step is not None:
        _chosen_step(directory, step)  # a step that was never saved (or was removed) is named as such
    restore_programs = Programs(run_config, devices=devices)
    state, step = _restore_workdir_state(directory, run_config, restore_programs, step)
    config = run_config
    if experiment is not None:
        config = _experiment_config(experiment, run_config.data_dir, run_config.data_source)
        theirs = (config.model, dict(config.get("model_overrides", {})))
        ours = (run_config.model, dict(run_config.get("model_overrides", {})))
        if models.canonical_name(theirs[0]) != models.canonical_name(ours[0]) or theirs[1] != ours[1]:
            raise UserError(f"{directory} holds a '{ours[0]}' model{_overrides_text(ours[1])}, experiment "
                            f"'{experiment}' uses '{theirs[0]}'{_overrides_text(theirs[1])}")
    programs = Programs(config, devices=devices)
    return LoadedModel(config, programs, programs.with_model(state).replace(opt_state=None), step, str(directory),
                       imported=False)


def load_trained(workdir) -> tuple[ml_collections.ConfigDict, Any, dict]:
    """(config, module, variables) of the latest checkpoint in `workdir`, for pictures: a module to apply
    outside shard_map, on one device."""
    loaded = load(workdir, devices=1)
    module = models.create(loaded.config.model, **loaded.config.get("model_overrides", {}))
    return loaded.config, module, model_variables(loaded.state, loaded.state.params)


def _overrides_text(overrides: dict) -> str:
    return f" ({', '.join(f'{key}={value!r}' for key, value in overrides.items())})" if overrides else ""


def _load_imported(directory: Path, experiment, step, data_dir, data_source, devices) -> LoadedModel:
    recorded = _imported_model_name(directory)
    if step is not None:
        raise UserError(f"{directory} is an imported checkpoint with no steps: --step is for training workdirs")
    if experiment is None:
        hint = ""
        if recorded:
            candidates = _experiments_of_model(recorded)
            hint = f" (experiments with its model '{recorded}': {', '.join(candidates)})" if candidates else ""
        raise UserError(f"{directory} is an imported checkpoint without a config: pass --experiment NAME to say "
                        f"which dataset, preprocessing and loss to use{hint}")
    config = _experiment_config(experiment, data_dir, data_source)
    variables = torch_port.load_variables(directory)
    overrides = dict(config.get("model_overrides", {}))
    if recorded is not None and recorded != models.canonical_name(config.model):
        raise UserError(f"{directory} holds a '{recorded}' model, experiment '{experiment}' uses "
                        f"'{config.model}': pass an experiment of '{recorded}'")
    if not _same_shapes(variables, config.model, overrides):
        raise UserError(f"the variables in {directory} do not fit model '{config.model}' of experiment "
                        f"'{experiment}' (other layers or shapes)")
    programs = Programs(config, devices=devices)
    batch_stats = variables.get("batch_stats") or None
    state = programs.replicate(TrainState(step=np.int32(0), params=variables["params"], batch_stats=batch_stats,
                                          opt_state=None, apply_fn=programs.module.apply, tx=programs.tx,
                                          loss_name=programs.loss))
    return LoadedModel(config, programs, state, None, str(directory), imported=True)
