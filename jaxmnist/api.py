"""jaxmnist from Python (a notebook, a script): the functions the commands call, returning what they print.

    config = load_experiment("net8k/net_bn", epochs=1, limit_train=2000)   # `jaxmnist train`'s options
    rows = train_experiment(config, "workdirs/smoke")   # metrics.jsonl's epoch rows; a rerun resumes
    evaluate("workdirs/smoke")                          # `jaxmnist evaluate --json`
    compare(["workdirs/smoke"])                         # `jaxmnist compare --json`

Bad input raises jaxmnist.UserError with the message the command line prints; SIGINT (a notebook's
interrupt) and SIGTERM save a checkpoint and raise jaxmnist.Interrupted.
"""

import argparse
import os

import jax
import ml_collections

from jaxmnist.errors import UserError
from jaxmnist.inference import evaluate as evaluate_lib
from jaxmnist.inference.load import load
from jaxmnist.report import compare as compare_lib
from jaxmnist.train import command
from jaxmnist.train.loop import Interrupted, train_and_evaluate

__all__ = ["Interrupted", "UserError", "compare", "evaluate", "load_experiment", "train_experiment"]


def load_experiment(name: str, overrides: dict | list[str] | None = None, seed: int | None = None,
                    epochs: int | None = None, limit_train: int | None = None, data_dir: str | None = None,
                    data_source: str | None = None, steps_per_dispatch: int | str | None = None
                    ) -> ml_collections.ConfigDict:
    """The config `jaxmnist train NAME` runs with these options.

    `name`: a registered experiment ('net8k/net_bn') or a config file's path. `overrides`: a dict of
    dotted keys to values ({'optimizer.learning_rate': 0.02}) or `--set`-style strings
    (['optimizer.learning_rate=0.02']). `epochs` and `limit_train` shorten the run, which is then
    never reported as a reproduction.
    """
    if isinstance(overrides, dict):
        assignments = [f"{key}={value!r}" for key, value in overrides.items()]
    elif isinstance(overrides, str):
        raise UserError(f"overrides must be a dict or a list of 'key=value' strings, got the string {overrides!r}")
    else:
        assignments = list(overrides or [])
    options = argparse.Namespace(experiment=name, set=assignments, seed=seed, epochs=epochs, limit_train=limit_train,
                                 data_dir=data_dir, data_source=data_source, steps_per_dispatch=steps_per_dispatch)
    return command.resolve_config(options)


def train_experiment(config: ml_collections.ConfigDict, workdir, force: bool = False,
                     cpu_devices: int | None = None) -> list[dict]:
    """Train `config` into `workdir` as `jaxmnist train` does; returns the epoch rows of metrics.jsonl.

    Calling it again with the same workdir resumes from the last checkpoint, or returns the rows of
    a complete run without training. `force` continues a workdir whose config differs;
    `cpu_devices` splits each batch over that many CPU devices (default: one per core), which only
    takes effect before JAX has run anything in this process.
    """
    try:
        command.prepare_process(cpu_devices)
    except RuntimeError:  # JAX already runs in this process (e.g. an earlier notebook cell)
        if cpu_devices is not None and cpu_devices != len(jax.devices("cpu")):
            raise UserError(f"cpu_devices={cpu_devices} must be set before JAX runs anything in this process: "
                            "call train_experiment first in a fresh process (a restarted kernel)") from None
    return train_and_evaluate(config, os.fspath(workdir), force=force)


def evaluate(path, split: str = "test", step: int | None = None, experiment: str | None = None,
             data_dir: str | None = None, data_source: str | None = None) -> dict:
    """Loss, accuracy, per-class accuracy and confusion matrix, as `jaxmnist evaluate --json` gives them.

    `path`: a training workdir, one of its checkpoints/N folders, or an import-torch checkpoint
    (with `experiment`). `split`: one of the config's eval names or a dataset split such as
    'train[48000:]'; `step`: a saved step (default: the latest).
    """
    evaluate_lib.prepare_process(path, step)
    return evaluate_lib.evaluate(load(path, experiment, step, data_dir, data_source), split)


def compare(workdirs) -> list[dict]:
    """Runs beside the notebooks' numbers, one row per experiment and status, as `jaxmnist compare --json`
    gives them. `workdirs`: workdirs, or folders holding them, or one of either."""
    paths = [workdirs] if isinstance(workdirs, (str, os.PathLike)) else list(workdirs)
    return compare_lib.compare(paths)
