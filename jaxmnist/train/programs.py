"""The mesh of every device and the compiled, sharded programs of a run: where their inputs live
and how the step functions of `steps` become programs; they hold no training state."""

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxmnist import config as config_lib
from jaxmnist import models, optim
from jaxmnist import workdir as workdir_lib
from jaxmnist.data import augment, pipeline, prepare
from jaxmnist.errors import UserError
from jaxmnist.models import cpu_kernels
from jaxmnist.train.steps import (DATA_AXIS, TrainState, evaluate_split, padded_rows, step_batch, step_on_batch,
                                  summarise, train_block)

# `matmul_precision` -> the precision of every dot and convolution on GPU and TPU. XLA:CPU
# computes float32 products in float32 whatever is asked.
PRECISIONS = {
    "highest": "highest",  # float32, as the notebooks ran
    "tensorfloat32": "tensorfloat32",  # NVIDIA's TF32: float32 range, a 10-bit mantissa
    "bfloat16": "bfloat16",  # one bfloat16 pass: fastest, an 8-bit mantissa
}


class CompiledPrograms:
    """The compiled, sharded programs of one run, and where their inputs live; holds no training state."""

    def __init__(self, config: ml_collections.ConfigDict, devices=None, kernels: str | None = None):
        """`kernels`: 'cpu' (jaxmnist.models.cpu_kernels) or 'xla'; by default 'cpu' on CPU devices only."""
        self.mesh = jax.sharding.Mesh(np.array(devices or jax.devices()), (DATA_AXIS,))
        self.kernels = kernels or ("cpu" if self.mesh.devices.flat[0].platform == "cpu" else "xla")
        precision = config.get("matmul_precision", config_lib.ADDED_KEY_DEFAULTS["matmul_precision"])
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

    def traced_for_backend(self, program):
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
        return jax.jit(jax.shard_map(self.traced_for_backend(block), mesh=self.mesh,
                                     in_specs=(P(), P(), P(), P(None, DATA_AXIS), P(), P()),
                                     out_specs=(P(), P(), P())), donate_argnums=(0, 1))

    def batch_program(self, preprocess):
        """jit(step_batch): (step, split, epoch_rows, epoch_first_step, augment_root) -> (images, labels, mask)."""
        return jax.jit(jax.shard_map(self.traced_for_backend(functools.partial(step_batch, preprocess=preprocess)),
                                     mesh=self.mesh,
                                     in_specs=(P(), P(), P(None, DATA_AXIS), P(), P()), out_specs=P(DATA_AXIS)))

    def update_program(self):
        """jit(step_on_batch): (state, totals, images, labels, mask, dropout_root) -> (state, totals, rate)."""
        return jax.jit(jax.shard_map(self.traced_for_backend(
            functools.partial(step_on_batch, module=self.module, tx=self.tx, loss_name=self.loss)), mesh=self.mesh,
            in_specs=(P(), P(), P(DATA_AXIS), P(DATA_AXIS), P(DATA_AXIS), P()), out_specs=(P(), P(), P())),
            donate_argnums=(0, 1))

    def eval_program(self, preprocess, train_mode: bool = False):
        """jit(evaluate_split): (state, split, batch_indices, rows, key) -> metric sums of the block."""
        evaluate = functools.partial(evaluate_split, preprocess=preprocess, module=self.module, loss_name=self.loss,
                                     train_mode=train_mode)
        return jax.jit(jax.shard_map(self.traced_for_backend(evaluate), mesh=self.mesh,
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

    compiled: "CompiledPrograms"
    num_examples: int
    batches_per_epoch: int
    steps_per_dispatch: int
    run_block: Any
    train_data: Any
    evaluations: dict  # eval name -> (program, split on the devices, its blocks of batches)

    @classmethod
    def load(cls, config: ml_collections.ConfigDict, compiled: "CompiledPrograms") -> "RunPrograms":
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
        evaluations = {name: (compiled.eval_program(augment.parse(spec.pp, train_stats), spec.get("train_mode", False)),
                              compiled.replicate(eval_splits[name]),
                              compiled.eval_blocks(len(eval_splits[name].labels), config.eval_batch_size,
                                                   steps_per_dispatch))
                       for name, spec in config.eval.items()}
        return cls(compiled, num_examples, batches_per_epoch, steps_per_dispatch,
                   compiled.train_program(augment.parse(config.train_pp, train_stats), steps_per_dispatch),
                   compiled.replicate(train_split), evaluations)

    def evaluate_all(self, state: TrainState, key) -> dict:
        """{eval name: summarised metrics} of `state` on every eval split."""
        results = {}
        for name, (program, split, blocks) in self.evaluations.items():
            sums = [self.compiled.in_turn(program(state, split, batch_indices, rows, key))
                    for batch_indices, rows in blocks]
            results[name] = summarise(functools.reduce(lambda a, b: jax.tree.map(jnp.add, a, b), sums))
        return results


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
