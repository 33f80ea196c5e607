"""Smoke test: every experiment config builds its whole recipe and trains 2 steps on the fixture data."""

import functools

import jax
import numpy as np
import pytest

from jaxmnist import config as config_lib
from jaxmnist import optim, train
from jaxmnist.data import pipeline

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
    engine = train.Engine(config)
    state = engine.init_state(config.seed)
    # One jitted batch function per preprocessing spec: most eval splits share the training one,
    # and at the training batch's shape they reuse its compiled program.
    make_batch = functools.cache(lambda spec: pipeline.batch_fn(spec, train_stats))
    examples = 0
    for step in range(2):
        indices = np.arange(step * BATCH_SIZE, (step + 1) * BATCH_SIZE)
        images, labels, mask = engine.global_batch(make_batch(config.train_pp), train_split, indices,
                                                   jax.random.key(step))
        state, sums = engine.train_step(state, images, labels, mask, jax.random.key(10 + step))
        examples += int(sums["count"])
        assert np.isfinite(float(sums["loss_sum"])), f"step {step + 1}"
    assert int(state.step) == 2 and examples == 2 * BATCH_SIZE
    # The second update (step index 1) ran at the schedule's rate for it.
    schedule = optim.learning_rate_schedule(config.optimizer, config.schedule)
    assert float(sums["learning_rate"]) == pytest.approx(float(schedule(1)), rel=1e-6)
    for eval_name, spec in config.eval.items():
        images, labels, mask = engine.global_batch(make_batch(spec.pp), train_split, np.arange(BATCH_SIZE),
                                                   jax.random.key(0))
        metrics = engine.eval_steps[spec.get("train_mode", False)](state, images, labels, mask, jax.random.key(1))
        assert int(metrics["count"]) == BATCH_SIZE, eval_name
        assert 0 <= int(metrics["correct"]) <= BATCH_SIZE and np.isfinite(float(metrics["loss_sum"])), eval_name
