"""Images/s of the device-resident augmented input pipeline (gather + preprocess, jitted), no training.

Usage: python scripts/pipeline_throughput.py [--data-dir DIR] [--batches 200]

Measures the notebooks' train transforms on the full MNIST train split, after one
warm-up batch (compilation), blocking on each batch's result.
"""

import argparse
import time

import jax

from jaxmnist.data import augment, batches, pipeline

SPECS = {
    "002 rotation, batch 128": ("random_rotation(degrees=7, fill=1)|to_tensor|normalize(mean=0.1307, std=0.3081)",
                                128),
    "003 crop+rotation, batch 250": ("random_resized_crop(scale=(0.8, 1.2))|random_rotation(degrees=30)|to_tensor",
                                     250),
    "003 crop+rotation+erasing, batch 100": (
        "random_resized_crop(scale=(0.8, 1.0))|random_rotation(degrees=30)|to_tensor"
        "|random_erasing(p=0.5, scale=(0.02, 0.2))|normalize(mean=0.5, std=0.5)", 100),
    "no augmentation, batch 64": ("to_tensor|normalize(mean=0.1307, std=0.3081)", 64),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir")
    parser.add_argument("--batches", type=int, default=200)
    args = parser.parse_args()
    split = pipeline.load("mnist", "train", args.data_dir)
    print(f"jax {jax.__version__}, devices {jax.devices()}")
    for name, (spec, batch_size) in SPECS.items():
        preprocess = augment.parse(spec)
        rows = batches.epoch_rows(len(split.labels), batch_size, 1, seed=0, epoch=1, shuffle=True)[:-1]
        jax.block_until_ready(batches.preprocessed(split, rows[0], preprocess, jax.random.key(0)))
        started = time.perf_counter()
        for step, indices in enumerate(rows[1:args.batches + 1]):
            jax.block_until_ready(batches.preprocessed(split, indices, preprocess, jax.random.key(step)))
        elapsed = time.perf_counter() - started
        images = int((rows[1:args.batches + 1] >= 0).sum())
        print(f"{name:40s} {images / elapsed:10.0f} images/s")


if __name__ == "__main__":
    main()
