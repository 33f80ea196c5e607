"""The Flax module of a registry entry, its variables and its parameter count."""

from collections.abc import Mapping, Sequence
import dataclasses
import functools
import importlib
import types
import typing

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmnist.errors import UserError
from jaxmnist.models.registry import INPUT_SHAPE, entry
from jaxmnist.models.layers import batch_statistics_over  # noqa: F401 - exported as models.batch_statistics_over
from jaxmnist.varying import varying_as


def module_class(name: str) -> type[nn.Module]:
    file, class_name = entry(name).module.split(".")
    return getattr(importlib.import_module(f"jaxmnist.models.{file}"), class_name)


def _attributes(module_type: type[nn.Module]) -> dict:
    """The module's configurable attributes and their types."""
    return {field.name: field.type for field in dataclasses.fields(module_type)
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


def _is_instance(value, annotation) -> bool:
    """Whether `value` is of the attribute type `annotation` (float | None, bool, Sequence[int], ...)."""
    origin = typing.get_origin(annotation)
    if origin in (types.UnionType, typing.Union):
        return any(_is_instance(value, option) for option in typing.get_args(annotation))
    if origin is Sequence:
        return isinstance(value, (list, tuple)) and all(_is_instance(item, typing.get_args(annotation)[0])
                                                        for item in value)
    if annotation is float:  # a whole number is a rate too (dropout_rate=1), a bool is not
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation if isinstance(annotation, type) else object)


def check_overrides(name: str, overrides: Mapping):
    """Raise one UserError naming the first override model `name` does not accept: an unknown
    attribute, a value of another type, a rate outside [0, 1] (torch's dropout layers refuse
    those), or values the layers cannot be built with (an unknown weight_init, no channels)."""
    create(name, **overrides)  # an unknown attribute
    known = _attributes(module_class(name))
    for key, value in overrides.items():
        if key == "batch_norm_axis_name":
            raise UserError(f"model_overrides.{key} is the train step's to set (its device axis), not a config's")
        if not _is_instance(value, known[key]):
            wanted = known[key].__name__ if isinstance(known[key], type) else str(known[key]).replace(
                "collections.abc.", "")
            raise UserError(f"model_overrides.{key} of model '{name}' must be {wanted}, got {value!r}")
        if key.endswith("_rate") and value is not None and not 0 <= value <= 1:
            raise UserError(f"model_overrides.{key} of model '{name}' must be a probability in [0, 1] (as torch's "
                            f"dropout layers), got {value!r}")
    if overrides:
        try:
            variable_shapes(create(name, **overrides))
        except Exception as error:  # noqa: BLE001 - whatever the layers refuse, said in one line
            reason = (str(error).strip().splitlines() or [""])[0]
            raise UserError(f"model '{name}' cannot be built with model_overrides {dict(overrides)}: "
                            f"{type(error).__name__}: {reason}") from None


# Fields that only zero and rescale activations (dropout's rates). Runs vmapped on a device each pass
# theirs as a number: one program serves every rate, where a switch over one program per rate, vmapped,
# runs them all on every run's batch.
RATE_FIELDS = ("dropout_rate", "dropout2d_rate")


def rates_as_numbers(module: nn.Module) -> dict[str, float]:
    """The rate fields `module` can take as numbers, with its values: its rates, and rate 0 for a
    dropout it leaves out where adding one keeps its variables (no layer is renamed)."""
    rates, own_shapes = {}, None
    for name in RATE_FIELDS:
        if not hasattr(module, name):
            continue
        value = getattr(module, name)
        if value is None:
            own_shapes = own_shapes or variable_shapes(module)
            if variable_shapes(module.clone(**{name: 0.0})) != own_shapes:
                continue
        rates[name] = float(value or 0.0)
    return rates


def one_per_run(members: list[tuple[nn.Module, tuple[str, ...]]]):
    """The apply function of a group whose runs use different models of one variable shape (e.g.
    dropout rates, or initialisations): `apply(variables, x, choice={"member": k, "rates": {...}},
    **apply_keywords)` applies module k of `members`, its rate fields named beside it set to the
    run's numbers, chosen inside the program (`lax.switch`; vmapped over runs, a select of all)."""
    def apply(variables, x, *, choice, rngs=None, mutable=False, **static):
        def branch(module, rate_names):
            def apply_member(variables, x, rngs, rates):
                member = module.clone(**{name: rates[name] for name in rate_names})
                result = member.apply(variables, x, rngs=rngs, mutable=mutable, **static)
                # The outputs vary over the mesh axes the inputs do, updated statistics as the old ones.
                if mutable is not False:  # as Flax's apply: (outputs, the mutable collections)
                    outputs, updates = result
                    return varying_as(outputs, x), varying_as(updates, {name: variables[name] for name in updates})
                return varying_as(result, x)
            return apply_member
        branches = [branch(module, rate_names) for module, rate_names in members]
        return jax.lax.switch(choice["member"], branches, variables, x, rngs, choice["rates"])
    return apply


def init_variables(module: nn.Module, rng: jax.Array) -> dict:
    """Fresh PyTorch-distributed variables ({'params', and 'batch_stats' if the model has BatchNorm})."""
    # Compiled as one program: op-by-op initialisation is several times slower on CPU.
    init = jax.jit(functools.partial(module.init, train=False))
    return init({"params": rng}, jnp.zeros((1, *INPUT_SHAPE), jnp.float32))


def variable_shapes(module: nn.Module) -> dict:
    """Shapes and dtypes of `module`'s variables (as `init_variables` makes them), without computing them."""
    return jax.eval_shape(functools.partial(init_variables, module), jax.random.key(0))


@functools.cache
def abstract_variables(name: str) -> dict:
    """Shapes and dtypes of the variables of registry model `name`, without computing them."""
    return variable_shapes(create(name))


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
