"""`jaxmnist evaluate`: loss, accuracy, per-class accuracy and confusion matrix of a model on a split.

`evaluate` runs the train loop's own evaluation program (Programs.eval_program) on the
batches, keys and number of devices training used (where the host has that many), so a
workdir's numbers for one of its eval splits at a step where training evaluated are the ones in
metrics.jsonl. Per-class accuracy and the confusion matrix come from the model's outputs on the
same batches (same keys: also in notebook 004's train-mode evaluation). The confusion matrix is
drawn only when asked, with --confusion FILE.png.
"""

import json

import numpy as np

from jaxmnist import runtime
from jaxmnist.data import pipeline
from jaxmnist.inference.forward import eval_spec, model_outputs, preprocessing, training_split
from jaxmnist.inference.load import LoadedModel, load, saved_device_count
from jaxmnist.report import plots
from jaxmnist.train.programs import resolve_steps_per_dispatch
from jaxmnist.train.steps import eval_key, summarise

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot")
NUM_CLASSES = 10


def _metric_sums(loaded: LoadedModel, split: pipeline.Split, preprocess, train_mode: bool, key,
                 train_examples: int) -> dict:
    """Loss and accuracy sums from the train loop's evaluation program, in its blocks of batches."""
    config, programs = loaded.config, loaded.programs
    batches_per_epoch = -(-train_examples // config.batch_size)
    steps_per_dispatch = resolve_steps_per_dispatch(config.get("steps_per_dispatch"), batches_per_epoch)
    blocks = programs.eval_blocks(len(split.labels), config.eval_batch_size, steps_per_dispatch)
    return programs.eval_sums(programs.eval_program(preprocess, train_mode), loaded.state, programs.replicate(split),
                              blocks, key)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, classes: int = NUM_CLASSES) -> np.ndarray:
    """(classes, classes) counts: row = true class, column = predicted class."""
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    return matrix


def evaluate(loaded: LoadedModel, split: str = "test") -> dict:
    """Loss, accuracy, per-class accuracy and confusion matrix of the model on `split`."""
    config = loaded.config
    dataset_split, spec, train_mode = eval_spec(config, split)
    train_split = training_split(config)
    data = pipeline.load(config.dataset, dataset_split, config.get("data_dir"), config.get("data_source"))
    preprocess = preprocessing(spec, train_split)
    key = eval_key(config.seed, loaded.step)
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


# --- pictures and text --------------------------------------------------------------------------

def class_names(dataset: str) -> list[str]:
    return list(FASHION_MNIST_CLASSES) if dataset == "fashion_mnist" else [str(digit) for digit in range(10)]


def plot_confusion(result: dict, out):
    """The confusion matrix as a PNG: counts per (true, predicted) class, the diagonal's share per row."""
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


# --- commands -----------------------------------------------------------------------------------

def prepare_process(path, step: int | None):
    """Before JAX starts: the compilation cache, deterministic GPU programs, and on CPU as many devices
    as wrote the checkpoint."""
    runtime.enable_compilation_cache()
    runtime.deterministic_gpu_ops()
    count = saved_device_count(path, step)
    if count > 1:  # one device is there in any case: the programs take the first
        try:
            runtime.use_cpu_cores_as_devices(count)
        except RuntimeError:
            pass  # JAX already started in this process (a caller's): evaluate on the devices there are


def evaluate_command(args) -> int:
    """`jaxmnist evaluate WORKDIR_OR_CHECKPOINT [--split S] [--experiment NAME] [--step N] [--confusion FILE.png]`."""
    prepare_process(args.path, args.step)
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
