"""Augmentation ops: torchvision/PIL semantics, identity at zero strength, determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from jaxmnist.data import augment, idx
from jaxmnist.errors import UserError

from conftest import FIXTURE_IDX

ALL_OPS = ("random_resized_crop(scale=(0.8, 1.2))|random_rotation(degrees=30, fill=1)|to_tensor"
           "|random_erasing(p=0.5, scale=(0.02, 0.2))|normalize(mean=0.5, std=0.5)")


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return idx.read_split(FIXTURE_IDX / "mnist", "mnist", "test", verify_official=False).images[:32]


def _apply(spec, images, seed=0):
    return np.asarray(augment.apply_batch(augment.parse(spec), jnp.asarray(images[..., None]), jax.random.key(seed)))


def test_shape_and_dtype_are_preserved(digits):
    out = _apply(ALL_OPS, digits)
    assert out.shape == (32, 28, 28, 1) and out.dtype == np.float32
    assert out.min() >= -1.0 and out.max() <= 1.0


@pytest.mark.parametrize("spec", [
    "random_rotation(degrees=0)",
    "random_resized_crop(scale=(1.0, 1.0), ratio=(1.0, 1.0))",
    "random_erasing(p=0.0)",
])
def test_zero_strength_is_identity(digits, spec):
    np.testing.assert_array_equal(_apply(spec, digits)[..., 0], digits.astype(np.float32))


@pytest.mark.fast
def test_rotation_by_90_degrees_moves_a_known_pixel():
    image = np.zeros((1, 28, 28), np.uint8)
    image[0, 2, 20] = 255  # row 2, column 20
    out = _apply("random_rotation(degrees=(90, 90))", image)[0, ..., 0]
    # Counter-clockwise about the centre (13.5, 13.5): (x=20, y=2) -> (x=2, y=7).
    assert out[7, 2] == 255 and out.sum() == 255


def test_rotation_equals_pil_exactly_including_fill(digits):
    ours = _apply("random_rotation(degrees=(33, 33), fill=1)", digits)[..., 0]
    pil = np.stack([np.asarray(Image.fromarray(d).rotate(33, resample=Image.NEAREST, fillcolor=1)) for d in digits])
    np.testing.assert_array_equal(ours, pil)
    assert (ours == 1).sum() > 0  # the corners are filled with 1 on the 0..255 scale (notebook 002)


def test_crop_resize_matches_pil_bilinear_within_one_grey_level(digits):
    rng = np.random.default_rng(0)
    mismatched = 0
    for digit in digits:
        height, width = rng.integers(12, 29, size=2)
        top, left = rng.integers(0, 29 - height), rng.integers(0, 29 - width)
        pil = np.asarray(Image.fromarray(digit).crop((left, top, left + width, top + height))
                         .resize((28, 28), Image.BILINEAR), dtype=np.float32)
        rows = augment._bilinear_weights(jnp.float32(top), jnp.float32(height), 28, 28)
        cols = augment._bilinear_weights(jnp.float32(left), jnp.float32(width), 28, 28)
        horizontal = augment._pil_round(jnp.einsum("hw,xw->hx", digit.astype(np.float32), cols))
        ours = np.asarray(augment._pil_round(jnp.einsum("hx,yh->yx", horizontal, rows)))
        assert np.abs(ours - pil).max() <= 1  # PIL's 8-bit fixed-point arithmetic rounds a few pixels differently
        mismatched += (ours != pil).sum()
    assert mismatched / (len(digits) * 784) < 0.02


def test_resized_crop_with_scale_above_one_falls_back_to_the_whole_image():
    image = np.arange(784, dtype=np.float32).reshape(28, 28, 1) % 256
    crop = augment.random_resized_crop(scale=(1.5, 2.0))  # no candidate box fits: torchvision's fallback
    np.testing.assert_array_equal(crop(jnp.asarray(image), jax.random.key(3)), image)


def test_erasing_area_is_within_the_scale_bounds():
    erase = augment.random_erasing(p=1.0, scale=(0.02, 0.2), value=-1.0)
    ones = jnp.ones((28, 28, 1))
    areas = np.array([float((erase(ones, jax.random.key(seed)) == -1).mean()) for seed in range(200)])
    assert areas.min() >= 0.015 and areas.max() <= 0.21  # box sides are rounded to whole pixels
    assert (areas > 0).mean() > 0.9  # nearly every draw finds a box that fits


@pytest.mark.parametrize("uniform_ratio, tall_share", [(True, 2.3 / 3.0), (False, 0.5)])
def test_erasing_draws_the_aspect_ratio_as_its_torchvision_version(uniform_ratio, tall_share):
    # ratio (0.3, 3.3): torchvision 0.7 draws it uniformly, so 2.3 / 3.0 of the boxes are taller than
    # wide; log-uniformly (torchvision >= 0.8) half of them are.
    erase = augment.random_erasing(p=1.0, scale=(0.02, 0.2), value=-1.0, uniform_ratio=uniform_ratio)
    keys = jax.random.split(jax.random.key(0), 1000)
    boxes = np.asarray(jax.jit(jax.vmap(erase, in_axes=(None, 0)))(jnp.ones((28, 28, 1)), keys))[..., 0] == -1
    heights, widths = boxes.any(axis=2).sum(axis=1), boxes.any(axis=1).sum(axis=1)
    unequal = heights != widths
    assert abs((heights > widths)[unequal].mean() - tall_share) < 0.04


def test_erasing_probability():
    erase = augment.random_erasing(p=0.5, scale=(0.02, 0.2), value=-1.0)
    ones = jnp.ones((28, 28, 1))
    erased = np.mean([bool((erase(ones, jax.random.key(seed)) == -1).any()) for seed in range(400)])
    assert 0.4 < erased < 0.6


def test_same_key_same_result_different_key_different_result(digits):
    first, again, other = _apply(ALL_OPS, digits, 7), _apply(ALL_OPS, digits, 7), _apply(ALL_OPS, digits, 8)
    np.testing.assert_array_equal(first, again)
    assert (first != other).any(axis=(1, 2, 3)).mean() > 0.9


@pytest.mark.parametrize("spec, message", [
    ("random_spin(degrees=3)", "unknown preprocessing op 'random_spin'"),
    ("random_rotation(7)", "pass arguments by name"),
    ("normalize(mean=0.5, std=0)", "std must be positive"),
    ("random_rotation(degrees=3, colour=2)", "unexpected keyword"),
    ("to_tensor|normalize(mean=0.5", "cannot parse"),
])
def test_bad_specs_give_clear_errors(spec, message):
    with pytest.raises(UserError, match=message):
        augment.parse(spec)
