"""The model registry, the PyTorch-semantics layers and initialisers, and `jaxmnist models / summary`.

Parity of whole networks with the notebooks' PyTorch classes is in test_torch_port.py.
"""

import argparse
import functools
import json
import math
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxmnist import models
from jaxmnist.errors import UserError
from jaxmnist.models import kernels as layer_kernels
from jaxmnist.report import model_tables
from jaxmnist.models.layers import (BatchNorm, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Dropout2d, Linear, bernoulli,
                                    flatten, max_pool2d)

from test_accelerator_step import SCATTERS, _walk_primitives

# The counts of the specification's table (../shared/seeds/README.md); notebooks 002 and 003
# print the LeNet family's and Net's.
EXPECTED_PARAMS = {
    "def_net": 431_080,
    "sig_net": 431_080,
    "dro_net": 431_080,
    "best_net": 431_120,
    "best_net_bn": 431_120,
    "bn_xavier": 431_120,
    "bn_kaiming": 431_120,
    "tmp_xavier": 431_080,
    "cnn": 108_874,
    "cnn2": 857_738,
    "cnn3": 454_250,
    "net": 7_864,
    "lenet": 28_938,
    "lenet_bn": 29_034,
    "lenet_drop": 28_938,
    "lenet_drop_bn": 29_034,
    "lenet_dl": 83_658,
    "lenet_dl_k3": 50_890,
    "lenet_deep": 107_372,
    "simple_net": 1_677_290,
    "network_cnn": 569_606,
}


def test_registry_names():
    assert models.names() == list(EXPECTED_PARAMS)


@pytest.mark.parametrize("name", list(EXPECTED_PARAMS))
def test_parameter_count_and_output_shape(name):
    # Shapes only: the values are checked against PyTorch in test_torch_port.py, and one
    # compile per model here would double the suite's time.
    module = models.create(name)
    variables = models.abstract_variables(name)
    assert models.param_count(variables) == EXPECTED_PARAMS[name]
    assert models.param_count(variables["params"]) == EXPECTED_PARAMS[name]
    assert models.info(name)["params"] == models.entry(name).params == EXPECTED_PARAMS[name]
    for train in (False, True):
        out = jax.eval_shape(lambda v, x: module.apply(v, x, train=train, rngs={"dropout": jax.random.key(0)},
                                                       mutable=["batch_stats"])[0],
                             variables, jax.ShapeDtypeStruct((3, 28, 28, 1), jnp.float32))
        assert (out.shape, out.dtype) == ((3, 10), jnp.float32)


def test_info_describes_the_notebook_class():
    assert models.info("bn_kaiming") | {"description": None} == {
        "name": "bn_kaiming", "notebook": "000", "torch_class": "BN_Kamming", "params": 431_120,
        "output": "log_softmax", "batch_norm": True, "dropout_rates": {}, "description": None}
    assert models.info("lenet_deep")["dropout_rates"] == {"dropout_rate": 0.4, "dropout2d_rate": 0.125}
    assert models.info("dro_net")["dropout_rates"] == {"dropout_rate": 0.5}
    assert models.info("net")["dropout_rates"] == {"dropout_rate": 0.01}
    assert not models.info("network_cnn")["batch_norm"]


def test_unknown_names_and_attributes_are_user_errors():
    with pytest.raises(UserError, match=r"unknown model 'lenet5' \(did you mean lenet\?\)"):
        models.create("lenet5")
    with pytest.raises(UserError, match="unknown model"):
        models.info("lenet5")
    with pytest.raises(UserError, match=r"'net' has no attribute prob \(overridable: dropout_rate, "):
        models.create("net", prob=0.1)


def test_the_notebooks_class_names_name_their_models():
    assert models.canonical_name("SimpleNet") == "simple_net"
    assert models.canonical_name("lenetdeep") == "lenet_deep"
    assert models.info("BN_Kamming")["torch_class"] == "BN_Kamming" and models.canonical_name("net") == "net"
    with pytest.raises(UserError, match="'LeNetDL' is the PyTorch class of lenet_dl and lenet_dl_k3"):
        models.create("LeNetDL")


def test_overrides():
    assert models.create("dro_net", dropout_rate=0.25).dropout_rate == 0.25
    assert models.create("net", dropout_rate=0.0).dropout_rate == 0.0


def test_the_batch_norm_axis_name_reaches_every_batch_norm_layer():
    for name in models.names():
        axis_names = []

        def record(next_fun, args, kwargs, context):
            if isinstance(context.module, BatchNorm) and context.method_name == "__call__":
                axis_names.append(context.module.axis_name)
            return next_fun(*args, **kwargs)

        module = models.create(name, batch_norm_axis_name="batch")
        with nn.intercept_methods(record):
            jax.eval_shape(functools.partial(module.init, train=False), jax.random.key(0),
                           jax.ShapeDtypeStruct((1, *models.INPUT_SHAPE), jnp.float32))
        assert set(axis_names) == ({"batch"} if models.info(name)["batch_norm"] else set()), name


def test_dropout_draws_from_the_dropout_stream():
    module = models.create("network_cnn")
    variables = models.init_variables(module, jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (2, 28, 28, 1))
    apply = jax.jit(module.apply, static_argnames="train")
    first = apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
    again = apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
    other = apply(variables, x, train=True, rngs={"dropout": jax.random.key(3)})
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    evaluated = apply(variables, x, train=False)
    np.testing.assert_array_equal(evaluated, apply(variables, x, train=False))
    for probabilities in (first, other, evaluated):  # Network_CNN returns softmax probabilities
        np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)


@pytest.mark.fast
def test_batch_norm_model_trains_with_mutable_batch_stats():
    module = models.create("net")
    variables = models.init_variables(module, jax.random.key(0))
    x = jax.random.normal(jax.random.key(1), (4, 28, 28, 1))
    log_probabilities, updates = jax.jit(module.apply, static_argnames=("train", "mutable"))(
        variables, x, train=True, mutable=("batch_stats",), rngs={"dropout": jax.random.key(2)})
    np.testing.assert_allclose(jax.nn.logsumexp(log_probabilities, axis=1), 0, atol=1e-5)
    assert jax.tree_util.tree_structure(updates["batch_stats"]) == \
        jax.tree_util.tree_structure(variables["batch_stats"])
    assert not np.allclose(updates["batch_stats"]["convblock1"]["2"]["mean"], 0)


# ---- layers -------------------------------------------------------------------------------------

def test_flatten_is_channel_major_like_torch_view():
    nchw = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(flatten(nchw.transpose(0, 2, 3, 1)), nchw.reshape(2, -1))


def test_dropout2d_zeroes_whole_channels():
    x = jnp.ones((8, 6, 6, 32))
    y = Dropout2d(0.5).apply({}, x, train=True, rngs={"dropout": jax.random.key(0)})
    per_channel = y.reshape(8, 36, 32)
    np.testing.assert_array_equal(np.unique(per_channel), [0, 2])
    np.testing.assert_array_equal(per_channel.min(axis=1), per_channel.max(axis=1))  # all or nothing
    dropped = (per_channel[:, 0, :] == 0).mean()
    assert 0.35 < dropped < 0.65


def test_dropout_is_elementwise_scaled_and_off_in_eval():
    x = jnp.ones((64, 100))
    y = Dropout(0.25).apply({}, x, train=True, rngs={"dropout": jax.random.key(0)})
    np.testing.assert_allclose(np.unique(y), [0, 1 / 0.75])
    assert abs((y == 0).mean() - 0.25) < 0.02
    np.testing.assert_array_equal(Dropout(0.25).apply({}, x, train=False), x)


def test_dropout_draws_are_independent_bernoulli():
    size = 1 << 22
    for probability in (0.01, 0.5, 0.99):
        draws = np.asarray(bernoulli(jax.random.key(7), probability, (size,)))
        assert abs(draws.mean() - probability) < 4 * np.sqrt(probability * (1 - probability) / size)
    halves = np.asarray(bernoulli(jax.random.key(7), 0.5, (size,)), np.float64)
    other_key = np.asarray(bernoulli(jax.random.key(8), 0.5, (size,)), np.float64)
    bound = 4 / np.sqrt(size)  # 4 standard deviations of a correlation of independent draws
    for lag in (1, 2, 8, 28, 784):  # neighbours along a channel, a row, an image
        assert abs(np.corrcoef(halves[:-lag], halves[lag:])[0, 1]) < bound
    assert abs(np.corrcoef(halves, other_key)[0, 1]) < bound
    np.testing.assert_array_equal(bernoulli(jax.random.key(7), 0.5, (4, 8)), halves[:32].reshape(4, 8) == 1)


@pytest.mark.parametrize("layer", [Dropout(1.0), Dropout2d(1.0)])
def test_dropout_with_p_1_gives_zeros(layer):
    y = layer.apply({}, jnp.ones((2, 4, 4, 3)), train=True, rngs={"dropout": jax.random.key(0)})
    np.testing.assert_array_equal(y, 0)
    assert not np.isnan(y).any()


@pytest.mark.parametrize("layer", [Dropout, Dropout2d])
@pytest.mark.parametrize("rate", [0.0, 0.01, 0.25, 0.4, 1.0])
def test_dropout_at_a_traced_rate_is_dropout_at_that_rate(layer, rate):
    """A group's vmapped runs pass their rates as numbers: the same outputs and gradients, bit for
    bit, as the layer at a constant rate (at 1 the gradient is 0, not 0/0)."""
    x = jax.random.normal(jax.random.key(1), (4, 6, 6, 8))
    rngs = {"dropout": jax.random.key(2)}

    def value_and_grad(apply):
        return jax.value_and_grad(lambda x, rate: jnp.sum(apply(x, rate) ** 2))(x, rate)

    constant = jax.jit(lambda: value_and_grad(lambda x, _: layer(rate).apply({}, x, train=True, rngs=rngs)))()
    traced = jax.jit(lambda: value_and_grad(lambda x, rate: layer(rate).apply({}, x, train=True, rngs=rngs)))()
    for got, expected in zip(traced, constant):
        assert np.isfinite(got).all()
        np.testing.assert_array_equal(got, expected)


def test_a_left_out_dropout_is_a_traced_rate_0():
    """Vmapped in a group beside dro_net, def_net runs as DefNet at dropout rate 0 given as a number:
    its variables, outputs and gradients are DefNet's without dropout, bit for bit."""
    module = models.create("def_net")
    assert models.rates_as_numbers(module) == {"dropout_rate": 0.0}
    assert models.rates_as_numbers(models.create("dro_net", dropout_rate=0.25)) == {"dropout_rate": 0.25}
    # LeNet names its head `fc_drop` when it has dropout after it: that dropout, left out, stays out.
    assert models.rates_as_numbers(models.create("lenet_bn")) == {"dropout2d_rate": 0.0}
    assert models.rates_as_numbers(models.create("lenet_drop_bn")) == {"dropout2d_rate": 0.125, "dropout_rate": 0.4}
    variables = models.init_variables(module, jax.random.key(0))
    x = jax.random.uniform(jax.random.key(1), (4, *models.INPUT_SHAPE))
    rngs = {"dropout": jax.random.key(2)}

    def loss(params, apply):
        return jnp.sum(apply({"params": params}, x, train=True, rngs=rngs) * jnp.arange(10.0))

    expected = jax.jit(jax.value_and_grad(functools.partial(loss, apply=module.apply)))(variables["params"])
    got = jax.jit(lambda params, rate: jax.value_and_grad(functools.partial(
        loss, apply=module.clone(dropout_rate=rate).apply))(params))(variables["params"], jnp.float32(0))
    for got_leaf, expected_leaf in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(got_leaf, expected_leaf)


# layer -> (Flax layer, its torch.nn twin, the units it drops: (B, H, W, C) -> (units, elements of a unit))
DROPOUT_LAYERS = {
    "dropout": (Dropout, lambda torch: torch.nn.Dropout, lambda y: y.reshape(-1, 1)),
    "dropout2d": (Dropout2d, lambda torch: torch.nn.Dropout2d,
                  lambda y: y.transpose(0, 3, 1, 2).reshape(y.shape[0] * y.shape[3], -1)),
}


@pytest.mark.torch
@pytest.mark.parametrize("p", [0.25, 0.75])  # not 0.5, where the scales 1/(1-p) and 1/p coincide
@pytest.mark.parametrize("kind", list(DROPOUT_LAYERS))
def test_dropout_drop_fraction_and_survivor_scale_equal_torch(kind, p):
    torch = pytest.importorskip("torch")
    flax_layer, torch_layer, units_of = DROPOUT_LAYERS[kind]
    # Positive inputs, so a zero output is a dropped element; 32,768 channels of 3x3 for Dropout2d.
    x = np.random.default_rng(0).uniform(0.5, 1.5, (64, 3, 3, 512)).astype(np.float32)
    ours = np.asarray(flax_layer(p).apply({}, x, train=True, rngs={"dropout": jax.random.key(0)}))
    torch.manual_seed(0)
    theirs = torch_layer(torch)(p).train()(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)

    fractions = []
    for y in (ours, theirs):
        dropped = units_of(y == 0)
        assert np.all(dropped.all(axis=1) | ~dropped.any(axis=1))  # a unit is dropped whole or kept whole
        units = dropped.shape[0]
        fractions.append(dropped[:, 0].mean())
        assert abs(fractions[-1] - p) < 5 * math.sqrt(p * (1 - p) / units)
        kept = y != 0
        np.testing.assert_allclose(y[kept] / x[kept], 1 / (1 - p), rtol=1e-6)  # torch's scale, not 1/p
    # Two independent samples of the same fraction: their difference has sqrt(2) times the standard error.
    assert abs(fractions[0] - fractions[1]) < 5 * math.sqrt(2 * p * (1 - p) / units)


def test_batch_norm_follows_pytorch():
    x = 3 + 2 * jax.random.normal(jax.random.key(0), (4, 5, 5, 3))
    layer = BatchNorm2d(3)
    variables = layer.init(jax.random.key(1), x)
    np.testing.assert_array_equal(variables["params"]["scale"], 1)
    np.testing.assert_array_equal(variables["params"]["bias"], 0)

    apply = jax.jit(layer.apply, static_argnames=("train", "mutable"))
    y, updates = apply(variables, x, train=True, mutable=("batch_stats",))
    flat = np.asarray(x).reshape(-1, 3)
    np.testing.assert_allclose(y.reshape(-1, 3), (flat - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-5), atol=1e-5)
    stats = updates["batch_stats"]
    np.testing.assert_allclose(stats["mean"], 0.1 * flat.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats["var"], 0.9 + 0.1 * flat.var(0, ddof=1), rtol=1e-5)  # unbiased, as torch

    y_eval = apply({"params": variables["params"], **updates}, x, train=False)
    np.testing.assert_allclose(y_eval, (x - stats["mean"]) / np.sqrt(stats["var"] + 1e-5), atol=1e-5)


def test_batch_norm_across_devices_equals_one_big_batch():
    """With axis_name the statistics (and n of the unbiased variance) cover every shard."""
    x = jax.random.normal(jax.random.key(0), (8, 16)) * 2 + 1
    single = BatchNorm1d(16)
    variables = single.init(jax.random.key(1), x)
    expected, expected_updates = jax.jit(single.apply, static_argnames=("train", "mutable"))(
        variables, x, train=True, mutable=("batch_stats",))

    sharded = BatchNorm1d(16, axis_name="devices")
    apply = lambda shard: sharded.apply(variables, shard, train=True, mutable=["batch_stats"])
    got, updates = jax.jit(jax.vmap(apply, axis_name="devices"))(x.reshape(4, 2, 16))
    np.testing.assert_allclose(got.reshape(8, 16), expected, atol=1e-5)
    for shard_index in range(4):
        for key in ("mean", "var"):
            np.testing.assert_allclose(updates["batch_stats"][key][shard_index],
                                       expected_updates["batch_stats"][key], rtol=1e-5)


def test_batch_norm_gradients_equal_autodiff_of_its_formula():
    """The hand-written training-mode gradient, with masked-out examples and through the running statistics."""
    keys = jax.random.split(jax.random.key(0), 5)
    x = 3 + 2 * jax.random.normal(keys[0], (8, 5, 5, 3))
    mask = jnp.array([1, 1, 1, 0, 1, 1, 0, 1], bool)
    grad_y, grad_mean, grad_var = (jax.random.normal(key, shape) for key, shape in zip(keys[1:], [x.shape, (3,), (3,)]))
    params = {"scale": jax.random.normal(keys[4], (3,)), "bias": jnp.arange(3.0)}
    layer = BatchNorm2d(3)
    batch_stats = layer.init(jax.random.key(1), x)["batch_stats"]

    def loss(x, params):
        with models.batch_statistics_over(mask):
            y, updates = layer.apply({"params": params, "batch_stats": batch_stats}, x, train=True,
                                     mutable=["batch_stats"])
        stats = updates["batch_stats"]
        return jnp.sum(y * grad_y) + jnp.sum(stats["mean"] * grad_mean) + jnp.sum(stats["var"] * grad_var)

    def formula_loss(x, params):
        weights = mask[:, None, None, None].astype(x.dtype)
        count = weights.sum() * 25
        mean = jnp.sum(x * weights, (0, 1, 2)) / count
        var = jnp.sum(jnp.square(x - mean) * weights, (0, 1, 2)) / count
        y = (x - mean) / jnp.sqrt(var + 1e-5) * params["scale"] + params["bias"]
        running_mean, running_var = 0.1 * mean, 0.9 + 0.1 * var * count / (count - 1)
        return jnp.sum(y * grad_y) + jnp.sum(running_mean * grad_mean) + jnp.sum(running_var * grad_var)

    got = jax.jit(jax.grad(loss, argnums=(0, 1)))(x, params)
    expected = jax.jit(jax.grad(formula_loss, argnums=(0, 1)))(x, params)
    for got_leaf, expected_leaf in zip(jax.tree.leaves(got), jax.tree.leaves(expected)):
        np.testing.assert_allclose(got_leaf, expected_leaf, rtol=1e-4, atol=1e-5)
    assert np.abs(got[0][3]).max() > 0  # a masked-out example still gets the gradient of its own output


@pytest.mark.parametrize("kernels", ["cpu", "xla"])
def test_max_pool_gradient_has_no_scatter_and_goes_to_each_windows_first_maximum(kernels):
    # 5x5 of ties, overlapping 3x3 windows at stride 2 (the last row and column in two windows each).
    x = jnp.ones((1, 5, 5, 1), jnp.float32)
    weights = jnp.array([1.0, 10.0, 100.0, 1000.0], jnp.float32).reshape(1, 2, 2, 1)

    def weighted(x):
        return jnp.sum(max_pool2d(x, 3, 2) * weights)

    with layer_kernels.use(kernels):
        grad = jax.grad(weighted)(x)
        primitives = set(_walk_primitives(jax.make_jaxpr(jax.grad(weighted))(x).jaxpr))
    expected = np.zeros((5, 5), np.float32)
    expected[0, 0], expected[0, 2], expected[2, 0], expected[2, 2] = 1.0, 10.0, 100.0, 1000.0
    np.testing.assert_array_equal(grad[0, :, :, 0], expected)
    assert not primitives & set(SCATTERS)


def test_conv_and_linear_check_their_input_size():
    with pytest.raises(ValueError, match="expected 20 input channels"):
        Conv2d(20, 50, 5).init(jax.random.key(0), jnp.zeros((1, 12, 12, 10)))
    with pytest.raises(ValueError, match="expected 800 input features"):
        Linear(800, 500).init(jax.random.key(0), jnp.zeros((1, 799)))


# ---- initialisation -----------------------------------------------------------------------------
# Large layers so that sample statistics are tight: Linear(64 -> 20000) has 1.28M weights and
# 20,000 biases, Conv2d(20 -> 50, 5x5) 25,000 weights.
# kind -> (Flax layer, its torch.nn twin, input shape, (fan_in, fan_out) as torch computes them)
LAYERS = {
    "linear": (Linear(64, 20_000), lambda torch: torch.nn.Linear(64, 20_000), (1, 64), (64, 20_000)),
    "conv": (Conv2d(20, 50, 5), lambda torch: torch.nn.Conv2d(20, 50, 5), (1, 5, 5, 20), (20 * 25, 50 * 25)),
}

# scheme -> (distribution, std as a function of (fan_in, fan_out)), from torch.nn.init's docs.
SCHEMES = {
    "torch_default": ("uniform", lambda fan_in, fan_out: 1 / math.sqrt(3 * fan_in)),
    "xavier_uniform": ("uniform", lambda fan_in, fan_out: math.sqrt(2 / (fan_in + fan_out))),
    "kaiming_uniform": ("uniform", lambda fan_in, fan_out: math.sqrt(2 / fan_in)),
    "kaiming_normal_relu": ("normal", lambda fan_in, fan_out: math.sqrt(2 / fan_in)),
    "kaiming_normal_linear": ("normal", lambda fan_in, fan_out: math.sqrt(1 / fan_in)),
}


@functools.cache  # shared by the analytic and the torch comparisons
def flax_weights(kind, scheme):
    layer, _, input_shape, _ = LAYERS[kind]
    params = jax.jit(layer.clone(weight_init=scheme).init)(jax.random.key(0), jnp.zeros(input_shape))["params"]
    return np.asarray(params["kernel"]).ravel(), np.asarray(params["bias"])


def std_standard_error(distribution, std, n):
    """Standard error of a sample standard deviation: std * sqrt((kurtosis - 1) / 4n)."""
    kurtosis = 3.0 if distribution == "normal" else 1.8
    return std * math.sqrt((kurtosis - 1) / (4 * n))


def assert_distribution(sample, distribution, std):
    """Mean and std within 5 standard errors; uniform: inside the bound and reaching it; normal: untruncated."""
    n = sample.size
    assert abs(sample.mean()) < 5 * std / math.sqrt(n)
    assert abs(sample.std() - std) < 5 * std_standard_error(distribution, std, n)
    if distribution == "uniform":
        bound = std * math.sqrt(3)
        assert np.abs(sample).max() <= bound
        assert np.abs(sample).max() > bound * (1 - 20 / n)
    else:
        # A truncated normal (jax's he_normal) never goes beyond 2 std; 25,000 draws almost surely do.
        assert np.abs(sample).max() > 3 * std


@pytest.mark.parametrize("scheme", list(SCHEMES))
@pytest.mark.parametrize("kind", list(LAYERS))
def test_weight_init_has_the_torch_distribution(kind, scheme):
    distribution, std = SCHEMES[scheme]
    fans = LAYERS[kind][3]
    weights, bias = flax_weights(kind, scheme)
    assert_distribution(weights, distribution, std(*fans))
    # Biases always keep torch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)); only Linear has enough of them.
    if kind == "linear":
        assert_distribution(bias, "uniform", SCHEMES["torch_default"][1](*fans))


TORCH_INITS = {
    "torch_default": None,  # whatever torch.nn.Linear / Conv2d do by themselves
    "xavier_uniform": lambda torch, w: torch.nn.init.xavier_uniform_(w),
    "kaiming_uniform": lambda torch, w: torch.nn.init.kaiming_uniform_(w),
    "kaiming_normal_relu": lambda torch, w: torch.nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "kaiming_normal_linear": lambda torch, w: torch.nn.init.kaiming_normal_(w, nonlinearity="linear"),
}


@pytest.mark.torch
@pytest.mark.parametrize("scheme", list(TORCH_INITS))
@pytest.mark.parametrize("kind", list(LAYERS))
def test_weight_init_matches_torch_samples(kind, scheme):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    torch_layer = LAYERS[kind][1](torch)
    if TORCH_INITS[scheme] is not None:
        TORCH_INITS[scheme](torch, torch_layer.weight.data)
    torch_weights = torch_layer.weight.detach().numpy().ravel()
    torch_bias = torch_layer.bias.detach().numpy()
    weights, bias = flax_weights(kind, scheme)

    for ours, theirs, distribution in [(weights, torch_weights, SCHEMES[scheme][0]),
                                       (bias, torch_bias, "uniform")]:
        assert ours.size == theirs.size
        # Two independent samples of one distribution: means and stds agree within sampling error.
        n, std = theirs.size, theirs.std()
        assert abs(ours.mean() - theirs.mean()) < 5 * math.sqrt(2) * std / math.sqrt(n)
        assert abs(ours.std() - std) < 5 * math.sqrt(2) * std_standard_error(distribution, std, n)
        if distribution == "uniform":  # both reach (almost) the same bound
            assert abs(np.abs(ours).max() / np.abs(theirs).max() - 1) < 20 / n


@pytest.mark.torch
def test_batch_norm_weight_from_uniform_is_pytorch_1_1s_init():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    theirs = torch.nn.BatchNorm2d(4_000).weight.detach().uniform_().numpy()
    ours = np.asarray(BatchNorm2d(4_000, weight_init="uniform").init(
        jax.random.key(0), jnp.zeros((2, 1, 1, 4_000)))["params"]["scale"])
    n, std = theirs.size, theirs.std()
    assert 0 <= ours.min() and ours.max() < 1 and 0 <= theirs.min() and theirs.max() < 1
    assert abs(ours.mean() - theirs.mean()) < 5 * math.sqrt(2) * std / math.sqrt(n)
    assert abs(ours.std() - std) < 5 * math.sqrt(2) * std_standard_error("uniform", std, n)
    model = models.create("bn_xavier", batch_norm_weight_init="uniform")
    scale = models.init_variables(model, jax.random.key(0))["params"]["bn1"]["scale"]
    assert scale.shape == (20,) and 0 <= scale.min() and scale.max() < 1 and len(np.unique(scale)) == 20
    np.testing.assert_array_equal(models.init_variables(models.create("bn_xavier"), jax.random.key(0))
                                  ["params"]["bn1"]["scale"], 1)


# ---- initialisation of whole models against the notebooks' classes ------------------------------
# Tensors of fewer than POOLED_BELOW values (down to the output layers' 10 biases) are pooled
# over INIT_SEEDS inits on both sides, for >= 2,000 values each; larger ones come from one init.
INIT_SEEDS = 200
POOLED_BELOW = 2_000


def named_leaves(variables) -> dict:
    """{'params/conv1/bias': leaf, ...}, in the order of jax.tree_util.tree_flatten."""
    return {"/".join(entry.key for entry in path): leaf
            for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]}


def state_dict_keys(name) -> dict:
    """Flax path -> state_dict key, read off torch_port.to_torch given variables filled with their path's index."""
    from jaxmnist import torch_port

    leaves, treedef = jax.tree_util.tree_flatten(models.abstract_variables(name))
    numbered = jax.tree_util.tree_unflatten(treedef, [np.full(leaf.shape, index, np.float32)
                                                      for index, leaf in enumerate(leaves)])
    paths = list(named_leaves(numbered))
    return {paths[int(tensor.flatten()[0])]: key for key, tensor in torch_port.to_torch(name, numbered).items()}


def jaxmnist_init_samples(name) -> dict:
    """{state_dict key: values} of INIT_SEEDS inits for the small tensors, of the first for the others."""
    module = models.create(name)
    small = [path for path, leaf in named_leaves(models.abstract_variables(name)).items()
             if leaf.size < POOLED_BELOW]

    init_leaves = jax.jit(lambda key: named_leaves(models.init_variables(module, key)))  # traced once for both uses

    def init(keys):  # one program in which each tensor is drawn once: the large ones for the first key only
        pooled = jax.lax.map(lambda key: {path: init_leaves(key)[path] for path in small}, keys)
        return {**init_leaves(keys[0]), **pooled}

    # rbg keys: XLA:CPU compiles their draws faster than threefry's (the compiles are most of this
    # test's time), and the distributions come from jaxmnist's initialisers, not the bit generator.
    samples = jax.jit(init)(jax.random.split(jax.random.key(0, impl="rbg"), INIT_SEEDS))
    key_of = state_dict_keys(name)
    return {key_of[path]: np.ravel(values) for path, values in samples.items()}


def torch_init_samples(torch, constructor) -> dict:
    """The same from the notebook class's own init (BatchNorm's num_batches_tracked left out, as torch_port does)."""
    torch.manual_seed(0)
    samples = {key: [tensor.numpy().ravel()] for key, tensor in constructor().state_dict().items()
               if not key.endswith("num_batches_tracked")}
    small = [key for key, parts in samples.items() if parts[0].size < POOLED_BELOW]
    for seed in range(1, INIT_SEEDS):
        torch.manual_seed(seed)
        state_dict = constructor().state_dict()
        for key in small:
            samples[key].append(state_dict[key].numpy().ravel())
    return {key: np.concatenate(parts) for key, parts in samples.items()}


def kurtosis(values):
    centered = values - values.mean()
    return np.mean(centered ** 4) / np.mean(centered ** 2) ** 2


@pytest.mark.torch
@pytest.mark.parametrize("name", list(EXPECTED_PARAMS))
def test_every_initial_tensor_is_distributed_as_by_the_notebook_class(name):
    torch = pytest.importorskip("torch")
    from jaxmnist.torch_reference import TORCH_MODELS

    ours = jaxmnist_init_samples(name)
    theirs = torch_init_samples(torch, TORCH_MODELS[name])
    assert {key: values.size for key, values in ours.items()} == {key: values.size for key, values in theirs.items()}

    # BatchNorm's weight and bias, running mean and variance start as constants.
    constant = [key for key, values in theirs.items() if values.std() == 0]
    for key in constant:
        np.testing.assert_array_equal(ours[key], theirs[key], err_msg=key)
    random = [key for key in theirs if key not in constant]
    # Uniform draws have kurtosis 1.8, kaiming_normal_'s 3: 2.4 is over 5 standard errors from either at 2,000 values.
    uniform = [key for key in random if kurtosis(theirs[key]) < 2.4]
    for key in random:
        distribution = "uniform" if key in uniform else "normal"
        n, std = theirs[key].size, theirs[key].std()
        # Two independent samples of one distribution: means and stds agree within sampling error.
        assert abs(ours[key].mean() - theirs[key].mean()) < 5 * math.sqrt(2) * std / math.sqrt(n), key
        assert abs(ours[key].std() - std) < 5 * math.sqrt(2) * std_standard_error(distribution, std, n), key
    for key in uniform:  # both reach (almost) the same bound: n draws all stay 20 / n short of it with odds e^-20
        n = theirs[key].size
        assert abs(np.abs(ours[key]).max() / np.abs(theirs[key]).max() - 1) < 20 / n, key


# ---- commands -----------------------------------------------------------------------------------

def test_models_command(capsys):
    assert model_tables.list_command(argparse.Namespace(json=False)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 + len(EXPECTED_PARAMS)
    assert lines[2].split()[:4] == ["def_net", "000", "Def_Net", "431,080"]

    model_tables.list_command(argparse.Namespace(json=True))
    listed = json.loads(capsys.readouterr().out)
    assert {entry["name"]: entry["params"] for entry in listed} == EXPECTED_PARAMS


def test_summary_matches_the_notebook_torchsummary(capsys):
    """Notebook 002 prints torchsummary for Net: Conv2d-1 72, ReLU-2, BatchNorm2d-3 16, Dropout-4, ..."""
    assert model_tables.summary_command(argparse.Namespace(name="net", json=True)) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = [(row["type"], row["output_shape"], row["params"]) for row in summary["layers"]]
    assert rows[:13] == [
        ("Conv2d", [-1, 26, 26, 8], 72), ("ReLU", [-1, 26, 26, 8], 0),
        ("BatchNorm2d", [-1, 26, 26, 8], 16), ("Dropout", [-1, 26, 26, 8], 0),
        ("Conv2d", [-1, 24, 24, 16], 1152), ("ReLU", [-1, 24, 24, 16], 0),
        ("BatchNorm2d", [-1, 24, 24, 16], 32), ("Dropout", [-1, 24, 24, 16], 0),
        ("MaxPool2d", [-1, 12, 12, 16], 0), ("Conv2d", [-1, 12, 12, 8], 128), ("ReLU", [-1, 12, 12, 8], 0),
        ("Conv2d", [-1, 10, 10, 12], 864), ("ReLU", [-1, 10, 10, 12], 0)]
    assert summary["layers"][0]["layer"] == "convblock1/0"
    assert sum(row["params"] for row in summary["layers"]) == summary["params"] == 7_864
    assert summary["batch_stats"] == 160

    model_tables.summary_command(argparse.Namespace(name="lenet_deep", json=False))
    text = capsys.readouterr().out
    assert "block1/0   BatchNorm2d  [-1, 28, 28, 1]" in text
    assert "Total params: 107,372" in text


def test_torch_port_without_torch_is_a_user_error(monkeypatch, tmp_path):
    from jaxmnist import torch_port

    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    with pytest.raises(UserError, match=r"needs PyTorch: pip install 'jaxmnist\[torch\]'"):
        torch_port.load_torch_state_dict(tmp_path / "model.pt")
    with pytest.raises(UserError, match="needs PyTorch"):
        torch_port.to_torch("lenet", models.abstract_variables("lenet"))
