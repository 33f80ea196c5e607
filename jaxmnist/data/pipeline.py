"""Splits in host memory: tfds's slicing syntax, and their pixel statistics.

MNIST-sized splits fit in accelerator memory: a split is loaded once into host memory, the train
loop puts it once on every device, and each compiled step gathers and preprocesses its batch
there from a few hundred indices (`jaxmnist.data.batches`).
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
    # allocating 8 bytes per pixel (docs/PERFORMANCE.md).
    pixels = np.asarray(split.images).reshape(-1)
    chunk = 1 << 20
    counts = sum(np.bincount(pixels[start:start + chunk], minlength=256)
                 for start in range(0, pixels.size, chunk)).astype(np.float64)
    values = np.arange(256) / 255.0
    mean = counts @ values / counts.sum()
    return float(mean), float(np.sqrt(counts @ (values - mean) ** 2 / counts.sum()))
