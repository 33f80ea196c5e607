"""config.json records the rates in force (a cyclic schedule's, not an optimizer rate it overrides), and a
config.json written before a change of what it records still resumes."""

import json
from pathlib import Path

import pytest

from jaxmnist import config as config_lib
from jaxmnist import train
from jaxmnist.train.run_config import check_config
from jaxmnist.errors import UserError

CONFIG = Path(__file__).resolve().parent / "configs" / "tiny_lenet_bn.py"
CYCLIC = {"name": "cyclic", "base_lr": 0.001, "max_lr": 0.1, "step_size_up": 4}


def _config(data_dir, **overrides):
    config = config_lib.load_experiment(str(CONFIG))
    with config.unlocked():
        for key, value in dict(data_dir=str(data_dir), data_source=None, shortened=False, **overrides).items():
            config[key] = value  # a whole section replaced, not merged as update() would
    return config


def test_a_cyclic_run_writes_the_schedule_rates_and_no_optimizer_rate(fixture_data_dir, tmp_path):
    history = train.train_and_evaluate(_config(fixture_data_dir, schedule=CYCLIC, epochs=1, limit_train=96),
                                       str(tmp_path))
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["optimizer"] == {"name": "sgd", "momentum": 0.9}
    assert written["schedule"] == CYCLIC
    # The rate of the epoch's last update, the second (step 1 of the cycle): 0.001 + 1/4 * (0.1 - 0.001),
    # not the optimizer's 0.01.
    assert history[-1]["learning_rate"] == pytest.approx(0.02575)


def test_a_schedule_of_the_optimizer_rate_keeps_it(fixture_data_dir, tmp_path):
    written = json.loads(check_config(tmp_path, _config(fixture_data_dir), force=False))
    assert written["optimizer"] == {"name": "sgd", "learning_rate": 0.01, "momentum": 0.9}


def test_a_cyclic_run_written_with_the_optimizer_rate_still_resumes(fixture_data_dir, tmp_path):
    config = _config(fixture_data_dir, schedule=CYCLIC)
    older = json.loads(check_config(tmp_path, config, force=False))
    older["optimizer"]["learning_rate"] = 0.01
    (tmp_path / "config.json").write_text(json.dumps(older))
    assert "learning_rate" not in json.loads(check_config(tmp_path, config, force=False))["optimizer"]
    with config.unlocked():
        config.schedule.max_lr = 0.2
    with pytest.raises(UserError, match=r"schedule: .*'max_lr': 0\.1.* -> .*'max_lr': 0\.2"):
        check_config(tmp_path, config, force=False)


def test_a_run_recorded_under_a_former_group_name_still_resumes(tmp_path):
    config = config_lib.load_experiment("net8k/net_bn")
    recorded = json.loads(check_config(tmp_path, config, force=False))
    (tmp_path / "config.json").write_text(json.dumps({**recorded, "experiment": "tiny/net_bn"}))
    assert json.loads(check_config(tmp_path, config, force=False))["experiment"] == "net8k/net_bn"
    (tmp_path / "config.json").write_text(json.dumps({**recorded, "experiment": "lenet/lenet"}))
    with pytest.raises(UserError, match="experiment: 'lenet/lenet' -> 'net8k/net_bn'"):
        check_config(tmp_path, config, force=False)


def test_which_keys_change_the_recipe_and_which_may_change_on_resume():
    experiment = json.loads(config_lib.load_experiment("lenet/lenet_deep_warm_restarts").to_json_best_effort())
    run = {**experiment, "seed": 7, "epochs": 3, "shortened": True, "data_dir": "/elsewhere",
           "steps_per_dispatch": 10, "matmul_precision": "default", "optimizer": {"name": "adam", "learning_rate": 0.01}}
    assert config_lib.changed_recipe_keys(run, experiment) == ["matmul_precision", "optimizer"]
    # A resumed run may read its data from elsewhere, dispatch other step counts and be labelled
    # shortened otherwise, nothing else.
    assert config_lib.changed_keys(run, experiment) == ["epochs", "matmul_precision", "optimizer", "seed"]
    # config.json before matmul_precision existed: those runs computed at "highest".
    del experiment["matmul_precision"]
    assert config_lib.changed_keys({**experiment, "matmul_precision": "highest"}, experiment) == []
