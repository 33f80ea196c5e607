"""The config a workdir records (config.json), and the check that a run continues its workdir's config."""

import json
from pathlib import Path

import jax
import ml_collections

from jaxmnist import checkpoint, models, optim
from jaxmnist.data import augment
from jaxmnist import config as config_lib
from jaxmnist import workdir as workdir_lib
from jaxmnist.errors import UserError
from jaxmnist.train import programs


def check_run(config: ml_collections.ConfigDict):
    """Raise one UserError naming the first bad value of a run's config, before anything is written:
    its keys (config.validate), then the sections their owners check (preprocessing specs, model
    overrides, optimizer)."""
    config_lib.validate(config)
    _check_sections(config)


def _check_sections(config: ml_collections.ConfigDict):
    for spec in (*(split.pp for split in config.eval.values()), config.train_pp):
        augment.parse(spec, train_stats=(0.5, 0.5))
    models.check_overrides(config.model, config.get("model_overrides") or {})
    optim.create_optimizer(config)


def recorded_text(config: ml_collections.ConfigDict) -> str:
    """The config.json a run of `config` writes: its recorded values as sorted, indented JSON."""
    return json.dumps(config_lib.recorded(json.loads(config.to_json_best_effort())), indent=2, sort_keys=True) + "\n"


# What the runs of one group may set each their own way: the model and the optimizer are chosen per
# run inside the program (models of one shape: `programs.model_choices`).
GROUP_RUN_KEYS = ("seed", "optimizer", "schedule", "model", "model_overrides", "experiment", "reference")


def check_group(configs: list[ml_collections.ConfigDict], workdirs: list | None = None):
    """One UserError if the runs cannot train as one group: a bad config, a workdir named twice,
    or configs that differ in more than their seeds, models of one shape and optimizer numbers."""
    if not configs:
        raise UserError("no run to train")
    # The sections' checks trace the model (tens of ms): runs that differ only in their seed share them.
    differing_in_more_than_seed = {}
    for config in configs:
        config_lib.validate(config)
        differing_in_more_than_seed.setdefault(json.dumps(_recorded_without(config, ("seed",))), config)
    for config in differing_in_more_than_seed.values():
        _check_sections(config)
    workdirs = workdirs or []
    resolved = [Path(workdir).resolve() for workdir in workdirs]
    if len(set(resolved)) != len(resolved):
        raise UserError("each run of a group needs its own workdir; "
                        f"{next(str(w) for w, r in zip(workdirs, resolved) if resolved.count(r) > 1)} is named twice")
    kept = configs[0].get("keep_checkpoints", 2)
    if len(configs) > 1 and kept < 2:
        raise UserError(f"a group keeps at least 2 checkpoints a run, not keep_checkpoints={kept}: killed between "
                        "its runs' saves, it resumes from the step before (--set keep_checkpoints=2)")
    first = _recorded_without(configs[0], GROUP_RUN_KEYS)
    for config in configs[1:]:
        differing = config_lib.changed_keys(first, _recorded_without(config, GROUP_RUN_KEYS))
        if differing:
            raise UserError("runs of a group may differ only in their seeds, their models of one shape and "
                            f"their optimizer and schedule numbers; these differ in {', '.join(differing)}")
    programs.model_choices(configs)
    programs.optimizer_choices(configs)


def _recorded_without(config: ml_collections.ConfigDict, keys: tuple[str, ...]) -> dict:
    """The recorded config without `keys` (what the runs of a group share: without `GROUP_RUN_KEYS`)."""
    recorded = json.loads(recorded_text(config))
    for key in keys:
        recorded.pop(key, None)
    return recorded


def check_config(workdir: Path, config: ml_collections.ConfigDict, force: bool) -> str:
    """The config.json a run of `config` writes in `workdir`; writes nothing.

    Refuses to continue a workdir with another config (its checkpoints belong to that one), and
    checkpoints whose config.json is damaged or gone: nothing says which config they belong to.
    `force` continues them all the same where the newest checkpoint's state has the shapes and
    structure of this config's; where it has not, or there is none, nothing can continue it.
    """
    saved_path = workdir / "config.json"
    text = recorded_text(config)
    current = json.loads(text)
    other_run = None  # why the workdir's run may not be this config's
    if saved_path.exists():
        try:
            saved = json.loads(saved_path.read_text())
        except (ValueError, UnicodeDecodeError):
            saved = None
        except OSError as error:
            raise workdir_lib.filesystem_error(error, saved_path) or UserError(
                f"cannot read {saved_path}: {error.strerror}") from None
        if not isinstance(saved, dict):
            other_run = f"{saved_path} is damaged (not a JSON object)"
        else:
            saved = config_lib.recorded(saved)  # as written before it left unused rates out
            if isinstance(saved.get("experiment"), str):
                saved["experiment"] = config_lib.current_name(saved["experiment"])
            differing = config_lib.changed_keys(saved, current)
            if differing:
                details = "; ".join(f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in differing)
                other_run = f"{workdir} holds a run with a different config ({details})"
    elif checkpoint.saved_steps(workdir):
        other_run = f"{workdir} holds checkpoints but no config.json, so nothing says which config they belong to"
    if other_run is None:
        return text
    misfit = _state_misfit(workdir, config)
    if misfit is None:
        if force:
            return text
        raise UserError(f"{other_run}. Rerun with --force to continue its checkpoints with this config, or use "
                        "another --workdir")
    raise UserError(f"{other_run}, and {misfit}: use another --workdir")


def _state_misfit(workdir: Path, config: ml_collections.ConfigDict) -> str | None:
    """Why a run of `config` cannot continue the workdir's newest checkpoint, or None if it can."""
    saved = checkpoint.saved_state_shapes(workdir)
    if saved is None:
        return "it has no readable checkpoint to continue"
    engine = programs.Programs(config, devices=jax.local_devices()[:1])
    wanted = checkpoint.state_shapes(engine.abstract_state(config.seed))
    if saved == wanted:
        return None
    path = next(path for path in sorted(set(saved) | set(wanted)) if saved.get(path) != wanted.get(path))

    def describe(entry):
        return "absent" if entry is None else f"{entry[1]}{list(entry[0])}"

    return (f"its checkpoints hold another model or optimizer state ({'/'.join(path)}: {describe(saved.get(path))} "
            f"there, {describe(wanted.get(path))} in this config)")
