"""One training loop for every experiment: `train_and_evaluate(config, workdir)`.

As in Flax's examples, `train_step` and `eval_step` are small pure functions of
(state, batch), and an experiment is only a config. They run data-parallel
under `jax.shard_map` over a one-axis mesh of every device: each device holds a
shard of the global batch, gradients and metric sums are combined across
devices, and BatchNorm takes its statistics over the whole global batch, so N
devices compute the update one device would. One device is the same code path.

The data live on the devices: each split is put once on every device, an epoch's
order once per epoch, and a compiled `train_block` gathers, augments and trains
on `steps_per_dispatch` batches in a row; the host only dispatches blocks and
reads the metric sums when it logs.

Keys for dropout and augmentation are derived from (seed, step) with
`fold_in`, never kept as hidden state; with the batch order a function of
(seed, epoch), a checkpoint of the TrainState plus the position in the data is
all an exact continuation needs. Rerunning with the same workdir resumes.
"""

import dataclasses
import functools
import json
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm import tqdm

from jaxmnist import checkpoint, models, optim, reporting, runtime
from jaxmnist import config as config_lib
from jaxmnist import workdir as workdir_lib
from jaxmnist.data import augment, pipeline, prepare
from jaxmnist.errors import UserError
from jaxmnist.models import cpu_kernels

LOSSES = ("nll", "cross_entropy", "cross_entropy_on_probabilities")
DATA_AXIS = "batch"
_MODULE_LOADED = time.perf_counter()
# Config keys that do not change what a run computes (where data lives, the notebook's reference
# numbers, how many steps one program runs): they may differ when a run is resumed.
NON_RECIPE_KEYS = ("data_dir", "data_source", "reference", "steps_per_dispatch")
# Recipe keys that configs saved before they existed lack; such a run computed with this value.
ADDED_KEY_DEFAULTS = {"matmul_precision": "highest"}
# torch's cyclic schedulers set the optimizer's rate themselves (jaxmnist.optim): with them
# optimizer.learning_rate is not in force.
RATE_SETTING_SCHEDULES = ("cyclic", "one_cycle")
# `matmul_precision` -> the precision of every dot and convolution on GPU and TPU. XLA:CPU
# computes float32 products in float32 whatever is asked.
PRECISIONS = {
    "highest": "highest",  # float32, as the notebooks ran
    "tensorfloat32": "tensorfloat32",  # NVIDIA's TF32: float32 range, a 10-bit mantissa
    "bfloat16": "bfloat16",  # one bfloat16 pass: fastest, an 8-bit mantissa
}


class TrainState(flax.struct.PyTreeNode):
    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any


class Interrupted(Exception):
    """SIGTERM/SIGINT: the current step finished and a checkpoint was saved."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.signum = signum


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
    return -jnp.take_along_axis(log_probabilities, labels[:, None], axis=1)[:, 0]


def _metric_sums(outputs, labels, mask, loss_name) -> dict:
    """Sums over the valid examples of the global batch (psum over devices)."""
    losses = jnp.where(mask, per_example_loss(outputs, labels, loss_name), 0.0)
    correct = (jnp.argmax(outputs, axis=1) == labels) & mask
    sums = {"loss_sum": jnp.sum(losses), "correct": jnp.sum(correct, dtype=jnp.int32),
            "count": jnp.sum(mask, dtype=jnp.int32)}
    return jax.lax.psum(sums, DATA_AXIS)


def _variables(state: TrainState, params) -> dict:
    variables = {"params": params}
    if state.batch_stats is not None:
        variables["batch_stats"] = state.batch_stats
    return variables


def train_step(state: TrainState, images, labels, mask, dropout_key, *, module, tx, loss_name):
    """One update on one global batch; runs per device inside shard_map. Returns (state, metric sums)."""
    global_count = jax.lax.psum(jnp.sum(mask), DATA_AXIS)
    # Each device drops out different units of its own examples.
    device_key = jax.random.fold_in(dropout_key, jax.lax.axis_index(DATA_AXIS))

    def loss_fn(params):
        with models.batch_statistics_over(mask):
            outputs, updates = module.apply(
                _variables(state, params), images, train=True, rngs={"dropout": device_key},
                mutable=["batch_stats"] if state.batch_stats is not None else [])
        losses = jnp.where(mask, per_example_loss(outputs, labels, loss_name), 0.0)
        # This device's share of the global mean: shard_map's autodiff sums the gradients
        # of the replicated parameters over devices, giving the gradient of the global mean.
        return jnp.sum(losses) / global_count, (outputs, updates)

    (_, (outputs, updates)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    param_updates, opt_state = tx.update(grads, state.opt_state, state.params)
    new_state = state.replace(step=state.step + 1, params=optax.apply_updates(state.params, param_updates),
                              batch_stats=updates.get("batch_stats", state.batch_stats), opt_state=opt_state)
    metrics = _metric_sums(outputs, labels, mask, loss_name)
    metrics["learning_rate"] = optim.current_learning_rate(opt_state)
    return new_state, metrics


def eval_step(state: TrainState, images, labels, mask, dropout_key, *, module, loss_name, train_mode) -> dict:
    """Metric sums of one global batch. `train_mode` evaluates as a notebook that never called
    model.eval() did (notebook 004): dropout active, BatchNorm on batch statistics (not kept)."""
    if not train_mode:
        outputs = module.apply(_variables(state, state.params), images, train=False)
    else:
        device_key = jax.random.fold_in(dropout_key, jax.lax.axis_index(DATA_AXIS))
        with models.batch_statistics_over(mask):
            outputs, _ = module.apply(_variables(state, state.params), images, train=True,
                                      rngs={"dropout": device_key}, mutable=["batch_stats"])
    return _metric_sums(outputs, labels, mask, loss_name)


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


def _summarise(totals: dict) -> dict:
    count = int(totals["count"])
    return {"loss": float(totals["loss_sum"]) / count, "accuracy": 100.0 * int(totals["correct"]) / count,
            "correct": int(totals["correct"]), "total": count}


def _device_batch(rows, split: pipeline.Split, preprocess, key):
    """This device's share of a global batch, gathered and preprocessed where it is used.

    `rows` are split indices, -1 for padding. Each example's augmentation key follows its
    position in the global batch, so the batch is the same however devices and processes share it.
    """
    mask = rows >= 0
    indices = jnp.where(mask, rows, 0)
    positions = jax.lax.axis_index(DATA_AXIS) * rows.shape[0] + jnp.arange(rows.shape[0])
    images = augment.apply_batch(preprocess, split.images[indices], key, positions)
    return images, split.labels[indices], mask


def step_batch(step, split, epoch_rows, epoch_first_step, augment_root, *, preprocess):
    """This device's batch of `step`: row `step - epoch_first_step` of its columns of the epoch's batches."""
    rows = jax.lax.dynamic_index_in_dim(epoch_rows, step - epoch_first_step, keepdims=False)
    return _device_batch(rows, split, preprocess, jax.random.fold_in(augment_root, step))


def step_on_batch(state, totals, images, labels, mask, dropout_root, **step_options):
    """One update on a batch from `step_batch`: per device inside shard_map. Returns (state, totals, rate)."""
    step = state.step
    new_state, sums = train_step(state, images, labels, mask, jax.random.fold_in(dropout_root, step), **step_options)
    return new_state, _accumulate(totals, sums, step), sums["learning_rate"]


def train_block(state: TrainState, totals: dict, split, epoch_rows, epoch_first_step, roots, *, steps: int,
                preprocess, **step_options):
    """`steps` updates in one program; runs per device inside shard_map. Returns (state, totals, rate).

    Rows past the epoch's last batch are all padding: a step on one leaves the state and the
    sums as they were, so an epoch's last block runs the same program. Keys come from
    (seed, step), whatever the block size.
    """
    augment_root, dropout_root = roots

    def update(carry):
        state, totals, _ = carry
        batch = step_batch(state.step, split, epoch_rows, epoch_first_step, augment_root, preprocess=preprocess)
        return step_on_batch(state, totals, *batch, dropout_root, **step_options)

    def update_unless_padding(carry, _):
        rows = jax.lax.dynamic_index_in_dim(epoch_rows, carry[0].step - epoch_first_step, keepdims=False)
        has_examples = jax.lax.psum(jnp.sum(rows >= 0), DATA_AXIS) > 0
        return jax.lax.cond(has_examples, update, lambda carry: carry, carry), None

    carry = (state, totals, optim.current_learning_rate(state.opt_state).astype(jnp.float32))
    return jax.lax.scan(update_unless_padding, carry, length=steps)[0]


def evaluate_split(state: TrainState, split, batch_indices, rows, key, *, preprocess, **eval_options) -> dict:
    """Metric sums of a block of evaluation batches in one program; runs per device inside shard_map.

    `rows` are this device's columns of the block's batches, `batch_indices` their places in
    the split's batches: batch i's key is fold_in(key, i), whatever the block size.
    """

    def one_batch(totals, batch):
        index, batch_rows = batch
        batch_key = jax.random.fold_in(key, index)
        images, labels, mask = _device_batch(batch_rows, split, preprocess, batch_key)
        return jax.tree.map(jnp.add, totals, eval_step(state, images, labels, mask, batch_key, **eval_options)), None

    zeros = {"loss_sum": jnp.float32(0), "correct": jnp.int32(0), "count": jnp.int32(0)}
    if rows.shape[0] == 1:  # as train_block: no one-step loop on XLA:CPU
        return one_batch(zeros, (batch_indices[0], rows[0]))[0]
    return jax.lax.scan(one_batch, zeros, (batch_indices, rows))[0]


def padded_rows(order: np.ndarray, batch_size: int, devices: int, extra_rows: int = 0) -> np.ndarray:
    """Batches of `order` as rows of a (batches + extra_rows, width) matrix, -1 for padding.

    As DataLoader(drop_last=False), the last batch may be smaller; it is padded to the full
    size, rounded up to a multiple of the device count, so one compiled program serves every batch.
    """
    width = -(-batch_size // devices) * devices
    count = -(-len(order) // batch_size)
    rows = np.full((count + extra_rows, width), -1, np.int32)
    for index in range(count):
        batch = order[index * batch_size:(index + 1) * batch_size]
        rows[index, :len(batch)] = batch
    return rows


class Engine:
    """The compiled, sharded programs of one run, and where their inputs live; holds no training state."""

    def __init__(self, config: ml_collections.ConfigDict, devices=None, kernels: str | None = None):
        """`kernels`: 'cpu' (jaxmnist.models.cpu_kernels) or 'xla'; by default 'cpu' on CPU devices only."""
        self.mesh = jax.sharding.Mesh(np.array(devices or jax.devices()), (DATA_AXIS,))
        self.kernels = kernels or ("cpu" if self.mesh.devices.flat[0].platform == "cpu" else "xla")
        precision = config.get("matmul_precision", ADDED_KEY_DEFAULTS["matmul_precision"])
        if precision not in PRECISIONS:
            raise UserError(f"matmul_precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.precision = PRECISIONS[precision]
        self.replicated = NamedSharding(self.mesh, P())
        self.rows_sharding = NamedSharding(self.mesh, P(None, DATA_AXIS))
        self.loss = config.loss
        self.module = models.create(config.model, batch_norm_axis_name=DATA_AXIS,
                                    **config.get("model_overrides", {}))
        self.tx = optim.create_optimizer(config)
        self.all_finite = jax.jit(lambda tree: jnp.all(jnp.array(
            [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)])))

    def _traced_for_backend(self, program):
        """`program`, traced with this run's layer kernels and matmul precision."""
        def traced(*args):
            with cpu_kernels.enabled(self.kernels == "cpu"), jax.default_matmul_precision(self.precision):
                return program(*args)
        # The step's own name, not the wrapper's, names its compiled program (in the cache, in profiles).
        traced.__name__ = getattr(program, "func", program).__name__
        return traced

    def train_program(self, preprocess, steps: int):
        """(state, totals, split, epoch_rows, epoch_first_step, roots) -> (state, totals, rate) after `steps` steps.

        One step is two programs, the batch and the update: inside one program, or in a one-step
        scan, XLA:CPU fuses the augmentation differently (random_resized_crop's bilinear
        weights), and a run of single steps keeps the numbers of the runs in docs/runs to the bit.
        """
        if steps == 1:
            make, update = self.batch_program(preprocess), self.update_program()

            def run(state, totals, split, epoch_rows, epoch_first_step, roots):
                batch = make(state.step, split, epoch_rows, epoch_first_step, roots[0])
                return update(state, totals, *batch, roots[1])
            return run
        block = functools.partial(train_block, steps=steps, preprocess=preprocess, module=self.module, tx=self.tx,
                                  loss_name=self.loss)
        return jax.jit(jax.shard_map(self._traced_for_backend(block), mesh=self.mesh,
                                     in_specs=(P(), P(), P(), P(None, DATA_AXIS), P(), P()),
                                     out_specs=(P(), P(), P())), donate_argnums=(0, 1))

    def batch_program(self, preprocess):
        """jit(step_batch): (step, split, epoch_rows, epoch_first_step, augment_root) -> (images, labels, mask)."""
        return jax.jit(jax.shard_map(self._traced_for_backend(functools.partial(step_batch, preprocess=preprocess)),
                                     mesh=self.mesh,
                                     in_specs=(P(), P(), P(None, DATA_AXIS), P(), P()), out_specs=P(DATA_AXIS)))

    def update_program(self):
        """jit(step_on_batch): (state, totals, images, labels, mask, dropout_root) -> (state, totals, rate)."""
        return jax.jit(jax.shard_map(self._traced_for_backend(
            functools.partial(step_on_batch, module=self.module, tx=self.tx, loss_name=self.loss)), mesh=self.mesh,
            in_specs=(P(), P(), P(DATA_AXIS), P(DATA_AXIS), P(DATA_AXIS), P()), out_specs=(P(), P(), P())),
            donate_argnums=(0, 1))

    def eval_program(self, preprocess, train_mode: bool = False):
        """jit(evaluate_split): (state, split, batch_indices, rows, key) -> metric sums of the block."""
        evaluate = functools.partial(evaluate_split, preprocess=preprocess, module=self.module, loss_name=self.loss,
                                     train_mode=train_mode)
        return jax.jit(jax.shard_map(self._traced_for_backend(evaluate), mesh=self.mesh,
                                     in_specs=(P(), P(), P(), P(None, DATA_AXIS), P()),
                                     out_specs=P()))

    def eval_blocks(self, num_examples: int, batch_size: int, batches_per_dispatch: int) -> list[tuple]:
        """A split's evaluation batches on the devices, uploaded once: (batch indices, rows) per block.

        The last block is filled up with batches of padding, which count nothing.
        """
        rows = padded_rows(np.arange(num_examples), batch_size, self.mesh.size)
        per_block = min(batches_per_dispatch, len(rows))
        blocks = -(-len(rows) // per_block)
        rows = np.concatenate([rows, np.full((blocks * per_block - len(rows), rows.shape[1]), -1, np.int32)])
        return [(self.replicate(np.arange(start, start + per_block, dtype=np.int32)),
                 self.put_rows(rows[start:start + per_block])) for start in range(0, len(rows), per_block)]

    def init_state(self, seed: int) -> TrainState:
        variables = models.init_variables(self.module, jax.random.fold_in(jax.random.key(seed), 0))
        state = TrainState(step=jnp.zeros((), jnp.int32), params=variables["params"],
                           batch_stats=variables.get("batch_stats"), opt_state=self.tx.init(variables["params"]))
        return jax.device_put(state, self.replicated)

    def abstract_state(self, seed: int):
        """The TrainState's shapes, dtypes and shardings, without running (or compiling) its init."""
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.replicated),
                            jax.eval_shape(self.init_state, seed))

    def key_roots(self, seed: int) -> tuple[tuple, jax.Array]:
        """((augmentation root, dropout root) on the devices, the evaluation root) of a run's `seed`."""
        dropout_root = jax.random.fold_in(jax.random.key(seed), 1)
        augment_root = jax.random.fold_in(jax.random.key(seed), 2)
        eval_root = jax.random.fold_in(jax.random.key(seed), 3)  # augmented or train-mode evaluation
        roots = self.replicate((jax.random.key_data(augment_root), jax.random.key_data(dropout_root)))
        return tuple(jax.random.wrap_key_data(root) for root in roots), eval_root

    def in_turn(self, outputs):
        """Waits for a program on a multi-device CPU host: XLA:CPU's devices share one thread pool,
        and with several programs queued one device's all-reduce waited 40 s for the other and
        aborted the process (2 CPU devices, net8k/net_bn_dropout_aug)."""
        if self.mesh.devices.flat[0].platform == "cpu" and self.mesh.size > 1:
            jax.block_until_ready(outputs)
        return outputs

    def replicate(self, tree):
        """Host values on every device of the mesh (each process supplies the same values)."""
        return jax.tree.map(lambda value: jax.make_array_from_callback(
            np.shape(value), self.replicated, lambda index: np.asarray(value)[index]), tree)

    def put_rows(self, rows: np.ndarray) -> jax.Array:
        """A batch matrix with each device holding its columns: its share of every batch."""
        return jax.make_array_from_callback(rows.shape, self.rows_sharding, lambda index: rows[index])

    def epoch_rows(self, num_examples: int, batch_size: int, seed: int, epoch: int, shuffle: bool) -> jax.Array:
        """One epoch's batches on the devices, uploaded once, with a row of padding after the last."""
        order = pipeline.epoch_order(num_examples, seed, epoch, shuffle)
        return self.put_rows(padded_rows(order, batch_size, self.mesh.size, extra_rows=1))


@dataclasses.dataclass(frozen=True)
class RunPrograms:
    """A run's data on the devices and its programs: what training and an estimate share."""

    engine: "Engine"
    num_examples: int
    batches_per_epoch: int
    steps_per_dispatch: int
    run_block: Any
    train_data: Any
    evaluations: dict  # eval name -> (program, split on the devices, its blocks of batches)

    @classmethod
    def load(cls, config: ml_collections.ConfigDict, engine: "Engine") -> "RunPrograms":
        """Reads the splits, uploads them once to every device and builds (not yet compiles) the programs."""
        with workdir_lib.filesystem_errors_reported(
                f"the data dir {prepare.resolve_data_dir(config.get('data_dir'))}"):
            train_split = pipeline.load(config.dataset, config.train_split, config.get("data_dir"),
                                        config.get("data_source"), limit=config.get("limit_train"))
            eval_splits = {name: pipeline.load(config.dataset, spec.split, config.get("data_dir"),
                                               config.get("data_source"))
                           for name, spec in config.eval.items()}
        train_stats = pipeline.pixel_stats(train_split)
        num_examples = len(train_split.labels)
        batches_per_epoch = -(-num_examples // config.batch_size)
        steps_per_dispatch = resolve_steps_per_dispatch(config.get("steps_per_dispatch"), batches_per_epoch)
        # The splits live on every device, uploaded once; each program gathers its batches there.
        evaluations = {name: (engine.eval_program(augment.parse(spec.pp, train_stats), spec.get("train_mode", False)),
                              engine.replicate(eval_splits[name]),
                              engine.eval_blocks(len(eval_splits[name].labels), config.eval_batch_size,
                                                 steps_per_dispatch))
                       for name, spec in config.eval.items()}
        return cls(engine, num_examples, batches_per_epoch, steps_per_dispatch,
                   engine.train_program(augment.parse(config.train_pp, train_stats), steps_per_dispatch),
                   engine.replicate(train_split), evaluations)

    def evaluate_all(self, state: TrainState, key) -> dict:
        """{eval name: summarised metrics} of `state` on every eval split."""
        results = {}
        for name, (program, split, blocks) in self.evaluations.items():
            sums = [self.engine.in_turn(program(state, split, batch_indices, rows, key)) for batch_indices, rows in blocks]
            results[name] = _summarise(functools.reduce(lambda a, b: jax.tree.map(jnp.add, a, b), sums))
        return results


class _EpochBar(tqdm):
    """One epoch's progress bar, `epoch i/N`, with the time the whole run still needs (`run_left`)."""

    def __init__(self, epoch: int, epochs: int, batches: int, first_batch: int, started: float,
                 last_epoch_seconds: float | None, enabled: bool):
        super().__init__(total=batches, initial=first_batch, desc=f"epoch {epoch}/{epochs}", unit="batch",
                         leave=False, dynamic_ncols=True, disable=not enabled)
        self.epochs_after, self.started, self.last_epoch_seconds = epochs - epoch, started, last_epoch_seconds
        self.shown = {}
        self.show()

    def show(self, **metrics):
        """Shows `metrics` and the run's remaining time as of now beside the bar."""
        if self.disable:
            return
        self.shown.update(metrics)
        left = seconds_left(self.last_epoch_seconds, self.epochs_after, self.n / self.total,
                            time.time() - self.started)
        self.set_postfix(self.shown if left is None else {**self.shown, "run_left": format_duration(left)})


def seconds_left(epoch_seconds: float | None, epochs_after: int, epoch_fraction: float,
                 epoch_elapsed: float) -> float | None:
    """Seconds the run still needs: the rest of this epoch and `epochs_after` more.

    An epoch takes as long as the last one timed (evaluation included); before one is complete,
    as this epoch's pace so far says. None when nothing is timed yet.
    """
    if epoch_seconds is None:
        if epoch_fraction <= 0:
            return None
        epoch_seconds = epoch_elapsed / epoch_fraction
    return epoch_seconds * (1 - epoch_fraction + epochs_after)


def format_duration(seconds: float) -> str:
    """'45s', '3m12s', '2h05m': whole seconds up to an hour, whole minutes from there."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m"


def _seconds_since_process_start() -> float:
    """Wall time since this process started: what a user waits for, imports and compilation included."""
    try:  # Linux: the start time in clock ticks since boot is field 22 of /proc/self/stat
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):  # elsewhere: since this module was imported
        return time.perf_counter() - _MODULE_LOADED


def recorded_config(config: dict) -> dict:
    """`config` as config.json records it: without optimizer.learning_rate where the schedule sets the rate."""
    schedule, optimizer = config.get("schedule"), config.get("optimizer")
    if not (isinstance(schedule, dict) and schedule.get("name") in RATE_SETTING_SCHEDULES
            and isinstance(optimizer, dict)):
        return config
    return {**config, "optimizer": {key: value for key, value in optimizer.items() if key != "learning_rate"}}


def _check_config(workdir: Path, config: ml_collections.ConfigDict, force: bool) -> str:
    """The config.json a run of `config` writes in `workdir`; writes nothing.

    Refuses to continue a workdir with another config (its checkpoints belong to that one), and
    checkpoints whose config.json is damaged or gone: nothing says which config they belong to.
    """
    saved_path = workdir / "config.json"
    current = recorded_config({**ADDED_KEY_DEFAULTS, **json.loads(config.to_json_best_effort())})
    text = json.dumps(current, indent=2, sort_keys=True) + "\n"
    if force:
        return text
    continue_anyway = "Rerun with --force to continue its checkpoints with this config, or use another --workdir"
    if saved_path.exists():
        try:
            saved = json.loads(saved_path.read_text())
        except (ValueError, UnicodeDecodeError):
            saved = None
        except OSError as error:
            raise workdir_lib.filesystem_error(error, saved_path) or UserError(
                f"cannot read {saved_path}: {error.strerror}") from None
        if not isinstance(saved, dict):
            raise UserError(f"{saved_path} is damaged (not a JSON object). {continue_anyway}")
        saved = recorded_config({**ADDED_KEY_DEFAULTS, **saved})  # as written before it left unused rates out
        if isinstance(saved.get("experiment"), str):
            saved["experiment"] = config_lib.current_name(saved["experiment"])
        differing = sorted(key for key in set(saved) | set(current)
                           if key not in NON_RECIPE_KEYS and saved.get(key) != current.get(key))
        if differing:
            details = "; ".join(f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in differing)
            raise UserError(f"{workdir} holds a run with a different config ({details}). Use another "
                            "--workdir, or --force to continue it with the new config")
    elif checkpoint.saved_steps(workdir):
        raise UserError(f"{workdir} holds checkpoints but no config.json, so nothing says which config they "
                        f"belong to. {continue_anyway}")
    return text


class _StopRequest:
    """Remembers SIGTERM/SIGINT so the loop can finish its step and save first."""

    def __init__(self):
        self.signum = None
        self.previous = {}

    def __enter__(self):
        for signum in (signal.SIGTERM, signal.SIGINT):
            self.previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None:
            # A second signal: stop now. Exiting here, not by an exception, keeps orbax's threads
            # from printing tracebacks; a save cut short is never listed, and its leftovers are
            # removed when the run resumes.
            name = signal.Signals(signum).name
            print(f"\nstopped by a second {name} without saving; rerun the same command to resume from the last "
                  "checkpoint", file=sys.stderr, flush=True)
            os._exit(128 + signum)
        self.signum = signum

    def __exit__(self, *exc):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, force: bool = False) -> list[dict]:
    """Train `config` in `workdir`, resuming from its latest checkpoint; returns the per-epoch rows.

    The config is checked before anything is written, one run at a time holds the workdir (the
    first process of a multi-process run holds it for all), and a run that fails before its first
    step leaves the workdir as it found it.
    """
    workdir = Path(workdir)
    config_lib.validate(config)
    is_writer = jax.process_index() == 0
    created = workdir_lib.make_directory(workdir)
    try:
        if not is_writer:
            return _train_in_workdir(config, workdir, force, is_writer)
        with workdir_lib.exclusive_lock(workdir, "jaxmnist train"):
            snapshot = workdir_lib.Snapshot(workdir, files=("config.json", "metrics.jsonl", "timing.jsonl"),
                                            folders=("tensorboard",))
            progress = {"first_step_done": False}
            try:
                return _train_in_workdir(config, workdir, force, is_writer, progress)
            except BaseException:
                if not progress["first_step_done"]:
                    snapshot.restore()
                raise
    except (UserError, Interrupted):
        raise
    except Exception as error:  # noqa: BLE001 - a full or read-only disk is the user's to fix, not a bug
        user_error = workdir_lib.filesystem_error(error, f"the workdir {workdir}")
        if user_error is None:
            raise
        raise user_error from None
    finally:
        if created:
            workdir_lib.remove_if_empty(workdir)


def _train_in_workdir(config: ml_collections.ConfigDict, workdir: Path, force: bool, is_writer: bool,
                      progress_flags: dict | None = None) -> list[dict]:
    config_text = _check_config(workdir, config, force)
    engine = Engine(config)
    best_metric = f"{config.best_split}_accuracy" if config.get("best_split") else None
    # Opened only where there are checkpoints to restore until everything that can fail before
    # training has run: a fresh workdir stays untouched by a run that never starts.
    has_checkpoints = (workdir / "checkpoints").is_dir()
    manager = checkpoint.open_manager(workdir, config.get("keep_checkpoints", 2), best_metric) \
        if has_checkpoints else None
    # A resumed run restores into the abstract state: initialising first would compile and run
    # an init whose result is thrown away (seconds of a resume's startup).
    restored = checkpoint.restore_latest(manager, engine.abstract_state(config.seed)) if manager else None
    if restored is not None and restored[1]["epoch"] > config.epochs:
        # Restored before the data are read: a complete run is reported at once, and left as it is.
        manager.close()
        history = restored[1]["history"]
        if is_writer:
            print(f"{workdir} holds a complete run ({history[-1]['epoch']} of {config.epochs} epochs): nothing to "
                  "train, nothing written. To train longer, rerun with a larger --epochs and --force", flush=True)
        return history

    run = RunPrograms.load(config, engine)
    num_examples, batch_size = run.num_examples, config.batch_size
    batches_per_epoch, steps_per_dispatch = run.batches_per_epoch, run.steps_per_dispatch
    run_block, train_data = run.run_block, run.train_data
    if restored is not None:
        state, progress = restored
        tqdm.write(f"resuming from step {int(state.step)} (epoch {progress['epoch']}, "
                   f"batch {progress['batch']})")
        if progress.get("devices", engine.mesh.size) != engine.mesh.size:
            tqdm.write(f"note: the checkpoint was written on {progress['devices']} devices, this run has "
                       f"{engine.mesh.size}: batches are split differently from here on, so the run continues "
                       "as the uninterrupted one only up to rounding (and with other dropout masks)")
    else:
        state = engine.init_state(config.seed)
        progress = {"epoch": 1, "batch": 0, "totals": None, "history": []}
    history = progress["history"]
    if is_writer:
        workdir_lib.atomic_write_text(workdir / "config.json", config_text)
    if manager is None:
        manager = checkpoint.open_manager(workdir, config.get("keep_checkpoints", 2), best_metric)
    log = reporting.MetricsLog(workdir, int(state.step)) if is_writer else None
    table = reporting.EpochTable(list(config.eval))
    roots, eval_root = engine.key_roots(config.seed)
    log_every = config.get("log_every_steps", 100)
    checkpoint_every = config.get("checkpoint_every_steps", 0)

    def save(progress_now: dict, metrics: dict | None = None):
        if not bool(engine.all_finite(state.params)):
            raise UserError(f"parameters are not finite at step {step}: not saving them")
        checkpoint.save(manager, step, state, {**progress_now, "devices": engine.mesh.size}, metrics)

    def check_finite(totals, epoch):
        bad_step = int(totals["first_nonfinite_step"])
        if bad_step >= 0:
            manager.wait_until_finished()
            last_good = manager.latest_step()
            kept = f"the last good checkpoint is at step {last_good}" if last_good is not None \
                else "no checkpoint had been saved yet"
            raise UserError(f"the training loss became non-finite at step {bad_step + 1} (epoch {epoch}); "
                            f"stopped: {kept}")

    def crossed(every: int, before: int, after: int) -> bool:
        """Whether a block of steps (before, after] reached a multiple of `every`."""
        return bool(every) and after // every > before // every

    in_turn = engine.in_turn
    step = int(state.step)  # counted on the host from here: reading state.step would wait for the device
    first_step = step + 1
    # A bar redrawn with carriage returns is noise in a CI log: there each epoch ends with one line instead.
    show_bar = is_writer and sys.stderr.isatty()
    last_epoch_seconds = None
    with _StopRequest() as stop:
        for epoch in range(progress["epoch"], config.epochs + 1):
            first_batch = progress["batch"] if epoch == progress["epoch"] else 0
            # A resumed epoch's seconds count what it took before the interruption too.
            started = time.time() - (progress.get("seconds", 0.0) if first_batch else 0.0)
            totals = engine.replicate(jax.tree.map(lambda zero, saved: type(zero)(saved), zero_totals(),
                                                   progress["totals"])
                                      if first_batch and progress["totals"] else zero_totals())
            epoch_rows = engine.epoch_rows(num_examples, batch_size, config.seed, epoch, config.shuffle)
            epoch_first_step = engine.replicate(np.int32(step - first_batch))
            bar = _EpochBar(epoch, config.epochs, batches_per_epoch, first_batch, started, last_epoch_seconds,
                            enabled=show_bar)
            batch_index = first_batch
            while batch_index < batches_per_epoch:
                state, totals, rate = in_turn(run_block(state, totals, train_data, epoch_rows, epoch_first_step,
                                                        roots))
                done = min(steps_per_dispatch, batches_per_epoch - batch_index)
                before, step, batch_index = step, step + done, batch_index + done
                bar.update(done)
                if before < first_step <= step:
                    jax.block_until_ready(totals)
                    if progress_flags is not None:
                        progress_flags["first_step_done"] = True
                    startup = _seconds_since_process_start()
                    if log:
                        log.write_first_step(step, epoch, startup)
                    if is_writer:
                        tqdm.write(f"first step done {startup:.1f} s after the process started")
                if crossed(log_every, before, step):
                    check_finite(totals, epoch)
                    live = _summarise(totals)
                    bar.show(loss=f"{live['loss']:.4f}", acc=f"{live['accuracy']:.2f}%")
                    if log:
                        log.write({"kind": "step", "step": step, "epoch": epoch, "train": live,
                                   "learning_rate": float(rate)})
                periodic = crossed(checkpoint_every, before, step) and batch_index < batches_per_epoch
                if stop.signum is not None or periodic:
                    check_finite(totals, epoch)
                    save({"epoch": epoch, "batch": batch_index, "history": history,
                          "totals": {key: float(value) for key, value in totals.items()},
                          "seconds": time.time() - started})
                if stop.signum is not None:
                    manager.wait_until_finished()
                    name = signal.Signals(stop.signum).name
                    raise Interrupted(stop.signum, f"stopped by {name} after step {step} (epoch {epoch}); "
                                                   "checkpoint saved. Rerun the same command to resume.")
            bar.close()
            check_finite(totals, epoch)
            # The rate of the epoch's last update, read from the state: a run resumed from a save
            # after the epoch's last batch has no step of its own here.
            row = {"kind": "epoch", "step": step, "epoch": epoch, "train": _summarise(totals),
                   "learning_rate": float(optim.current_learning_rate(state.opt_state))}
            row.update(run.evaluate_all(state, jax.random.fold_in(eval_root, step)))
            history.append(row)
            seconds = last_epoch_seconds = time.time() - started
            if is_writer:
                table.print_row(row, seconds)
                if not show_bar and epoch < config.epochs:
                    print(f"epoch {epoch}/{config.epochs} done; the run needs about "
                          f"{format_duration(seconds_left(seconds, config.epochs - epoch, 0.0, 0.0))} more",
                          file=sys.stderr, flush=True)
                log.write(row)
                log.write_timing(row["step"], epoch, seconds)
            metrics = {best_metric: row[config.best_split]["accuracy"]} if best_metric else None
            save({"epoch": epoch + 1, "batch": 0, "history": history, "totals": None}, metrics)
    manager.wait_until_finished()
    if is_writer and history:
        reporting.plot_curves(workdir, workdir / "curves.png")
    return history


def estimate(config: ml_collections.ConfigDict, steps: int = 40) -> dict:
    """How long a run of `config` takes here, measured on a short warm-up; writes nothing.

    Times the setup (data, initialisation, compiling the train and eval programs), then at
    least `steps` train steps in whole programs and a second pass of the evaluations: an epoch
    is its steps at the measured pace plus the evaluations. Python's imports are not counted.
    """
    config_lib.validate(config)
    started = time.perf_counter()
    engine = Engine(config)
    run = RunPrograms.load(config, engine)
    state = engine.init_state(config.seed)
    roots, eval_root = engine.key_roots(config.seed)
    epoch_rows = engine.epoch_rows(run.num_examples, config.batch_size, config.seed, 1, config.shuffle)
    totals = engine.replicate(zero_totals())
    step = 0

    def one_block(state, totals):
        # Every block trains on the epoch's first batches: the epoch appears to start at this block.
        return engine.in_turn(run.run_block(state, totals, run.train_data, epoch_rows,
                                            engine.replicate(np.int32(step)), roots))

    def timed_evaluation() -> float:
        evaluated = time.perf_counter()
        jax.block_until_ready(run.evaluate_all(state, eval_root))
        return time.perf_counter() - evaluated

    state, totals, _ = jax.block_until_ready(one_block(state, totals))
    step += run.steps_per_dispatch
    timed_evaluation()  # compiles the evaluations
    setup = time.perf_counter() - started
    blocks = -(-steps // run.steps_per_dispatch)
    timed = time.perf_counter()
    for _ in range(blocks):
        state, totals, _ = one_block(state, totals)
        step += run.steps_per_dispatch
    jax.block_until_ready(totals)
    step_seconds = (time.perf_counter() - timed) / (blocks * run.steps_per_dispatch)
    evaluation = timed_evaluation()
    epoch_seconds = step_seconds * run.batches_per_epoch + evaluation
    # The warm-up's first block and evaluation also did work an epoch does: only the rest is startup.
    startup = max(0.0, setup - step_seconds * run.steps_per_dispatch - evaluation)
    return {"experiment": config.experiment, "epochs": config.epochs, "steps_per_epoch": run.batches_per_epoch,
            "steps_timed": blocks * run.steps_per_dispatch, "step_seconds": step_seconds,
            "evaluation_seconds": evaluation, "epoch_seconds": epoch_seconds, "startup_seconds": startup,
            "total_seconds": startup + config.epochs * epoch_seconds}


def resolve_steps_per_dispatch(value, batches_per_epoch: int) -> int:
    """Train steps per compiled program: a whole number, 'epoch', or None for the backend's default.

    Defaults, from docs/steps_per_dispatch.md: 1 on CPU, where a step takes milliseconds and a
    scan over steps made them slower; an epoch on GPU and TPU, where dispatch outweighs a step.
    """
    if value is None:
        value = 1 if jax.default_backend() == "cpu" else "epoch"
    if value == "epoch":
        return batches_per_epoch
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"steps_per_dispatch must be a whole number of at least 1 or 'epoch', got {value!r}")
    return min(value, batches_per_epoch)


def load_trained(workdir: str) -> tuple[ml_collections.ConfigDict, Any, dict]:
    """(config, module, variables) of the latest checkpoint in `workdir`, for evaluation and pictures."""
    workdir = Path(workdir)
    if not (workdir / "config.json").exists():
        raise UserError(f"{workdir} is not a training workdir (no config.json)")
    try:
        saved = json.loads((workdir / "config.json").read_text())
    except (ValueError, UnicodeDecodeError):
        saved = None
    if not isinstance(saved, dict):
        raise UserError(f"{workdir / 'config.json'} is damaged (not a JSON object): rerun the training command "
                        "with --force to write it again")
    config = ml_collections.ConfigDict(saved)
    engine = Engine(config, devices=jax.devices()[:1])
    restored = checkpoint.restore_latest(checkpoint.open_manager(workdir, read_only=True),
                                        engine.abstract_state(config.seed), set_aside_unreadable=False)
    if restored is None:
        raise UserError(f"{workdir} has no checkpoint yet")
    state = restored[0]
    module = models.create(config.model, **config.get("model_overrides", {}))
    return config, module, _variables(state, state.params)


def _resolve_config(args) -> ml_collections.ConfigDict:
    config = config_lib.load_experiment(args.experiment)
    seed = getattr(args, "seed", None)
    if seed is not None:
        if any(override.split("=", 1)[0].strip() == "seed" for override in args.set):
            raise UserError("give the seed once: --seed or --set seed=..., not both")
        args.set = [*args.set, f"seed={seed}"]
    config_lib.apply_overrides(config, args.set)
    with config.unlocked():
        if args.epochs is not None:
            config.epochs = args.epochs
        if args.limit_train is not None:
            config.limit_train = args.limit_train
        # A run cut short is never presented as a reproduction of the notebook.
        config.shortened = args.epochs is not None or args.limit_train is not None
        config.data_dir = args.data_dir
        config.data_source = args.data_source
        if args.steps_per_dispatch is not None:
            config.steps_per_dispatch = args.steps_per_dispatch
    return config


def _print_estimate(result: dict, as_json: bool) -> int:
    if jax.process_index() != 0:
        return 0
    if as_json:
        print(json.dumps(result))
    else:
        print(f"{result['experiment']}: about {format_duration(result['total_seconds'])} for {result['epochs']} "
              f"epochs: {result['epoch_seconds']:.1f} s per epoch ({result['steps_per_epoch']} steps at "
              f"{1000 * result['step_seconds']:.1f} ms, evaluation {result['evaluation_seconds']:.1f} s), "
              f"startup {result['startup_seconds']:.1f} s")
    return 0


def _initialize_distributed(args):
    # Gloo gives the CPU backend cross-process collectives; GPU/TPU backends ignore this setting.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=args.coordinator, num_processes=args.num_processes,
                               process_id=args.process_id)


def train_command(args) -> int:
    if not args.dry_run and args.json:
        raise UserError("--json goes with --dry-run (a training run writes its metrics to the workdir)")
    if not args.dry_run and not args.workdir:
        raise UserError("--workdir is required (or --dry-run to estimate how long the run takes)")
    runtime.keep_freed_host_memory()
    runtime.enable_compilation_cache()
    runtime.use_cpu_cores_as_devices(1 if args.distributed and args.cpu_devices is None else args.cpu_devices)
    if args.distributed:
        _initialize_distributed(args)
    config = _resolve_config(args)
    if args.dry_run:
        return _print_estimate(estimate(config), args.json)
    try:
        history = train_and_evaluate(config, args.workdir, force=args.force)
    except Interrupted as interruption:
        print(interruption, flush=True)
        return 128 + interruption.signum
    if jax.process_index() == 0 and history:
        final = history[-1]
        summary = ", ".join(f"{name} accuracy {final[name]['accuracy']:.2f}% ({final[name]['correct']}/"
                            f"{final[name]['total']})" for name in config.eval)
        note = " [shortened run: not a reproduction]" if config.shortened else ""
        print(f"{config.experiment}: after {final['epoch']} epochs, {summary}{note}")
    return 0
