"""Notebook 001 (Fashion-MNIST): CNN, CNN2 and CNN3.

The notebook's OCR-damaged code is read as the obvious PyTorch: `self.fcl` is `self.fc1`,
`nn.init.kaiming normal (` is `nn.init.kaiming_normal_(`. CNN2 is "corrected as the
notebook asks": padding 2 so each 5x5 convolution preserves the feature size, which is
also how the notebook writes it (fc1 in_features 3136 = 64 * 7 * 7).
"""

import flax.linen as nn
import jax

from jaxmnist.models.layers import (BatchNorm2d, Conv2d, Dropout, Linear, MaxPool2d, ReLU, Sequential,
                                    flatten)


class CNN(nn.Module):
    """CNN (defaults) and CNN2; the explicit kaiming_normal_ inits replace only the weights."""

    conv1_channels: int = 16
    conv2_channels: int = 32
    conv2_kernel_size: int = 3
    padding: int = 0
    fc1_features: int = 128

    def setup(self):
        self.conv1 = Conv2d(1, self.conv1_channels, 5, 1, self.padding, weight_init="kaiming_normal_relu")
        self.maxpool = MaxPool2d(2)
        self.conv2 = Conv2d(self.conv1_channels, self.conv2_channels, self.conv2_kernel_size, 1, self.padding,
                            weight_init="kaiming_normal_relu")
        self.fc1 = Linear(self._flat_features(), self.fc1_features, weight_init="kaiming_normal_relu")
        self.fc2 = Linear(self.fc1_features, 10, weight_init="kaiming_normal_linear")

    def _flat_features(self):
        """The in_features the notebook writes by hand: 800 for CNN, 3136 for CNN2."""
        size = (28 + 2 * self.padding - 5 + 1) // 2
        size = (size + 2 * self.padding - self.conv2_kernel_size + 1) // 2
        return self.conv2_channels * size * size

    def __call__(self, x, train: bool = False):
        x = self.conv1(x)
        x = jax.nn.relu(x)
        x = self.maxpool(x)
        x = self.conv2(x)
        x = jax.nn.relu(x)
        x = self.maxpool(x)
        x = flatten(x)
        x = self.fc1(x)
        x = jax.nn.relu(x)
        x = self.fc2(x)
        return jax.nn.log_softmax(x, axis=1)


class CNN3(nn.Module):
    """Four conv-BN-ReLU layers; the last MaxPool2d(3, stride=1) takes 14x14 to 12x12 (18432 = 128*12*12)."""

    dropout_rate: float = 0.05
    batch_norm_axis_name: str | None = None

    def setup(self):
        def layer(in_channels, out_channels, *pool):
            return Sequential([
                Conv2d(in_channels, out_channels, kernel_size=5, stride=1, padding=2),
                BatchNorm2d(out_channels, axis_name=self.batch_norm_axis_name),
                ReLU(),
                *pool,
            ])

        self.dropout = Dropout(p=self.dropout_rate)
        self.layer1 = layer(1, 16)
        self.layer2 = layer(16, 32)
        self.layer3 = layer(32, 64, MaxPool2d(2))
        self.layer4 = layer(64, 128, MaxPool2d(kernel_size=3, stride=1))
        self.fc1 = Linear(18432, 10)

    def __call__(self, x, train: bool = False):
        x = self.layer1(x, train=train)
        x = self.layer2(x, train=train)
        x = self.layer3(x, train=train)
        x = self.layer4(x, train=train)
        x = flatten(x)
        x = self.dropout(x, train=train)
        x = self.fc1(x)
        return jax.nn.log_softmax(x, axis=1)
