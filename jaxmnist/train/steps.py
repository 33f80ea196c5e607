"""The pure step functions of training and evaluation, in the shape of Flax's examples:
`train_step(state, batch, rng)` and `eval_step(state, batch, rng)` on a batch
{"image", "label", "mask"} (`jaxmnist.data.batches`), with the model's apply, the optimizer and
the loss as static fields of the state.

Each runs per device inside `jax.shard_map` over a one-axis mesh (`DATA_AXIS`) of every device:
a device holds a shard of the global batch, gradients and metric sums are combined across
devices, and BatchNorm takes its statistics over the whole global batch, so N devices compute
the update one device would; one device is the same code path. Keys come from (seed, step) with
`fold_in`, never hidden state.
"""

import functools
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxmnist import models, optim
from jaxmnist.config import LOSSES
from jaxmnist.data.batches import DATA_AXIS, device_batch, step_batch
from jaxmnist.errors import UserError
from jaxmnist.varying import varying_as, varying_axes



class TrainState(flax.struct.PyTreeNode):
    """What orbax saves (step, params, batch_stats, opt_state), and how to apply, update and score them."""

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    # Static: not pytree leaves, so neither saved nor traced, as in flax.training.train_state.
    apply_fn: Callable = flax.struct.field(pytree_node=False)
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)
    loss_name: str = flax.struct.field(pytree_node=False)
    # In a group of runs of several models (`models.one_per_run`), the one this run uses and its
    # rates ({"member": k, "rates": {field: number}}); else None.
    model_choice: Any = None

    def apply_model(self, variables, images, **apply_keywords):
        """The run's model on `images` (Flax's apply keywords: train, rngs, mutable)."""
        if self.model_choice is None:
            return self.apply_fn(variables, images, **apply_keywords)
        return self.apply_fn(variables, images, choice=self.model_choice, **apply_keywords)

    def learning_rate(self) -> jax.Array:
        """The rate the last update applied (before any: the rate the first will apply)."""
        return optim.current_learning_rate(self.opt_state)


def key_roots(seed: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(augmentation, dropout, evaluation) roots of a run's `seed`; a step's keys fold the step in."""
    return tuple(jax.random.fold_in(jax.random.key(seed), index) for index in (2, 1, 3))


def eval_key(seed: int, step: int | None) -> jax.Array:
    """The key a run evaluates with after `step` (it matters for augmented or train-mode evaluation)."""
    return jax.random.fold_in(key_roots(seed)[2], step or 0)


def per_example_loss(outputs: jax.Array, labels: jax.Array, loss: str) -> jax.Array:
    """The notebook's criterion per example.

    'nll': F.nll_loss on log-probabilities; 'cross_entropy': nn.CrossEntropyLoss on
    logits; 'cross_entropy_on_probabilities': notebook 004's quirk of feeding softmax
    outputs to CrossEntropyLoss (a second softmax inside the loss, so the loss never
    gets below ~1.46), reproduced so its numbers can be compared.
    """
    if loss == "nll":
        log_probabilities = outputs
    elif loss in ("cross_entropy", "cross_entropy_on_probabilities"):
        log_probabilities = jax.nn.log_softmax(outputs)
    else:
        raise UserError(f"unknown loss '{loss}' (known: {', '.join(LOSSES)})")
    # A select, not a gather: a gather's gradient is a scatter, which XLA:GPU serialises when
    # deterministic. Each row sums its one chosen value with zeros, so the loss is exact.
    is_label = labels[:, None] == jnp.arange(log_probabilities.shape[1])
    return -jnp.sum(jnp.where(is_label, log_probabilities, 0.0), axis=1)


def _metric_sums(outputs, labels, mask, loss_name) -> dict:
    """Sums over the valid examples of the global batch (psum over devices)."""
    losses = jnp.where(mask, per_example_loss(outputs, labels, loss_name), 0.0)
    correct = (jnp.argmax(outputs, axis=1) == labels) & mask
    sums = {"loss_sum": jnp.sum(losses), "correct": jnp.sum(correct, dtype=jnp.int32),
            "count": jnp.sum(mask, dtype=jnp.int32)}
    return jax.lax.psum(sums, DATA_AXIS)


def model_variables(state: TrainState, params) -> dict:
    variables = {"params": params}
    if state.batch_stats is not None:
        variables["batch_stats"] = state.batch_stats
    return variables


def train_step(state: TrainState, batch: dict, rng) -> tuple[TrainState, dict]:
    """One update on one global batch; runs per device inside shard_map. Returns (state, metric sums)."""
    images, labels, mask = batch["image"], batch["label"], batch["mask"]
    global_count = jax.lax.psum(jnp.sum(mask), DATA_AXIS)
    # Each device drops out different units of its own examples.
    device_key = jax.random.fold_in(rng, jax.lax.axis_index(DATA_AXIS))

    def loss_fn(params):
        with models.batch_statistics_over(mask):
            outputs, updates = state.apply_model(
                model_variables(state, params), images, train=True, rngs={"dropout": device_key},
                mutable=["batch_stats"] if state.batch_stats is not None else [])
        losses = jnp.where(mask, per_example_loss(outputs, labels, state.loss_name), 0.0)
        # This device's share of the global mean: shard_map's autodiff sums the gradients
        # of the replicated parameters over devices, giving the gradient of the global mean.
        return jnp.sum(losses) / global_count, (outputs, updates)

    (_, (outputs, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    param_updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, param_updates),
                              batch_stats=updates.get("batch_stats", state.batch_stats), opt_state=opt_state)
    return new_state, _metric_sums(outputs, labels, mask, state.loss_name)


def eval_outputs(state: TrainState, batch: dict, rng, train_mode: bool = False) -> jax.Array:
    """The model's outputs on a batch. `train_mode` evaluates as a notebook that never called
    model.eval() did (notebook 004): dropout active, BatchNorm on batch statistics (not kept)."""
    variables = model_variables(state, state.params)
    if not train_mode:
        return state.apply_model(variables, batch["image"], train=False)
    device_key = jax.random.fold_in(rng, jax.lax.axis_index(DATA_AXIS))
    with models.batch_statistics_over(batch["mask"]):
        outputs, _ = state.apply_model(variables, batch["image"], train=True, rngs={"dropout": device_key},
                                       mutable=["batch_stats"])
    return outputs


def eval_step(state: TrainState, batch: dict, rng, train_mode: bool = False) -> dict:
    """Metric sums of one global batch; runs per device inside shard_map."""
    return _metric_sums(eval_outputs(state, batch, rng, train_mode), batch["label"], batch["mask"], state.loss_name)


def _accumulate(totals: dict, sums: dict, step) -> dict:
    """Running epoch sums on device, plus the first step whose loss was not finite (-1 if none)."""
    first_bad = jnp.where((totals["first_nonfinite_step"] < 0) & ~jnp.isfinite(sums["loss_sum"]),
                          step, totals["first_nonfinite_step"])
    return {"loss_sum": totals["loss_sum"] + sums["loss_sum"], "correct": totals["correct"] + sums["correct"],
            "count": totals["count"] + sums["count"], "first_nonfinite_step": first_bad}


def zero_totals() -> dict:
    """An epoch's metric sums before its first step: the carry train_block and step_on_batch add to."""
    return {"loss_sum": np.float32(0), "correct": np.int32(0), "count": np.int32(0),
            "first_nonfinite_step": np.int32(-1)}


def summarise(totals: dict) -> dict:
    count = int(totals["count"])
    return {"loss": float(totals["loss_sum"]) / count, "accuracy": 100.0 * int(totals["correct"]) / count,
            "correct": int(totals["correct"]), "total": count}


def step_on_batch(state, totals, batch, dropout_root):
    """One update on a batch from `step_batch`: per device inside shard_map. Returns (state, totals, rate)."""
    step = state.step
    new_state, sums = train_step(state, batch, jax.random.fold_in(dropout_root, step))
    return new_state, _accumulate(totals, sums, step), new_state.learning_rate()


def train_block(state: TrainState, totals: dict, split, epoch_rows, epoch_first_step, roots, *, steps: int,
                preprocess, conditional: bool):
    """`steps` updates in one program; runs per device inside shard_map. Returns (state, totals, rate).

    Rows past the epoch's last batch are all padding: a step on one leaves the state and the
    sums as they were, bit for bit, so an epoch's last block runs the same program. Keys come
    from (seed, step), whatever the block size. `conditional`: skip padding steps by lax.cond
    (XLA:CPU, unvmapped) rather than by a select.
    """
    augment_root, dropout_root = roots

    def update(carry):
        state, totals, _ = carry
        batch = step_batch(state.step, split, epoch_rows, epoch_first_step, augment_root, preprocess=preprocess)
        return step_on_batch(state, totals, batch, dropout_root)

    def update_unless_padding(carry, _):
        if conditional:
            # XLA:CPU fuses a step inlined into the loop otherwise, which changed lenet/lenet_deep_aug's
            # train loss (docs/PERFORMANCE.md); in a conditional it keeps the numbers of the runs in docs/runs.
            rows = jax.lax.dynamic_index_in_dim(epoch_rows, carry[0].step - epoch_first_step, keepdims=False)
            has_examples = jax.lax.psum(jnp.sum(rows >= 0), DATA_AXIS) > 0
            return jax.lax.cond(has_examples, lambda carry: varying_as(update(carry), carry), lambda carry: carry,
                                carry), None
        # A select, not lax.cond: on XLA:GPU a conditional copies its predicate to the host and
        # waits for the device every step; vmapped, a conditional is a select anyway (and jax 0.10
        # fails to batch one inside shard_map). A batch of padding counts no example.
        updated = update(carry)
        has_examples = updated[1]["count"] != carry[1]["count"]
        return jax.tree.map(functools.partial(jnp.where, has_examples), updated, carry), None

    carry = (state, totals, state.learning_rate().astype(jnp.float32))
    return jax.lax.scan(update_unless_padding, carry, length=steps)[0]


def evaluate_split(state: TrainState, split, batch_indices, rows, key, *, preprocess, train_mode: bool) -> dict:
    """Metric sums of a block of evaluation batches in one program; runs per device inside shard_map.

    `rows` are this device's columns of the block's batches, `batch_indices` their places in
    the split's batches: batch i's key is fold_in(key, i), whatever the block size.
    """

    def one_batch(totals, batch):
        index, batch_rows = batch
        batch_key = jax.random.fold_in(key, index)
        sums = eval_step(state, device_batch(batch_rows, split, preprocess, batch_key), batch_key, train_mode)
        return jax.tree.map(jnp.add, totals, sums), None

    # The sums vary over the mesh axes the state varies over (a group's runs): so must their start.
    varying = varying_axes(state.step)
    zeros = {"loss_sum": jnp.float32(0), "correct": jnp.int32(0), "count": jnp.int32(0)}
    if varying:
        zeros = jax.lax.pcast(zeros, varying, to="varying")
    if rows.shape[0] == 1:  # as train_block: no one-step loop on XLA:CPU
        return one_batch(zeros, (batch_indices[0], rows[0]))[0]
    return jax.lax.scan(one_batch, zeros, (batch_indices, rows))[0]


def split_outputs(state: TrainState, split, batch_indices, rows, key, *, preprocess, train_mode: bool):
    """The model's outputs on a block of evaluation batches, keyed as `evaluate_split` keys them;
    runs per device inside shard_map."""

    def one_batch(_, batch):
        index, batch_rows = batch
        batch_key = jax.random.fold_in(key, index)
        return None, eval_outputs(state, device_batch(batch_rows, split, preprocess, batch_key), batch_key, train_mode)

    return jax.lax.scan(one_batch, None, (batch_indices, rows))[1]
