"""Registry of every notebook architecture as a Flax linen module.

    module = models.create("lenet_deep")                  # or create("net", dropout_rate=0.0)
    variables = models.init_variables(module, jax.random.key(0))
    logits = module.apply(variables, x, train=False)      # x: (B, 28, 28, 1) float32 NHWC

In training pass `rngs={'dropout': key}` and, for models with BatchNorm,
`mutable=['batch_stats']`; inside `with batch_statistics_over(mask):` padding examples leave
BatchNorm's statistics alone. Every module returns what its PyTorch forward returns
(`info(name)['output']`: log_softmax, logits or softmax).
"""

from collections.abc import Mapping
import dataclasses
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxmnist.errors import UserError
from jaxmnist.models.cnn import CNN, CNN3
from jaxmnist.models.def_net import DefNet
from jaxmnist.models.layers import batch_statistics_over
from jaxmnist.models.lenet import LeNet, SimpleNet
from jaxmnist.models.net import Net
from jaxmnist.models.network_cnn import NetworkCNN

INPUT_SHAPE = (28, 28, 1)


@dataclasses.dataclass(frozen=True)
class _Entry:
    module: type[nn.Module]
    config: dict  # module attributes that make it this notebook class
    notebook: str
    torch_class: str
    output: str
    description: str


_LENET_DROPOUT = dict(dropout2d_rate=0.125, dropout_rate=0.4)
_LENET_DL = dict(channels=(32, 64), batch_norm=True, **_LENET_DROPOUT)

_REGISTRY = {
    "def_net": _Entry(DefNet, {}, "000", "Def_Net", "log_softmax",
                      "pytorch/examples MNIST net: 2 conv + 2 fc, ReLU"),
    "sig_net": _Entry(DefNet, dict(activation="sigmoid"), "000", "Sig_Net", "log_softmax",
                      "Def_Net with sigmoid activations"),
    "dro_net": _Entry(DefNet, dict(dropout_rate=0.5), "000", "DrO_Net", "log_softmax",
                      "Def_Net + Dropout(prob) after fc1 (override dropout_rate)"),
    "best_net": _Entry(DefNet, dict(dropout_rate=0.5, batch_norm=True), "000", "Best_Net", "log_softmax",
                       "Def_Net + BatchNorm2d after conv1 + Dropout(0.5) after fc1"),
    "best_net_bn": _Entry(DefNet, dict(batch_norm=True), "000", "Best_Net_BN", "log_softmax",
                          "Def_Net + BatchNorm2d after conv1"),
    "bn_xavier": _Entry(DefNet, dict(batch_norm=True, weight_init="xavier_uniform"), "000", "BN_Xavier",
                        "log_softmax", "Best_Net_BN with xavier_uniform_ weights"),
    "bn_kaiming": _Entry(DefNet, dict(batch_norm=True, weight_init="kaiming_uniform"), "000", "BN_Kamming",
                         "log_softmax", "Best_Net_BN with kaiming_uniform_ weights"),
    "tmp_xavier": _Entry(DefNet, dict(weight_init="xavier_uniform"), "000", "TmpXavier", "log_softmax",
                         "Def_Net with xavier_uniform_ weights"),
    "cnn": _Entry(CNN, {}, "001", "CNN", "log_softmax",
                  "Fashion-MNIST CNN: conv5(16) conv3(32), fc 128, kaiming_normal_"),
    "cnn2": _Entry(CNN, dict(conv1_channels=32, conv2_channels=64, conv2_kernel_size=5, padding=2,
                             fc1_features=256), "001", "CNN2", "log_softmax",
                   "CNN2 as corrected: size-preserving conv5(32) conv5(64), fc 256"),
    "cnn3": _Entry(CNN3, {}, "001", "CNN3", "log_softmax",
                   "4 conv5 + BatchNorm2d blocks, Dropout(0.05), one Linear"),
    "net": _Entry(Net, {}, "002", "Net", "log_softmax",
                  "7.9k-param bias-free conv net, BN + Dropout(0.01), GAP head (override dropout_rate)"),
    "lenet": _Entry(LeNet, {}, "003", "LeNet", "logits", "2 conv5 blocks (16, 32) + Linear"),
    "lenet_bn": _Entry(LeNet, dict(batch_norm=True), "003", "LeNetBN", "logits", "LeNet + BatchNorm2d"),
    "lenet_drop": _Entry(LeNet, _LENET_DROPOUT, "003", "LeNetDrop", "logits",
                         "LeNet + Dropout2d(0.125) per block + Dropout(0.4) after the Linear"),
    "lenet_drop_bn": _Entry(LeNet, dict(batch_norm=True, **_LENET_DROPOUT), "003", "LeNetDropBN", "logits",
                            "LeNetDrop + BatchNorm2d"),
    "lenet_dl": _Entry(LeNet, _LENET_DL, "003", "LeNetDL", "logits",
                       "LeNetDropBN with 32/64 channels, second conv k=5"),
    "lenet_dl_k3": _Entry(LeNet, dict(_LENET_DL, kernel_sizes=(5, 3)), "003", "LeNetDL", "logits",
                          "LeNetDropBN with 32/64 channels, second conv k=3"),
    "lenet_deep": _Entry(LeNet, dict(channels=(16, 32, 64, 128), kernel_sizes=(5, 5, 3, 3), batch_norm=True,
                                     input_batch_norm=True, **_LENET_DROPOUT), "003", "LeNetDeep", "logits",
                         "BatchNorm2d(1) on the input + 4 conv blocks (16, 32, 64, 128)"),
    "simple_net": _Entry(SimpleNet, {}, "003", "SimpleNet", "logits",
                         "4 conv3 (32, 32, 64, 64) + Dropout(0.25), fc 512 + BatchNorm1d"),
    "network_cnn": _Entry(NetworkCNN, {}, "004", "Network_CNN", "softmax",
                          "conv5(32) conv5(64), fc 500, Dropout(0.4), softmax output"),
}


def names() -> list[str]:
    return list(_REGISTRY)


def canonical_name(name: str) -> str:
    """The registry name of `name`, which may also be the notebook's PyTorch class name (`SimpleNet`)."""
    if name in _REGISTRY:
        return name
    matches = [key for key, entry in _REGISTRY.items() if entry.torch_class.lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserError(f"model '{name}' is the PyTorch class of {' and '.join(matches)}: name one of them")
    raise UserError(f"unknown model '{name}' (known: {', '.join(_REGISTRY)}); "
                    "the notebooks' PyTorch class names (e.g. SimpleNet) work too")


def _entry(name: str) -> _Entry:
    return _REGISTRY[canonical_name(name)]


def _attributes(module_class: type[nn.Module]) -> dict:
    """The module's configurable attributes and their defaults."""
    return {field.name: field.default for field in dataclasses.fields(module_class)
            if field.name not in ("parent", "name")}


def create(name: str, batch_norm_axis_name: str | None = None, **overrides) -> nn.Module:
    """The Flax module for registry model `name`, with module attributes overridden (e.g. rates).

    `batch_norm_axis_name`: the mapped axis whose devices' examples the BatchNorm layers take
    their statistics over; a model class that has no BatchNorm has no use for it.
    """
    entry = _entry(name)
    known = _attributes(entry.module)
    if batch_norm_axis_name is not None and "batch_norm_axis_name" in known:
        overrides["batch_norm_axis_name"] = batch_norm_axis_name
    unknown = sorted(set(overrides) - set(known))
    if unknown:
        raise UserError(f"model '{name}' has no attribute {', '.join(unknown)} "
                        f"(overridable: {', '.join(known)})")
    return entry.module(**{**entry.config, **overrides})


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
    entry = _entry(name)
    module = create(name)
    variables = abstract_variables(name)
    return {
        "name": name,
        "notebook": entry.notebook,
        "torch_class": entry.torch_class,
        "params": param_count(variables),
        "output": entry.output,
        "batch_norm": "batch_stats" in variables,
        # Attributes setting dropout probabilities, with the notebook's values.
        "dropout_rates": {attribute: getattr(module, attribute) for attribute in ("dropout_rate", "dropout2d_rate")
                          if getattr(module, attribute, None) is not None},
        "description": entry.description,
    }
