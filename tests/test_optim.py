"""Optimizers and schedules equal torch.optim's, step for step.

Hand-computed values run everywhere; the comparisons with PyTorch itself need the `torch` extra.
"""

import argparse
import json
import math
import re
import warnings

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jaxmnist.errors import UserError
from jaxmnist.optim import create_optimizer, current_learning_rate, learning_rate_schedule
from jaxmnist.report.schedule import parse_schedule_spec, schedule_command


def rates(schedule_config, steps, learning_rate=1e-3):
    """Our rates for updates 0..steps-1 (or for the given array of steps), in one vectorised call."""
    step_array = np.arange(steps) if np.isscalar(steps) else np.asarray(steps)
    schedule = learning_rate_schedule({"learning_rate": learning_rate}, schedule_config)
    return np.asarray(schedule(step_array), np.float64)


def cosine_factor(elapsed, period):
    return (1 + math.cos(math.pi * elapsed / period)) / 2


# --- hand-computed schedule values --------------------------------------------------------

def test_constant():
    np.testing.assert_array_equal(rates(None, 5, 0.01), np.float32(0.01))
    np.testing.assert_array_equal(rates({"name": "constant"}, 5, 0.01), np.float32(0.01))


@pytest.mark.parametrize("step, expected", [
    (0, 1e-3), (250, 1e-3 * cosine_factor(250, 1000)), (500, 5e-4), (999, 1e-3 * cosine_factor(999, 1000)),
    (1000, 0.0),
    # torch's CosineAnnealingLR climbs back: period 2 * t_max
    (1500, 5e-4), (2000, 1e-3), (23000, 0.0), (23500, 5e-4)])
def test_cosine_is_periodic_like_torch(step, expected):
    assert rates({"name": "cosine", "t_max": 1000}, [step])[0] == pytest.approx(expected, rel=1e-6, abs=0)


@pytest.mark.fast
def test_cosine_eta_min():
    values = rates({"name": "cosine", "t_max": 100, "eta_min": 1e-5}, [0, 50, 100, 200])
    np.testing.assert_allclose(values, [1e-3, 1e-5 + (1e-3 - 1e-5) / 2, 1e-5, 1e-3], rtol=1e-6)


def test_triangular_starts_at_base_lr_and_ignores_the_optimizer_rate():
    config = {"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-3, "step_size_up": 1000}
    values = rates(config, [0, 500, 1000, 1500, 2000, 2250], learning_rate=0.5)
    np.testing.assert_allclose(values, [1e-4, 5.5e-4, 1e-3, 5.5e-4, 1e-4, 3.25e-4], rtol=1e-6)


def test_cyclic_step_size_down():
    config = {"name": "cyclic", "base_lr": 0.0, "max_lr": 1.0, "step_size_up": 100, "step_size_down": 300}
    np.testing.assert_allclose(rates(config, [50, 100, 250, 400, 450]), [0.5, 1.0, 0.5, 0.0, 0.5], rtol=1e-6)


def test_triangular2_halves_the_amplitude_every_cycle():
    config = {"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-2, "step_size_up": 2500, "mode": "triangular2"}
    amplitude = 1e-2 - 1e-4
    values = rates(config, [0, 2500, 5000, 7500, 12500, 13750])
    np.testing.assert_allclose(values, [1e-4, 1e-2, 1e-4, 1e-4 + amplitude / 2, 1e-4 + amplitude / 4,
                                        1e-4 + amplitude / 8], rtol=1e-6)


def test_exp_range_scales_by_gamma_per_step():
    config = {"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-3, "step_size_up": 1000, "mode": "exp_range",
              "gamma": 0.999}
    values = rates(config, [1000, 3000, 3500])
    np.testing.assert_allclose(values, [1e-4 + 9e-4 * 0.999**1000, 1e-4 + 9e-4 * 0.999**3000,
                                        1e-4 + 9e-4 * 0.5 * 0.999**3500], rtol=1e-6)


def test_warm_restarts_with_growing_periods():
    config = {"name": "warm_restarts", "t_0": 250, "t_mult": 2}
    # cycles start at 0, 250, 750, 1750, 3750 and last 250, 500, 1000, 2000, 4000 steps
    steps = [0, 125, 249, 250, 500, 749, 750, 1250, 1750, 3750, 5750]
    expected = [1e-3, 5e-4, 1e-3 * cosine_factor(249, 250), 1e-3, 5e-4, 1e-3 * cosine_factor(499, 500),
                1e-3, 5e-4, 1e-3, 1e-3, 5e-4]
    np.testing.assert_allclose(rates(config, steps), expected, rtol=1e-6)


def test_warm_restarts_with_fixed_period():
    config = {"name": "warm_restarts", "t_0": 1000, "eta_min": 1e-5}
    np.testing.assert_allclose(rates(config, [0, 500, 1000, 1500, 39999]),
                               [1e-3, 1e-5 + (1e-3 - 1e-5) / 2, 1e-3, 1e-5 + (1e-3 - 1e-5) / 2,
                                1e-5 + (1e-3 - 1e-5) * cosine_factor(999, 1000)], rtol=1e-6)


def test_step():
    np.testing.assert_allclose(rates({"name": "step", "step_size": 300, "gamma": 0.5}, [0, 299, 300, 899, 900]),
                               [1e-3, 1e-3, 5e-4, 2.5e-4, 1.25e-4], rtol=1e-6)
    np.testing.assert_allclose(rates({"name": "step", "step_size": 10}, [9, 10, 25]), [1e-3, 1e-4, 1e-5], rtol=1e-6)


@pytest.mark.parametrize("anneal_strategy", ["cos", "linear"])
def test_one_cycle(anneal_strategy):
    config = {"name": "one_cycle", "max_lr": 1e-2, "total_steps": 1000, "anneal_strategy": anneal_strategy}
    # phases end at steps 0.3 * 1000 - 1 = 299 and 999; the midpoint of the second is 649
    values = rates(config, [0, 299, 649, 999, 5000])
    np.testing.assert_allclose(values, [4e-4, 1e-2, (1e-2 + 4e-8) / 2, 4e-8, 4e-8], rtol=1e-6)


def test_one_cycle_three_phase():
    config = {"name": "one_cycle", "max_lr": 1e-2, "total_steps": 1000, "three_phase": True,
              "anneal_strategy": "linear"}
    # phases end at 299, 2 * 300 - 2 = 598 and 999
    values = rates(config, [0, 299, 449, 598, 798, 999])
    np.testing.assert_allclose(values, [4e-4, 1e-2, 4e-4 + (1e-2 - 4e-4) * 149 / 299, 4e-4,
                                        4e-4 - (4e-4 - 4e-8) * 200 / 401, 4e-8], rtol=1e-6)


def test_warmup_cosine():
    config = {"name": "warmup_cosine", "warmup_steps": 100, "total_steps": 1100}
    np.testing.assert_allclose(rates(config, [0, 50, 100, 600, 1100]), [0, 5e-4, 1e-3, 5e-4, 0], rtol=1e-6)
    config.update(warmup_start_factor=0.1, eta_min=1e-4)
    np.testing.assert_allclose(rates(config, [0, 50, 100, 600, 1100]), [1e-4, 5.5e-4, 1e-3, 5.5e-4, 1e-4],
                               rtol=1e-6)


@pytest.mark.parametrize("schedule_config, steps, expected", [
    # Cycles of 250, 500, 1000, ... updates start at 0, 250, 750, ...: 1000 is 250 into the cycle of
    # 1000 from 750, and 30000 is 14250 into the cycle of 16000 from 15750.
    ({"name": "warm_restarts", "t_0": 250, "t_mult": 2}, [0, 249, 250, 1000, 30000],
     [1e-3, 1e-3 * cosine_factor(249, 250), 1e-3, 1e-3 * cosine_factor(250, 1000),
      1e-3 * cosine_factor(14250, 16000)]),
    # The amplitude halves each 5000-update cycle; 13750 is half-way up the third.
    ({"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-2, "step_size_up": 2500, "mode": "triangular2"},
     [0, 2500, 5000, 12500, 13750], [1e-4, 1e-2, 1e-4, 1e-4 + 9.9e-3 / 4, 1e-4 + 9.9e-3 / 8]),
])
def test_schedule_of_a_traced_step_inside_jit_equals_the_closed_form(schedule_config, steps, expected):
    # The train step calls the schedule with the optimizer's traced int32 count.
    jitted = jax.jit(learning_rate_schedule({"learning_rate": 1e-3}, schedule_config))
    values = [jitted(jnp.int32(step)) for step in steps]
    assert {value.dtype for value in values} == {jnp.dtype(jnp.float32)}
    np.testing.assert_allclose(np.asarray(values, np.float64), expected, rtol=1e-6)


def test_config_dicts_are_accepted():
    config = ml_collections.ConfigDict({"optimizer": {"name": "adam", "learning_rate": 1e-2},
                                        "schedule": {"name": "cosine", "t_max": 10}})
    schedule = learning_rate_schedule(config.optimizer, config.schedule)
    assert float(schedule(10)) == 0.0
    params = {"w": jnp.ones(3)}
    state = create_optimizer(config).init(params)
    assert float(current_learning_rate(state)) == pytest.approx(1e-2)


# --- schedules against torch.optim.lr_scheduler -------------------------------------------

@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def torch_rates(torch, make_scheduler, learning_rate, steps):
    """The rate torch's optimizer uses at each of `steps` updates, stepping the scheduler per batch."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=learning_rate)
    scheduler = make_scheduler(torch.optim.lr_scheduler, optimizer)
    used = np.empty(steps)
    # optimizer.step() is left out: it changes no rate and costs ten times the scheduler's step.
    # torch warns once when it sees the scheduler stepped without it.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step\\(\\)` before", UserWarning)
        for step in range(steps):
            used[step] = optimizer.param_groups[0]["lr"]
            scheduler.step()
    return used


TORCH_SCHEDULES = {
    # notebook 003
    "cosine_lr1e-2": (1e-2, 24_000, {"name": "cosine", "t_max": 1000},
                      lambda s, o: s.CosineAnnealingLR(o, T_max=1000)),
    "cosine_lr1e-3": (1e-3, 24_000, {"name": "cosine", "t_max": 1000},
                      lambda s, o: s.CosineAnnealingLR(o, T_max=1000)),
    "triangular_1000": (1e-3, 24_000, {"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-3, "step_size_up": 1000},
                        lambda s, o: s.CyclicLR(o, base_lr=1e-4, max_lr=1e-3, step_size_up=1000,
                                                cycle_momentum=False)),
    "triangular_2500": (1e-3, 24_000, {"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-3, "step_size_up": 2500},
                        lambda s, o: s.CyclicLR(o, base_lr=1e-4, max_lr=1e-3, step_size_up=2500,
                                                cycle_momentum=False)),
    "triangular2_2500": (1e-2, 24_000, {"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-2, "step_size_up": 2500,
                                        "mode": "triangular2"},
                         lambda s, o: s.CyclicLR(o, base_lr=1e-4, max_lr=1e-2, step_size_up=2500,
                                                 mode="triangular2", cycle_momentum=False)),
    "warm_restarts_250x2": (1e-3, 40_000, {"name": "warm_restarts", "t_0": 250, "t_mult": 2},
                            lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=250, T_mult=2)),
    "warm_restarts_1000": (1e-3, 40_000, {"name": "warm_restarts", "t_0": 1000, "t_mult": 1},
                           lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=1000, T_mult=1)),
    # beyond the notebooks
    "cosine_eta_min": (1e-3, 3000, {"name": "cosine", "t_max": 700, "eta_min": 1e-5},
                       lambda s, o: s.CosineAnnealingLR(o, T_max=700, eta_min=1e-5)),
    "exp_range": (1e-3, 5000, {"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-2, "step_size_up": 700,
                               "step_size_down": 300, "mode": "exp_range", "gamma": 0.9995},
                  lambda s, o: s.CyclicLR(o, base_lr=1e-4, max_lr=1e-2, step_size_up=700, step_size_down=300,
                                          mode="exp_range", gamma=0.9995, cycle_momentum=False)),
    "warm_restarts_eta_min_x3": (1e-2, 5000, {"name": "warm_restarts", "t_0": 100, "t_mult": 3, "eta_min": 1e-4},
                                 lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=100, T_mult=3, eta_min=1e-4)),
    "step": (1e-2, 3000, {"name": "step", "step_size": 250, "gamma": 0.3},
             lambda s, o: s.StepLR(o, step_size=250, gamma=0.3)),
    "one_cycle_cos": (1e-3, 1000, {"name": "one_cycle", "max_lr": 1e-2, "total_steps": 1000},
                      lambda s, o: s.OneCycleLR(o, max_lr=1e-2, total_steps=1000, cycle_momentum=False)),
    "one_cycle_linear": (1e-3, 937, {"name": "one_cycle", "max_lr": 3e-3, "total_steps": 937, "pct_start": 0.25,
                                     "anneal_strategy": "linear", "div_factor": 10.0, "final_div_factor": 100.0},
                         lambda s, o: s.OneCycleLR(o, max_lr=3e-3, total_steps=937, pct_start=0.25,
                                                   anneal_strategy="linear", div_factor=10.0,
                                                   final_div_factor=100.0, cycle_momentum=False)),
    "one_cycle_three_phase_cos": (1e-3, 1000, {"name": "one_cycle", "max_lr": 1e-2, "total_steps": 1000,
                                               "three_phase": True},
                                  lambda s, o: s.OneCycleLR(o, max_lr=1e-2, total_steps=1000, three_phase=True,
                                                            cycle_momentum=False)),
    "one_cycle_three_phase_linear": (1e-3, 1000, {"name": "one_cycle", "max_lr": 1e-2, "total_steps": 1000,
                                                  "three_phase": True, "anneal_strategy": "linear"},
                                     lambda s, o: s.OneCycleLR(o, max_lr=1e-2, total_steps=1000, three_phase=True,
                                                               anneal_strategy="linear", cycle_momentum=False)),
    # LinearLR + CosineAnnealingLR in SequentialLR, past total_steps too (the cosine is periodic)
    "warmup_cosine": (1e-3, 8000, {"name": "warmup_cosine", "warmup_steps": 500, "total_steps": 3000,
                                   "eta_min": 1e-6, "warmup_start_factor": 0.01},
                      lambda s, o: s.SequentialLR(o, [s.LinearLR(o, start_factor=0.01, total_iters=500),
                                                      s.CosineAnnealingLR(o, T_max=2500, eta_min=1e-6)],
                                                  milestones=[500])),
}


@pytest.mark.torch
@pytest.mark.parametrize("case", TORCH_SCHEDULES)
def test_schedule_equals_torch_at_every_step(torch, case):
    learning_rate, steps, config, make_scheduler = TORCH_SCHEDULES[case]
    expected = torch_rates(torch, make_scheduler, learning_rate, steps)
    np.testing.assert_allclose(rates(config, steps, learning_rate), expected, rtol=1e-6, atol=0)


# --- optimizers against torch.optim -------------------------------------------------------

PARAMETER_SHAPES = {"conv": {"kernel": (3, 3, 1, 4), "bias": (4,)}, "dense": {"kernel": (36, 10), "bias": (10,)}}

OPTIMIZER_CASES = {
    "sgd_notebook000": ({"name": "sgd", "learning_rate": 1e-3, "momentum": 0.5}, None,
                        lambda t, p: t.optim.SGD(p, lr=1e-3, momentum=0.5)),
    "sgd_weight_decay_notebook001": ({"name": "sgd", "learning_rate": 1e-3, "momentum": 0.9, "weight_decay": 0.04},
                                     None, lambda t, p: t.optim.SGD(p, lr=1e-3, momentum=0.9, weight_decay=0.04)),
    "sgd_nesterov": ({"name": "sgd", "learning_rate": 1e-2, "momentum": 0.9, "nesterov": True,
                      "weight_decay": 1e-3},
                     None, lambda t, p: t.optim.SGD(p, lr=1e-2, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    "sgd_plain": ({"name": "sgd", "learning_rate": 1e-2}, None, lambda t, p: t.optim.SGD(p, lr=1e-2)),
    "adam_notebook004": ({"name": "adam", "learning_rate": 1e-4}, None, lambda t, p: t.optim.Adam(p, lr=1e-4)),
    "adam_weight_decay_cosine": ({"name": "adam", "learning_rate": 1e-2, "weight_decay": 1e-2},
                                 {"name": "cosine", "t_max": 50},
                                 lambda t, p: t.optim.Adam(p, lr=1e-2, weight_decay=1e-2)),
    "adamw": ({"name": "adamw", "learning_rate": 1e-3}, None, lambda t, p: t.optim.AdamW(p, lr=1e-3)),
    "sgd_cyclic": ({"name": "sgd", "learning_rate": 0.5, "momentum": 0.9},
                   {"name": "cyclic", "base_lr": 1e-3, "max_lr": 1e-2, "step_size_up": 30},
                   lambda t, p: t.optim.SGD(p, lr=0.5, momentum=0.9)),
    # torch's default cycle_momentum=True: momentum / beta1 follow the cycle too
    "sgd_one_cycle_momentum": ({"name": "sgd", "learning_rate": 0.5},
                               {"name": "one_cycle", "max_lr": 0.05, "total_steps": 200, "cycle_momentum": True},
                               lambda t, p: t.optim.SGD(p, lr=0.5)),
    "adam_cyclic_momentum": ({"name": "adam"},
                             {"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-3, "step_size_up": 40,
                              "mode": "triangular2", "cycle_momentum": True},
                             lambda t, p: t.optim.Adam(p)),
}

TORCH_SCHEDULERS_FOR_PARITY = {
    "adam_weight_decay_cosine": lambda s, o: s.CosineAnnealingLR(o, T_max=50),
    "sgd_cyclic": lambda s, o: s.CyclicLR(o, base_lr=1e-3, max_lr=1e-2, step_size_up=30, cycle_momentum=False),
    "sgd_one_cycle_momentum": lambda s, o: s.OneCycleLR(o, max_lr=0.05, total_steps=200),
    "adam_cyclic_momentum": lambda s, o: s.CyclicLR(o, base_lr=1e-4, max_lr=1e-3, step_size_up=40,
                                                    mode="triangular2"),
}


def initial_parameters_and_gradients(steps, seed=0):
    rng = np.random.default_rng(seed)
    leaves, treedef = jax.tree.flatten(PARAMETER_SHAPES, is_leaf=lambda node: isinstance(node, tuple))
    initial = [rng.normal(size=shape).astype(np.float32) for shape in leaves]
    gradients = [[rng.normal(size=shape).astype(np.float32) for shape in leaves] for _ in range(steps)]
    return initial, gradients, treedef


@pytest.mark.torch
@pytest.mark.parametrize("case", OPTIMIZER_CASES)
def test_optimizer_equals_torch_at_every_step(torch, case):
    optimizer_config, schedule_config, make_torch_optimizer = OPTIMIZER_CASES[case]
    steps = 200
    initial, gradients, treedef = initial_parameters_and_gradients(steps)

    torch_parameters = [torch.nn.Parameter(torch.from_numpy(leaf.copy())) for leaf in initial]
    torch_optimizer = make_torch_optimizer(torch, torch_parameters)
    make_scheduler = TORCH_SCHEDULERS_FOR_PARITY.get(case)
    torch_scheduler = make_scheduler(torch.optim.lr_scheduler, torch_optimizer) if make_scheduler else None

    optimizer = create_optimizer({"optimizer": optimizer_config, "schedule": schedule_config})
    parameters = jax.tree.unflatten(treedef, [jnp.asarray(leaf) for leaf in initial])
    state = optimizer.init(parameters)

    @jax.jit
    def update(parameters, state, gradients):
        updates, state = optimizer.update(gradients, state, parameters)
        return optax.apply_updates(parameters, updates), state

    for step in range(steps):
        torch_group = torch_optimizer.param_groups[0]
        torch_hyperparameters = {"learning_rate": torch_group["lr"], "momentum": torch_group.get("momentum"),
                                 "b1": torch_group.get("betas", (None,))[0]}
        for parameter, gradient in zip(torch_parameters, gradients[step]):
            parameter.grad = torch.from_numpy(gradient)
        torch_optimizer.step()
        if torch_scheduler:
            torch_scheduler.step()
        parameters, state = update(parameters, state, jax.tree.unflatten(treedef, gradients[step]))

        assert float(current_learning_rate(state)) == pytest.approx(torch_hyperparameters["learning_rate"], rel=1e-6)
        for name, value in state.hyperparams.items():  # a cycled momentum / beta1 is injected too
            assert float(value) == pytest.approx(torch_hyperparameters[name], rel=1e-6), name
        for ours, theirs in zip(jax.tree.leaves(parameters), torch_parameters):
            theirs = theirs.detach().numpy()
            # Relative to each array's largest entry: elementwise ratios blow up for entries crossing zero.
            np.testing.assert_allclose(np.asarray(ours), theirs, rtol=0, atol=1e-5 * np.abs(theirs).max(),
                                       err_msg=f"step {step}")


# --- optimizer state ----------------------------------------------------------------------

def test_state_round_trips_like_a_checkpoint_and_resumes_bit_exactly():
    config = {"optimizer": {"name": "adam", "learning_rate": 1e-3, "weight_decay": 1e-4},
              "schedule": {"name": "warm_restarts", "t_0": 7, "t_mult": 2}}
    optimizer = create_optimizer(config)
    initial, gradients, treedef = initial_parameters_and_gradients(40, seed=1)

    @jax.jit
    def update(parameters, state, gradients):
        updates, state = optimizer.update(gradients, state, parameters)
        return optax.apply_updates(parameters, updates), state

    def run(parameters, state, gradient_sequence):
        for step_gradients in gradient_sequence:
            parameters, state = update(parameters, state, jax.tree.unflatten(treedef, step_gradients))
        return parameters, state

    parameters = jax.tree.unflatten(treedef, [jnp.asarray(leaf) for leaf in initial])
    straight = run(parameters, optimizer.init(parameters), gradients)

    halfway = run(parameters, optimizer.init(parameters), gradients[:20])
    leaves, structure = jax.tree.flatten(halfway)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
    restored = jax.tree.unflatten(structure, [jnp.asarray(np.asarray(leaf).copy()) for leaf in leaves])
    resumed = run(*restored, gradients[20:])

    for ours, expected in zip(jax.tree.leaves(resumed), jax.tree.leaves(straight)):
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(expected))
    schedule = learning_rate_schedule(config["optimizer"], config["schedule"])
    assert current_learning_rate(resumed[1]) == schedule(39)


def test_current_learning_rate_before_any_update_is_the_first_rate_also_when_nested():
    config = {"optimizer": {"name": "sgd", "learning_rate": 0.1},
              "schedule": {"name": "cyclic", "base_lr": 0.01, "max_lr": 0.02, "step_size_up": 5}}
    parameters = {"w": jnp.zeros(2)}
    assert float(current_learning_rate(create_optimizer(config).init(parameters))) == pytest.approx(0.01)
    clipped = optax.chain(optax.clip_by_global_norm(1.0), create_optimizer(config))
    assert float(current_learning_rate(clipped.init(parameters))) == pytest.approx(0.01)


# --- errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer_config, schedule_config, message", [
    ({"name": "rmsprop"}, None, "unknown optimizer.name 'rmsprop'"),
    ({"learning_rate": 1e-3}, None, "optimizer.name is required (one of: sgd, adam, adamw)"),
    ({"name": "sgd", "learning_rate": -1.0}, None, "optimizer.learning_rate must be > 0"),
    ({"name": "sgd", "lr": 1e-3}, None, "optimizer.lr: optimizer 'sgd' has no parameter 'lr'"),
    ({"name": "sgd", "nesterov": True}, None, "optimizer.nesterov=True needs optimizer.momentum > 0"),
    ({"name": "adam", "b1": 1.0}, None, "optimizer.b1 must be < 1"),
    ({"name": "sgd", "momentum": "high"}, None, "optimizer.momentum must be a number"),
    ({"name": "adam"}, {"name": "linear"}, "unknown schedule.name 'linear'"),
    ({"name": "adam"}, {"name": "cosine"}, "schedule.t_max is required"),
    ({"name": "adam"}, {"name": "cosine", "t_max": 0}, "schedule.t_max must be an integer >= 1"),
    ({"name": "adam"}, {"name": "cosine", "t_max": 10.5}, "schedule.t_max must be an integer >= 1"),
    ({"name": "adam"}, {"name": "cosine", "tmax": 10}, "schedule.tmax: schedule 'cosine' has no parameter"),
    ({"name": "adam"}, {"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-3, "mode": "triangle"}, "schedule.mode"),
    ({"name": "adam"}, {"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-3, "cycle_momentum": "yes"},
     "schedule.cycle_momentum must be True or False"),
    ({"name": "adam"}, {"name": "one_cycle", "max_lr": 1e-2, "total_steps": 100, "max_momentum": 1.2},
     "schedule.max_momentum must be <= 1"),
    ({"name": "adam"}, {"name": "warm_restarts", "t_0": 10, "t_mult": 0}, "schedule.t_mult"),
    ({"name": "adam"}, {"name": "step", "step_size": 10, "gamma": 0}, "schedule.gamma must be > 0"),
    ({"name": "adam"}, {"name": "one_cycle", "max_lr": 1e-2, "total_steps": 1000, "pct_start": 0.001},
     "schedule.pct_start"),
    ({"name": "adam"}, {"name": "one_cycle", "max_lr": 1e-2, "total_steps": 100, "anneal_strategy": "cosine"},
     "schedule.anneal_strategy"),
    ({"name": "adam"}, {"name": "warmup_cosine", "warmup_steps": 100, "total_steps": 100}, "schedule.total_steps"),
])
def test_bad_configs_raise_user_error_naming_the_key(optimizer_config, schedule_config, message):
    with pytest.raises(UserError, match=re.escape(message)):
        create_optimizer({"optimizer": optimizer_config, "schedule": schedule_config})


# --- `jaxmnist schedule` ------------------------------------------------------------------

def test_parse_schedule_spec():
    assert parse_schedule_spec("cosine(lr=1e-3,t_max=1000)") == ({"learning_rate": 1e-3},
                                                                  {"name": "cosine", "t_max": 1000})
    assert parse_schedule_spec(" cyclic( base_lr=1e-4, max_lr=1e-3, step_size_up=1000, mode=triangular2 ) ") == (
        {}, {"name": "cyclic", "base_lr": 1e-4, "max_lr": 1e-3, "step_size_up": 1000, "mode": "triangular2"})
    assert parse_schedule_spec("one_cycle(max_lr=0.01,total_steps=100,three_phase=True)")[1]["three_phase"] is True
    with pytest.raises(UserError, match="expected key=value"):
        parse_schedule_spec("cosine(1000)")


def schedule_args(spec, steps, json_output=False, plot=None):
    return argparse.Namespace(spec=spec, steps=steps, json=json_output, plot=plot)


def test_schedule_command_json(capsys):
    assert schedule_command(schedule_args("cosine(lr=1e-3,t_max=1000)", 2001, json_output=True)) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] == 2001
    assert report["schedule"] == "cosine(lr=0.001, t_max=1000, eta_min=0.0)"
    values = report["learning_rates"]
    assert len(values) == 2001
    assert (values[0], values[1000], values[2000]) == (1e-3, 0.0, 1e-3)
    assert values[500] == pytest.approx(5e-4, rel=1e-6)


def test_schedule_command_summary_and_plot(capsys, tmp_path):
    plot = tmp_path / "lr.png"
    spec = "warm_restarts(lr=1e-3,t_0=250,t_mult=2)"
    assert schedule_command(schedule_args(spec, 4000, plot=str(plot))) == 0
    output = capsys.readouterr().out
    assert "warm_restarts(lr=0.001, t_0=250, t_mult=2, eta_min=0.0)" in output
    assert "max       1.000000e-03 at step 0" in output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_schedule_command_reads_an_experiment_config(capsys, tmp_path):
    experiment = tmp_path / "cyclic_experiment.py"
    experiment.write_text(
        "import ml_collections\n"
        "def get_config():\n"
        "    config = ml_collections.ConfigDict()\n"
        "    config.optimizer = dict(name='adam', learning_rate=1e-3)\n"
        "    config.schedule = dict(name='cyclic', base_lr=1e-4, max_lr=1e-3, step_size_up=10)\n"
        "    return config\n")
    assert schedule_command(schedule_args(str(experiment), 21, json_output=True)) == 0
    values = json.loads(capsys.readouterr().out)["learning_rates"]
    assert values[0] == pytest.approx(1e-4) and values[10] == pytest.approx(1e-3) and values[20] == pytest.approx(1e-4)


@pytest.mark.parametrize("spec, steps, message", [
    ("cosine(lr=1e-3,t_max=1000)", 0, "--steps must be positive"),
    ("cosine(lr=1e-3)", 10, "schedule.t_max is required"),
    ("cosine(lr=1e-3,t_max=10", 10, "cannot parse schedule spec"),
    ("no_such_experiment", 10, "unknown experiment 'no_such_experiment'"),
    ("cosine(lr=0,t_max=10)", 10, "optimizer.learning_rate must be > 0"),
])
def test_schedule_command_errors(spec, steps, message):
    with pytest.raises(UserError, match=message):
        schedule_command(schedule_args(spec, steps))
