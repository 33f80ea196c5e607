"""Splits, orders and batches.

MNIST-sized splits fit in accelerator memory: a split is loaded once from tfds
into host memory, the train loop puts it once on every device, and each
compiled step gathers and preprocesses its batch there from a few hundred
indices (`jaxmnist.train.steps`).

Orders are pure functions of (seed, epoch), so any epoch's batches can be
regenerated exactly (resume relies on it). Training batches follow PyTorch's
DataLoader (the last, smaller batch is kept), and so do evaluation batches; the
train loop pads a last, smaller batch to the full size with a mask, so every
example counts exactly once and one compiled step serves the whole epoch.
"""

import re
from typing import NamedTuple

import numpy as np

from jaxmnist.data import prepare
from jaxmnist.errors import UserError


class Split(NamedTuple):
    images: np.ndarray  # (N, 28, 28, 1) uint8
    labels: np.ndarray  # (N,) int32


_SLICE = re.compile(r"^(?P<name>\w+)(\[(?P<start>-?\d*)(?P<start_pct>%?):(?P<stop>-?\d*)(?P<stop_pct>%?)\])?$")


def _slice_bounds(split: str, size: int) -> tuple[str, int, int]:
    """'train[:48000]', 'train[48000:]', 'train[:80%]' -> (name, start, stop), tfds's slicing syntax."""
    match = _SLICE.match(split.replace(" ", ""))
    if not match:
        raise UserError(f"cannot parse split '{split}' (examples: test, train[:48000], train[80%:])")

    def bound(which, text, percent, default):
        if text == "":
            return default
        value = int(text)
        if percent:
            value = round(size * value / 100)
        if not -size <= value <= size:
            raise UserError(f"split '{split}' is out of range: its {which} {text}{percent} lies outside "
                            f"'{match['name']}', which has {size:,} examples (bounds -{size} to {size})")
        return value + size if value < 0 else value

    start = bound("start", match["start"] or "", match["start_pct"], 0)
    stop = bound("stop", match["stop"] or "", match["stop_pct"], size)
    if start >= stop:
        raise UserError(f"split '{split}' selects no examples: it is empty, as its start {start} is not below "
                        f"its stop {stop}")
    return match["name"], start, stop


def load(dataset: str, split: str, data_dir: str | None = None, data_source: str | None = None,
         limit: int | None = None) -> Split:
    """A (sliced) split in IDX file order, in host memory. `limit` keeps only its first N examples."""
    name = _SLICE.match(split.replace(" ", ""))
    images, labels = prepare.load_split(dataset, name["name"] if name else split, data_dir, data_source)
    _, start, stop = _slice_bounds(split, len(labels))
    if limit is not None:
        stop = min(stop, start + limit)
    return Split(images[start:stop], labels[start:stop])


def pixel_stats(split: Split) -> tuple[float, float]:
    """Mean and std of the pixels scaled to [0, 1] (what transforms.Normalize is given)."""
    # From the histogram of the uint8 values: exact sums, without a float64 copy of every pixel.
    # bincount casts its input to int64; a chunk at a time, that stays in cache instead of
    # allocating 8 bytes per pixel (MNIST's train split: 0.11 s instead of 1.5 s here).
    pixels = np.asarray(split.images).reshape(-1)
    chunk = 1 << 20
    counts = sum(np.bincount(pixels[start:start + chunk], minlength=256)
                 for start in range(0, pixels.size, chunk)).astype(np.float64)
    values = np.arange(256) / 255.0
    mean = counts @ values / counts.sum()
    return float(mean), float(np.sqrt(counts @ (values - mean) ** 2 / counts.sum()))


def epoch_order(num_examples: int, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """The example order of one epoch: a permutation drawn from (seed, epoch) alone, or file order."""
    if not shuffle:
        return np.arange(num_examples)
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def train_batches(num_examples: int, batch_size: int, seed: int, epoch: int, shuffle: bool) -> list[np.ndarray]:
    """Index arrays of one training epoch; as DataLoader(drop_last=False), the last batch may be smaller."""
    return _batches(epoch_order(num_examples, seed, epoch, shuffle), batch_size)


def eval_batches(num_examples: int, batch_size: int) -> list[np.ndarray]:
    """Index arrays covering every example once, in order; the last batch may be smaller."""
    return _batches(np.arange(num_examples), batch_size)


def _batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def batch_fn(spec: str, train_stats: tuple[float, float] | None = None):
    """A jitted `(split, indices, key, positions=None) -> (images float32, labels)` for a preprocessing spec.

    `positions` are the examples' places in the global batch (see `augment.apply_batch`).
    """
    # Imported here: the rest of the module is numpy, and commands that only read splits
    # (`plot --kind curves`, `data info`) start without JAX's 1-2 s import.
    import jax

    from jaxmnist.data import augment

    preprocess = augment.parse(spec, train_stats)

    @jax.jit
    def make_batch(split: Split, indices: jax.Array, key: jax.Array, positions: jax.Array | None = None):
        images = split.images[indices]
        return augment.apply_batch(preprocess, images, key, positions), split.labels[indices]

    return make_batch
