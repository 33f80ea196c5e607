"""`jaxmnist plot` and `jaxmnist data show`: the notebooks' pictures of one run, and of augmented samples.

curves, errors and lr are drawn from the workdir's files (jaxmnist.report.plots); predictions
(notebook 001's predicted test images) and feature-maps (notebook 004's conv and pool outputs)
run the model of its latest checkpoint. JAX and the modules that need it are imported by the
pictures that draw with them, so the pictures of a workdir's files start in a fraction of a second.
"""

import math
import textwrap
from typing import TYPE_CHECKING

from jaxmnist.data import pipeline
from jaxmnist.errors import UserError
from jaxmnist.report import plots

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Notebook 004 shows the maps of a '5': index 3 of its first shuffled training batch, an order
# torch's random generator decides. The first training image labelled 5 stands in for it.
FEATURE_MAP_LABEL = 5


def _load_trained(workdir):
    """(config, module, variables) of the workdir's latest checkpoint; tests replace this seam."""
    from jaxmnist.inference.load import load_trained

    return load_trained(workdir)


def _load_split(config, split: str, data_dir, data_source):
    # By default the data the run was trained on.
    return pipeline.load(config["dataset"], split, data_dir or config.get("data_dir"),
                         data_source or config.get("data_source"))


def _eval_images(config, data_dir, data_source, indices, split=None):
    """(raw uint8 images, preprocessed images, labels) of `indices` of `split` (default: the run's test
    split), preprocessed as the run's test eval (or its first eval): no augmentation."""
    import jax
    import numpy as np

    from jaxmnist.data import augment, batches

    eval_name = "test" if "test" in config["eval"] else next(iter(config["eval"]))
    spec = config["eval"][eval_name]
    data = _load_split(config, split or spec["split"], data_dir, data_source)
    stats = None
    if "'train'" in spec["pp"] or '"train"' in spec["pp"]:
        stats = pipeline.pixel_stats(_load_split(config, config["train_split"], data_dir, data_source))
    indices = np.asarray(indices)
    indices = indices[indices < len(data.labels)]
    batch = batches.preprocessed(data, indices, augment.parse(spec["pp"], stats), jax.random.key(0))
    return np.asarray(data.images[indices]), batch["image"], np.asarray(batch["label"])


def plot_predictions(workdir, out, count: int = 12, data_dir=None, data_source=None) -> "Figure":
    """Notebook 001's predict_batch + plot_data: the first test images titled with the predicted class."""
    import numpy as np

    from jaxmnist.inference.evaluate import class_names

    if count < 1:
        raise UserError(f"--n must be at least 1, got {count}")
    config, module, variables = _load_trained(workdir)
    raw, images, labels = _eval_images(config, data_dir, data_source, np.arange(count))
    predictions = np.asarray(module.apply(variables, images, train=False)).argmax(axis=1)
    names = class_names(config["dataset"])
    columns = min(6, len(labels))
    rows = math.ceil(len(labels) / columns)
    figure, axes = plots.pyplot().subplots(rows, columns, figsize=(2.2 * columns, 2.7 * rows + 0.5), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.set_xticks([])
        axis.set_yticks([])
        if index >= len(labels):
            axis.axis("off")
            continue
        axis.imshow(raw[index, :, :, 0], cmap="gray", interpolation="none")
        predicted, label = names[predictions[index]], names[labels[index]]
        correct = predictions[index] == labels[index]
        axis.set_title(f"Predicted: {predicted}" + ("" if correct else f"\n(true: {label})"),
                       color="black" if correct else "red", fontsize=10)
    figure.suptitle(f"{config.get('experiment', workdir)}: first {len(labels)} test images "
                    "(red: wrong prediction)")
    figure.tight_layout()
    return plots.save(figure, out)


def feature_maps(module, variables, image) -> list[tuple[str, object]]:
    """[(stage name, (H, W, C) maps)] for one image: the model's `visualize` stages where it has them
    (notebook 004's relu(conv1), pool, relu(conv2), pool), else the output of every conv layer."""
    import numpy as np
    from flax import traverse_util

    from jaxmnist.models.layers import Conv2d

    batch = image[None]
    if hasattr(module, "visualize"):
        stages = module.apply(variables, batch, method="visualize")
        names = ["relu(conv1)", "max_pool(relu(conv1))", "relu(conv2)", "max_pool(relu(conv2))"]
        return [(name, np.asarray(stage[0])) for name, stage in zip(names, stages)]
    _, state = module.apply(variables, batch, train=False, mutable=["intermediates"],
                            capture_intermediates=lambda layer, method: isinstance(layer, Conv2d))
    # Leaves are tuples of the captured call outputs, at paths ending in '__call__', in call order.
    return [("conv " + "/".join(path[:-1]), np.asarray(outputs[0][0]))
            for path, outputs in traverse_util.flatten_dict(state["intermediates"]).items()]


def plot_feature_maps(workdir, out, index: int | None = None, channels: int = 20, data_dir=None,
                      data_source=None) -> "Figure":
    """Notebook 004's pictures: the first `channels` maps of each stage for training image `index`
    (default: the first labelled 5, as the notebook's '5')."""
    import numpy as np

    config, module, variables = _load_trained(workdir)
    train_labels = _load_split(config, config["train_split"], data_dir, data_source).labels
    if index is None:
        fives = np.flatnonzero(train_labels == FEATURE_MAP_LABEL)
        if not len(fives):
            raise UserError(f"{config['train_split']} has no image labelled {FEATURE_MAP_LABEL}: choose one "
                            "with --index")
        index = int(fives[0])
        chosen = f"the first training image labelled {FEATURE_MAP_LABEL}, standing in for notebook 004's '5'"
    elif 0 <= index < len(train_labels):
        chosen = f"training image {index}"
    else:
        raise UserError(f"--index {index} is outside {config['train_split']} (0 .. {len(train_labels) - 1})")
    raw, images, labels = _eval_images(config, data_dir, data_source, [index], split=config["train_split"])
    stages = feature_maps(module, variables, images[0])
    if not stages:
        raise UserError(f"model '{config['model']}' has no conv layer to show")
    # As notebook 004's filter_convert: maps clipped to [0, 1], default colour map.
    clip = hasattr(module, "visualize")
    columns = 10
    stage_rows = [math.ceil(min(channels, maps.shape[-1]) / columns) for _, maps in stages]
    figure = plots.pyplot().figure(figsize=(13, 2.2 + sum(1.45 * rows + 0.45 for rows in stage_rows)))
    input_figure, *stage_figures = figure.subfigures(
        len(stages) + 1, 1, height_ratios=[2.2] + [1.45 * rows + 0.45 for rows in stage_rows])
    input_axis = input_figure.add_axes((0.02, 0.05, 0.13, 0.7))
    input_axis.imshow(raw[0, :, :, 0], cmap="gray")
    input_axis.set(xticks=[], yticks=[])
    input_axis.set_title(f"{config['train_split']} image {index}: label {labels[0]}", fontsize=10, loc="left")
    how = ("maps clipped to [0, 1] as the notebook" if clip else "conv outputs, before any activation")
    input_figure.text(0.2, 0.55, f"{config.get('experiment', workdir)}: feature maps of {chosen}\n"
                                 f"first {channels} channels of each stage; {how}", fontsize=12, va="center")
    for stage_figure, (name, maps), rows in zip(stage_figures, stages, stage_rows):
        shown = min(channels, maps.shape[-1])
        stage_figure.suptitle(f"{name}: {maps.shape[0]}x{maps.shape[1]}, {shown} of {maps.shape[-1]} maps",
                              fontsize=11, x=0.02, y=0.97, ha="left")
        axes = stage_figure.subplots(rows, columns, squeeze=False,
                                     gridspec_kw=dict(left=0.02, right=0.98, bottom=0.03, top=0.84, wspace=0.08,
                                                      hspace=0.08))
        for channel, axis in enumerate(axes.flat):
            axis.set(xticks=[], yticks=[])
            if channel >= shown:
                axis.axis("off")
                continue
            axis.imshow(np.clip(maps[:, :, channel], 0, 1) if clip else maps[:, :, channel])
    return plots.save(figure, out)


PLOT_KINDS = ("curves", "errors", "predictions", "feature-maps", "lr")


def plot_command(args) -> int:
    if args.kind in ("curves", "errors", "lr"):
        draw = {"curves": plots.plot_curves, "errors": plots.plot_errors, "lr": plots.plot_learning_rate}[args.kind]
        if draw(args.workdir, args.out) is None:
            raise UserError(f"{args.workdir} has no finished epoch in metrics.jsonl yet")
    elif args.kind == "predictions":
        plot_predictions(args.workdir, args.out, args.n, args.data_dir, args.data_source)
    elif args.kind == "feature-maps":
        plot_feature_maps(args.workdir, args.out, args.index, data_dir=args.data_dir, data_source=args.data_source)
    else:
        raise UserError(f"unknown plot kind '{args.kind}' (known: {', '.join(PLOT_KINDS)})")
    print(f"wrote {args.out}")
    return 0


def show_command(args) -> int:
    """A PNG grid of original images beside augmented draws (notebook 003's visualize_sample)."""
    import jax
    import numpy as np

    from jaxmnist.data import augment, batches

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
