"""Notebook 002: `Net`, 7,864 parameters, bias-free convolutions and a global-average-pool head."""

import flax.linen as nn
import jax

from jaxmnist.models.layers import AvgPool2d, BatchNorm2d, Conv2d, Dropout, MaxPool2d, ReLU, Sequential


class Net(nn.Module):
    # The notebook's module-level `dropout_value`; its "BN only" run is dropout_rate=0.
    dropout_rate: float = 0.01
    batch_norm_axis_name: str | None = None

    def setup(self):
        def convblock(in_channels, out_channels, padding=0):
            """Conv2d(3x3, bias=False) -> ReLU -> BatchNorm2d -> Dropout, the notebook's order."""
            return Sequential([
                Conv2d(in_channels, out_channels, kernel_size=3, padding=padding, bias=False),
                ReLU(),
                BatchNorm2d(out_channels, axis_name=self.batch_norm_axis_name),
                Dropout(self.dropout_rate),
            ])

        self.convblock1 = convblock(1, 8)  # output_size = 26
        self.convblock2 = convblock(8, 16)  # output_size = 24
        self.pool1 = MaxPool2d(2, 2)  # output_size = 12
        self.convblock3 = Sequential([Conv2d(16, 8, kernel_size=1, padding=0, bias=False), ReLU()])
        self.convblock4 = convblock(8, 12)  # output_size = 10
        self.convblock5 = convblock(12, 12)  # output_size = 8
        self.convblock6 = convblock(12, 16)  # output_size = 6
        self.convblock7 = convblock(16, 16, padding=1)  # output_size = 6
        self.gap = Sequential([AvgPool2d(kernel_size=6)])  # output_size = 1
        self.convblock8 = Sequential([Conv2d(16, 10, kernel_size=1, padding=0, bias=False)])

    def __call__(self, x, train: bool = False):
        x = self.convblock1(x, train=train)
        x = self.convblock2(x, train=train)
        x = self.pool1(x)
        x = self.convblock3(x)
        x = self.convblock4(x, train=train)
        x = self.convblock5(x, train=train)
        x = self.convblock6(x, train=train)
        x = self.convblock7(x, train=train)
        x = self.gap(x)
        x = self.convblock8(x)
        x = x.reshape(-1, 10)
        return jax.nn.log_softmax(x, axis=-1)
