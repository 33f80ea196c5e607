"""The train step built for accelerators, checked on CPU: no data-dependent control flow in the
programs that run many steps, and gradients without scatters, on XLA's own kernels.

On XLA:GPU a conditional copies its predicate to the host and waits for the device every step, and
under --xla_gpu_deterministic_ops a scatter runs sorted or serial. Both can be read off the programs.
"""

import re

import jax
import numpy as np
import pytest

from jaxmnist import models
from jaxmnist.train import programs
from jaxmnist.train.steps import zero_totals

from test_train import _config

SCATTERS = ("scatter", "scatter-add", "select_and_scatter_add", "select_and_scatter")


def _block_program(config):
    """(run, its block program on XLA's kernels, the arguments of the epoch's first block)."""
    compiled = programs.Programs(config, kernels="xla")
    run = programs.RunPrograms.load(config, compiled)
    epoch_rows = compiled.epoch_rows(run.num_examples, config.batch_size, config.seed, 1, config.shuffle)
    arguments = [compiled.init_state(config.seed), compiled.replicate(zero_totals()), run.train_data, epoch_rows,
                 compiled.replicate(np.int32(0)), compiled.train_roots(config.seed)]
    return run, run.run_block, arguments


def test_an_epoch_program_has_no_conditional(fixture_data_dir):
    run, program, arguments = _block_program(_config(fixture_data_dir, steps_per_dispatch="epoch"))
    assert run.steps_per_dispatch == run.batches_per_epoch == 9
    optimized_hlo = program.lower(*arguments).compile().as_text()
    assert re.search(r"\bwhile\(", optimized_hlo)  # the scan over the epoch's steps is there
    assert not re.search(r"\bconditional\(", optimized_hlo)


def _host_copy(tree):
    return jax.tree.map(lambda leaf: np.array(leaf, copy=True), jax.device_get(tree))


def _assert_same_bits(tree_a, tree_b):
    leaves_a, leaves_b = jax.tree.leaves(tree_a), jax.tree.leaves(tree_b)
    assert len(leaves_a) == len(leaves_b)
    for leaf_a, leaf_b in zip(leaves_a, leaves_b):
        assert (leaf_a.dtype, leaf_a.shape, leaf_a.tobytes()) == (leaf_b.dtype, leaf_b.shape, leaf_b.tobytes())


def test_padding_steps_change_no_bit_of_the_state_or_the_sums(fixture_data_dir):
    # LeNetBN with SGD momentum: parameters, momentum, BatchNorm statistics, the step and the sums.
    run, program, (state, totals, *rest) = _block_program(_config(fixture_data_dir, steps_per_dispatch=4))
    for _ in range(3):  # 9 batches in blocks of 4: the last block is one batch and 3 steps of padding
        state, totals, rate = program(state, totals, *rest)
    assert int(state.step) == 9 and int(totals["count"]) == 400

    before = _host_copy((state, totals, rate))
    after = _host_copy(program(state, totals, *rest))  # 4 steps, every one on padding
    _assert_same_bits(after, before)


def _walk_primitives(jaxpr):
    """Every primitive's name in `jaxpr` and the jaxprs inside its equations (scan, jit, shard_map, custom rules)."""
    for equation in jaxpr.eqns:
        yield equation.primitive.name
        for value in equation.params.values():
            for item in value if isinstance(value, (list, tuple)) else (value,):
                if isinstance(item, jax.extend.core.ClosedJaxpr):
                    yield from _walk_primitives(item.jaxpr)
                elif isinstance(item, jax.extend.core.Jaxpr):
                    yield from _walk_primitives(item)


@pytest.mark.parametrize("name", models.names())
def test_no_scatter_in_any_models_train_step(fixture_data_dir, name):
    config = _config(fixture_data_dir, model=name)
    compiled = programs.Programs(config, kernels="xla")
    batch = 8
    images = jax.ShapeDtypeStruct((batch, *models.INPUT_SHAPE), np.float32)
    labels, mask = jax.ShapeDtypeStruct((batch,), np.int32), jax.ShapeDtypeStruct((batch,), np.bool_)
    update = compiled.update_program()
    batch = {"image": images, "label": labels, "mask": mask}
    step = jax.make_jaxpr(update)(compiled.abstract_state(config.seed), zero_totals(), batch, jax.random.key(0))
    assert not set(_walk_primitives(step.jaxpr)) & set(SCATTERS)
