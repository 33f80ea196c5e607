"""Every experiment config builds its whole recipe and trains 2 steps on the fixture data."""

import jax
import numpy as np
import pytest

from jaxmnist import config as config_lib
from jaxmnist import train
from jaxmnist.data import pipeline


@pytest.mark.parametrize("name", config_lib.experiment_names())
def test_experiment_trains_two_steps(name, fixture_data_dir):
    config = config_lib.load_experiment(name)
    train_split = pipeline.load(config.dataset, config.train_split.split("[")[0], str(fixture_data_dir))
    train_stats = pipeline.pixel_stats(train_split)
    engine = train.Engine(config)
    state = engine.init_state(config.seed)
    make_batch = pipeline.batch_fn(config.train_pp, train_stats)
    batch_size = min(config.batch_size, 64)  # the recipe's graph; a smaller batch keeps the test quick
    for step in range(2):
        indices = np.arange(step * batch_size, (step + 1) * batch_size)
        images, labels, mask = engine.global_batch(make_batch, train_split, indices, jax.random.key(step))
        state, sums = engine.train_step(state, images, labels, mask, jax.random.key(10 + step))
    assert int(state.step) == 2 and int(sums["count"]) == batch_size
    assert np.isfinite(float(sums["loss_sum"])) and float(sums["learning_rate"]) > 0
    for name_, spec in config.eval.items():
        make_eval_batch = pipeline.batch_fn(spec.pp, train_stats)
        images, labels, mask = engine.global_batch(make_eval_batch, train_split, np.arange(10), jax.random.key(0))
        metrics = engine.eval_steps[spec.get("train_mode", False)](state, images, labels, mask, jax.random.key(1))
        assert int(metrics["count"]) == 10, name_
