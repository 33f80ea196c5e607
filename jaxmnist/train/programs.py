"""The mesh of every device and the sharded programs of a run or a group of runs: where their
inputs live and how the step functions of `steps` become programs; they hold no training state.

A group of runs (seeds, sweeps, experiments that differ only in their models' rates and in their
optimizers) trains as one program on a two-axis mesh: the runs are spread over `RUNS_AXIS`, each
run's batch over `DATA_AXIS`, and the runs that share a device are vmapped there. Each run keeps
its own state, batches, keys and BatchNorm statistics.
"""

import dataclasses
import functools
import json
import sys
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
from jaxmnist.data import augment, batches, pipeline, prepare
from jaxmnist.data.batches import DATA_AXIS, step_batch
from jaxmnist.errors import UserError
from jaxmnist.models import kernels as layer_kernels
from jaxmnist.train.steps import (TrainState, evaluate_split, key_roots, split_outputs, step_on_batch, summarise,
                                  train_block)

# `matmul_precision`: the precision of every dot and convolution on GPU and TPU. 'highest' is float32,
# as the notebooks ran; 'tensorfloat32' NVIDIA's TF32 (a 10-bit mantissa); 'bfloat16' one bfloat16
# pass. XLA:CPU computes float32 products in float32 whatever is asked.


RUNS_AXIS = "runs"  # the mesh axis that the runs of a group are spread over


def _with_runs(spec: P) -> P:
    """`spec` of one run's value, as the spec of the group's values stacked on a leading runs axis."""
    return P(RUNS_AXIS, *spec)


def _over_runs(program, local_runs: int, per_run: tuple[bool, ...]):
    """`program` of one run, applied to each of a device's `local_runs` runs (per-run arguments
    stacked on a leading axis; the others shared). One run is indexed rather than vmapped: its
    convolutions stay ungrouped, and it trains as the run alone does, bit for bit on XLA:CPU."""
    if local_runs == 1:
        def one_run(*args):
            args = [jax.tree.map(lambda x: x[0], arg) if stacked else arg for arg, stacked in zip(args, per_run)]
            return jax.tree.map(lambda x: x[None], program(*args))
        one_run.__name__ = program.__name__
        return one_run
    return jax.vmap(program, in_axes=tuple(0 if stacked else None for stacked in per_run))


class Programs:
    """A run's (or a group's) mesh, model and optimizer, and the sharded programs built (not yet
    compiled) on them."""

    def __init__(self, config: ml_collections.ConfigDict, devices=None, kernels: str | None = None,
                 runs: int | None = None, run_configs: list | None = None):
        """`kernels`: the layers' kernels (jaxmnist.models.kernels.NAMES); by default 'cpu' on CPU devices, else 'xla'.

        `runs`: None for one run whose values have no runs axis; a count for a group whose state,
        batches and keys are stacked on a leading axis of that length (1: a run alone in a group).
        `run_configs`: each run's config, where their optimizer or schedule numbers differ (a sweep).
        """
        devices = np.array(devices or jax.devices())
        self.runs = runs
        spread = 1 if runs is None else runs_spread(runs, devices.size)
        devices = devices[:devices.size // spread * spread]  # 3 runs on 4 devices: one sits out
        self.local_runs = 1 if runs is None else runs // spread
        self.mesh = jax.sharding.Mesh(devices.reshape(spread, -1), (RUNS_AXIS, DATA_AXIS))
        self.data_devices = self.mesh.shape[DATA_AXIS]
        self.kernels = kernels or ("cpu" if self.mesh.devices.flat[0].platform == "cpu" else "xla")
        self.precision = config.get("matmul_precision", config_lib.ADDED_KEY_DEFAULTS["matmul_precision"])
        if self.precision not in config_lib.MATMUL_PRECISIONS:
            raise UserError(f"matmul_precision must be one of {', '.join(config_lib.MATMUL_PRECISIONS)}, "
                            f"got {self.precision!r}")
        self.replicated = NamedSharding(self.mesh, P())
        self.per_run = NamedSharding(self.mesh, P(RUNS_AXIS))
        self.loss = config.loss
        # Runs of a group may use different models of one shape (e.g. dropout rates) and follow
        # different optimizers: each run's own is chosen inside the one program.
        self.modules, self.model_choices = model_choices(run_configs or [config])
        self.module = self.modules[0]
        # Models that differ only in their initialisation share one forward pass (a vmapped group runs
        # each once); vmapped, so do models that differ only in their dropout rates (numbers per run).
        self.forwards, self.forward_choices, self.run_rates = forward_choices(
            self.modules, rates_as_numbers=self.local_runs > 1)
        self.chosen_inside = len(self.forwards) > 1 or any(self.run_rates)
        self.apply_fn = models.one_per_run(self.forwards) if self.chosen_inside else self.module.apply
        self.optimizers, self.choices = optimizer_choices(run_configs or [config])
        self.tx = self.optimizers[0] if len(self.optimizers) == 1 else optim.one_per_run(self.optimizers)

    def _sharded(self, program, in_specs, out_specs, donate_argnums=(), per_run=()):
        """jit(shard_map(`program`)), traced with this run's layer kernels and matmul precision.

        In a group, the arguments numbered in `per_run` and every output are stacked over the runs.
        """
        def traced(*args):
            with layer_kernels.use(self.kernels), jax.default_matmul_precision(self.precision):
                return program(*args)
        # The step's own name, not the wrapper's, names its compiled program (in the cache, in profiles).
        traced.__name__ = getattr(program, "func", program).__name__
        body = traced
        if self.runs is not None:
            body = _over_runs(traced, self.local_runs, tuple(index in per_run for index in range(len(in_specs))))
            in_specs = tuple(_with_runs(spec) if index in per_run else spec for index, spec in enumerate(in_specs))
            out_specs = jax.tree.map(_with_runs, out_specs, is_leaf=lambda spec: isinstance(spec, P))
        return jax.jit(jax.shard_map(body, mesh=self.mesh, in_specs=in_specs, out_specs=out_specs),
                       donate_argnums=donate_argnums)

    def train_program(self, preprocess, steps: int):
        """(state, totals, split, epoch_rows, epoch_first_step, roots) -> (state, totals, rate) after `steps` steps.

        One step is two programs, the batch and the update: inside one program, or in a one-step
        scan, XLA:CPU fuses the augmentation differently (random_resized_crop's bilinear
        weights), and a run of single steps keeps the numbers of the runs in docs/runs to the bit.
        """
        if steps == 1:
            make_batch, update = self.batch_program(preprocess), self.update_program()

            def run(state, totals, split, epoch_rows, epoch_first_step, roots):
                batch = make_batch(state.step, split, epoch_rows, epoch_first_step, roots[0])
                return update(state, totals, batch, roots[1])
            return run
        # The conditional around each step keeps XLA:CPU's numbers of docs/runs (steps.train_block).
        conditional = self.kernels == "cpu" and self.local_runs == 1
        return self._sharded(functools.partial(train_block, steps=steps, preprocess=preprocess,
                                               conditional=conditional),
                             in_specs=(P(), P(), P(), P(None, DATA_AXIS), P(), P()),
                             out_specs=(P(), P(), P()), donate_argnums=(0, 1), per_run=(0, 1, 3, 5))

    def batch_program(self, preprocess):
        """jit(step_batch): (step, split, epoch_rows, epoch_first_step, augment_root) -> this step's batch."""
        return self._sharded(functools.partial(step_batch, preprocess=preprocess),
                             in_specs=(P(), P(), P(None, DATA_AXIS), P(), P()), out_specs=P(DATA_AXIS),
                             per_run=(0, 2, 4))

    def update_program(self):
        """jit(step_on_batch): (state, totals, batch, dropout_root) -> (state, totals, rate) after one step."""
        return self._sharded(step_on_batch, in_specs=(P(), P(), P(DATA_AXIS), P()), out_specs=(P(), P(), P()),
                             donate_argnums=(0, 1), per_run=(0, 1, 2, 3))

    def eval_program(self, preprocess, train_mode: bool = False):
        """jit(evaluate_split): (state, split, batch_indices, rows, key) -> metric sums of the block."""
        return self._sharded(functools.partial(evaluate_split, preprocess=preprocess, train_mode=train_mode),
                             in_specs=(P(), P(), P(), P(None, DATA_AXIS), P()), out_specs=P(), per_run=(0, 4))

    def outputs_program(self, preprocess, train_mode: bool = False):
        """jit(split_outputs): (state, split, batch_indices, rows, key) -> the model's outputs, batch by batch."""
        return self._sharded(functools.partial(split_outputs, preprocess=preprocess, train_mode=train_mode),
                             in_specs=(P(), P(), P(), P(None, DATA_AXIS), P()), out_specs=P(None, DATA_AXIS),
                             per_run=(0, 4))

    def eval_blocks(self, num_examples: int, batch_size: int, batches_per_dispatch: int) -> list[tuple]:
        """A split's evaluation batches on the devices, uploaded once: (batch indices, rows) per block."""
        return [(self.replicate(indices), self.put_rows(rows)) for indices, rows in
                batches.eval_blocks(num_examples, batch_size, self.data_devices, batches_per_dispatch)]

    def epoch_rows(self, num_examples: int, batch_size: int, seed: int, epoch: int, shuffle: bool) -> jax.Array:
        """One epoch's batches on the devices, uploaded once."""
        return self.put_rows(batches.epoch_rows(num_examples, batch_size, self.data_devices, seed, epoch, shuffle))

    def group_epoch_rows(self, num_examples: int, batch_size: int, seeds: list[int], epoch: int,
                         shuffle: bool) -> jax.Array:
        """Each run's batches of one epoch, stacked over the runs, each device holding its runs' columns."""
        if self.runs is None:
            return self.epoch_rows(num_examples, batch_size, *seeds, epoch, shuffle)
        rows = np.stack([batches.epoch_rows(num_examples, batch_size, self.data_devices, seed, epoch, shuffle)
                         for seed in seeds])
        return jax.make_array_from_callback(rows.shape, NamedSharding(self.mesh, P(RUNS_AXIS, None, DATA_AXIS)),
                                            lambda index: rows[index])

    def put_rows(self, rows: np.ndarray) -> jax.Array:
        return batches.put_rows(rows, self.mesh)

    def with_model(self, state: TrainState) -> TrainState:
        """`state` with this run's model, optimizer and loss as its static fields."""
        return state.replace(apply_fn=self.apply_fn, tx=self.tx, loss_name=self.loss)

    def init_state(self, seed: int, run: int = 0) -> TrainState:
        """Run number `run`'s state as the run alone starts it (its own model's and optimizer's)."""
        variables = models.init_variables(self.modules[self.model_choices[run]],
                                          jax.random.fold_in(jax.random.key(seed), 0))
        state = TrainState(step=jnp.zeros((), jnp.int32), params=variables["params"],
                           batch_stats=variables.get("batch_stats"),
                           opt_state=self.optimizers[self.choices[run]].init(variables["params"]),
                           apply_fn=self.apply_fn, tx=self.tx, loss_name=self.loss)
        return jax.device_put(state, self.replicated)

    def abstract_state(self, seed: int):
        """The TrainState's shapes, dtypes and shardings, without running (or compiling) its init."""
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=self.replicated),
                            jax.eval_shape(self.init_state, seed))

    def stack_states(self, states: list[TrainState]) -> TrainState:
        """The runs' states (as each run alone keeps it) as the group's, each marked with the model
        it uses and the optimizer it follows where those differ between the runs."""
        if len(self.optimizers) > 1:
            states = [state.replace(opt_state=optim.ChosenState(np.int32(choice), state.opt_state))
                      for state, choice in zip(states, self.choices)]
        if self.chosen_inside:
            names = sorted(set().union(*self.run_rates))
            states = [state.replace(model_choice={
                "member": np.int32(self.forward_choices[choice]),
                "rates": {name: np.float32(self.run_rates[choice].get(name, 0.0)) for name in names}})
                for state, choice in zip(states, self.model_choices)]
        return self.stack(states)

    def unstack_states(self, state: TrainState) -> list[TrainState]:
        """Each run's state as the run alone keeps it (to save), replicated on every device."""
        states = self.unstack(state)
        if len(self.optimizers) > 1:
            states = [state.replace(opt_state=state.opt_state.inner) for state in states]
        return [state.replace(model_choice=None) for state in states]

    def stack(self, trees: list):
        """Per-run values (host or replicated) stacked on a leading runs axis, each device holding its
        runs'; outside a group, the one run's values replicated."""
        if self.runs is None:
            (tree,) = trees
            return jax.tree.map(lambda leaf: leaf if isinstance(leaf, jax.Array) else self.replicate(leaf), tree)

        def stacked(*leaves):
            if jax.dtypes.issubdtype(leaves[0].dtype, jax.dtypes.prng_key):
                return jax.random.wrap_key_data(stacked(*(jax.random.key_data(leaf) for leaf in leaves)))
            values = np.stack([np.asarray(leaf) for leaf in leaves])
            return jax.make_array_from_callback(values.shape, self.per_run, lambda index: values[index])
        return jax.tree.map(stacked, *trees)

    def unstack(self, tree) -> list:
        """Each run's values of a stacked group value, replicated on every device (to save, to evaluate)."""
        if self.runs is None:
            return [tree]
        if not hasattr(self, "_unstack"):
            self._unstack = jax.jit(lambda tree: [jax.tree.map(lambda x: x[run], tree) for run in range(self.runs)],
                                    out_shardings=self.replicated)
        return self._unstack(tree)

    def finite_runs(self, params) -> np.ndarray:
        """Whether each run's parameters are all finite (one flag outside a group), read in one go."""
        if not hasattr(self, "_finite_runs"):
            def finite_runs(params):
                leaves = [leaf.reshape(self.runs or 1, -1) for leaf in jax.tree.leaves(params)]
                return jnp.stack([jnp.isfinite(leaf).all(axis=1) for leaf in leaves]).all(axis=0)
            self._finite_runs = jax.jit(finite_runs, out_shardings=self.replicated)
        return np.asarray(self._finite_runs(params))

    def fetch(self, tree):
        """Values on the devices as host arrays, in every process whole: a group's runs may sit on
        other processes' devices (`jax.distributed`), which np.asarray cannot read."""
        if not hasattr(self, "_gather"):
            self._gather = jax.jit(lambda tree: tree, out_shardings=self.replicated)
        return jax.tree.map(np.asarray, self._gather(tree))

    def group_roots(self, seeds: list[int]) -> tuple[jax.Array, jax.Array]:
        """(augmentation roots, dropout roots) of each run's seed, stacked over the runs."""
        if self.runs is None:
            return self.train_roots(*seeds)
        return self.stack([key_roots(seed)[:2] for seed in seeds])

    def train_roots(self, seed: int) -> tuple[jax.Array, jax.Array]:
        """(augmentation root, dropout root) of a run's `seed`, on every device. Their key data go
        through `replicate`: device_put cannot place values on another process's devices."""
        roots = self.replicate(tuple(jax.random.key_data(root) for root in key_roots(seed)[:2]))
        return tuple(jax.random.wrap_key_data(root) for root in roots)

    def in_turn(self, outputs):
        """Waits for a program on a multi-device CPU host: XLA:CPU's devices share one thread pool,
        and with several programs queued one device's all-reduce waited for the other until the
        process aborted (docs/PERFORMANCE.md)."""
        if self.mesh.devices.flat[0].platform == "cpu" and self.mesh.size > 1:
            jax.block_until_ready(outputs)
        return outputs

    def eval_sums(self, program, state: TrainState, split, blocks: list[tuple], key) -> dict:
        """The metric sums of an `eval_program` over a split's `eval_blocks`."""
        sums = [self.in_turn(program(state, split, batch_indices, rows, key)) for batch_indices, rows in blocks]
        return functools.reduce(lambda a, b: jax.tree.map(jnp.add, a, b), sums)

    def replicate(self, tree):
        """Host values on every device of the mesh (each process supplies the same values)."""
        return jax.tree.map(lambda value: jax.make_array_from_callback(
            np.shape(value), self.replicated, lambda index: np.asarray(value)[index]), tree)


@dataclasses.dataclass(frozen=True)
class RunPrograms:
    """A run's data on the devices and its programs: what training and an estimate share."""

    programs: Programs
    num_examples: int
    batches_per_epoch: int
    steps_per_dispatch: int
    run_block: Any
    train_data: Any
    evaluations: dict  # eval name -> (program, split on the devices, its blocks of batches)

    @classmethod
    def load(cls, config: ml_collections.ConfigDict, programs: Programs) -> "RunPrograms":
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
        evaluations = {name: (programs.eval_program(augment.parse(spec.pp, train_stats), spec.get("train_mode", False)),
                              programs.replicate(eval_splits[name]),
                              programs.eval_blocks(len(eval_splits[name].labels), config.eval_batch_size,
                                                   steps_per_dispatch))
                       for name, spec in config.eval.items()}
        return cls(programs, num_examples, batches_per_epoch, steps_per_dispatch,
                   programs.train_program(augment.parse(config.train_pp, train_stats), steps_per_dispatch),
                   programs.replicate(train_split), evaluations)

    def evaluate(self, state: TrainState, key) -> list[dict]:
        """Each run's {eval name: summarised metrics} (one entry for a run outside a group)."""
        sums = {name: self.programs.fetch(self.programs.eval_sums(program, state, split, blocks, key))
                for name, (program, split, blocks) in self.evaluations.items()}
        if self.programs.runs is None:
            return [{name: summarise(values) for name, values in sums.items()}]
        return [{name: summarise({metric: value[run] for metric, value in values.items()})
                 for name, values in sums.items()} for run in range(self.programs.runs)]


def _distinct(items: list, setting) -> tuple[list, list[int]]:
    """(the first item of each distinct `setting(item)`, the number of each item's)."""
    settings = [json.dumps(setting(item), sort_keys=True, default=str) for item in items]
    distinct = list(dict.fromkeys(settings))
    return [items[settings.index(one)] for one in distinct], [distinct.index(one) for one in settings]


def model_choices(run_configs: list) -> tuple[list, list[int]]:
    """(the distinct models of a group's runs, the number of the one each run uses).

    Runs may use different models whose variables have the same shapes (another dropout rate,
    initialisation or activation), not models of another shape.
    """
    firsts, choices = _distinct(run_configs, lambda config: [config.model, dict(config.get("model_overrides", {}))])
    members = [models.create(config.model, batch_norm_axis_name=DATA_AXIS, **config.get("model_overrides", {}))
               for config in firsts]
    if len(members) > 1:
        shapes = [models.variable_shapes(member) for member in members]
        def described(config):
            return f"{config.model} with model_overrides {dict(config.get('model_overrides', {}))}"
        for config, member_shapes in zip(firsts[1:], shapes[1:]):
            if member_shapes != shapes[0]:
                raise UserError(f"the runs' models differ in the shapes of their variables ({described(firsts[0])}, "
                                f"{described(config)}): train them as separate groups")
    return members, choices


def forward_choices(members: list, rates_as_numbers: bool = False) -> tuple[list, list[int], list[dict]]:
    """(the forward passes that differ, as (module, its rate fields taken as numbers); the number of
    each member's among them; each member's rates).

    Two modules compute the same where their traced forward passes, in training and in evaluation,
    are the same program: so do models that differ only in their initialisation (def_net and
    tmp_xavier), not models of other rates. With `rates_as_numbers` (runs vmapped on a device, where
    every distinct pass runs on every run's batch) the rates are arguments of the traced pass, so
    models that differ only in their dropout rates share one (dro_net_25 and dro_net_75; def_net as
    rate 0).
    """
    rates = [models.rates_as_numbers(member) if rates_as_numbers else {} for member in members]
    if all(member_rates == rates[0] for member_rates in rates):
        rates = [{} for _ in members]  # one rate for all: it stays a constant of the program

    def traced(index: int) -> str:
        member = members[index]
        unbound = member.clone(batch_norm_axis_name=None) if hasattr(member, "batch_norm_axis_name") else member
        variables = models.variable_shapes(unbound)
        images = jax.ShapeDtypeStruct((2, *models.INPUT_SHAPE), jnp.float32)
        mutable = ["batch_stats"] if "batch_stats" in variables else False

        def forward(train, variables, images, rates):
            return unbound.clone(**rates).apply(variables, images, train=train, mutable=mutable,
                                                rngs={"dropout": jax.random.key(0)})
        return "\n".join(str(jax.make_jaxpr(functools.partial(forward, train))(variables, images, rates[index]))
                         for train in (True, False))

    if len(members) == 1:
        return [(members[0], ())], [0], rates
    firsts, choices = _distinct(list(range(len(members))), traced)
    return [(members[first], tuple(rates[first])) for first in firsts], choices, rates


def optimizer_choices(run_configs: list) -> tuple[list, list[int]]:
    """(the distinct optimizers of a group's runs, the number of the one each run follows).

    Runs may differ in every optimizer and schedule number, not in the shape of the optimizer's
    state (SGD with and without momentum, or Adam beside SGD, keep different states).
    """
    firsts, choices = _distinct(run_configs, lambda config: [optim.settings.as_dict(config.optimizer),
                                                             optim.settings.as_dict(config.get("schedule"))])
    members = [optim.create_optimizer(config) for config in firsts]
    if len(members) > 1:
        # An optimizer state's structure follows the parameters' tree: one leaf shows every difference.
        params = {"weight": jax.ShapeDtypeStruct((1,), jnp.float32)}
        structures = [jax.tree.structure(jax.eval_shape(member.init, params)) for member in members]
        if any(structure != structures[0] for structure in structures):
            raise UserError("the runs' optimizers keep differently shaped states (e.g. SGD with and without "
                            "momentum, or another optimizer): train them as separate groups")
    return members, choices


def runs_spread(runs: int, devices: int) -> int:
    """Over how many devices a program spreads its `runs` runs, each holding as many: the most that
    divide the runs. The rest of each run's share of the devices splits its batch. Under
    jax.distributed the count divides the devices too: every process's devices take part."""
    return max(spread for spread in range(1, min(runs, devices) + 1)
               if runs % spread == 0 and (jax.process_count() == 1 or devices % spread == 0))


def runs_per_wave(runs: int, runs_per_device: int | None) -> int:
    """How many of `runs` runs of a group train as the next program: the most that put at most
    `runs_per_device` on any device (default: 1 on CPU, where a vmapped step was slower than
    separate ones; every run on GPU and TPU, halved while a device runs out of memory:
    `fewer_runs_per_device`)."""
    limit, devices = runs_per_device or (1 if jax.default_backend() == "cpu" else runs), jax.device_count()
    return next(size for size in range(min(runs, limit * devices), 0, -1)
                if size // runs_spread(size, devices) <= limit)


class DeviceOutOfMemory(UserError):
    """A device ran out of memory (XLA's RESOURCE_EXHAUSTED) training `runs_per_device` runs at once."""

    def __init__(self, message: str, device: str, runs_per_device: int, detail: str):
        super().__init__(message)
        self.device, self.runs_per_device, self.detail = device, runs_per_device, detail


def out_of_memory_error(error: BaseException, config: ml_collections.ConfigDict,
                        runs: int) -> DeviceOutOfMemory | None:
    """A one-line UserError for a device that ran out of memory training `runs` runs of `config` as
    one program (XLA's RESOURCE_EXHAUSTED), naming what to rerun with; else None."""
    if not (isinstance(error, jax.errors.JaxRuntimeError) and str(error).startswith("RESOURCE_EXHAUSTED")):
        return None
    detail = str(error).removeprefix("RESOURCE_EXHAUSTED:").strip().splitlines()[0]
    device = jax.devices()[0].device_kind
    per_device = runs // runs_spread(runs, jax.device_count())
    if per_device > 1:
        message = (f"{device} ran out of memory training {per_device} runs at once on each device ({detail}): "
                   f"rerun with --runs-per-device {per_device // 2}; what the runs saved is kept and resumes")
    else:
        message = (f"{device} ran out of memory for one run of {config.model} at batch size {config.batch_size} "
                   f"({detail}): it needs a device with more memory, or a smaller batch (--set batch_size=N, "
                   "which changes the run's numbers)")
    return DeviceOutOfMemory(message, device, per_device, detail)


def fewer_runs_per_device(error: DeviceOutOfMemory, runs_per_device: int | None) -> int:
    """Half the runs per device that ran out of memory, to go on with (printing so); `error` itself
    where the size was the user's (`runs_per_device`), is one run already, or is several processes'."""
    # Processes of several hosts would have to agree on a new size.
    if runs_per_device is not None or error.runs_per_device == 1 or jax.process_count() > 1:
        raise error
    fewer = error.runs_per_device // 2
    print(f"{error.device} ran out of memory training {error.runs_per_device} runs at once on each device "
          f"({error.detail}): training {fewer} at a time instead (--runs-per-device {fewer} starts there)",
          file=sys.stderr, flush=True)
    return fewer


def device_memory() -> dict:
    """The first local device's peak bytes in use since the process started, and its limit, where
    the backend counts them (GPU, TPU); None for both on CPU."""
    stats = jax.local_devices()[0].memory_stats() or {}
    return {"device_peak_bytes": stats.get("peak_bytes_in_use"), "device_bytes_limit": stats.get("bytes_limit")}


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
