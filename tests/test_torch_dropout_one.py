"""scripts/torch_dropout_one.py: with Dropout(p=1) only fc2's bias trains, and replaying its steps is exact."""

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import torch_dropout_one  # noqa: E402
import torch_notebook000  # noqa: E402
from jaxmnist.data import idx  # noqa: E402


def test_replaying_the_bias_steps_gives_the_trained_bias_and_test_accuracy():
    folder = REPO / "tests" / "fixtures" / "mnist"
    train_set, test_set = (torch_notebook000.mnist_dataset(idx.read_split(folder, "mnist", split,
                                                                           verify_official=False))
                           for split in ("train", "test"))
    result = torch_dropout_one.check(train_set, test_set, seed=3)
    assert result["parameters_changed_by_training"] == ["fc2.bias"]
    assert result["bias_max_difference"] < 1e-6
    assert result["replayed_test_accuracy"] == result["trained_test_accuracy"]
