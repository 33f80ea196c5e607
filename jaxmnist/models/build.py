"""The Flax module of a registry entry, its variables and its parameter count."""

from collections.abc import Mapping
import dataclasses
import functools
import importlib

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmnist.errors import UserError
from jaxmnist.models.registry import INPUT_SHAPE, entry
from jaxmnist.models.layers import batch_statistics_over  # noqa: F401 - exported as models.batch_statistics_over


def module_class(name: str) -> type[nn.Module]:
    file, class_name = entry(name).module.split(".")
    return getattr(importlib.import_module(f"jaxmnist.models.{file}"), class_name)


def _attributes(module_type: type[nn.Module]) -> dict:
    """The module's configurable attributes and their defaults."""
    return {field.name: field.default for field in dataclasses.fields(module_type)
            if field.name not in ("parent", "name")}


def create(name: str, batch_norm_axis_name: str | None = None, **overrides) -> nn.Module:
    """The Flax module for registry model `name`, with module attributes overridden (e.g. rates).

    `batch_norm_axis_name`: the mapped axis whose devices' examples the BatchNorm layers take
    their statistics over; a model class that has no BatchNorm has no use for it.
    """
    module_type = module_class(name)
    known = _attributes(module_type)
    if batch_norm_axis_name is not None and "batch_norm_axis_name" in known:
        overrides["batch_norm_axis_name"] = batch_norm_axis_name
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise UserError(f"model '{name}' has no attribute {', '.join(unknown)} "
                        f"(overridable: {', '.join(known)})")
    return module_type(**{**entry(name).config, **overrides})


def init_variables(module: nn.Module, rng: jax.Array) -> dict:
    """Fresh PyTorch-distributed variables ({'params', and 'batch_stats' if the model has BatchNorm})."""
    # Compiled as one program: op-by-op initialisation is several times slower on CPU.
    init = jax.jit(functools.partial(module.init, train=False))
    return init({"params": rng}, jnp.zeros((1, *INPUT_SHAPE), jnp.float32))


@functools.cache
def abstract_variables(name: str) -> dict:
    """Shapes and dtypes of the variables of registry model `name`, without computing them."""
    return jax.eval_shape(functools.partial(init_variables, create(name)), jax.random.key(0))


def param_count(variables_or_params) -> int:
    """Number of parameters as PyTorch counts them: weights, biases, BatchNorm scale and shift.

    Accepts full variables (only their 'params' collection counts) or a params tree.
    """
    tree = variables_or_params
    if isinstance(tree, Mapping) and "params" in tree:
        tree = tree["params"]
    return sum(leaf.size for leaf in jax.tree_util.tree_leaves(tree))


def info(name: str) -> dict:
    """The registry entry of `name` with what the built module says: parameters counted, BatchNorm, dropout."""
    registered = entry(name)
    module = create(name)
    variables = abstract_variables(name)
    return {
        "name": name,
        "notebook": registered.notebook,
        "torch_class": registered.torch_class,
        "params": param_count(variables),
        "output": registered.output,
        "batch_norm": "batch_stats" in variables,
        # Attributes setting dropout probabilities, with the notebook's values.
        "dropout_rates": {attribute: getattr(module, attribute) for attribute in ("dropout_rate", "dropout2d_rate")
                          if getattr(module, attribute, None) is not None},
        "description": registered.description,
    }
