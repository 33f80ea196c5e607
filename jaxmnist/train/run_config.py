"""The config a workdir records (config.json), and the check that a run continues its workdir's config."""

import json
from pathlib import Path

import ml_collections

from jaxmnist import checkpoint
from jaxmnist import config as config_lib
from jaxmnist import workdir as workdir_lib
from jaxmnist.errors import UserError


def recorded_text(config: ml_collections.ConfigDict) -> str:
    """The config.json a run of `config` writes: its recorded values as sorted, indented JSON."""
    return json.dumps(config_lib.recorded(json.loads(config.to_json_best_effort())), indent=2, sort_keys=True) + "\n"


def check_config(workdir: Path, config: ml_collections.ConfigDict, force: bool) -> str:
    """The config.json a run of `config` writes in `workdir`; writes nothing.

    Refuses to continue a workdir with another config (its checkpoints belong to that one), and
    checkpoints whose config.json is damaged or gone: nothing says which config they belong to.
    """
    saved_path = workdir / "config.json"
    text = recorded_text(config)
    current = json.loads(text)
    if force:
        return text
    continue_anyway = "Rerun with --force to continue its checkpoints with this config, or use another --workdir"
    if saved_path.exists():
        try:
            saved = json.loads(saved_path.read_text())
        except (ValueError, UnicodeDecodeError):
            saved = None
        except OSError as error:
            raise workdir_lib.filesystem_error(error, saved_path) or UserError(
                f"cannot read {saved_path}: {error.strerror}") from None
        if not isinstance(saved, dict):
            raise UserError(f"{saved_path} is damaged (not a JSON object). {continue_anyway}")
        saved = config_lib.recorded(saved)  # as written before it left unused rates out
        if isinstance(saved.get("experiment"), str):
            saved["experiment"] = config_lib.current_name(saved["experiment"])
        differing = config_lib.changed_keys(saved, current)
        if differing:
            details = "; ".join(f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in differing)
            raise UserError(f"{workdir} holds a run with a different config ({details}). Use another "
                            "--workdir, or --force to continue it with the new config")
    elif checkpoint.saved_steps(workdir):
        raise UserError(f"{workdir} holds checkpoints but no config.json, so nothing says which config they "
                        f"belong to. {continue_anyway}")
    return text
