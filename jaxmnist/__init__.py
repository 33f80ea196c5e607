"""jaxmnist: the notebooks' experiments in JAX/Flax. From Python: load_experiment, train_experiment,
evaluate and compare (jaxmnist.api), imported on first use so that `jaxmnist --help` stays fast."""

import sys
import types

__version__ = "0.1.0"

# TensorBoard's event writer does its file I/O through TensorFlow when TensorFlow is installed
# (seconds of import and TF's C++ log lines in every run); `tensorboard.compat.notf` is TensorBoard's
# own switch to its TensorFlow-free stub, which writes the same files.
sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))

_API = ("Interrupted", "UserError", "compare", "evaluate", "load_experiment", "train_experiment")


def __getattr__(name: str):
    if name in _API:
        from jaxmnist import api

        return getattr(api, name)
    raise AttributeError(f"module 'jaxmnist' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
