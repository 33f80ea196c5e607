"""Smoke test: every experiment config builds its whole recipe and trains 2 steps on the fixture data."""

import jax
import numpy as np
import pytest

from jaxmnist import config as config_lib
from jaxmnist import optim
from jaxmnist.data import augment, pipeline
from jaxmnist.data.batches import padded_rows
from jaxmnist.train.programs import Programs
from jaxmnist.train.steps import zero_totals

# A smaller batch than the recipe's: compiling, most of the test's time, takes as long at any batch size,
# and running the steps takes less.
BATCH_SIZE = 16


@pytest.fixture(scope="module", autouse=True)
def unoptimized_compilation():
    """Compile without XLA's optimisation passes, half of each config's compile time on CPU: the
    steps compute the same values up to rounding, only slower (tests/test_train.py trains optimised)."""
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


@pytest.mark.parametrize("name", config_lib.experiment_names())
def test_smoke_experiment_trains_two_steps_and_evaluates(name, fixture_data_dir):
    """Smoke test: two updates of the config's recipe, then each eval split's step, on 16 fixture images."""
    config = config_lib.load_experiment(name)
    train_split = pipeline.load(config.dataset, config.train_split.split("[")[0], str(fixture_data_dir))
    train_stats = pipeline.pixel_stats(train_split)
    engine = Programs(config)
    state = engine.init_state(config.seed)
    split = engine.replicate(train_split)
    # Both updates in one program: the block of several steps that GPUs and TPUs run.
    program = engine.train_program(augment.parse(config.train_pp, train_stats), steps=2)
    rows = engine.put_rows(padded_rows(np.arange(2 * BATCH_SIZE), BATCH_SIZE, engine.mesh.size, extra_rows=1))
    totals = engine.replicate(zero_totals())
    roots = jax.device_put((jax.random.key(0), jax.random.key(1)), engine.replicated)
    state, totals, rate = program(state, totals, split, rows, engine.replicate(np.int32(0)), roots)
    assert int(state.step) == 2 and int(totals["count"]) == 2 * BATCH_SIZE
    assert np.isfinite(float(totals["loss_sum"])) and int(totals["first_nonfinite_step"]) == -1
    # The second update (step index 1) ran at the schedule's rate for it.
    schedule = optim.learning_rate_schedule(config.optimizer, config.schedule)
    assert float(rate) == pytest.approx(float(schedule(1)), rel=1e-6)
    ((batch_indices, eval_rows),) = engine.eval_blocks(BATCH_SIZE, BATCH_SIZE, batches_per_dispatch=1)
    for eval_name, spec in config.eval.items():
        evaluate = engine.eval_program(augment.parse(spec.pp, train_stats), spec.get("train_mode", False))
        metrics = evaluate(state, split, batch_indices, eval_rows, jax.random.key(1))
        assert int(metrics["count"]) == BATCH_SIZE, eval_name
        assert 0 <= int(metrics["correct"]) <= BATCH_SIZE and np.isfinite(float(metrics["loss_sum"])), eval_name
