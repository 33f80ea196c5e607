"""Batching: reproducible orders, exact evaluation coverage, device batches, notebook splits."""

import io
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxmnist.data import augment, batches, pipeline
from jaxmnist.errors import UserError


def _examples(rows: np.ndarray) -> np.ndarray:
    """The examples of a batch matrix in batch order, without its padding."""
    return rows[rows >= 0]


def test_an_epochs_order_is_the_same_in_a_fresh_process():
    """Resume regenerates an epoch's order in another process: it must not depend on process state."""
    script = ("import sys, numpy as np; from jaxmnist.data import batches; "
              "np.save(sys.stdout.buffer, batches.epoch_rows(60000, 64, 1, 1, 3, True))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True, timeout=120,
                            env={**os.environ, "PYTHONHASHSEED": "123"})
    here = batches.epoch_rows(60000, 64, 1, seed=1, epoch=3, shuffle=True)
    np.testing.assert_array_equal(np.load(io.BytesIO(result.stdout)), here)


def test_epochs_and_seeds_give_different_orders():
    epoch3, epoch4, other_seed = (_examples(batches.epoch_rows(60000, 64, 1, seed, epoch, shuffle=True))
                                  for seed, epoch in ((1, 3), (1, 4), (2, 3)))
    assert (epoch3 != epoch4).mean() > 0.99 and (epoch3 != other_seed).mean() > 0.99
    assert sorted(epoch3) == list(range(60000))


def test_every_seed_and_epoch_pair_has_its_own_order():
    """(seed 1, epoch 4) and (seed 2, epoch 3) must differ: an order drawn from seed + epoch would repeat."""
    orders = {(seed, epoch): tuple(batches.epoch_order(1000, seed, epoch, shuffle=True)[:20])
              for seed in range(6) for epoch in range(1, 7)}
    assert len(set(orders.values())) == len(orders) == 36


def test_training_batches_keep_the_last_partial_batch_like_dataloader():
    rows = batches.epoch_rows(60000, 64, 1, seed=0, epoch=0, shuffle=True)[:-1]  # the last row: padding
    sizes = (rows >= 0).sum(axis=1)
    assert len(rows) == 938 and sizes[-1] == 32  # DataLoader: ceil(60000/64) batches, 937*64 + 32
    assert (sizes[:-1] == 64).all()
    unshuffled = batches.epoch_rows(48000, 100, 1, seed=0, epoch=5, shuffle=False)
    np.testing.assert_array_equal(_examples(unshuffled), np.arange(48000))


@pytest.mark.parametrize("batch_size", [64, 100, 128, 250, 512])
@pytest.mark.parametrize("num_examples", [10000, 12000, 500])
def test_eval_covers_every_example_exactly_once_in_order(batch_size, num_examples):
    ((indices, rows),) = batches.eval_blocks(num_examples, batch_size, 1, batches_per_dispatch=num_examples)
    assert len(rows) == -(-num_examples // batch_size)
    np.testing.assert_array_equal(indices, np.arange(len(rows)))
    assert ((rows[:-1] >= 0).sum(axis=1) == batch_size).all()
    np.testing.assert_array_equal(_examples(rows), np.arange(num_examples))


def test_split_slicing_follows_tfds_syntax():
    assert pipeline._slice_bounds("train[:48000]", 60000) == ("train", 0, 48000)
    assert pipeline._slice_bounds("train[48000:]", 60000) == ("train", 48000, 60000)
    assert pipeline._slice_bounds("train[80%:]", 60000) == ("train", 48000, 60000)
    assert pipeline._slice_bounds("test", 10000) == ("test", 0, 10000)
    with pytest.raises(UserError, match="selects no examples"):
        pipeline._slice_bounds("train[50000:40000]", 60000)


def test_notebook_003_split_is_the_file_order_80_20(fixture_data_dir):
    whole = pipeline.load("mnist", "train", str(fixture_data_dir))
    train = pipeline.load("mnist", "train[:80%]", str(fixture_data_dir))
    valid = pipeline.load("mnist", "train[80%:]", str(fixture_data_dir))
    assert (len(train.labels), len(valid.labels)) == (1200, 300)
    np.testing.assert_array_equal(np.concatenate([train.images, valid.images]), whole.images)
    assert len(pipeline.load("mnist", "train", str(fixture_data_dir), limit=100).labels) == 100


@pytest.mark.fast
def test_device_batch_is_normalised_as_torchvision(fixture_data_dir):
    split = pipeline.load("mnist", "test", str(fixture_data_dir))
    preprocess = augment.parse("to_tensor|normalize(mean=0.1307, std=0.3081)")
    indices = np.arange(7, 7 + 64)
    batch = batches.preprocessed(split, indices, preprocess, jax.random.key(0))
    images, labels = batch["image"], batch["label"]
    expected = (np.asarray(split.images)[indices].astype(np.float32) / 255 - 0.1307) / 0.3081
    assert images.shape == (64, 28, 28, 1) and images.dtype == np.float32
    np.testing.assert_allclose(images, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(labels, np.asarray(split.labels)[indices])


def test_train_statistics_normalisation(fixture_data_dir):
    train = pipeline.load("fashion_mnist", "train", str(fixture_data_dir))
    mean, std = pipeline.pixel_stats(train)
    assert (round(mean, 4), round(std, 4)) == (0.2827, 0.3531)
    preprocess = augment.parse("to_tensor|normalize(mean='train', std='train')", (mean, std))
    images = batches.preprocessed(train, np.arange(1500), preprocess, jax.random.key(0))["image"]
    assert abs(float(images.mean())) < 1e-5 and abs(float(images.std()) - 1) < 1e-4
    with pytest.raises(UserError, match="statistics"):
        augment.parse("to_tensor|normalize(mean='train', std='train')")
