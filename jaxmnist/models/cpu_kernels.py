"""XLA:CPU's slow spots in the notebooks' layers, replaced by arithmetic it runs fast.

Each function here computes what its plain counterpart in `layers` computes (a test
checks every model's outputs and gradients on both paths against torch), with a
forward or backward pass written for XLA:CPU, whose convolution gradients and fusion
choices were measured slow on this project's 2-core machine. On GPU and TPU the plain
layers keep XLA's own (cuDNN's autotuned) kernels. (Max pooling's gradient, written for
XLA:CPU first, runs on every backend: layers.max_pool2d.)

The train loop chooses once per program: `with kernels.use("cpu"):` around the traced
step makes the layers call these (the default on CPU devices).
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

def conv2d(x, kernel, padding: int, stride: int):
    """F.conv2d (NHWC, HWIO); stride-1 convolutions get the gradients below."""
    if stride == 1:
        return _conv2d(x, _varying_like(kernel, x), padding)
    return _xla_conv2d(x, kernel, padding, stride)


def _xla_conv2d(x, kernel, padding: int, stride: int = 1):
    return lax.conv_general_dilated(
        x, kernel, window_strides=(stride, stride), padding=((padding, padding), (padding, padding)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))


# A stride-1 convolution whose kernel gradient is one matrix product where XLA:CPU's own
# is slow. XLA computes the kernel gradient as a convolution whose window is the whole
# output map, which runs far slower than the forward pass on large maps (docs/PERFORMANCE.md).
# Here it is kw-shifted copies of the input times kh-shifted copies of the output gradient, one GEMM.
def _kernel_grad_by_gemm_is_faster(x, grad) -> bool:
    """Where the GEMM beat XLA's kernel gradient, measured for every layer of the notebooks
    (docs/PERFORMANCE.md): output maps of 20x20 and more, and of 14x14 with 32 or more input
    channels. Three small layers where it won by little are left out to keep the rule simple.
    """
    out_pixels = grad.shape[1] * grad.shape[2]
    return out_pixels >= 20 * 20 or (out_pixels >= 14 * 14 and x.shape[-1] >= 32)


def _varying_like(kernel, x):
    """Under shard_map, mark the replicated kernel as varying across the devices x is split over.

    A custom_vjp's backward must return a cotangent of the type of its input. The kernel
    gradient of a device's shard is per device; with the kernel cast to varying here, JAX
    transposes the cast into the psum that adds the devices' gradients up.
    """
    axes = tuple(jax.typeof(x).manual_axis_type.varying - jax.typeof(kernel).manual_axis_type.varying)
    return lax.pcast(kernel, axes, to="varying") if axes else kernel


def _conv2d_forward(x, kernel, padding):
    if x.shape[-1] == 1:
        patches = _patches(x, kernel.shape[0], padding)
        return _single_channel_conv2d(patches, kernel), (patches, kernel)
    return _xla_conv2d(x, kernel, padding), (x, kernel)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv2d(x, kernel, padding: int):
    return _conv2d_forward(x, kernel, padding)[0]


def _conv2d_backward(padding, residuals, grad):
    saved, kernel = residuals
    if kernel.shape[2] == 1:
        return _single_channel_conv2d_backward(padding, saved, kernel, grad)
    x = saved
    if _input_grad_by_gemm_is_faster(padding, grad):
        grad_x = _input_grad_by_gemm(grad, kernel, padding)
    else:
        grad_x = jax.vjp(lambda x: _xla_conv2d(x, kernel, padding), x)[1](grad)[0]
    if _kernel_grad_by_gemm_is_faster(x, grad):
        grad_kernel = _kernel_grad_by_gemm(x, grad, kernel.shape[0], padding)
    else:
        grad_kernel = jax.vjp(lambda kernel: _xla_conv2d(x, kernel, padding), kernel)[1](grad)[0]
    return grad_x, grad_kernel


def _input_grad_by_gemm_is_faster(padding: int, grad) -> bool:
    """Unpadded convolutions with small maps: XLA's input gradient is slow there.

    XLA computes it as a convolution of the gradient padded by k - 1 on each side, which is
    mostly zeros on a small map and which its fast convolution library does not take. On larger
    maps or padded layers XLA's is as fast or faster (docs/PERFORMANCE.md).
    """
    return padding == 0 and grad.shape[1] * grad.shape[2] < 20 * 20


def _input_grad_by_gemm(grad, kernel, padding: int):
    """Each output position's shares of its k*k input positions (one GEMM), added back where they came from."""
    kernel_size, _, channels, features = kernel.shape
    batch, out_height, out_width, _ = grad.shape
    shares = (grad.reshape(-1, features) @ kernel.reshape(-1, features).T).reshape(
        batch, out_height, out_width, kernel_size, kernel_size, channels)
    padded_height, padded_width = out_height + kernel_size - 1, out_width + kernel_size - 1
    grad_padded = sum(
        jnp.pad(shares[:, :, :, i, j], ((0, 0), (i, padded_height - out_height - i),
                                        (j, padded_width - out_width - j), (0, 0)))
        for i in range(kernel_size) for j in range(kernel_size))
    return grad_padded[:, padding:padded_height - padding, padding:padded_width - padding]


def _kernel_grad_by_gemm(x, grad, kernel_size: int, padding: int):
    """d loss / d kernel[i, j, c, o] = sum over b, h, w of x_padded[b, h + i, w + j, c] * grad[b, h, w, o]."""
    channels, features = x.shape[-1], grad.shape[-1]
    out_height, out_width = grad.shape[1], grad.shape[2]
    x = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    padded_height = x.shape[1]
    # Column shifts go on the input, row shifts on the gradient (zero rows above and below).
    x_shifted = jnp.concatenate([x[:, :, j:j + out_width, :] for j in range(kernel_size)], axis=-1)
    grad_shifted = jnp.concatenate(
        [jnp.pad(grad, ((0, 0), (i, padded_height - out_height - i), (0, 0), (0, 0))) for i in range(kernel_size)],
        axis=-1)
    product = x_shifted.reshape(-1, kernel_size * channels).T @ grad_shifted.reshape(-1, kernel_size * features)
    # product[j * C + c, i * O + o] -> kernel[i, j, c, o]
    return product.reshape(kernel_size, channels, kernel_size, features).transpose(2, 0, 1, 3)


# The notebooks' first layers see one input channel, where XLA:CPU's convolution, its input and
# its kernel gradient run slowly (docs/PERFORMANCE.md). As k*k shifted copies of the image (the
# patches) times the kernel, they are matrix products; the patches are kept for the kernel gradient.
def _patches(x, kernel_size: int, padding: int):
    """(k*k, B, H', W'): patches[i*k + j, b, h, w] = x_padded[b, h + i, w + j, 0].

    The tap axis goes first: stacked along the last axis, XLA:CPU wrote them slowly.
    """
    x = jnp.pad(x[..., 0], ((0, 0), (padding, padding), (padding, padding)))
    out_height, out_width = x.shape[1] - kernel_size + 1, x.shape[2] - kernel_size + 1
    return jnp.stack([x[:, i:i + out_height, j:j + out_width]
                      for i in range(kernel_size) for j in range(kernel_size)])


def _single_channel_conv2d(patches, kernel):
    return jnp.einsum("tbhw,to->bhwo", patches, kernel.reshape(-1, kernel.shape[-1]))


def _single_channel_conv2d_backward(padding, patches, kernel, grad):
    taps, features = patches.shape[0], kernel.shape[-1]
    grad_kernel = (patches.reshape(taps, -1) @ grad.reshape(-1, features)).reshape(kernel.shape)
    return _input_grad_by_gemm(grad, kernel, padding), grad_kernel


_conv2d.defvjp(_conv2d_forward, _conv2d_backward)


def _global_sum(value, axis_name):
    """Sum over every axis but the features, across the devices of `axis_name` if given."""
    total = jnp.sum(value, tuple(range(value.ndim - 1)))
    return total if axis_name is None else lax.psum(total, axis_name)


# Training-mode BatchNorm with its gradient written out: two reductions and one elementwise
# pass. XLA's gradient of the forward pass took several more passes over the activations
# (docs/PERFORMANCE.md).
def batch_norm_training(x, scale, bias, weights, count, eps: float, axis_name):
    """`layers.batch_norm_training` with its gradient written out (below)."""
    return _batch_norm_training(x, _varying_like(scale, x), _varying_like(bias, x), weights, count, eps, axis_name)


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def _batch_norm_training(x, scale, bias, weights, count, eps: float, axis_name):
    """(y, batch mean, biased batch variance) over the examples with weight 1.

    Two passes (mean, then mean squared deviation) rather than E[x^2] - E[x]^2: as accurate
    as torch's. Sums and counts (not means) cross devices, so shards may hold different
    numbers of valid examples.
    """
    return _batch_norm_training_forward(x, scale, bias, weights, count, eps, axis_name)[0]


def _batch_norm_training_forward(x, scale, bias, weights, count, eps, axis_name):
    mean = _global_sum(x * weights, axis_name) / count
    centered = x - mean
    var = _global_sum(jnp.square(centered) * weights, axis_name) / count
    inv_std = lax.rsqrt(var + eps)
    normalized = centered * inv_std
    return (normalized * scale + bias, mean, var), (normalized, inv_std, scale, weights, count)


def _batch_norm_training_backward(eps, axis_name, residuals, cotangents):
    """Every output depends on the batch statistics, which depend on the weighted examples:

    dx = scale * inv_std * (dy - w / n * (sum(dy) + x_hat * sum(dy * x_hat))),
    plus the (normally zero) cotangents of the returned mean and variance. The scale's and
    bias's gradients are this device's sums; JAX adds them up across devices.
    """
    normalized, inv_std, scale, weights, count = residuals
    grad_y, grad_mean, grad_var = cotangents
    grad_bias = _global_sum(grad_y, None)
    grad_scale = _global_sum(grad_y * normalized, None)
    total_grad_bias, total_grad_scale = ((grad_bias, grad_scale) if axis_name is None
                                         else lax.psum((grad_bias, grad_scale), axis_name))
    share = weights / count
    grad_x = (scale * inv_std * (grad_y - share * (total_grad_bias + normalized * total_grad_scale))
              + share * (grad_mean + 2 * grad_var * normalized / inv_std))
    return grad_x, grad_scale, grad_bias, jnp.zeros_like(weights), jnp.zeros_like(count)


_batch_norm_training.defvjp(_batch_norm_training_forward, _batch_norm_training_backward)


def fusion_barrier(x):
    """x, through an identity reduction (a minimum with the largest value of its type).

    XLA does not fuse a reduction into its consumers, so it computes x once and stores it
    instead of recomputing it inside every consumer that reads it. (optimization_barrier
    would say so directly, but XLA:CPU removes it before fusion.)
    """
    largest = jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).max
    return jnp.min(jnp.stack([x, jnp.full_like(x, largest)]), axis=0)
