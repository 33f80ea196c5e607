"""The training recipe each notebook shares between its runs, for the configs in experiments/.

Each experiment file calls one of these with everything its run varies and sets its own
`reference` (see jaxmnist.report.reference for that format), so the file plus this module is
the full record of the run. The notebook text is in ../shared/seeds/.
"""

import copy

import ml_collections

from jaxmnist import config as config_lib

NOTEBOOK_000 = "000_c49386118194ebef.txt"
NOTEBOOK_001 = "001_5dc57961bc4d70d9.txt"
NOTEBOOK_002 = "002_7ca7bdcaa974b14f.txt"
NOTEBOOK_003 = "003_655cf397bd523b23.txt"
NOTEBOOK_004 = "004_15a2afd49f09c6f2.txt"

MNIST_NORMALIZE = "normalize(mean=0.1307, std=0.3081)"

# Notebook 003's augmentations (its `mnist_aug`, redefined twice), train transforms only. The notebook
# ran torchvision 0.7, whose RandomErasing draws the box's aspect ratio uniformly.
AUG_003_ERASE_NORMALIZE = ("random_resized_crop(scale=(0.8, 1.0))|random_rotation(degrees=30)|to_tensor"
                           "|random_erasing(p=0.5, scale=(0.02, 0.2), uniform_ratio=True)"
                           "|normalize(mean=0.5, std=0.5)")
AUG_003_ERASE = ("random_resized_crop(scale=(0.8, 1.0))|random_rotation(degrees=30)|to_tensor"
                 "|random_erasing(p=0.5, scale=(0.02, 0.2), uniform_ratio=True)")
AUG_003 = "random_resized_crop(scale=(0.8, 1.2))|random_rotation(degrees=30)|to_tensor"


def base(**settings) -> ml_collections.ConfigDict:
    """A config with the optional keys at their defaults (jaxmnist.config.DEFAULTS), then `settings` (every recipe key)."""
    config = ml_collections.ConfigDict(copy.deepcopy(config_lib.DEFAULTS))
    for key, value in settings.items():
        config[key] = value
    return config


# The notebook's PyTorch (<= 1.1) drew BatchNorm2d's weight from U(0, 1), ones since 1.2: its
# BatchNorm nets' first epochs match that draw, not today's (docs/RESULTS.md).
NOTEBOOK_000_BATCH_NORM = {"batch_norm_weight_init": "uniform"}


def activations(model: str, *, epochs: int = 20, model_overrides: dict | None = None) -> ml_collections.ConfigDict:
    """Notebook 000 (pytorch/examples' MNIST recipe, cells 2 and 5).

    Batch 64 shuffled, test batch 512, Normalize(0.1307, 0.3081) on train and test,
    SGD lr 1e-3 momentum 0.5, F.nll_loss on log_softmax outputs, test set after every epoch.
    The notebook sets no seed.
    """
    return base(
        dataset="mnist", train_split="train", train_pp=f"to_tensor|{MNIST_NORMALIZE}", shuffle=True,
        eval={"test": {"split": "test", "pp": f"to_tensor|{MNIST_NORMALIZE}"}}, best_split="test",
        model=model, model_overrides=model_overrides or {}, loss="nll",
        optimizer={"name": "sgd", "learning_rate": 1e-3, "momentum": 0.5},
        batch_size=64, eval_batch_size=512, epochs=epochs, seed=0)


def fashion(model: str) -> ml_collections.ConfigDict:
    """Notebook 001's main() (cells In [3] and In [13]) on Fashion-MNIST.

    Batch 64 shuffled, test batch 64, SGD lr 1e-3 momentum 0.9 weight_decay 0.04, 1 epoch,
    F.nll_loss; Normalize(0.1307, 0.3081), MNIST's statistics, on train and test: the code that
    ran, although part (c) asks for Fashion-MNIST's own. Train loss printed every 20 batches.
    """
    return base(
        dataset="fashion_mnist", train_split="train", train_pp=f"to_tensor|{MNIST_NORMALIZE}", shuffle=True,
        eval={"test": {"split": "test", "pp": f"to_tensor|{MNIST_NORMALIZE}"}}, best_split="test",
        model=model, loss="nll",
        optimizer={"name": "sgd", "learning_rate": 1e-3, "momentum": 0.9, "weight_decay": 0.04},
        batch_size=64, eval_batch_size=64, epochs=1, seed=0, log_every_steps=20)


def net8k(*, dropout_rate: float, rotate: bool) -> ml_collections.ConfigDict:
    """Notebook 002 (cells 35-42): Net, SGD lr 0.01 momentum 0.9, batch 128 train and test, 15 epochs.

    torch.manual_seed(1) (torch's stream is not reproduced); train shuffled; F.nll_loss. Train
    transform [RandomRotation((-7, 7), fill=(1,)) when `rotate`] ToTensor, Normalize(0.1307, 0.3081);
    the fill is 1 on PIL's 0..255 scale (1/255 after ToTensor), not white. Test ToTensor,
    Normalize(0.1307, 0.3081). The notebook ran on Apple "mps".
    """
    rotation = "random_rotation(degrees=(-7, 7), fill=1)|" if rotate else ""
    return base(
        dataset="mnist", train_split="train", train_pp=f"{rotation}to_tensor|{MNIST_NORMALIZE}", shuffle=True,
        eval={"test": {"split": "test", "pp": f"to_tensor|{MNIST_NORMALIZE}"}}, best_split="test",
        model="net", model_overrides={"dropout_rate": dropout_rate}, loss="nll",
        optimizer={"name": "sgd", "learning_rate": 0.01, "momentum": 0.9},
        batch_size=128, eval_batch_size=128, epochs=15, seed=1)


def lenet(model: str, *, epochs: int, learning_rate: float, batch_size: int = 100, train_pp: str = "to_tensor",
          schedule: dict | None = None) -> ml_collections.ConfigDict:
    """Notebook 003's `generate_data` + `train_test_MNIST`.

    The first 48,000 training images (file order, ChunkSampler, never shuffled) train; the
    last 12,000 are the validation split, read from the *training* dataset object and so
    with the training transform (augmented in the augmentation runs); the test set uses
    ToTensor only, whatever the training transform. All three loaders use `batch_size`.
    nn.CrossEntropyLoss on logits, Adam(lr), the scheduler stepped after every batch.
    Seed 1234 (random, numpy and torch; torch's stream is not reproduced). The durations the
    experiment files quote are the notebook's, on a Colab GPU with torch 1.6.
    """
    return base(
        dataset="mnist", train_split="train[:48000]", train_pp=train_pp, shuffle=False,
        eval={"valid": {"split": "train[48000:]", "pp": train_pp}, "test": {"split": "test", "pp": "to_tensor"}},
        best_split="valid", model=model, loss="cross_entropy",
        optimizer={"name": "adam", "learning_rate": learning_rate}, schedule=schedule or {"name": "constant"},
        batch_size=batch_size, eval_batch_size=batch_size, epochs=epochs, seed=1234)


def printed_epochs(lines: list[tuple[float, int]], total: int = 10000) -> dict:
    """Notebook 000/001's per-epoch 'Test set: Average loss: L, Accuracy: C/10000' lines as a curve.

    Epochs are numbered from 1 (the first line follows the first epoch of training).
    """
    return {"epoch": list(range(1, len(lines) + 1)), "loss": [loss for loss, _ in lines],
            "accuracy": [round(100.0 * correct / total, 4) for _, correct in lines],
            "correct": [correct for _, correct in lines], "total": total}


def table_rows(rows: list[tuple[float, float, float, float]]) -> dict:
    """Notebook 002's table rows (train acc %, test acc %, last-batch train loss, test loss) as curves.

    The table numbers epochs from 0; here epoch e + 1 is the state after e + 1 epochs of training.
    Its training accuracy is the running accuracy over the epoch, as ours.
    """
    epochs = list(range(1, len(rows) + 1))
    return {
        "train": {"epoch": epochs, "accuracy": [row[0] for row in rows], "last_batch_loss": [row[2] for row in rows]},
        "test": {"epoch": epochs, "accuracy": [row[1] for row in rows], "loss": [row[3] for row in rows]},
    }


def reference(*, source: str, split: str, reduce: str, value: float | None, text: str, epoch: int | None = None,
              curves: dict | None = None, notes: str = "", noise: str = "", notebook_seconds: float | None = None
              ) -> dict:
    """A `reference` dict with every field present (format documented in jaxmnist.report.reference)."""
    return {"source": source, "split": split, "reduce": reduce, "epoch": epoch, "value": value, "text": text,
            "curves": curves or {}, "notes": notes, "noise": noise, "notebook_seconds": notebook_seconds}

# Notebook 003 repeats no run; this is all it says about run-to-run variation.
NOISE_003 = 'The notebook repeats no run; its introduction says only "(results may slightly vary with different runs)".'
