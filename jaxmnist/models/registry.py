"""The registry of every notebook architecture: plain data, so listing the models needs neither JAX nor Flax."""

import dataclasses

from jaxmnist.errors import UserError, closest_names, did_you_mean

INPUT_SHAPE = (28, 28, 1)


@dataclasses.dataclass(frozen=True)
class Entry:
    module: str  # "<file>.<class>" below jaxmnist/models
    config: dict  # module attributes that make it this notebook class
    notebook: str
    torch_class: str
    output: str
    params: int  # as PyTorch counts them (the notebook prints most); tests compare the built module's
    description: str


_LENET_DROPOUT = dict(dropout2d_rate=0.125, dropout_rate=0.4)
_LENET_DL = dict(channels=(32, 64), batch_norm=True, **_LENET_DROPOUT)

REGISTRY = {
    "def_net": Entry("def_net.DefNet", {}, "000", "Def_Net", "log_softmax", 431_080,
                     "pytorch/examples MNIST net: 2 conv + 2 fc, ReLU"),
    "sig_net": Entry("def_net.DefNet", dict(activation="sigmoid"), "000", "Sig_Net", "log_softmax", 431_080,
                     "Def_Net with sigmoid activations"),
    "dro_net": Entry("def_net.DefNet", dict(dropout_rate=0.5), "000", "DrO_Net", "log_softmax", 431_080,
                     "Def_Net + Dropout(prob) after fc1 (override dropout_rate)"),
    "best_net": Entry("def_net.DefNet", dict(dropout_rate=0.5, batch_norm=True), "000", "Best_Net", "log_softmax",
                      431_120, "Def_Net + BatchNorm2d after conv1 + Dropout(0.5) after fc1"),
    "best_net_bn": Entry("def_net.DefNet", dict(batch_norm=True), "000", "Best_Net_BN", "log_softmax", 431_120,
                         "Def_Net + BatchNorm2d after conv1"),
    "bn_xavier": Entry("def_net.DefNet", dict(batch_norm=True, weight_init="xavier_uniform"), "000", "BN_Xavier",
                       "log_softmax", 431_120, "Best_Net_BN with xavier_uniform_ weights"),
    "bn_kaiming": Entry("def_net.DefNet", dict(batch_norm=True, weight_init="kaiming_uniform"), "000",
                        "BN_Kamming", "log_softmax", 431_120, "Best_Net_BN with kaiming_uniform_ weights"),
    "tmp_xavier": Entry("def_net.DefNet", dict(weight_init="xavier_uniform"), "000", "TmpXavier", "log_softmax",
                        431_080, "Def_Net with xavier_uniform_ weights"),
    "cnn": Entry("cnn.CNN", {}, "001", "CNN", "log_softmax", 108_874,
                 "Fashion-MNIST CNN: conv5(16) conv3(32), fc 128, kaiming_normal_"),
    "cnn2": Entry("cnn.CNN", dict(conv1_channels=32, conv2_channels=64, conv2_kernel_size=5, padding=2,
                                  fc1_features=256), "001", "CNN2", "log_softmax", 857_738,
                  "CNN2 as corrected: size-preserving conv5(32) conv5(64), fc 256"),
    "cnn3": Entry("cnn.CNN3", {}, "001", "CNN3", "log_softmax", 454_250,
                  "4 conv5 + BatchNorm2d blocks, Dropout(0.05), one Linear"),
    "net": Entry("net.Net", {}, "002", "Net", "log_softmax", 7_864,
                 "7.9k-param bias-free conv net, BN + Dropout(0.01), GAP head (override dropout_rate)"),
    "lenet": Entry("lenet.LeNet", {}, "003", "LeNet", "logits", 28_938, "2 conv5 blocks (16, 32) + Linear"),
    "lenet_bn": Entry("lenet.LeNet", dict(batch_norm=True), "003", "LeNetBN", "logits", 29_034,
                      "LeNet + BatchNorm2d"),
    "lenet_drop": Entry("lenet.LeNet", _LENET_DROPOUT, "003", "LeNetDrop", "logits", 28_938,
                        "LeNet + Dropout2d(0.125) per block + Dropout(0.4) after the Linear"),
    "lenet_drop_bn": Entry("lenet.LeNet", dict(batch_norm=True, **_LENET_DROPOUT), "003", "LeNetDropBN", "logits",
                           29_034, "LeNetDrop + BatchNorm2d"),
    "lenet_dl": Entry("lenet.LeNet", _LENET_DL, "003", "LeNetDL", "logits", 83_658,
                      "LeNetDropBN with 32/64 channels, second conv k=5"),
    "lenet_dl_k3": Entry("lenet.LeNet", dict(_LENET_DL, kernel_sizes=(5, 3)), "003", "LeNetDL", "logits", 50_890,
                         "LeNetDropBN with 32/64 channels, second conv k=3"),
    "lenet_deep": Entry("lenet.LeNet", dict(channels=(16, 32, 64, 128), kernel_sizes=(5, 5, 3, 3), batch_norm=True,
                                            input_batch_norm=True, **_LENET_DROPOUT), "003", "LeNetDeep", "logits",
                        107_372, "BatchNorm2d(1) on the input + 4 conv blocks (16, 32, 64, 128)"),
    "simple_net": Entry("lenet.SimpleNet", {}, "003", "SimpleNet", "logits", 1_677_290,
                        "4 conv3 (32, 32, 64, 64) + Dropout(0.25), fc 512 + BatchNorm1d"),
    "network_cnn": Entry("network_cnn.NetworkCNN", {}, "004", "Network_CNN", "softmax", 569_606,
                         "conv5(32) conv5(64), fc 500, Dropout(0.4), softmax output"),
}


def names() -> list[str]:
    return list(REGISTRY)


def canonical_name(name: str) -> str:
    """The registry name of `name`, which may also be the notebook's PyTorch class name (`SimpleNet`)."""
    if name in REGISTRY:
        return name
    matches = [key for key, entry in REGISTRY.items() if entry.torch_class.lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UserError(f"model '{name}' is the PyTorch class of {' and '.join(matches)}: name one of them")
    suggestion = did_you_mean(closest_names(name, REGISTRY))
    raise UserError(f"unknown model '{name}'{suggestion}: `jaxmnist models` lists them all; "
                    "the notebooks' PyTorch class names (e.g. SimpleNet) work too")


def entry(name: str) -> Entry:
    return REGISTRY[canonical_name(name)]
