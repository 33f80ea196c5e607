"""Per-image preprocessing ops with torchvision's semantics, composed by name.

A spec is a '|'-separated list of ops (big_vision style), e.g. notebook 002's train transform

    random_rotation(degrees=7, fill=1)|to_tensor|normalize(mean=0.1307, std=0.3081)

Until `to_tensor`, an image is on the 0..255 scale of the PIL image torchvision
works on, and each geometric op rounds its result to integers as PIL does for
8-bit images. `to_tensor` divides by 255 (torchvision's ToTensor); the ops
after it (`random_erasing`, `normalize`) act on the float tensor, as in
torchvision. Every random op takes its own key, so a spec applied with the
same key gives the same image: augmentation is pure and reproducible.

Only the semantics match torchvision (distributions, geometry, rounding):
torch's random number stream is not reproduced.
"""

import ast
import math
from typing import Callable

import dm_pix
import jax
import jax.numpy as jnp

from jaxmnist.errors import UserError

Image = jax.Array  # (H, W, 1) float32
Op = Callable[[Image, jax.Array], Image]

# torchvision tries this many random boxes before falling back (RandomResizedCrop, RandomErasing).
_ATTEMPTS = 10

OPS: dict[str, Callable[..., Op]] = {}


def _register(function):
    OPS[function.__name__] = function
    return function


def _pil_round(image: Image) -> Image:
    """PIL stores 8-bit results rounded half up and clipped to 0..255."""
    return jnp.clip(jnp.floor(image + 0.5), 0, 255)


def _range(value, name: str) -> tuple[float, float]:
    """torchvision's convention: a single number d means (-d, d)."""
    if isinstance(value, (int, float)):
        if value < 0:
            raise UserError(f"{name}: a single value must be non-negative, got {value}")
        return -float(value), float(value)
    low, high = (float(v) for v in value)
    if low > high:
        raise UserError(f"{name}: range ({low}, {high}) has low > high")
    return low, high


@_register
def random_rotation(degrees, fill: float = 0.0) -> Op:
    """transforms.RandomRotation(degrees, fill): nearest-neighbour, about the image centre, no expand.

    `fill` is on the 0..255 scale of the PIL image (notebook 002's fill=(1,) is 1/255 after ToTensor).
    Positive angles turn the image counter-clockwise, as PIL's Image.rotate does.
    """
    low, high = _range(degrees, "random_rotation degrees")
    fill = float(fill[0] if isinstance(fill, (tuple, list)) else fill)

    def apply(image: Image, key: jax.Array) -> Image:
        angle = jnp.deg2rad(jax.random.uniform(key, (), minval=low, maxval=high))
        cos, sin = jnp.cos(angle), jnp.sin(angle)
        # Output pixel (y, x) samples input R @ ((y, x) - centre) + centre: PIL's inverse mapping.
        rotation = jnp.array([[cos, sin, 0.0], [-sin, cos, 0.0], [0.0, 0.0, 1.0]])
        centre = jnp.array([(image.shape[0] - 1) / 2, (image.shape[1] - 1) / 2, 0.0])
        return dm_pix.affine_transform(image, rotation, offset=centre - rotation @ centre,
                                       order=0, mode="constant", cval=fill)

    return apply


def _bilinear_weights(start: jax.Array, length: jax.Array, in_size: int, out_size: int) -> jax.Array:
    """(out_size, in_size) matrix resizing rows [start, start + length) to out_size, as PIL's BILINEAR.

    PIL resizes the cropped image, so taps outside the crop box do not exist and
    the remaining weights are renormalised; jax.image.resize cannot restrict its
    taps to a box, hence this small matrix. Only upsampling (length <= out_size)
    occurs for 28x28 crops, where PIL's filter support is 1 pixel.
    """
    centre = (jnp.arange(out_size) + 0.5) * (length / out_size)  # in crop coordinates
    offset_in_crop = jnp.arange(in_size) - start
    weights = jnp.maximum(0.0, 1.0 - jnp.abs(offset_in_crop[None, :] + 0.5 - centre[:, None]))
    inside = (offset_in_crop >= 0) & (offset_in_crop < length)
    weights = jnp.where(inside[None, :], weights, 0.0)
    return weights / weights.sum(axis=1, keepdims=True)


def _sample_box(key, image_size: int, scale, ratio, area_to_sides, uniform_ratio: bool = False) -> tuple:
    """torchvision's rejection sampling of a box: the first of 10 candidates that fits, if any.

    The aspect ratio is drawn log-uniformly in `ratio`, or with `uniform_ratio` uniformly.
    """
    area_key, ratio_key, top_key, left_key = jax.random.split(key, 4)
    area = image_size * image_size * jax.random.uniform(area_key, (_ATTEMPTS,), minval=scale[0], maxval=scale[1])
    if uniform_ratio:
        aspect = jax.random.uniform(ratio_key, (_ATTEMPTS,), minval=ratio[0], maxval=ratio[1])
    else:
        aspect = jnp.exp(jax.random.uniform(ratio_key, (_ATTEMPTS,), minval=math.log(ratio[0]),
                                            maxval=math.log(ratio[1])))
    height, width, fits = area_to_sides(area, aspect)
    chosen = jnp.argmax(fits)
    height, width = height[chosen], width[chosen]
    # torch.randint(0, n + 1) is uniform over 0..n.
    top = jnp.floor(jax.random.uniform(top_key) * (image_size - height + 1))
    left = jnp.floor(jax.random.uniform(left_key) * (image_size - width + 1))
    return fits.any(), top, left, height, width


@_register
def random_resized_crop(size: int = 28, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> Op:
    """transforms.RandomResizedCrop(size, scale, ratio) with bilinear resizing.

    Scale upper bounds above 1 (notebook 003 uses (0.8, 1.2)) are valid: candidate
    boxes larger than the image are rejected, and after 10 rejections the whole
    image is used (torchvision's fallback for ratio ranges containing 1).
    """
    scale = tuple(float(s) for s in scale)
    if not (0 < scale[0] <= scale[1]):
        raise UserError(f"random_resized_crop scale {scale} must satisfy 0 < low <= high")

    def apply(image: Image, key: jax.Array) -> Image:
        side = image.shape[0]
        if image.shape[1] != side or size != side:
            raise UserError("random_resized_crop supports square images resized to their own size only")
        if not ratio[0] <= 1.0 <= ratio[1]:
            raise UserError(f"random_resized_crop ratio {ratio} must contain 1 for square images")

        def sides(area, aspect):
            width, height = jnp.round(jnp.sqrt(area * aspect)), jnp.round(jnp.sqrt(area / aspect))
            return height, width, (width > 0) & (width <= side) & (height > 0) & (height <= side)

        found, top, left, height, width = _sample_box(key, side, scale, ratio, sides)
        top, left = jnp.where(found, top, 0.0), jnp.where(found, left, 0.0)
        height, width = jnp.where(found, height, side), jnp.where(found, width, side)
        rows = _bilinear_weights(top, height, side, size)
        cols = _bilinear_weights(left, width, side, size)
        # PIL resamples horizontally into an 8-bit image, then vertically.
        horizontal = _pil_round(jnp.einsum("hwc,xw->hxc", image, cols))
        return _pil_round(jnp.einsum("hxc,yh->yxc", horizontal, rows))

    return apply


@_register
def to_tensor() -> Op:
    """transforms.ToTensor: 0..255 -> [0, 1]."""
    return lambda image, key: image / 255.0


@_register
def random_erasing(p: float = 0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value: float = 0.0,
                   uniform_ratio: bool = False) -> Op:
    """transforms.RandomErasing(p, scale, ratio, value) on the [0, 1] tensor (after to_tensor).

    torchvision draws the box's aspect ratio log-uniformly in `ratio` since 0.8; `uniform_ratio=True`
    draws it uniformly, as torchvision 0.7 (torch 1.6, notebook 003's) did.
    """
    scale = tuple(float(s) for s in scale)

    def apply(image: Image, key: jax.Array) -> Image:
        coin_key, box_key = jax.random.split(key)
        side = image.shape[0]

        def sides(area, aspect):
            # Note torchvision's erasing box puts the aspect on the height (the crop puts it on the width).
            height, width = jnp.round(jnp.sqrt(area * aspect)), jnp.round(jnp.sqrt(area / aspect))
            return height, width, (height < side) & (width < side)

        found, top, left, height, width = _sample_box(box_key, side, scale, ratio, sides, uniform_ratio)
        erase = found & (jax.random.uniform(coin_key) < p)
        rows, cols = jnp.arange(side)[:, None], jnp.arange(image.shape[1])[None, :]
        box = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
        return jnp.where((erase & box)[..., None], value, image)

    return apply


@_register
def normalize(mean: float, std: float) -> Op:
    """transforms.Normalize((mean,), (std,))."""
    mean = float(mean[0] if isinstance(mean, (tuple, list)) else mean)
    std = float(std[0] if isinstance(std, (tuple, list)) else std)
    if std <= 0:
        raise UserError(f"normalize: std must be positive, got {std}")
    return lambda image, key: (image - mean) / std


def _parse_op(text: str) -> tuple[str, dict]:
    text = text.strip()
    try:
        call = ast.parse(text if "(" in text else f"{text}()", mode="eval").body
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
            raise ValueError
        if call.args:
            raise UserError(f"preprocessing op '{text}': pass arguments by name, e.g. normalize(mean=0.5, std=0.5)")
        kwargs = {keyword.arg: ast.literal_eval(keyword.value) for keyword in call.keywords}
    except (SyntaxError, ValueError):
        raise UserError(f"cannot parse preprocessing op '{text}' (expected name(arg=value, ...))") from None
    if call.func.id not in OPS:
        raise UserError(f"unknown preprocessing op '{call.func.id}' (known: {', '.join(sorted(OPS))})")
    return call.func.id, kwargs


def _split_ops(spec: str) -> list[str]:
    """Split on '|' outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in spec:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "|" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def parse(spec: str, train_stats: tuple[float, float] | None = None) -> Callable[[Image, jax.Array], Image]:
    """Compile a spec into one function (image 0..255, key) -> preprocessed image.

    `normalize(mean='train', std='train')` takes the statistics of the training split,
    given as `train_stats` (notebook 001 estimates Fashion-MNIST's this way).
    """
    ops = []
    for text in _split_ops(spec):
        name, kwargs = _parse_op(text)
        if name == "normalize" and "train" in (kwargs.get("mean"), kwargs.get("std")):
            if train_stats is None:
                raise UserError(f"'{text.strip()}' needs the training split's statistics, which were not given")
            kwargs = {key: train_stats[index] if kwargs.get(key) == "train" else kwargs.get(key)
                      for index, key in enumerate(("mean", "std"))}
        try:
            ops.append(OPS[name](**kwargs))
        except TypeError as error:
            raise UserError(f"preprocessing op '{text.strip()}': {error}") from None

    def apply(image: Image, key: jax.Array) -> Image:
        image = image.astype(jnp.float32)
        for index, op in enumerate(ops):
            image = op(image, jax.random.fold_in(key, index))
        return image

    return apply


def apply_batch(spec_fn: Callable[[Image, jax.Array], Image], images: jax.Array, key: jax.Array,
                positions: jax.Array | None = None) -> jax.Array:
    """Apply a compiled spec to a batch; example i gets key fold_in(key, positions[i]).

    Keys follow an example's position in the global batch (default: 0..B-1), so a
    batch split across devices or processes is augmented exactly as a whole one.
    """
    if positions is None:
        positions = jnp.arange(images.shape[0])
    keys = jax.vmap(lambda position: jax.random.fold_in(key, position))(positions)
    return jax.vmap(spec_fn)(images, keys)
