"""`jaxmnist evaluate` and `jaxmnist predict`: a trained or imported model on a split or on images.

A model comes from one of
- a training workdir (config.json and checkpoints/): the run's config says the dataset, the
  evaluation preprocessing and the loss. `--step N` picks a saved step, by default the latest;
  a step's own folder (WORKDIR/checkpoints/N) names the same;
- a checkpoint directory written by `jaxmnist import-torch`: it holds only the variables (and
  the model's name), so `--experiment NAME` supplies the rest, and the experiment's model must
  be the checkpoint's.

`evaluate` runs the train loop's own evaluation program (CompiledPrograms.eval_program) on the
batches, keys and number of devices training used (where the host has that many), so a
workdir's numbers for one of its eval splits at a step where training evaluated are the ones in
metrics.jsonl. Per-class accuracy and the confusion matrix come from the model's outputs on the
same batches (same keys: also in notebook 004's train-mode evaluation). The confusion matrix is
drawn only when asked, with --confusion FILE.png.

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

import dataclasses
import functools
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import PartitionSpec as P

from jaxmnist import checkpoint, models, runtime, torch_port
from jaxmnist import config as config_lib
from jaxmnist.data import augment, pipeline
from jaxmnist.errors import UserError
from jaxmnist.report import runs
from jaxmnist.train.programs import CompiledPrograms, resolve_steps_per_dispatch
from jaxmnist.train.steps import DATA_AXIS, TrainState, device_batch, model_variables, padded_rows, summarise

# Written by `jaxmnist import-torch` beside the variables: {"model": registry name}.
IMPORTED_MODEL_FILE = torch_port.MODEL_FILE
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
NUM_CLASSES = 10


@dataclasses.dataclass
class LoadedModel:
    """A model's variables on the programs' devices and the config saying how to evaluate it."""

    config: ml_collections.ConfigDict
    programs: CompiledPrograms
    state: TrainState  # params and batch_stats; no optimizer state
    step: int | None  # the checkpoint's step; None for an imported checkpoint
    source: str  # what the variables come from, for the reports
    imported: bool


# --- where the variables come from ------------------------------------------------------------

def locate(path) -> tuple[Path, int | None, bool]:
    """(directory, step named by the path, whether it is an imported checkpoint) of WORKDIR_OR_CHECKPOINT."""
    path = Path(path)
    if (path / "config.json").exists():
        return path, None, False
    if path.name.isdigit() and path.parent.name == "checkpoints" and (path.parent.parent / "config.json").exists():
        return path.parent.parent, int(path.name), False
    if (path / "_CHECKPOINT_METADATA").exists() or (path / IMPORTED_MODEL_FILE).exists():
        return path, None, True
    if not path.exists():
        raise UserError(f"{path} does not exist")
    raise UserError(f"{path} is neither a training workdir (no config.json) nor a checkpoint written by "
                    "`jaxmnist import-torch`")


def _chosen_step(workdir: Path, step: int | None) -> int:
    steps = checkpoint.saved_steps(workdir)
    if not steps:
        raise UserError(f"{workdir} has no checkpoint yet")
    if step is None:
        return steps[-1]
    if step not in steps:
        raise UserError(f"{workdir} has no checkpoint at step {step} (saved steps: {', '.join(map(str, steps))})")
    return step


def saved_device_count(path, step: int | None = None) -> int:
    """How many devices wrote a workdir's checkpoint (1 for an imported one or where unknown).

    Read from the checkpoint's progress JSON without JAX, so a CPU process can be given that many
    devices before JAX starts: the evaluation then sums over devices as training did.
    """
    directory, named_step, imported = locate(path)
    if imported:
        return 1
    try:
        chosen = _chosen_step(directory, step if step is not None else named_step)
        progress = json.loads((directory / "checkpoints" / str(chosen) / "progress" / "metadata").read_text())
        return max(1, int(progress.get("devices", 1)))
    except (UserError, OSError, ValueError, TypeError, AttributeError):
        return 1  # the restore reports what is wrong with it


def _restore_workdir_state(workdir: Path, run_config, programs: CompiledPrograms,
                           step: int | None) -> tuple[TrainState, int]:
    """(TrainState, step) of the chosen checkpoint; the latest readable one without `step`."""
    import orbax.checkpoint as ocp

    manager = checkpoint.open_manager(workdir, read_only=True)
    abstract = programs.abstract_state(run_config.seed)
    if step is None:
        restored = checkpoint.restore_latest(manager, abstract, set_aside_unreadable=False)
        if restored is None:
            raise UserError(f"{workdir} has no readable checkpoint")
        return restored[0], int(restored[0].step)
    try:
        restored = manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), progress=ocp.args.JsonRestore()))
    except Exception as error:  # noqa: BLE001 - orbax raises many types for an unreadable checkpoint
        reason = (str(error).strip().splitlines() or [""])[0][:200]
        raise UserError(f"the checkpoint at step {step} of {workdir} is unreadable ({type(error).__name__}: "
                        f"{reason})") from None
    saved_digest = restored.progress.get(checkpoint.DIGEST_KEY)
    if saved_digest is not None and saved_digest != checkpoint.state_digest(restored.state):
        raise UserError(f"the checkpoint at step {step} of {workdir} does not match the digest saved with it "
                        "(damaged since it was written)")
    return restored.state, step


def _variable_shapes(model: str, overrides: dict) -> dict:
    module = models.create(model, **overrides)
    shapes = jax.eval_shape(functools.partial(models.init_variables, module), jax.random.key(0))
    return {"params": shapes["params"], "batch_stats": shapes.get("batch_stats", {})}


def _same_shapes(variables: dict, model: str, overrides: dict) -> bool:
    expected = _variable_shapes(model, overrides)
    try:
        found = {"params": variables["params"], "batch_stats": variables.get("batch_stats") or {}}
    except (KeyError, TypeError):
        return False
    if jax.tree.structure(found) != jax.tree.structure(expected):
        return False
    return all(np.shape(a) == b.shape for a, b in zip(jax.tree.leaves(found), jax.tree.leaves(expected)))


def _experiments_of_model(model: str) -> list[str]:
    names = []
    for name in config_lib.experiment_names():
        try:
            if config_lib.load_experiment(name).model == model:
                names.append(name)
        except UserError:
            continue
    return names


def _imported_model_name(directory: Path) -> str | None:
    try:
        return models.canonical_name(json.loads((directory / IMPORTED_MODEL_FILE).read_text())["model"])
    except (OSError, ValueError, KeyError, TypeError, UserError):
        return None  # written before import-torch recorded the model: only the shapes are checked


def _experiment_config(experiment: str, data_dir, data_source) -> ml_collections.ConfigDict:
    config = config_lib.load_experiment(experiment)
    with config.unlocked():
        config.data_dir = data_dir
        config.data_source = data_source
    return config


def _program_devices(count: int) -> list:
    devices = jax.devices()
    return devices[:count] if len(devices) >= count else devices


def load(path, experiment: str | None = None, step: int | None = None, data_dir=None, data_source=None,
         devices: int | None = None) -> LoadedModel:
    """The model at `path` (workdir, one of its checkpoints/N folders, or an import-torch checkpoint).

    `experiment` replaces the run's config for the evaluation (its model must be the checkpoint's);
    an imported checkpoint needs it. `devices`: how many devices evaluate (default: as many as
    wrote the checkpoint, where there are that many).
    """
    directory, named_step, imported = locate(path)
    if step is not None and named_step is not None and step != named_step:
        raise UserError(f"{path} is the checkpoint of step {named_step}, but --step {step} was given")
    step = step if step is not None else named_step
    devices = _program_devices(devices or saved_device_count(path, step))
    if imported:
        return _load_imported(directory, experiment, step, data_dir, data_source, devices)
    run_config = ml_collections.ConfigDict(runs.run_config(directory))
    with run_config.unlocked():
        # By default the data the run was trained on.
        run_config.data_dir = data_dir or run_config.get("data_dir")
        run_config.data_source = data_source or run_config.get("data_source")
    if step is not None:
        _chosen_step(directory, step)  # a step that was never saved (or was removed) is named as such
    restore_programs = CompiledPrograms(run_config, devices=devices)
    state, step = _restore_workdir_state(directory, run_config, restore_programs, step)
    config = run_config
    if experiment is not None:
        config = _experiment_config(experiment, run_config.data_dir, run_config.data_source)
        theirs = (config.model, dict(config.get("model_overrides", {})))
        ours = (run_config.model, dict(run_config.get("model_overrides", {})))
        if models.canonical_name(theirs[0]) != models.canonical_name(ours[0]) or theirs[1] != ours[1]:
            raise UserError(f"{directory} holds a '{ours[0]}' model{_overrides_text(ours[1])}, experiment "
                            f"'{experiment}' uses '{theirs[0]}'{_overrides_text(theirs[1])}")
    programs = CompiledPrograms(config, devices=devices)
    return LoadedModel(config, programs, state.replace(opt_state=None), step, str(directory), imported=False)


def _overrides_text(overrides: dict) -> str:
    return f" ({', '.join(f'{key}={value!r}' for key, value in overrides.items())})" if overrides else ""


def _load_imported(directory: Path, experiment, step, data_dir, data_source, devices) -> LoadedModel:
    recorded = _imported_model_name(directory)
    if step is not None:
        raise UserError(f"{directory} is an imported checkpoint with no steps: --step is for training workdirs")
    if experiment is None:
        hint = ""
        if recorded:
            candidates = _experiments_of_model(recorded)
            hint = f" (experiments with its model '{recorded}': {', '.join(candidates)})" if candidates else ""
        raise UserError(f"{directory} is an imported checkpoint without a config: pass --experiment NAME to say "
                        f"which dataset, preprocessing and loss to use{hint}")
    config = _experiment_config(experiment, data_dir, data_source)
    variables = torch_port.load_variables(directory)
    overrides = dict(config.get("model_overrides", {}))
    if recorded is not None and recorded != models.canonical_name(config.model):
        raise UserError(f"{directory} holds a '{recorded}' model, experiment '{experiment}' uses "
                        f"'{config.model}': pass an experiment of '{recorded}'")
    if not _same_shapes(variables, config.model, overrides):
        raise UserError(f"the variables in {directory} do not fit model '{config.model}' of experiment "
                        f"'{experiment}' (other layers or shapes)")
    programs = CompiledPrograms(config, devices=devices)
    batch_stats = variables.get("batch_stats") or None
    state = programs.replicate(TrainState(step=np.int32(0), params=variables["params"],
                                              batch_stats=batch_stats, opt_state=None))
    return LoadedModel(config, programs, state, None, str(directory), imported=True)


# --- data and preprocessing ---------------------------------------------------------------------

def _train_split(config) -> pipeline.Split:
    return pipeline.load(config.dataset, config.train_split, config.get("data_dir"), config.get("data_source"),
                         limit=config.get("limit_train"))


def eval_spec(config, split: str) -> tuple[str, str, bool]:
    """(dataset split, preprocessing spec, train mode) of `split`: one of the config's eval names, or a
    split of the dataset such as 'train[48000:]', evaluated as the config's 'test' eval (else its first)."""
    if split in config.eval:
        spec = config.eval[split]
        return spec["split"], spec["pp"], bool(spec.get("train_mode", False))
    base = config.eval["test"] if "test" in config.eval else next(iter(config.eval.values()))
    return split, base["pp"], bool(base.get("train_mode", False))


def _preprocessing(spec: str, train_split: pipeline.Split):
    """The compiled spec, with the training split's pixel statistics as training had them."""
    return augment.parse(spec, pipeline.pixel_stats(train_split))


# --- running the model ------------------------------------------------------------------------

def _split_outputs(state, split, batch_indices, rows, key, *, preprocess, module, train_mode):
    """The model's outputs on a block of evaluation batches, computed as train.steps.eval_step computes them
    (same batch keys, same dropout keys in train mode); runs per device inside shard_map."""

    def one_batch(_, batch):
        index, batch_rows = batch
        batch_key = jax.random.fold_in(key, index)
        images, _, mask = device_batch(batch_rows, split, preprocess, batch_key)
        variables = model_variables(state, state.params)
        if not train_mode:
            return None, module.apply(variables, images, train=False)
        device_key = jax.random.fold_in(batch_key, jax.lax.axis_index(DATA_AXIS))
        with models.batch_statistics_over(mask):
            outputs, _ = module.apply(variables, images, train=True, rngs={"dropout": device_key},
                                      mutable=["batch_stats"])
        return None, outputs

    return jax.lax.scan(one_batch, None, (batch_indices, rows))[1]


def model_outputs(loaded: LoadedModel, split: pipeline.Split, preprocess, key, batch_size: int,
                  train_mode: bool = False) -> np.ndarray:
    """(N, classes) outputs of the model on every example of `split`, in order."""
    programs = loaded.programs
    program = jax.jit(jax.shard_map(
        programs.traced_for_backend(functools.partial(_split_outputs, preprocess=preprocess, module=programs.module,
                                                      train_mode=train_mode)),
        mesh=programs.mesh, in_specs=(P(), P(), P(), P(None, DATA_AXIS), P()),
        out_specs=P(None, DATA_AXIS)))
    rows = padded_rows(np.arange(len(split.labels)), batch_size, programs.mesh.size)
    outputs = np.asarray(program(loaded.state, programs.replicate(split),
                                 programs.replicate(np.arange(len(rows), dtype=np.int32)), programs.put_rows(rows),
                                 key))
    by_example = np.empty((len(split.labels), outputs.shape[-1]), np.float32)
    valid = rows >= 0
    by_example[rows[valid]] = outputs[valid]
    return by_example


def _eval_key(config, step: int | None):
    """The key training evaluates with after `step` (it matters for random or train-mode evaluation)."""
    eval_root = jax.random.fold_in(jax.random.key(config.seed), 3)  # as CompiledPrograms.key_roots derives it
    return jax.random.fold_in(eval_root, step or 0)


def _metric_sums(loaded: LoadedModel, split: pipeline.Split, preprocess, train_mode: bool, key,
                 train_examples: int) -> dict:
    """Loss and accuracy sums from the train loop's evaluation program, in its blocks of batches."""
    config, programs = loaded.config, loaded.programs
    batches_per_epoch = -(-train_examples // config.batch_size)
    steps_per_dispatch = resolve_steps_per_dispatch(config.get("steps_per_dispatch"), batches_per_epoch)
    program = programs.eval_program(preprocess, train_mode)
    data = programs.replicate(split)
    sums = []
    for batch_indices, rows in programs.eval_blocks(len(split.labels), config.eval_batch_size, steps_per_dispatch):
        sums.append(program(loaded.state, data, batch_indices, rows, key))
        if jax.default_backend() == "cpu" and programs.mesh.size > 1:
            jax.block_until_ready(sums[-1])  # as the train loop: CPU devices share one thread pool
    return functools.reduce(lambda a, b: jax.tree.map(jnp.add, a, b), sums)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int = NUM_CLASSES) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def evaluate(loaded: LoadedModel, split: str = "test") -> dict:
    """Loss, accuracy, per-class accuracy and confusion matrix of the model on `split`."""
    config = loaded.config
    dataset_split, spec, train_mode = eval_spec(config, split)
    train_split = _train_split(config)
    data = pipeline.load(config.dataset, dataset_split, config.get("data_dir"), config.get("data_source"))
    preprocess = _preprocessing(spec, train_split)
    key = _eval_key(config, loaded.step)
    summary = summarise(_metric_sums(loaded, data, preprocess, train_mode, key, len(train_split.labels)))
    outputs = model_outputs(loaded, data, preprocess, key, config.eval_batch_size, train_mode)
    matrix = confusion_matrix(data.labels, outputs.argmax(axis=1))
    totals, correct = matrix.sum(axis=1), np.diag(matrix)
    per_class = [{"class": index, "accuracy": 100.0 * int(correct[index]) / int(totals[index]) if totals[index]
                  else None, "correct": int(correct[index]), "total": int(totals[index])}
                 for index in range(len(matrix))]
    return {"source": loaded.source, "imported": loaded.imported, "experiment": config.get("experiment"),
            "model": config.model, "dataset": config.dataset, "step": loaded.step, "split": split,
            "dataset_split": dataset_split, "preprocessing": spec, "train_mode": train_mode, "loss_name": config.loss,
            **summary, "per_class": per_class, "confusion": matrix.tolist()}


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
    preprocess = _preprocessing(spec, _train_split(config))
    data = pipeline.Split(images, np.zeros(len(images), np.int32))  # labels are not used by the model
    batch_size = min(config.eval_batch_size, len(images))
    outputs = model_outputs(loaded, data, preprocess, _eval_key(config, loaded.step), batch_size)
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


# --- pictures and text --------------------------------------------------------------------------

def class_names(dataset: str) -> list[str]:
    return list(FASHION_MNIST_CLASSES) if dataset == "fashion_mnist" else [str(digit) for digit in range(10)]


def plot_confusion(result: dict, out):
    """The confusion matrix as a PNG: counts per (true, predicted) class, the diagonal's share per row."""
    from jaxmnist.report import plots

    matrix = np.asarray(result["confusion"])
    names = class_names(result["dataset"])
    figure, axis = plots.pyplot().subplots(figsize=(8, 7))
    # Row-normalised colours: a class with few examples shows its errors as clearly as a large one.
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (true, predicted), count in np.ndenumerate(matrix):
        if count:
            axis.text(predicted, true, str(count), ha="center", va="center", fontsize=8,
                      color="white" if shares[true, predicted] > 0.5 else "black")
    axis.set_xticks(range(len(names)), names, rotation=45 if result["dataset"] == "fashion_mnist" else 0,
                    ha="right" if result["dataset"] == "fashion_mnist" else "center")
    axis.set_yticks(range(len(names)), names)
    axis.set(xlabel="predicted", ylabel="true")
    step = f", step {result['step']}" if result["step"] is not None else ""
    axis.set_title(f"{result['experiment'] or result['model']}{step}: {result['split']}, accuracy "
                   f"{result['accuracy']:.2f}% ({result['correct']}/{result['total']})", fontsize=10)
    figure.tight_layout()
    return plots.save(figure, out)


def format_evaluation(result: dict) -> str:
    step = f", step {result['step']}" if result["step"] is not None else " (imported)"
    names = class_names(result["dataset"])
    lines = [f"{result['experiment'] or result['model']} from {result['source']}{step}: {result['split']} "
             f"({result['dataset']} {result['dataset_split']}, {result['total']} examples)",
             f"loss {result['loss']:.4f} ({result['loss_name']})  accuracy {result['accuracy']:.2f}% "
             f"({result['correct']}/{result['total']})",
             "",
             f"{'class':<12} {'accuracy':>9} {'correct':>8}"]
    for entry in result["per_class"]:
        accuracy = "—" if entry["accuracy"] is None else f"{entry['accuracy']:.2f}%"
        lines.append(f"{names[entry['class']]:<12} {accuracy:>9} {entry['correct']:>4}/{entry['total']}")
    lines += ["", "confusion matrix (rows: true class, columns: predicted)"]
    width = max(len(str(count)) for row in result["confusion"] for count in row) + 1
    lines.append("    " + "".join(f"{index:>{width}}" for index in range(len(names))))
    for index, row in enumerate(result["confusion"]):
        lines.append(f"{index:>3} " + "".join(f"{count:>{width}}" for count in row))
    return "\n".join(lines)


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

def _prepare_process(args):
    """Before JAX starts: the compilation cache, and on CPU as many devices as wrote the checkpoint."""
    runtime.enable_compilation_cache()
    count = saved_device_count(args.path, args.step)
    if count > 1:  # one device is there in any case: the programs take the first
        try:
            runtime.use_cpu_cores_as_devices(count)
        except RuntimeError:
            pass  # JAX already started in this process (a caller's): evaluate on the devices there are


def evaluate_command(args) -> int:
    """`jaxmnist evaluate WORKDIR_OR_CHECKPOINT [--split S] [--experiment NAME] [--step N] [--confusion FILE.png]`."""
    _prepare_process(args)
    loaded = load(args.path, args.experiment, args.step, args.data_dir, args.data_source)
    result = evaluate(loaded, args.split)
    if args.confusion:
        plot_confusion(result, args.confusion)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_evaluation(result))
        if args.confusion:
            print(f"wrote {args.confusion}")
    return 0


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
