"""Batches: epoch orders, index matrices with padding, and the gather and augmentation on the devices.

A split lives on every device (`jaxmnist.data.pipeline.Split`, put there once); a batch is a row of
split indices, -1 for padding. An epoch's rows form a (batches, width) matrix whose columns are
shared among the devices of the mesh axis `DATA_AXIS`, and each compiled program gathers and
preprocesses its batch there. Orders are pure functions of (seed, epoch), so any epoch's batches
can be regenerated exactly (resume relies on it). As PyTorch's DataLoader(drop_last=False), the
last batch may be smaller; it is padded with a mask, so every example counts exactly once and one
compiled program serves every batch.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxmnist.data import augment

DATA_AXIS = "batch"  # the mesh axis that a global batch is split over


# --- on the host: which examples each batch holds ------------------------------------------------

def epoch_order(num_examples: int, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """The example order of one epoch: a permutation drawn from (seed, epoch) alone, or file order."""
    if not shuffle:
        return np.arange(num_examples)
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def padded_rows(order: np.ndarray, batch_size: int, devices: int, extra_rows: int = 0) -> np.ndarray:
    """Batches of `order` as rows of a (batches + extra_rows, width) matrix, -1 for padding.

    As DataLoader(drop_last=False), the last batch may be smaller; it is padded to the full
    size, rounded up to a multiple of the device count, so one compiled program serves every batch.
    A batch_size beyond len(order) gives DataLoader's one short batch, padded by fewer rows than there are devices.
    """
    width = -(-min(batch_size, len(order)) // devices) * devices
    count = -(-len(order) // batch_size)
    rows = np.full((count + extra_rows, width), -1, np.int32)
    for index in range(count):
        batch = order[index * batch_size:(index + 1) * batch_size]
        rows[index, :len(batch)] = batch
    return rows


def epoch_rows(num_examples: int, batch_size: int, devices: int, seed: int, epoch: int,
               shuffle: bool) -> np.ndarray:
    """One epoch's training batches, with a row of padding after the last (a block may run past it)."""
    return padded_rows(epoch_order(num_examples, seed, epoch, shuffle), batch_size, devices, extra_rows=1)


def eval_blocks(num_examples: int, batch_size: int, devices: int,
                batches_per_dispatch: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """A split's evaluation batches in file order, as (batch indices, rows) per program.

    The last block is filled up with batches of padding, which count nothing.
    """
    rows = padded_rows(np.arange(num_examples), batch_size, devices)
    per_block = min(batches_per_dispatch, len(rows))
    blocks = -(-len(rows) // per_block)
    rows = np.concatenate([rows, np.full((blocks * per_block - len(rows), rows.shape[1]), -1, np.int32)])
    return [(np.arange(start, start + per_block, dtype=np.int32), rows[start:start + per_block])
            for start in range(0, len(rows), per_block)]


def put_rows(rows: np.ndarray, mesh: jax.sharding.Mesh) -> jax.Array:
    """A batch matrix with each device holding its columns: its share of every batch."""
    return jax.make_array_from_callback(rows.shape, NamedSharding(mesh, P(None, DATA_AXIS)),
                                        lambda index: rows[index])


# --- on the devices: the batch itself -----------------------------------------------------------

def gather(split, rows, preprocess, key, positions=None) -> dict:
    """{"image", "label", "mask"} of the split's `rows` (-1: padding), preprocessed by `preprocess`.

    Example i's augmentation key is fold_in(key, positions[i]) (default: its place in `rows`).
    """
    mask = rows >= 0
    indices = jnp.where(mask, rows, 0)
    images = augment.apply_batch(preprocess, split.images[indices], key, positions)
    return {"image": images, "label": split.labels[indices], "mask": mask}


def device_batch(rows, split, preprocess, key) -> dict:
    """This device's share of a global batch, inside shard_map over `DATA_AXIS`.

    Each example's augmentation key follows its position in the global batch, so the batch is the
    same however devices and processes share it.
    """
    positions = jax.lax.axis_index(DATA_AXIS) * rows.shape[0] + jnp.arange(rows.shape[0])
    return gather(split, rows, preprocess, key, positions)


def step_batch(step, split, epoch_rows, epoch_first_step, augment_root, *, preprocess) -> dict:
    """This device's batch of `step`: row `step - epoch_first_step` of its columns of the epoch's batches."""
    rows = jax.lax.dynamic_index_in_dim(epoch_rows, step - epoch_first_step, keepdims=False)
    return device_batch(rows, split, preprocess, jax.random.fold_in(augment_root, step))


def preprocessed(split, indices, preprocess, key) -> dict:
    """`gather` of `indices` compiled on its own, on one device: what pictures and `data show` draw."""
    return jax.jit(gather, static_argnums=2)(split, np.asarray(indices), preprocess, key)
