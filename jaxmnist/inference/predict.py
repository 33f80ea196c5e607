"""`jaxmnist predict`: the class probabilities a model gives images.

`predict` takes
- PNG files: 28x28, read as grayscale (colour is converted). Other sizes are an error: MNIST
  digits are centred in a 20x20 box of a 28x28 image, and a resized picture is not that;
- .npy files: (N, 28, 28), (N, 28, 28, 1) or one (28, 28) image; uint8 (or whole numbers) in
  0..255, or floats in [0, 1];
- a split of the dataset, such as `test[:16]` (then the true labels are shown too).
Images are preprocessed as the config's 'test' evaluation (else its first) and the model runs
in inference mode. The probability is softmax of the outputs for models that return logits,
exp for log_softmax, the outputs themselves for softmax (`models.info(name)['output']`).
Like MNIST, pictures should be light digits on a dark background.
"""

import json
from pathlib import Path

import numpy as np

from jaxmnist import models, runtime
from jaxmnist.data import pipeline
from jaxmnist.errors import UserError
from jaxmnist.inference.forward import eval_spec, model_outputs, preprocessing, training_split
from jaxmnist.inference.load import LoadedModel, load
from jaxmnist.train.steps import eval_key


def probabilities(outputs: np.ndarray, model: str) -> np.ndarray:
    """Class probabilities from what the model returns (`models.info(model)['output']`)."""
    kind = models.info(model)["output"]
    outputs = np.asarray(outputs, np.float64)
    if kind == "softmax":
        return outputs
    if kind == "log_softmax":
        return np.exp(outputs)
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


# --- images to predict --------------------------------------------------------------------------

def _png_images(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.size != (28, 28):
                raise UserError(f"{path} is {image.size[0]}x{image.size[1]}: predict takes 28x28 images as MNIST's "
                                "(resize and centre the digit first)")
            pixels = np.asarray(image.convert("L"), np.uint8)
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"cannot read {path} as a PNG image: {error}") from None
    return pixels[None, :, :, None]


def _npy_images(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {path} as a .npy array: {str(error).splitlines()[0]}") from None
    if array.ndim == 2:
        array = array[None]
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3 or array.shape[1:] != (28, 28) or not len(array):
        raise UserError(f"{path} has shape {array.shape}: expected (N, 28, 28), (N, 28, 28, 1) or (28, 28)")
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        if array.min() < 0 or array.max() > 255:
            raise UserError(f"{path} holds whole numbers outside 0..255")
        return array.astype(np.uint8)[..., None]
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
            raise UserError(f"{path} holds floats outside [0, 1] (give pixels in [0, 1], or uint8 in 0..255)")
        return (array.astype(np.float32) * 255.0)[..., None]  # the 0..255 scale the preprocessing starts from
    raise UserError(f"{path} has dtype {array.dtype}: expected uint8 or floats in [0, 1]")


def images_to_predict(config, sources: list[str]) -> tuple[np.ndarray, list[int | None], list[str]]:
    """(images on the 0..255 scale (N, 28, 28, 1), each one's true label where known, and its name)."""
    images, labels, names = [], [], []
    for source in sources:
        path = Path(source)
        suffix = path.suffix.lower()
        if suffix in (".png", ".npy"):
            if not path.is_file():
                raise UserError(f"{path} does not exist")
            batch = _png_images(path) if suffix == ".png" else _npy_images(path)
            images.append(batch)
            labels += [None] * len(batch)
            names += [str(path)] if suffix == ".png" else [f"{path}[{index}]" for index in range(len(batch))]
        elif path.exists() or suffix:
            raise UserError(f"{source}: predict reads .png and .npy files, or a split such as test[:16]")
        else:
            split, start = _split_slice(config, source)
            images.append(np.asarray(split.images))
            labels += [int(label) for label in split.labels]
            name = source.split("[")[0].strip()
            names += [f"{name}[{start + index}]" for index in range(len(split.labels))]
    # Mixed uint8 and float arrays: float32 keeps both exactly.
    dtype = np.uint8 if all(batch.dtype == np.uint8 for batch in images) else np.float32
    all_images = np.concatenate([batch.astype(dtype) for batch in images])
    return all_images, labels, names


def _split_slice(config, source: str) -> tuple[pipeline.Split, int]:
    """The examples of a split slice such as 'test[100:116]', and where the slice starts in its split."""
    whole = pipeline.load(config.dataset, source.split("[")[0].strip(), config.get("data_dir"),
                          config.get("data_source"))
    _, start, stop = pipeline._slice_bounds(source, len(whole.labels))
    return pipeline.Split(whole.images[start:stop], whole.labels[start:stop]), start


def predict(loaded: LoadedModel, sources: list[str]) -> list[dict]:
    """One row per image: index, source, predicted class, its probability, all probabilities (and label)."""
    config = loaded.config
    images, labels, names = images_to_predict(config, sources)
    _, spec, _ = eval_spec(config, "test")
    preprocess = preprocessing(spec, training_split(config))
    data = pipeline.Split(images, np.zeros(len(images), np.int32))  # labels are not used by the model
    batch_size = min(config.eval_batch_size, len(images))
    outputs = model_outputs(loaded, data, preprocess, eval_key(config.seed, loaded.step), batch_size)
    probs = probabilities(outputs, config.model)
    rows = []
    for index, (name, row) in enumerate(zip(names, probs)):
        predicted = int(row.argmax())
        entry = {"index": index, "source": name, "predicted": predicted, "probability": float(row[predicted]),
                 "probabilities": [float(value) for value in row]}
        if labels[index] is not None:
            entry["label"] = labels[index]
        rows.append(entry)
    return rows


def format_predictions(rows: list[dict]) -> str:
    with_labels = any("label" in row for row in rows)
    source_width = max(6, *(len(row["source"]) for row in rows))
    lines = [f"{'index':>5}  {'source':<{source_width}}  {'predicted':>9}  {'probability':>11}"
             + ("  label" if with_labels else "")]
    for row in rows:
        line = f"{row['index']:>5}  {row['source']:<{source_width}}  {row['predicted']:>9}  {row['probability']:>11.4f}"
        if "label" in row:
            line += f"  {row['label']:>5}" + ("" if row["label"] == row["predicted"] else "  wrong")
        lines.append(line)
    return "\n".join(lines)


# --- commands -----------------------------------------------------------------------------------

def predict_command(args) -> int:
    """`jaxmnist predict WORKDIR_OR_CHECKPOINT IMAGES... [--experiment NAME] [--step N] [--json]`."""
    runtime.enable_compilation_cache()
    loaded = load(args.path, args.experiment, args.step, args.data_dir, args.data_source, devices=1)
    rows = predict(loaded, args.images)
    if args.json:
        print(json.dumps({"source": loaded.source, "experiment": loaded.config.get("experiment"),
                          "model": loaded.config.model, "step": loaded.step, "predictions": rows}, indent=2))
    else:
        print(format_predictions(rows))
    return 0
