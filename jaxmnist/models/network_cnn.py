"""Notebook 004: `Network_CNN`, whose forward ends in a softmax (the notebook then feeds
those probabilities to nn.CrossEntropyLoss; the loss is the experiment's business)."""

import flax.linen as nn
import jax

from jaxmnist.models.layers import Conv2d, Dropout, Linear, flatten, max_pool2d


class NetworkCNN(nn.Module):
    dropout_rate: float = 0.4

    def setup(self):
        self.conv1 = Conv2d(1, 32, 5, 1)
        self.conv2 = Conv2d(32, 64, 5, 1)
        self.fc1 = Linear(4 * 4 * 64, 500)
        self.dropout1 = Dropout(self.dropout_rate)
        self.fc2 = Linear(500, 10)

    def __call__(self, x, train: bool = False):
        x = jax.nn.relu(self.conv1(x))
        x = max_pool2d(x, 2, 2)
        x = jax.nn.relu(self.conv2(x))
        x = max_pool2d(x, 2, 2)
        x = flatten(x)
        x = jax.nn.relu(self.fc1(x))
        x = self.dropout1(x, train=train)
        return jax.nn.softmax(self.fc2(x), axis=1)

    def visualize(self, x):
        """The notebook's feature maps: relu(conv1), its max-pool, relu(conv2), its max-pool.

        Call as `module.apply(variables, x, method='visualize')`.
        """
        a = jax.nn.relu(self.conv1(x))
        b = max_pool2d(a, 2, 2)
        c = jax.nn.relu(self.conv2(b))
        d = max_pool2d(c, 2, 2)
        return a, b, c, d
