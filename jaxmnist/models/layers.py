"""The handful of torch.nn layers the notebooks use, as Flax modules with PyTorch semantics.

Each class takes the same constructor arguments as its torch.nn namesake, so a model
written with them reads line by line like the notebook's class. Differences from Flax's
own layers, all for exact parity with PyTorch:

- initialisation as PyTorch (weights and biases; fans computed as torch does);
- BatchNorm with PyTorch's momentum convention and unbiased running variance;
- `Sequential` names its children '0', '1', ... so parameter paths equal state_dict keys.

Tensors are NHWC; kernels are HWIO (conv) and (in, out) (Linear).
"""

from collections.abc import Sequence
import contextlib
import contextvars
import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxmnist.models import cpu_kernels, kernels, patch_kernels


def _fans(shape):
    """torch's fan_in / fan_out, from a Flax HWIO or (in, out) kernel shape: fan_in = in_channels * kh * kw."""
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


# Random draws here and in Dropout are flat then reshaped: XLA:CPU takes seconds (up to
# tens of seconds in a whole model) to compile threefry draws of some multi-dimensional
# shapes, e.g. Net's 3x3x8x16 kernel, and a fraction of a second for flat ones.
def _uniform(bound_of_fans):
    def init(key, shape, dtype=jnp.float32):
        bound = bound_of_fans(*_fans(shape))
        return jax.random.uniform(key, (math.prod(shape),), dtype, -bound, bound).reshape(shape)

    return init


def _normal(std_of_fans):
    def init(key, shape, dtype=jnp.float32):
        return std_of_fans(*_fans(shape)) * jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape)

    return init


# torch.nn.init schemes by name, with torch's formulas.
WEIGHT_INITS = {
    # Conv2d / Linear reset_parameters: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    "torch_default": _uniform(lambda fan_in, fan_out: 1 / math.sqrt(fan_in)),
    "xavier_uniform": _uniform(lambda fan_in, fan_out: math.sqrt(6 / (fan_in + fan_out))),
    # kaiming_uniform_ defaults: a=0, mode='fan_in', nonlinearity='leaky_relu' -> gain sqrt(2).
    "kaiming_uniform": _uniform(lambda fan_in, fan_out: math.sqrt(2) * math.sqrt(3 / fan_in)),
    # kaiming_normal_ draws from an untruncated normal (JAX's he_normal truncates).
    "kaiming_normal_relu": _normal(lambda fan_in, fan_out: math.sqrt(2) / math.sqrt(fan_in)),
    "kaiming_normal_linear": _normal(lambda fan_in, fan_out: 1 / math.sqrt(fan_in)),
}


def _weight_init(name: str, known: dict = WEIGHT_INITS):
    if name not in known:
        raise ValueError(f"unknown weight_init '{name}' (known: {', '.join(known)})")
    return known[name]


def _torch_default_bias_init(fan_in: int):
    """PyTorch's bias init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)); the notebooks' explicit inits never touch it."""
    bound = 1 / math.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class Conv2d(nn.Module):
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0
    bias: bool = True
    weight_init: str = "torch_default"

    @nn.compact
    def __call__(self, x):
        if x.shape[-1] != self.in_channels:
            raise ValueError(f"{self.path}: expected {self.in_channels} input channels, got shape {x.shape}")
        k = self.kernel_size
        kernel = self.param("kernel", _weight_init(self.weight_init), (k, k, self.in_channels, self.out_channels))
        y = conv2d(x, kernel, self.padding, self.stride)
        if self.bias:
            y = y + self.param("bias", _torch_default_bias_init(self.in_channels * k * k), (self.out_channels,))
        return y


def conv2d(x, kernel, padding: int = 0, stride: int = 1):
    """F.conv2d on NHWC inputs and HWIO kernels."""
    if kernels.active() == "cpu":
        return cpu_kernels.conv2d(x, kernel, padding, stride)
    if kernels.active() == "patches":
        return patch_kernels.conv2d(x, kernel, padding, stride)
    return lax.conv_general_dilated(
        x, kernel, window_strides=(stride, stride), padding=((padding, padding), (padding, padding)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))


class Linear(nn.Module):
    in_features: int
    out_features: int
    bias: bool = True
    weight_init: str = "torch_default"

    @nn.compact
    def __call__(self, x):
        if x.shape[-1] != self.in_features:
            raise ValueError(f"{self.path}: expected {self.in_features} input features, got shape {x.shape}")
        kernel = self.param("kernel", _weight_init(self.weight_init), (self.in_features, self.out_features))
        y = x @ kernel
        if self.bias:
            y = y + self.param("bias", _torch_default_bias_init(self.in_features), (self.out_features,))
        return y


_EXAMPLE_MASK = contextvars.ContextVar("jaxmnist_example_mask", default=None)


@contextlib.contextmanager
def batch_statistics_over(mask):
    """BatchNorm layers applied inside take their training statistics over the examples where `mask` (B,) is True.

    The padding a data-parallel step adds to make a batch divisible by the device count must
    not count. Enter it inside the traced function: a program traced once keeps its mask.
    """
    token = _EXAMPLE_MASK.set(mask)
    try:
        yield
    finally:
        _EXAMPLE_MASK.reset(token)


BATCH_NORM_WEIGHT_INITS = {"ones": nn.initializers.ones, "uniform": nn.initializers.uniform(scale=1.0)}


class BatchNorm(nn.Module):
    """torch.nn.BatchNorm{1,2}d over the last (feature) axis, PyTorch's semantics exactly.

    `momentum` is PyTorch's (weight of the new batch; Flax's momentum is 1 - this). In
    training the output is normalised with the biased batch variance while running_var
    is updated with the unbiased one (n / (n - 1)), as torch does. With `axis_name` the
    statistics cover the whole global batch (all devices of that mapped axis) and n
    counts it; inside `batch_statistics_over(mask)` only the examples the mask marks count.
    """

    num_features: int
    eps: float = 1e-5
    momentum: float = 0.1
    axis_name: str | None = None
    # 'ones' as PyTorch since 1.2; 'uniform': U(0, 1), PyTorch's BatchNorm weight up to 1.1.
    weight_init: str = "ones"

    @nn.compact
    def __call__(self, x, train: bool = False):
        if x.shape[-1] != self.num_features:
            raise ValueError(f"{self.path}: expected {self.num_features} features, got shape {x.shape}")
        shape = (self.num_features,)
        scale = self.param("scale", _weight_init(self.weight_init, BATCH_NORM_WEIGHT_INITS), shape)
        bias = self.param("bias", nn.initializers.zeros, shape)
        running_mean = self.variable("batch_stats", "mean", jnp.zeros, shape, jnp.float32)
        running_var = self.variable("batch_stats", "var", jnp.ones, shape, jnp.float32)

        if train:
            mask = _EXAMPLE_MASK.get()
            weights = jnp.ones(x.shape[:-1] + (1,), x.dtype) if mask is None else jnp.broadcast_to(
                mask.reshape((-1,) + (1,) * (x.ndim - 1)), x.shape[:-1] + (1,)).astype(x.dtype)
            count = _global_sum(weights, self.axis_name)[0]
            y, mean, var = batch_norm_training(x, scale, bias, weights, count, self.eps, self.axis_name)
            if not self.is_initializing():
                m = self.momentum
                running_mean.value = (1 - m) * running_mean.value + m * mean
                running_var.value = (1 - m) * running_var.value + m * var * (count / (count - 1))
            return y
        return (x - running_mean.value) * lax.rsqrt(running_var.value + self.eps) * scale + bias


def _global_sum(value, axis_name):
    """Sum over every axis but the features, across the devices of `axis_name` if given."""
    total = jnp.sum(value, tuple(range(value.ndim - 1)))
    return total if axis_name is None else lax.psum(total, axis_name)


def batch_norm_training(x, scale, bias, weights, count, eps: float, axis_name):
    """(y, batch mean, biased batch variance) over the examples with weight 1.

    Two passes (mean, then mean squared deviation) rather than E[x^2] - E[x]^2: as accurate
    as torch's. Sums and counts (not means) cross devices, so shards may hold different
    numbers of valid examples.
    """
    if kernels.active() == "cpu":
        return cpu_kernels.batch_norm_training(x, scale, bias, weights, count, eps, axis_name)
    mean = _global_sum(x * weights, axis_name) / count
    centered = x - mean
    var = _global_sum(jnp.square(centered) * weights, axis_name) / count
    return centered * lax.rsqrt(var + eps) * scale + bias, mean, var


class BatchNorm2d(BatchNorm):
    """Input (B, H, W, C)."""


class BatchNorm1d(BatchNorm):
    """Input (B, C)."""


def _mix32(x):
    """MurmurHash3's 32-bit finaliser: a bijection of uint32 in which every input bit flips about half the output bits."""
    x = (x ^ (x >> 16)) * jnp.uint32(0x85EBCA6B)
    x = (x ^ (x >> 13)) * jnp.uint32(0xC2B2AE35)
    return x ^ (x >> 16)


def bernoulli(key, probability: float, shape) -> jax.Array:
    """True with `probability`, independently per element: dropout's draws.

    jax.random.bernoulli draws every element through threefry, which XLA:CPU runs slowly: a
    large share of a Net train step and of its compile (docs/PERFORMANCE.md). Here threefry draws
    only two 32-bit seeds and each element hashes its index with them. As in jax.random.uniform,
    24 random bits make a float32 in [0, 1).
    """
    seeds = jax.random.bits(key, (2,), jnp.uint32)
    index = lax.iota(jnp.uint32, math.prod(shape))
    # Fused into its consumer on XLA:CPU, the hash was recomputed for every element a mask
    # broadcasts to (Dropout2d's (B, 1, 1, C) mask: 784 times per draw in LeNetDeep's first block).
    bits = _mix32(_mix32(index ^ seeds[0]) + seeds[1])
    if kernels.active() == "cpu":
        bits = cpu_kernels.fusion_barrier(bits)
    uniform = (bits >> 8).astype(jnp.float32) * (1 / (1 << 24))
    return (uniform < probability).reshape(shape)


class Dropout(nn.Module):
    """Element-wise dropout as torch.nn.Dropout: scale kept units by 1/(1-p); p=1 gives zeros."""

    p: float = 0.5

    def __call__(self, x, train: bool = False):
        if not train:
            return x
        if isinstance(self.p, (int, float)):
            if self.p == 0:
                return x
            if self.p == 1:
                return jnp.zeros_like(x)
            keep = bernoulli(self.make_rng("dropout"), 1 - self.p, self._mask_shape(x))
            return jnp.where(keep, x / (1 - self.p), 0)
        # p as a traced number (a run's own rate in a vmapped group): at p = 1 nothing is kept, and
        # the scale stays finite so that the gradient is 0, not 0/0.
        probability = 1 - self.p
        keep = bernoulli(self.make_rng("dropout"), probability, self._mask_shape(x))
        return jnp.where(keep, x / jnp.where(probability > 0, probability, 1), 0)

    def _mask_shape(self, x):
        return x.shape


class Dropout2d(Dropout):
    """torch.nn.Dropout2d: zeroes whole feature maps, one draw per (sample, channel)."""

    def _mask_shape(self, x):
        batch, _, _, channels = x.shape
        return (batch, 1, 1, channels)


class ReLU(nn.Module):
    def __call__(self, x):
        return jax.nn.relu(x)


class MaxPool2d(nn.Module):
    kernel_size: int
    stride: int | None = None  # None: the kernel size, as in torch

    def __call__(self, x):
        return max_pool2d(x, self.kernel_size, self.stride)


class AvgPool2d(nn.Module):
    kernel_size: int
    stride: int | None = None

    def __call__(self, x):
        stride = self.stride or self.kernel_size
        return nn.avg_pool(x, (self.kernel_size,) * 2, strides=(stride, stride), padding="VALID")


def max_pool2d(x, kernel_size: int, stride: int | None = None):
    """F.max_pool2d without padding (floor of odd sizes, as torch's default ceil_mode=False).

    The gradient goes, like torch's, to the first maximal element of each window, and is
    computed without a scatter on every backend (below).
    """
    return _max_pool2d(x, kernel_size, stride or kernel_size)


# Max pooling with its own gradient. JAX's built-in gradient of reduce_window max (flax's
# nn.max_pool) is a select_and_scatter: on XLA:CPU a variadic argmax reduce_window over
# materialised iotas plus a scatter (a large share of LeNet's train step), on XLA:GPU a
# scatter, which deterministic mode serialises. Here each input element takes the gradient
# of the windows whose first maximum (row-major, so ties route as in torch) it is: k*k selects.
@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _max_pool2d(x, kernel_size: int, stride: int):
    """XLA's own pooling kernel, or on CPU the elementwise maximum of the window's k*k strided slices."""
    if kernels.active() == "cpu":
        windows = patch_kernels.window_slices(x, kernel_size, stride)
        return functools.reduce(jnp.maximum, (window for _, _, window in windows))
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, kernel_size, kernel_size, 1), (1, stride, stride, 1), "VALID")


def _max_pool2d_forward(x, kernel_size, stride):
    """Keeps the position (i * k + j) of each window's first maximum for the backward pass.

    On CPU it is computed once and stored: recomputed inside the backward pass, XLA fused the
    window comparisons, and the BatchNorm and ReLU that made x, into every input element's
    gradient (CNN3's 3x3 stride-1 pooling took many times as long; docs/PERFORMANCE.md). Elsewhere the
    maximum and its position come from one pass over the windows: XLA may recompute x in each
    of its consumers with other rounding, so a maximum taken apart need not equal any window's
    element (float64 BatchNorm before CNN3's pooling on XLA:CPU).
    """
    if kernels.active() == "cpu":
        pooled = cpu_kernels.fusion_barrier(_max_pool2d(x, kernel_size, stride))
        first_max = jnp.full(pooled.shape, kernel_size * kernel_size, jnp.int8)
        for i, j, window in reversed(list(patch_kernels.window_slices(x, kernel_size, stride))):
            first_max = jnp.where(window == pooled, jnp.int8(i * kernel_size + j), first_max)
        return pooled, (cpu_kernels.fusion_barrier(first_max), x.shape)
    windows = patch_kernels.window_slices(x, kernel_size, stride)
    _, _, pooled = next(windows)
    first_max = jnp.zeros(pooled.shape, jnp.int8)
    for i, j, window in windows:
        later_is_larger = (window > pooled) | jnp.isnan(window)  # strictly: among ties the first stays; NaN wins
        pooled = jnp.where(later_is_larger, window, pooled)
        first_max = jnp.where(later_is_larger, jnp.int8(i * kernel_size + j), first_max)
    return pooled, (first_max, x.shape)


def _max_pool2d_backward(kernel_size, stride, residuals, grad):
    first_max, (_, height, width, _) = residuals
    _, out_height, out_width, _ = grad.shape
    k = kernel_size

    # Put each window's value at its top-left input position (interior padding undoes the
    # stride), with k - 1 more rows and columns before: the value that window element
    # (i, j) of the windows sends to each input position is then one slice.
    def spread(values, fill):
        return lax.pad(values, fill, (
            (0, 0, 0), (k - 1, height - stride * (out_height - 1) - 1, stride - 1),
            (k - 1, width - stride * (out_width - 1) - 1, stride - 1), (0, 0, 0)))

    def from_element(values, i, j):
        return values[:, k - 1 - i:k - 1 - i + height, k - 1 - j:k - 1 - j + width]

    first_max, grad = spread(first_max, jnp.int8(k * k)), spread(grad, jnp.zeros((), grad.dtype))
    return (sum(jnp.where(from_element(first_max, i, j) == i * k + j, from_element(grad, i, j), 0)
                for i in range(k) for j in range(k)),)


_max_pool2d.defvjp(_max_pool2d_forward, _max_pool2d_backward)


def flatten(x):
    """x.view(x.size(0), -1) of the NCHW tensor PyTorch would hold: channel-major.

    Flattening in PyTorch's order keeps Linear weights ported from torch valid as they are.
    """
    return jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)


# Layers whose behaviour depends on the training flag, which Sequential passes only to them.
_TRAIN_AWARE = (BatchNorm, Dropout)


class Sequential(nn.Module):
    """torch.nn.Sequential: children are named '0', '1', ... like its state_dict keys.

    Layers that hold no parameters (ReLU, pooling, dropout) keep their index, so a
    BatchNorm after Conv2d and ReLU is '2' here as in torch.
    """

    layers: Sequence[nn.Module]
    preserve_adopted_names = True  # keep the index names given below when Flax adopts the layers

    def __post_init__(self):
        # Detach the layers from whichever module built them and name them by position.
        object.__setattr__(self, "layers", tuple(
            layer.clone(parent=None, name=str(index)) for index, layer in enumerate(self.layers)))
        super().__post_init__()

    def __call__(self, x, train: bool = False):
        for layer in self.layers:
            x = layer(x, train=train) if isinstance(layer, _TRAIN_AWARE) else layer(x)
        return x
