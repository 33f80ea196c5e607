"""Parity with the notebooks' PyTorch classes: same weights give the same outputs and the same
BatchNorm running statistics; state_dict conversion both ways; `jaxmnist import-torch`.

The PyTorch classes are the notebooks' own, in jaxmnist/torch_reference.py.
"""

import argparse
import functools

import jax
import numpy as np
import pytest

from jaxmnist import models, torch_port
from jaxmnist.cli import main
from jaxmnist.errors import UserError
from jaxmnist.models import kernels
from jaxmnist.models.layers import max_pool2d

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

pytestmark = pytest.mark.torch

from jaxmnist.torch_reference import TORCH_MODELS  # noqa: E402  (needs torch, checked above)


BATCH_NORM_MODELS = [name for name in TORCH_MODELS if models.info(name)["batch_norm"]]


def make_torch_model(name, seed=0):
    """The notebook's class with its own init, and BatchNorm state randomised so it is not the identity."""
    torch.manual_seed(seed)
    model = TORCH_MODELS[name]()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model


def compiled_apply(module):
    """module.apply compiled as one program: much faster than op-by-op dispatch for a single call."""
    return jax.jit(module.apply, static_argnames=("train", "mutable", "method"))


def inputs(batch=4, seed=1):
    """The same batch as torch NCHW and as jaxmnist NHWC."""
    x = torch.randn(batch, 1, 28, 28, generator=torch.Generator().manual_seed(seed))
    return x, x.numpy().transpose(0, 2, 3, 1)


@pytest.fixture(params=kernels.NAMES)
def layer_kernels(request):
    """Each comparison runs on every layer path: XLA's own kernels (GPU, TPU), cpu_kernels (CPU) and
    patch_kernels (a candidate for vmapped runs)."""
    with kernels.use(request.param):
        yield request.param


def test_every_registry_model_has_its_notebook_class_here():
    assert sorted(TORCH_MODELS) == sorted(models.names())
    for name, constructor in TORCH_MODELS.items():
        torch_params = sum(p.numel() for p in constructor().parameters())
        assert torch_params == models.info(name)["params"], name


@pytest.mark.parametrize("name", list(TORCH_MODELS))
def test_eval_outputs_equal_torch(name, layer_kernels):
    torch_model = make_torch_model(name).eval()
    x_torch, x = inputs()
    with torch.no_grad():
        expected = torch_model(x_torch).numpy()

    variables = torch_port.from_torch(name, torch_model.state_dict())
    got = compiled_apply(models.create(name))(variables, x, train=False)

    assert got.shape == expected.shape == (4, 10)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=0, atol=1e-5)


def without_dropout(name):
    """The notebook class (BatchNorm state randomised) and the jaxmnist module, every dropout probability 0."""
    torch_model = make_torch_model(name)
    for module in torch_model.modules():
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.p = 0.0
    no_dropout = {attribute: 0.0 for attribute in models.info(name)["dropout_rates"]}
    return torch_model, models.create(name, **no_dropout)


@pytest.mark.parametrize("name", BATCH_NORM_MODELS)
def test_train_mode_outputs_and_running_statistics_equal_torch(name, layer_kernels):
    torch_model, module = without_dropout(name)
    torch_model.train()
    x_torch, x = inputs(batch=6)
    variables = torch_port.from_torch(name, torch_model.state_dict())  # before torch updates its statistics
    with torch.no_grad():
        expected = torch_model(x_torch).numpy()

    got, updates = compiled_apply(module)(variables, x, train=True, mutable=("batch_stats",),
                                          rngs={"dropout": jax.random.key(0)})

    np.testing.assert_allclose(np.asarray(got), expected, rtol=0, atol=1e-5)
    updated = torch_port.to_torch(name, {"params": variables["params"], **updates})
    for key, tensor in torch_model.state_dict().items():
        if key.endswith(("running_mean", "running_var")):
            np.testing.assert_allclose(updated[key].numpy(), tensor.numpy(), rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.parametrize("name", list(TORCH_MODELS))
def test_parameter_gradients_equal_torch(name, layer_kernels):
    """Backward passes agree: jaxmnist defines some gradients itself (max pooling) for speed."""
    torch_model = make_torch_model(name).eval()
    x_torch, x = inputs(batch=8)
    # Rounded inputs make ties inside pooling windows, where the gradient's routing shows.
    x_torch = torch.round(x_torch * 2) / 2
    x = x_torch.numpy().transpose(0, 2, 3, 1)
    weights = torch.randn(8, 10, generator=torch.Generator().manual_seed(2))
    (torch_model(x_torch) * weights).sum().backward()

    variables = torch_port.from_torch(name, torch_model.state_dict())
    module = models.create(name)

    def weighted_sum(params):
        return (module.apply({**variables, "params": params}, x, train=False) * weights.numpy()).sum()

    grads = jax.jit(jax.grad(weighted_sum))(variables["params"])
    got = torch_port.to_torch(name, {**variables, "params": grads})
    for key, parameter in torch_model.named_parameters():
        scale = max(1.0, float(parameter.grad.abs().max()))
        np.testing.assert_allclose(got[key].numpy(), parameter.grad.numpy(), rtol=0, atol=2e-5 * scale, err_msg=key)


@pytest.mark.parametrize("name", list(TORCH_MODELS))
def test_train_mode_gradients_and_running_statistics_of_a_masked_batch_equal_torch(name, layer_kernels):
    """Training-mode backward (BatchNorm's is hand-written) over a batch with padding rows the mask leaves out."""
    torch_model, module = without_dropout(name)
    variables = torch_port.from_torch(name, torch_model.state_dict())  # before torch updates its statistics
    x_torch, _ = inputs(batch=6)
    weights = torch.randn(6, 10, generator=torch.Generator().manual_seed(2))
    # Both sides run in float64: in float32, cnn3's overlapping max-pool windows hold values about one ulp
    # apart, and rounding that differs by CPU (or kernel path) sends their gradient to another position.
    torch_model.double().train()
    (torch_model(x_torch.double()) * weights.double()).sum().backward()

    # Rows 2 and 7 are padding with values of their own: they must change neither gradients nor statistics.
    real = np.array([True, True, False, True, True, True, True, False])
    x = np.empty((8, 28, 28, 1), np.float64)
    x[real], x[~real] = x_torch.double().numpy().transpose(0, 2, 3, 1), inputs(batch=2, seed=3)[1]
    padded_weights = np.zeros((8, 10), np.float64)
    padded_weights[real] = weights.double().numpy()

    def weighted_sum(params, batch_stats):
        with models.batch_statistics_over(real):
            outputs, updates = module.apply({"params": params, "batch_stats": batch_stats}, x, train=True,
                                            rngs={"dropout": jax.random.key(0)}, mutable=["batch_stats"])
        return (outputs * padded_weights).sum(), updates

    with jax.enable_x64(True):
        as_float64 = functools.partial(jax.tree.map, lambda leaf: np.asarray(leaf, np.float64))
        grads, updates = jax.jit(jax.grad(weighted_sum, has_aux=True))(
            as_float64(variables["params"]), as_float64(variables.get("batch_stats", {})))
        assert all(leaf.dtype == np.float64 for leaf in jax.tree.leaves(grads))
    got = torch_port.to_torch(name, {"params": grads, **updates})
    expected = {key: parameter.grad.numpy() for key, parameter in torch_model.named_parameters()}
    # A bias in front of a training-mode BatchNorm has gradient 0 exactly, which leaves only rounding of its
    # layer's gradient: the tolerance scales with the largest gradient of the parameter's layer (the largest
    # difference measured here: 3e-8 of it).
    layer_scale = {}
    for key, grad in expected.items():
        layer = key.rpartition(".")[0]
        layer_scale[layer] = max(layer_scale.get(layer, 1.0), float(np.abs(grad).max()))
    for key, grad in expected.items():
        atol = 1e-6 * layer_scale[key.rpartition(".")[0]]
        np.testing.assert_allclose(got[key].numpy(), grad, rtol=0, atol=atol, err_msg=key)

    statistics = [key for key in torch_model.state_dict() if key.endswith(("running_mean", "running_var"))]
    assert bool(statistics) == models.info(name)["batch_norm"]
    for key in statistics:
        np.testing.assert_allclose(got[key].numpy(), torch_model.state_dict()[key].numpy(), rtol=1e-6, atol=1e-7,
                                   err_msg=key)


def test_network_cnn_feature_maps_equal_torch():
    torch_model = make_torch_model("network_cnn").eval()
    x_torch, x = inputs(batch=2)
    variables = torch_port.from_torch("network_cnn", torch_model.state_dict())
    got = models.create("network_cnn").apply(variables, x, method="visualize")
    with torch.no_grad():
        expected = torch_model.visualize(x_torch)
    for feature_map, reference in zip(got, expected):
        np.testing.assert_allclose(np.asarray(feature_map), reference.numpy().transpose(0, 2, 3, 1), atol=1e-5)


@pytest.mark.parametrize("name", list(TORCH_MODELS))
def test_round_trip_is_exact_and_loads_into_torch(name):
    state_dict = make_torch_model(name).state_dict()
    back = torch_port.to_torch(name, torch_port.from_torch(name, state_dict))

    compared = {key for key in state_dict if not key.endswith("num_batches_tracked")}
    assert set(back) == compared
    for key in compared:
        assert back[key].dtype == state_dict[key].dtype
        assert torch.equal(back[key], state_dict[key]), key
    TORCH_MODELS[name]().load_state_dict(back)  # strict: every key present with the right shape


def test_numpy_state_dicts_are_accepted():
    state_dict = make_torch_model("lenet_bn").state_dict()
    from_tensors = torch_port.from_torch("lenet_bn", state_dict)
    from_numpy = torch_port.from_torch("lenet_bn", {key: value.numpy() for key, value in state_dict.items()})
    jax.tree_util.tree_map(np.testing.assert_array_equal, from_tensors, from_numpy)


def test_variables_have_flax_layouts_and_collections():
    variables = torch_port.from_torch("best_net", make_torch_model("best_net").state_dict())
    shapes = jax.tree_util.tree_map(np.shape, variables)
    assert shapes["params"]["conv2"]["kernel"] == (5, 5, 20, 50)
    assert shapes["params"]["fc1"]["kernel"] == (800, 500)
    assert shapes["params"]["bn1"] == {"scale": (20,), "bias": (20,)}
    assert shapes["batch_stats"]["bn1"] == {"mean": (20,), "var": (20,)}
    assert torch_port.from_torch("def_net", TORCH_MODELS["def_net"]().state_dict())["batch_stats"] == {}


def test_wrong_state_dicts_name_the_key():
    state_dict = make_torch_model("lenet_bn").state_dict()
    missing = dict(state_dict)
    del missing["block2.1.running_var"]
    with pytest.raises(UserError, match=r"block2\.1\.running_var"):
        torch_port.from_torch("lenet_bn", missing)
    with pytest.raises(UserError, match=r"'fc\.weight' has shape \(10, 3136\), 'lenet_bn' needs \(10, 1568\)"):
        torch_port.from_torch("lenet_bn", {**state_dict, "fc.weight": torch.zeros(10, 3136)})
    with pytest.raises(UserError, match=r"does not: extra\.weight"):
        torch_port.from_torch("lenet_bn", {**state_dict, "extra.weight": torch.zeros(1)})
    with pytest.raises(UserError, match=r"no key 'fc\.(bias|weight)'"):  # LeNetDropBN has fc_drop.0.*
        torch_port.from_torch("lenet_bn", TORCH_MODELS["lenet_drop_bn"]().state_dict())
    variables = torch_port.from_torch("lenet_bn", state_dict)
    del variables["params"]["fc"]["kernel"]
    with pytest.raises(UserError, match=r"no 'params/fc/kernel' \(state_dict key 'fc\.weight'\)"):
        torch_port.to_torch("lenet_bn", variables)


def test_import_torch_command_writes_a_loadable_checkpoint(tmp_path, capsys):
    torch_model = make_torch_model("net")
    pt_file = tmp_path / "mnist_net.pt"
    torch.save(torch_model.state_dict(), pt_file)
    out = tmp_path / "checkpoint"

    assert main(["import-torch", "net", str(pt_file), "--out", str(out)]) == 0
    assert "7,864 parameters" in capsys.readouterr().out

    restored = torch_port.load_variables(out)
    expected = torch_port.from_torch("net", torch_model.state_dict())
    jax.tree_util.tree_map(np.testing.assert_array_equal, restored, expected)
    x_torch, x = inputs()
    with torch.no_grad():
        reference = torch_model.eval()(x_torch).numpy()
    got = compiled_apply(models.create("net"))(restored, x, train=False)
    np.testing.assert_allclose(np.asarray(got), reference, rtol=0, atol=1e-5)


def test_import_torch_errors_are_one_line(tmp_path, capsys):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    assert main(["import-torch", "net", str(garbage), "--out", str(tmp_path / "a")]) == 2
    assert "cannot read" in capsys.readouterr().err

    whole_model = tmp_path / "whole.pt"
    torch.save({"epoch": 3, "model_state_dict": TORCH_MODELS["net"]().state_dict()}, whole_model)
    with pytest.raises(UserError, match="not a state_dict of tensors .*model_state_dict"):
        torch_port.import_command(argparse.Namespace(name="net", file=str(whole_model), out=str(tmp_path / "b")))

    assert main(["import-torch", "net", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "c")]) == 2
    assert "does not exist" in capsys.readouterr().err

    with pytest.raises(UserError, match="unknown model 'lenet5'"):
        torch_port.import_command(argparse.Namespace(name="lenet5", file=str(garbage), out=str(tmp_path / "d")))

    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "file").write_text("x")
    pt_file = tmp_path / "net.pt"
    torch.save(TORCH_MODELS["net"]().state_dict(), pt_file)
    with pytest.raises(UserError, match="not empty"):
        torch_port.import_command(argparse.Namespace(name="net", file=str(pt_file), out=str(occupied)))


# Tiling windows (with a row and a column left over) and overlapping ones, on inputs rounded so
# that windows hold ties: torch sends the gradient to the first maximum of each window.
@pytest.mark.parametrize("size, kernel_size, stride", [(7, 2, 2), (8, 2, 2), (9, 3, 3), (7, 3, 1), (8, 3, 2)])
def test_max_pool_gradient_equals_torch(size, kernel_size, stride, layer_kernels):
    rng = np.random.default_rng(size * 10 + kernel_size)
    x = np.round(rng.standard_normal((2, size, size, 3)), 1).astype(np.float32)
    out_size = (size - kernel_size) // stride + 1
    grad = rng.standard_normal((2, out_size, out_size, 3)).astype(np.float32)
    pooled, pull_back = jax.vjp(lambda x: max_pool2d(x, kernel_size, stride), x)
    x_torch = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    pooled_torch = torch.nn.functional.max_pool2d(x_torch, kernel_size, stride)
    pooled_torch.backward(torch.tensor(grad.transpose(0, 3, 1, 2)))
    np.testing.assert_array_equal(pooled, pooled_torch.detach().numpy().transpose(0, 2, 3, 1))
    # Overlapping windows add up several shares in another order than torch: last-bit differences.
    np.testing.assert_allclose(pull_back(grad)[0], x_torch.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-6, atol=1e-6)
