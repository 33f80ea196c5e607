"""Convolutions as the input's patches times the kernel as a matrix: one matrix product.

Vmapped over runs whose kernels differ, XLA's convolution becomes one grouped convolution
(feature_group_count = runs) and its kernel gradient one with batch_group_count = runs; grouped
convolutions of many small groups are known to run slowly (on XLA:CPU, four lenet_deep_aug runs
vmapped two per device took 2.5 times as long an epoch as with these products, docs/groups.md).
Here the patches are strided slices of the input, which carry no weights, so the runs stay a
plain leading axis, and the product with each run's kernel is one batched matrix product, forward
and backward. Chosen with `kernels.use("patches")`, only where a benchmark showed it faster
(scripts/benchmark_runs.py --kernels).
"""

import jax.numpy as jnp
from jax import lax


def window_slices(x, kernel_size: int, stride: int):
    """(i, j, the input elements at offset (i, j) of every k x k window at `stride`), row-major."""
    batch, height, width, channels = x.shape
    out_height, out_width = (height - kernel_size) // stride + 1, (width - kernel_size) // stride + 1
    for i in range(kernel_size):
        for j in range(kernel_size):
            limit = (batch, i + stride * (out_height - 1) + 1, j + stride * (out_width - 1) + 1, channels)
            yield i, j, lax.slice(x, (0, i, j, 0), limit, (1, stride, stride, 1))


def conv2d(x, kernel, padding: int, stride: int):
    """F.conv2d (NHWC, HWIO) as patches (B, H', W', C * kh * kw) times a (C * kh * kw, O) matrix."""
    kh, kw, in_channels, out_channels = kernel.shape
    x = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    # Square kernels only, as every notebook's. Features run over (channel, row, column): summed in
    # HWIO's order instead, bn_kaiming's train-mode output moved 1.05e-5 from torch's (the tests allow 1e-5).
    patches = jnp.stack([window for _, _, window in window_slices(x, kh, stride)], axis=-1)
    patches = patches.reshape(*patches.shape[:3], in_channels * kh * kw)
    return patches @ kernel.transpose(2, 0, 1, 3).reshape(in_channels * kh * kw, out_channels)
