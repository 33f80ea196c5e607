"""Notebook 003: the LeNet family and SimpleNet. Both return logits (the notebook applies
nn.CrossEntropyLoss outside the network).

LeNet, LeNetBN, LeNetDrop, LeNetDropBN, both LeNetDL variants and LeNetDeep share one
shape: blocks of Conv2d(k, padding=k//2) -> [BatchNorm2d] -> ReLU -> [Dropout2d] -> MaxPool2d(2)
and a Linear head (`fc`, or `fc_drop` = Linear -> Dropout when the net has dropout);
LeNetDeep adds BatchNorm2d(1) on the raw input at the front of block1.
"""

from collections.abc import Sequence

import flax.linen as nn

from jaxmnist.models.layers import (BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Dropout2d, Linear, MaxPool2d,
                                    ReLU, Sequential, flatten)


class LeNet(nn.Module):
    channels: Sequence[int] = (16, 32)       # LeNetDL: (32, 64); LeNetDeep: (16, 32, 64, 128)
    kernel_sizes: Sequence[int] = (5, 5)     # LeNetDL k=3: (5, 3); LeNetDeep: (5, 5, 3, 3)
    batch_norm: bool = False                 # *BN, LeNetDL, LeNetDeep
    dropout2d_rate: float | None = None      # LeNetDrop*: Dropout2d(0.125) in every block
    dropout_rate: float | None = None        # LeNetDrop*: Dropout(0.4) after the final Linear
    input_batch_norm: bool = False           # LeNetDeep
    batch_norm_axis_name: str | None = None

    def setup(self):
        in_channels = 1
        for index, (out_channels, kernel_size) in enumerate(zip(self.channels, self.kernel_sizes)):
            layers = []
            if index == 0 and self.input_batch_norm:
                layers.append(BatchNorm2d(1, axis_name=self.batch_norm_axis_name))
            layers.append(Conv2d(in_channels, out_channels, kernel_size=kernel_size, stride=1,
                                 padding=kernel_size // 2))
            if self.batch_norm:
                layers.append(BatchNorm2d(out_channels, axis_name=self.batch_norm_axis_name))
            layers.append(ReLU())
            if self.dropout2d_rate is not None:
                layers.append(Dropout2d(self.dropout2d_rate))
            layers.append(MaxPool2d(2))
            setattr(self, f"block{index + 1}", Sequential(layers))
            in_channels = out_channels

        size = 28 // 2 ** len(self.channels)  # 7*7 after two blocks, 1*1 after LeNetDeep's four
        fc = Linear(size * size * in_channels, 10)
        if self.dropout_rate is None:
            self.fc = fc
        else:
            self.fc_drop = Sequential([fc, Dropout(self.dropout_rate)])

    def __call__(self, x, train: bool = False):
        out = x
        for index in range(len(self.channels)):
            out = getattr(self, f"block{index + 1}")(out, train=train)
        out = flatten(out)
        if self.dropout_rate is None:
            return self.fc(out)
        return self.fc_drop(out, train=train)


class SimpleNet(nn.Module):
    dropout_rate: float = 0.25
    batch_norm_axis_name: str | None = None

    def setup(self):
        self.block1 = Sequential([Conv2d(1, 32, kernel_size=3, padding=1), ReLU()])
        self.block2 = Sequential([
            Conv2d(32, 32, kernel_size=3, padding=1),
            MaxPool2d(2),
            Dropout(self.dropout_rate),
            ReLU(),
        ])
        self.block3 = Sequential([Conv2d(32, 64, kernel_size=3, padding=1), ReLU()])
        self.block4 = Sequential([
            Conv2d(64, 64, kernel_size=3, padding=1),
            MaxPool2d(2),
            Dropout(self.dropout_rate),
            ReLU(),
        ])
        self.fc = Sequential([
            Linear(7 * 7 * 64, 512),
            BatchNorm1d(512, axis_name=self.batch_norm_axis_name),
            ReLU(),
            Linear(512, 10),
        ])

    def __call__(self, x, train: bool = False):
        x = self.block1(x, train=train)
        x = self.block2(x, train=train)
        x = self.block3(x, train=train)
        x = self.block4(x, train=train)
        x = flatten(x)
        return self.fc(x, train=train)
