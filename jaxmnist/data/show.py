"""`jaxmnist data show`: a PNG grid of original images beside augmented draws (notebook 003's visualize_sample)."""

import textwrap

import jax
import numpy as np

from jaxmnist.data import augment, batches, pipeline
from jaxmnist.report import plots


def show_command(args) -> int:
    split = pipeline.load(args.dataset, args.split, args.data_dir, args.data_source, limit=args.n)
    train_stats = None
    if "'train'" in args.augment or '"train"' in args.augment:
        train_stats = pipeline.pixel_stats(pipeline.load(args.dataset, "train", args.data_dir, args.data_source))
    preprocess = augment.parse(args.augment, train_stats)
    indices = np.arange(len(split.labels))
    draws = [np.asarray(batches.preprocessed(split, indices, preprocess, jax.random.key(args.seed + variant))["image"])
             [..., 0] for variant in range(args.variants)]
    originals = np.asarray(split.images)[..., 0] / 255.0

    rows, columns = len(indices), 1 + args.variants
    figure, axes = plots.pyplot().subplots(rows, columns, figsize=(1.6 * columns, 1.6 * rows), squeeze=False)
    for row in range(rows):
        panels = [(originals[row], "original [0,1]")] + [
            (draw[row], f"draw {variant + 1}") for variant, draw in enumerate(draws)]
        for column, (image, title) in enumerate(panels):
            axis = axes[row, column]
            # Augmented tensors may be normalised: show each on its own value range, as printed below it.
            axis.imshow(image, cmap="gray", vmin=min(image.min(), 0.0), vmax=max(image.max(), 1.0))
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(title, fontsize=8)
            axis.set_xlabel(f"[{image.min():.2f}, {image.max():.2f}]", fontsize=6)
        axes[row, 0].set_ylabel(f"label {int(split.labels[row])}", fontsize=7)
    # Spaces around '|' let a long pipeline wrap between its ops, not inside one.
    title = textwrap.fill(f"{args.dataset} {args.split}: {args.augment.replace('|', ' | ')}", width=18 * columns)
    figure.suptitle(title, fontsize=8)
    figure.tight_layout()
    plots.save(figure, args.out)
    print(f"wrote {args.out} ({rows} images x {args.variants} augmented draws)")
    return 0
