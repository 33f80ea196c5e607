"""Notebook 000: the pytorch/examples MNIST net and its seven variants.

Def_Net, Sig_Net, DrO_Net(prob), Best_Net(prob=0.5), Best_Net_BN, BN_Xavier, BN_Kamming
and TmpXavier are one network that differs only in activation, dropout after fc1,
BatchNorm2d(20) after the first convolution and the weight init; `DefNet` takes those
as attributes and the registry names each combination.
"""

import flax.linen as nn
import jax

from jaxmnist.models.layers import BatchNorm2d, Conv2d, Dropout, Linear, flatten, max_pool2d

ACTIVATIONS = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid}


class DefNet(nn.Module):
    activation: str = "relu"           # Sig_Net: 'sigmoid' (F.sigmoid after conv1, conv2 and fc1)
    dropout_rate: float | None = None  # DrO_Net(prob), Best_Net(prob=0.5): do1 = nn.Dropout(prob)
    batch_norm: bool = False           # Best_Net, Best_Net_BN, BN_*: bn1 = BatchNorm2d(20)
    weight_init: str = "torch_default"  # BN_Xavier/TmpXavier: xavier_uniform_, BN_Kamming: kaiming_uniform_
    batch_norm_axis_name: str | None = None
    # The notebook ran PyTorch <= 1.1, whose BatchNorm weight started from U(0, 1): 'uniform'.
    batch_norm_weight_init: str = "ones"

    def setup(self):
        # The notebooks re-initialise only the weights; biases keep PyTorch's default.
        self.conv1 = Conv2d(1, 20, 5, 1, weight_init=self.weight_init)
        self.conv2 = Conv2d(20, 50, 5, 1, weight_init=self.weight_init)
        self.fc1 = Linear(4 * 4 * 50, 500, weight_init=self.weight_init)
        self.fc2 = Linear(500, 10, weight_init=self.weight_init)
        if self.dropout_rate is not None:
            self.do1 = Dropout(self.dropout_rate)
        if self.batch_norm:
            self.bn1 = BatchNorm2d(20, axis_name=self.batch_norm_axis_name, weight_init=self.batch_norm_weight_init)

    def __call__(self, x, train: bool = False):
        activation = ACTIVATIONS[self.activation]
        x = activation(self.conv1(x))
        if self.batch_norm:
            x = self.bn1(x, train=train)
        x = max_pool2d(x, 2, 2)
        x = activation(self.conv2(x))
        x = max_pool2d(x, 2, 2)
        x = flatten(x)
        x = activation(self.fc1(x))
        if self.dropout_rate is not None:
            x = self.do1(x, train=train)
        x = self.fc2(x)
        return jax.nn.log_softmax(x, axis=1)
