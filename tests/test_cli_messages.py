"""The command line's messages for a new user: the closest names for a misspelled key, experiment or model,
what is wrong with a split slice, and the commands that show what can be set."""

import pytest

from jaxmnist import config as config_lib
from jaxmnist import models
from jaxmnist.data import pipeline
from jaxmnist.errors import UserError


@pytest.mark.parametrize(("assignment", "suggestion"), [
    ("dropout_rate=0.2", "(did you mean model_overrides.dropout_rate?)"),
    ("optimizer.lr=0.1", "(did you mean optimizer.learning_rate?)"),
    ("optimizer.learnig_rate=0.1", "(did you mean optimizer.learning_rate?)"),
    ("bach_size=64", "(did you mean batch_size?)"),
])
def test_an_unknown_set_key_names_the_keys_meant(assignment, suggestion):
    config = config_lib.load_experiment("net8k/net_bn")
    with pytest.raises(UserError) as error:
        config_lib.apply_overrides(config, [assignment])
    key = assignment.split("=")[0]
    assert str(error.value) == (f"--set {assignment}: the config has no key '{key}' {suggestion}; "
                                "`jaxmnist config EXPERIMENT` lists every key")


@pytest.mark.parametrize(("name", "suggestion"), [
    ("lenet/lenet_dep", "(did you mean lenet/lenet_deep, lenet/lenet_drop or lenet/lenet_dl?)"),
    ("net_bn", "(did you mean net8k/net_bn, lenet/lenet_bn or net8k/net_bn_dropout?)"),
    ("simple_net", "(did you mean lenet/simple_net_warm_restarts?)"),
])
def test_a_misspelled_experiment_gets_the_closest_names_only(name, suggestion):
    with pytest.raises(UserError) as error:
        config_lib.load_experiment(name)
    assert str(error.value) == f"unknown experiment '{name}' {suggestion}: `jaxmnist experiments` lists them all"


def test_a_misspelled_model_gets_the_closest_names_only():
    with pytest.raises(UserError) as error:
        models.canonical_name("lenet_dep")
    assert str(error.value).startswith("unknown model 'lenet_dep' (did you mean lenet_deep, lenet_drop or "
                                       "lenet_dl?): `jaxmnist models` lists them all")
    with pytest.raises(UserError) as error:
        models.canonical_name("no_such_net")
    assert "did you mean" not in str(error.value) and "network_cnn" not in str(error.value)


@pytest.mark.parametrize(("split", "message"), [
    ("test[:10001]", "split 'test[:10001]' is out of range: its stop 10001 lies outside 'test', which has "
                     "10,000 examples (bounds -10000 to 10000)"),
    ("test[-10001:]", "split 'test[-10001:]' is out of range: its start -10001 lies outside 'test', which has "
                      "10,000 examples (bounds -10000 to 10000)"),
    ("test[:101%]", "split 'test[:101%]' is out of range: its stop 101% lies outside 'test', which has "
                    "10,000 examples (bounds -10000 to 10000)"),
    ("test[5:3]", "split 'test[5:3]' selects no examples: it is empty, as its start 5 is not below its stop 3"),
])
def test_a_bad_split_slice_says_what_is_wrong(split, message):
    with pytest.raises(UserError) as error:
        pipeline._slice_bounds(split, 10_000)
    assert str(error.value) == message
