"""PyTorch state_dict <-> Flax variables for every registry model, and `jaxmnist import-torch`.

The Flax modules are named so that a variable's path is its state_dict key: 'block1/1/kernel'
is 'block1.1.weight'. Only the layouts differ: conv kernels HWIO vs OIHW, Linear kernels
(in, out) vs (out, in). BatchNorm's num_batches_tracked is ignored (it only matters for
momentum=None, which no notebook uses) and torch fills it in when loading.

torch is an optional dependency: it is imported only to read .pt files and by `to_torch`.
"""

import json
import warnings
import zipfile
from pathlib import Path

import jax
import numpy as np

from jaxmnist import models
from jaxmnist.errors import UserError

# (collection, Flax leaf name) -> state_dict suffix
_TORCH_SUFFIX = {
    ("params", "kernel"): "weight",
    ("params", "bias"): "bias",
    ("params", "scale"): "weight",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}
_IGNORED_SUFFIX = "num_batches_tracked"
# Beside the variables of an imported checkpoint: {"model": registry name}, so that evaluating it
# with an experiment of another model with the same shapes (def_net, sig_net) is refused.
MODEL_FILE = "jaxmnist_model.json"


def _to_torch_layout(array):
    if array.ndim == 4:  # conv kernel HWIO -> OIHW
        return np.transpose(array, (3, 2, 0, 1))
    if array.ndim == 2:  # Linear kernel (in, out) -> (out, in)
        return array.T
    return array


def _from_torch_layout(array):
    if array.ndim == 4:  # OIHW -> HWIO
        return np.transpose(array, (2, 3, 1, 0))
    if array.ndim == 2:
        return array.T
    return array


def _torch_shape(shape):
    return tuple(_to_torch_layout(np.empty(shape, np.int8)).shape)


def _leaves(name: str):
    """(Flax path, state_dict key, torch shape) of every variable of model `name`."""
    flat = jax.tree_util.tree_flatten_with_path(models.abstract_variables(name))[0]
    for path, leaf in flat:
        keys = tuple(entry.key for entry in path)
        collection, *module_path, leaf_name = keys
        torch_key = ".".join([*module_path, _TORCH_SUFFIX[collection, leaf_name]])
        yield keys, torch_key, _torch_shape(leaf.shape)


def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _set(tree: dict, path: tuple, value):
    *parents, leaf = path
    for key in parents:
        tree = tree.setdefault(key, {})
    tree[leaf] = value


def from_torch(name: str, state_dict) -> dict:
    """Flax variables {'params', 'batch_stats'} for registry model `name` from its PyTorch state_dict.

    Values may be torch tensors or numpy arrays. 'batch_stats' is empty for models without BatchNorm.
    """
    remaining = {key: value for key, value in state_dict.items() if not key.endswith(_IGNORED_SUFFIX)}
    hint = f"(is it a {models.info(name)['torch_class']} state_dict?)"
    variables = {"params": {}, "batch_stats": {}}
    for path, torch_key, torch_shape in _leaves(name):
        if torch_key not in remaining:
            raise UserError(f"state_dict for '{name}' has no key '{torch_key}' {hint}")
        array = _as_numpy(remaining.pop(torch_key))
        if array.shape != torch_shape:
            raise UserError(f"state_dict key '{torch_key}' has shape {tuple(array.shape)}, "
                            f"'{name}' needs {torch_shape} {hint}")
        # A copy: tensors from state_dict() share memory with the torch module, which may keep training.
        _set(variables, path, np.array(_from_torch_layout(array), dtype=np.float32, order="C"))
    if remaining:
        raise UserError(f"state_dict has keys that '{name}' does not: {', '.join(sorted(remaining))} {hint}")
    return variables


def _import_torch():
    try:
        import torch
    except ImportError:
        raise UserError("this needs PyTorch: pip install 'jaxmnist[torch]'") from None
    return torch


def to_torch(name: str, variables) -> dict:
    """The PyTorch state_dict (str -> torch.Tensor) of registry model `name` from its Flax variables."""
    torch = _import_torch()

    state_dict = {}
    for path, torch_key, torch_shape in _leaves(name):
        tree = variables
        try:
            for key in path:
                tree = tree[key]
        except (KeyError, TypeError):
            raise UserError(f"variables for '{name}' have no '{'/'.join(path)}' (state_dict key "
                            f"'{torch_key}')") from None
        array = _to_torch_layout(np.asarray(tree, dtype=np.float32))
        if array.shape != torch_shape:
            raise UserError(f"variable '{'/'.join(path)}' has shape {np.shape(tree)}, which does not "
                            f"fit state_dict key '{torch_key}' {torch_shape}")
        state_dict[torch_key] = torch.from_numpy(np.array(array))  # a writable, contiguous copy
    return state_dict


def load_torch_state_dict(file) -> dict:
    """Read a file written by torch.save(model.state_dict(), file), without running pickled code."""
    torch = _import_torch()
    save_one = "save one with torch.save(model.state_dict(), file)"
    try:
        with warnings.catch_warnings():
            # torch warns of pickle protocols its safe loader may not read; the error below says what the file is.
            warnings.simplefilter("ignore")
            state_dict = torch.load(file, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"{file} does not exist") from None
    except Exception:  # torch raises pickle, zip and RuntimeError varieties, with advice to unpickle any code
        # torch.save writes a zip archive: one that the tensors-only loader refuses holds other objects.
        found = ("it holds objects other than tensors and dicts (a whole model, saved by torch.save(model)?)"
                 if zipfile.is_zipfile(file) else "it is no file written by torch.save")
        raise UserError(f"cannot read {file} as a PyTorch state_dict: {found}; {save_one}") from None
    if not isinstance(state_dict, dict):
        raise UserError(f"{file} is not a state_dict: it holds a {type(state_dict).__name__}, not a dict of "
                        f"tensors; {save_one}")
    if not all(isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise UserError(f"{file} is not a state_dict of tensors (found: {', '.join(map(str, state_dict))}); "
                        f"{save_one}")
    return state_dict


def save_variables(directory, variables) -> Path:
    """Write variables with orbax to `directory` (must not exist yet, or be empty); returns its absolute path."""
    import orbax.checkpoint as ocp

    directory = Path(directory).absolute()
    if directory.exists():
        if not directory.is_dir() or any(directory.iterdir()):
            raise UserError(f"{directory} already exists and is not empty")
        directory.rmdir()  # orbax creates the directory itself
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(directory, variables)
    checkpointer.wait_until_finished()
    return directory


def load_variables(directory) -> dict:
    """Read back variables written by `save_variables` / `jaxmnist import-torch`."""
    import orbax.checkpoint as ocp

    directory = Path(directory).absolute()
    if not directory.is_dir():
        raise UserError(f"checkpoint directory {directory} does not exist")
    try:
        return ocp.StandardCheckpointer().restore(directory)
    except Exception as error:  # orbax raises several types for a missing or partial checkpoint
        raise UserError(f"cannot read variables from {directory}: {str(error).splitlines()[0]}") from None


def import_command(args) -> int:
    """`jaxmnist import-torch NAME FILE.pt --out DIR`."""
    args.name = models.canonical_name(args.name)  # fail on an unknown name before reading the file
    variables = from_torch(args.name, load_torch_state_dict(args.file))
    directory = save_variables(args.out, variables)
    (directory / MODEL_FILE).write_text(json.dumps({"model": args.name}) + "\n")
    print(f"{args.name}: {models.param_count(variables):,} parameters from {args.file} written to {directory}")
    return 0
