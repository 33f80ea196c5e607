"""Groups of runs (`jaxmnist train --seeds/--sweep`): one program for several seeds and optimizer
settings, each run its own workdir.

Every run is `jaxmnist train` of tests/configs/tiny_lenet_bn.py (LeNetBN, augmented, shuffled,
2 epochs of 9 steps, checkpoints every 3 steps) in its own process, as users start them.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxmnist import checkpoint, cli, models
from jaxmnist import config as config_lib
from jaxmnist.errors import UserError
from jaxmnist.inference.load import load_trained
from jaxmnist.train import train_group
from jaxmnist.train.dry_run import estimate
from jaxmnist.train import loop, programs, run_config
from jaxmnist.train.programs import Programs

CONFIG = Path(__file__).resolve().parent / "configs" / "tiny_lenet_bn.py"
REPO = Path(__file__).resolve().parent.parent
DROPOUT = ("--set", "model=lenet_drop_bn")  # BatchNorm, dropout and augmentation together

# XLA:CPU splits a convolution's work by the threads it has, and its sums round accordingly:
# a one-device process on one core and on two cores differ in the last bits. Runs compared bit
# for bit here therefore run in processes that see the same cores.
needs_two_cores = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two usable cores")


def _train(workdir, data_dir, *extra, cpu_devices=1):
    command = [sys.executable, "-m", "jaxmnist.cli", "train", str(CONFIG), "--workdir", str(workdir),
               "--data-dir", str(data_dir), "--cpu-devices", str(cpu_devices), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)


def _finish(process) -> str:
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    return out


def _variables(workdir):
    return jax.tree.map(np.asarray, load_trained(str(workdir))[2])


def _assert_same_run(workdir_a, workdir_b, bits=True):
    """The same training metrics to the bit (with `bits`, else to float32 rounding: losses to 1e-6, an
    image's difference in the counts); the evaluations' loss sums and the parameters to float32
    rounding: a group's programs sum some values in another order than a run alone's."""
    rows_a, rows_b = ([json.loads(line) for line in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]
                      for workdir in (workdir_a, workdir_b))
    assert len(rows_a) == len(rows_b)
    keys = ("kind", "step", "epoch", "train", "learning_rate") if bits else ("kind", "step", "epoch", "learning_rate")
    for row_a, row_b in zip(rows_a, rows_b):
        assert {key: row_a[key] for key in keys} == {key: row_b[key] for key in keys}
        if not bits and "train" in row_a:
            assert row_a["train"]["loss"] == pytest.approx(row_b["train"]["loss"], rel=1e-6)
            assert abs(row_a["train"]["correct"] - row_b["train"]["correct"]) <= 1
        if "test" in row_a:
            assert abs(row_a["test"]["correct"] - row_b["test"]["correct"]) <= (0 if bits else 1)
            assert row_a["test"]["total"] == row_b["test"]["total"]
            assert row_a["test"]["loss"] == pytest.approx(row_b["test"]["loss"], rel=1e-6)
    for leaf_a, leaf_b in zip(jax.tree.leaves(_variables(workdir_a)), jax.tree.leaves(_variables(workdir_b)),
                              strict=True):
        # Measured: train metrics equal to the bit, parameters within 2e-8 (BatchNorm's running
        # statistics are averaged in another order in the group's program); a sweep's run within 1.3e-7.
        np.testing.assert_allclose(leaf_a, leaf_b, rtol=1e-6, atol=1e-7 if bits else 1e-6)


@pytest.fixture(scope="module", params=[(), DROPOUT], ids=["lenet_bn", "lenet_drop_bn"])
def alone(request, fixture_data_dir, tmp_path_factory):
    """Seeds 3 and 4, each trained alone on one CPU device: {seed: workdir}."""
    directory = tmp_path_factory.mktemp("alone")
    processes = {seed: _train(directory / f"seed{seed}", fixture_data_dir, "--seed", str(seed), *request.param)
                 for seed in (3, 4)}
    for process in processes.values():
        _finish(process)
    return request.param, {seed: directory / f"seed{seed}" for seed in processes}


@pytest.fixture(scope="module")
def group(alone, fixture_data_dir, tmp_path_factory):
    """Seeds 3 and 4 as one group on two CPU devices, one run on each: (extra arguments, workdir of seed 3)."""
    extra, _ = alone
    workdir = tmp_path_factory.mktemp("group") / "run"
    process = _train(workdir, fixture_data_dir, "--seeds", "3-4", *extra, cpu_devices=2)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert f"({workdir}-seed4, seed 4): after 2 epochs" in out
    assert "epoch 1/2 done; the 2 runs need about" in err
    # The group ends with its compare table: one row, the two seeds' mean.
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("experiment "))
    row = lines[lines.index(header) + 2]
    cells = dict(zip([cell.strip() for cell in header.split(" | ")], [cell.strip() for cell in row.split(" | ")]))
    assert (cells["n"], cells["workdir"]) == ("2", f"{workdir.parent}/{{run,run-seed4}}")
    return extra, workdir


@needs_two_cores
def test_one_run_per_device_trains_as_each_run_alone(alone, group):
    _, runs = alone
    _, workdir = group
    _assert_same_run(workdir, runs[3])
    _assert_same_run(f"{workdir}-seed4", runs[4])
    # Each workdir is an ordinary run: its config records its own seed.
    assert json.loads((Path(f"{workdir}-seed4") / "config.json").read_text())["seed"] == 4
    assert (Path(f"{workdir}-seed4") / "curves.png").is_file()


def test_vmapped_runs_of_a_sweep_equal_each_run_alone_up_to_rounding(alone, fixture_data_dir, tmp_path):
    """Two seeds under two schedules, four runs on one device, vmapped: 18 steps in, the runs under
    the config's cosine within float rounding of each seed alone, the others at a constant rate."""
    extra, runs = alone
    _finish(_train(tmp_path / "run", fixture_data_dir, "--seeds", "3-4", "--runs-per-device", "4", *extra,
                   "--sweep", "schedule={'name': 'constant'},{'name': 'cosine', 't_max': 5}"))
    constant = tmp_path / "run-schedule=name_constant-seed4"
    rates = [row["learning_rate"] for row in map(json.loads, (constant / "metrics.jsonl").read_text().splitlines())
             if "learning_rate" in row]
    assert len(rates) == 11 and all(rate == pytest.approx(0.01) for rate in rates)
    for seed, workdir in ((3, tmp_path / "run-schedule=name_cosine_t_max_5"),
                          (4, tmp_path / "run-schedule=name_cosine_t_max_5-seed4")):
        _assert_close_to_alone(workdir, runs[seed])


def _assert_close_to_alone(workdir, alone_workdir):
    """A vmapped run's metrics and parameters against the run alone's, to a vmapped step's rounding."""
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    alone_rows = [json.loads(line) for line in (alone_workdir / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [row["step"] for row in alone_rows]
    for row, alone_row in zip(rows, alone_rows):
        for split in ("train", "test"):
            if split in row:
                assert abs(row[split]["correct"] - alone_row[split]["correct"]) <= 3
                assert row[split]["loss"] == pytest.approx(alone_row[split]["loss"], rel=1e-4)
    for leaf, alone_leaf in zip(jax.tree.leaves(_variables(workdir)), jax.tree.leaves(_variables(alone_workdir)),
                                strict=True):
        # A vmapped convolution is a grouped one and rounds otherwise, and BatchNorm amplifies that
        # over the steps (measured after 18: within 1.2e-7 for lenet_bn, 4.2e-7 with dropout).
        # Another run's key or batch would move them by far more.
        np.testing.assert_allclose(leaf, alone_leaf, rtol=0, atol=1e-5)


@needs_two_cores
@pytest.mark.parametrize("alone", [()], indirect=True, ids=["lenet_bn"])
def test_one_run_per_device_of_a_sweep_trains_as_the_run_alone(alone, fixture_data_dir, tmp_path):
    """Rates 0.05 and 0.01 on two devices: the run at 0.01, the second of the optimizers chosen
    inside the program, is seed 3 trained alone, to float32 rounding: XLA compiles the update that
    lax.switch chooses otherwise than the run alone's (measured: losses within 7e-8 of each other)."""
    extra, runs = alone
    _finish(_train(tmp_path / "run", fixture_data_dir, "--sweep", "optimizer.learning_rate=0.05,0.01", *extra,
                   cpu_devices=2))
    _assert_same_run(tmp_path / "run-optimizer.learning_rate=0.01", runs[3], bits=False)
    assert json.loads((tmp_path / "run-optimizer.learning_rate=0.05" / "config.json").read_text())["optimizer"] == \
        {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9}


@pytest.mark.parametrize("alone", [DROPOUT], indirect=True, ids=["lenet_drop_bn"])
def test_vmapped_runs_of_a_dropout_sweep_equal_the_run_alone(alone, fixture_data_dir, tmp_path):
    """Dropout rates 0.25 and 0.4 (LeNetDropBN's own), two runs vmapped on one device, one forward
    pass taking each run's rate as a number: the run at 0.4 is seed 3 alone, to a vmapped step's
    rounding (measured: losses within 3.5e-7, parameters within 4.2e-7)."""
    extra, runs = alone
    _finish(_train(tmp_path / "run", fixture_data_dir, "--sweep", "model_overrides.dropout_rate=0.25,0.4",
                   "--runs-per-device", "2", *extra))
    swept = tmp_path / "run-model_overrides.dropout_rate=0.4"
    _assert_close_to_alone(swept, runs[3])
    other = json.loads((tmp_path / "run-model_overrides.dropout_rate=0.25" / "metrics.jsonl").read_text()
                       .splitlines()[-1])
    assert other["train"]["loss"] != pytest.approx(json.loads((swept / "metrics.jsonl").read_text()
                                                              .splitlines()[-1])["train"]["loss"], rel=1e-4)


@needs_two_cores
@pytest.mark.parametrize("alone", [DROPOUT], indirect=True, ids=["lenet_drop_bn"])
def test_experiments_of_other_dropout_rates_train_as_one_group(alone, fixture_data_dir, tmp_path):
    """Two experiment files, LeNetDropBN at its own rates and at dropout 0.25, one run per device:
    each in DIR/<experiment>; the first, its model chosen inside the program, is seed 3 trained
    alone to float32 rounding (measured: losses within 7.9e-8, parameters within 5.4e-7)."""
    extra, runs = alone
    lower_rate = tmp_path / "tiny_lenet_drop_25.py"
    lower_rate.write_text(f"import runpy\n\n\ndef get_config():\n    config = runpy.run_path({str(CONFIG)!r})"
                          "['get_config']()\n    config.model_overrides = {'dropout_rate': 0.25}\n    return config\n")
    command = [sys.executable, "-m", "jaxmnist.cli", "train", str(CONFIG), str(lower_rate), "--dir",
               str(tmp_path / "runs"), "--data-dir", str(fixture_data_dir), "--cpu-devices", "2", *extra]
    _finish(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO))
    _assert_same_run(tmp_path / "runs" / CONFIG.stem, runs[3], bits=False)
    recorded = json.loads((tmp_path / "runs" / lower_rate.stem / "config.json").read_text())
    assert (recorded["experiment"], recorded["model_overrides"]) == (str(lower_rate), {"dropout_rate": 0.25})


def test_a_group_runs_each_distinct_forward_pass_once():
    """Each run initialises its own model. One run per device, def_net and tmp_xavier (Xavier init)
    compute the same and share one branch of the program, dro_net_25 (dropout after fc1) has its own;
    likewise best_net_bn, bn_kaiming and bn_xavier (other initialisations) against best_net (with
    dropout). Vmapped, each run's dropout rate is a number of its state: one pass serves them all."""
    def configs(*names):
        return [config_lib.load_experiment(f"activations/{name}") for name in names]

    first = configs("def_net", "tmp_xavier", "dro_net_25")
    forwards, choices, rates = programs.forward_choices(programs.model_choices(first)[0])
    assert (len(forwards), choices, rates) == (2, [0, 0, 1], [{}, {}, {}])
    forwards, choices, _ = programs.forward_choices(programs.model_choices(
        configs("best_net", "best_net_bn", "bn_kaiming", "bn_xavier"))[0])
    assert (len(forwards), choices) == (2, [0, 1, 1, 1])

    vmapped = Programs(first[0], runs=3, run_configs=first)  # one device: the three runs vmapped
    assert (len(vmapped.forwards), vmapped.forward_choices) == (1, [0, 0, 0])
    states = vmapped.unstack(vmapped.stack_states([vmapped.init_state(0, run) for run in range(3)]))
    assert [(int(state.model_choice["member"]), float(state.model_choice["rates"]["dropout_rate"]))
            for state in states] == [(0, 0.0), (0, 0.0), (0, 0.25)]
    assert all(state.model_choice is None for state in vmapped.unstack_states(vmapped.stack_states(
        [vmapped.init_state(0, run) for run in range(3)])))
    seeds = configs("dro_net_25", "dro_net_25")  # one rate for all: a constant, no choice
    assert not Programs(seeds[0], runs=2, run_configs=seeds).chosen_inside


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@needs_two_cores
@pytest.mark.parametrize("alone", [()], indirect=True, ids=["lenet_bn"])
def test_a_group_spread_over_two_processes_trains_as_each_run_alone(alone, fixture_data_dir, tmp_path):
    """Seeds 3 and 4 under `--distributed`, two processes of one device each (as two hosts): each
    run on the other's host's device too is its run alone, as in one process."""
    _, runs = alone
    port = _free_port()
    processes = [_train(tmp_path / "run", fixture_data_dir, "--seeds", "3-4", "--distributed", "--coordinator",
                        f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(index)) for index in range(2)]
    for process in processes:
        _finish(process)
    _assert_same_run(tmp_path / "run", runs[3])
    _assert_same_run(tmp_path / "run-seed4", runs[4])


def _checkpointed(workdir: Path) -> list[int]:
    directory = workdir / "checkpoints"
    return sorted(int(path.name) for path in directory.iterdir() if path.name.isdigit()) \
        if directory.is_dir() else []


@needs_two_cores
@pytest.mark.parametrize("alone", [()], indirect=True, ids=["lenet_bn"])
def test_a_group_killed_at_any_moment_resumes_bit_for_bit(group, fixture_data_dir, tmp_path):
    """SIGKILL mid-run, then one run's newest checkpoint removed, as when the group dies between
    its runs' saves: the same command resumes from the step both runs have."""
    extra, uninterrupted = group
    workdir = tmp_path / "run"
    command = ("--seeds", "3-4", *extra)
    process = _train(workdir, fixture_data_dir, *command, cpu_devices=2)
    while process.poll() is None and not any(step >= 9 for step in _checkpointed(Path(f"{workdir}-seed4"))):
        time.sleep(0.01)
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    newest = max(_checkpointed(workdir))
    os.rename(workdir / "checkpoints" / str(newest), tmp_path / "set_aside")
    assert max(_checkpointed(Path(f"{workdir}-seed4"))) >= newest
    _finish(_train(workdir, fixture_data_dir, *command, cpu_devices=2))
    _assert_same_run(workdir, uninterrupted)
    _assert_same_run(f"{workdir}-seed4", f"{uninterrupted}-seed4")


@needs_two_cores
@pytest.mark.parametrize("alone", [()], indirect=True, ids=["lenet_bn"])
def test_runs_stopped_alone_continue_as_a_group_and_back(alone, fixture_data_dir, tmp_path):
    """Two runs stopped alone at the same step finish as a group; a group's run finishes alone."""
    extra, runs = alone
    for seed in (3, 4):
        process = _train(tmp_path / f"seed{seed}", fixture_data_dir, "--seed", str(seed), *extra)
        metrics = tmp_path / f"seed{seed}" / "metrics.jsonl"
        while process.poll() is None and not (metrics.exists() and '"step": 6' in metrics.read_text()):
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=120)
        assert process.returncode == 128 + signal.SIGTERM
    # seed3 holds seed 3 and seed3-seed4 is where --seeds puts seed 4.
    os.rename(tmp_path / "seed4", tmp_path / "seed3-seed4")
    _finish(_train(tmp_path / "seed3", fixture_data_dir, "--seeds", "3-4", *extra, cpu_devices=2))
    _assert_same_run(tmp_path / "seed3", runs[3])
    _assert_same_run(tmp_path / "seed3-seed4", runs[4])


@pytest.mark.parametrize("alone", [()], indirect=True, ids=["lenet_bn"])
def test_a_group_leaves_its_complete_runs_as_they_are(alone, fixture_data_dir, tmp_path):
    """Seed 3 complete, seed 4 not started: `--seeds 3-4` reports seed 3 and trains seed 4, as seed 4 alone."""
    _, runs = alone
    shutil.copytree(runs[3], tmp_path / "run")
    before = {path: path.read_bytes() for path in (tmp_path / "run").rglob("*") if path.is_file()}
    out = _finish(_train(tmp_path / "run", fixture_data_dir, "--seeds", "3-4"))
    assert f"{tmp_path / 'run'} holds a complete run (2 of 2 epochs): nothing to train" in out
    assert {path: path.read_bytes() for path in (tmp_path / "run").rglob("*") if path.is_file()} == before
    _assert_same_run(tmp_path / "run-seed4", runs[4])


@pytest.mark.parametrize("alone", [()], indirect=True, ids=["lenet_bn"])
def test_runs_saved_at_no_common_step_are_refused_and_kept(alone, fixture_data_dir, tmp_path):
    """Seed 3 saved last at step 15, seed 4 at 18 (of 3 epochs now: neither complete)."""
    extra, runs = alone
    workdir = tmp_path / "run"
    shutil.copytree(runs[3], workdir)
    shutil.rmtree(workdir / "checkpoints" / "18")
    shutil.copytree(runs[4], f"{workdir}-seed4")
    shutil.rmtree(Path(f"{workdir}-seed4") / "checkpoints" / "15")
    before = {path: path.read_bytes() for path in tmp_path.rglob("*.jsonl")}
    process = _train(workdir, fixture_data_dir, "--seeds", "3-4", "--epochs", "3", "--force", *extra, cpu_devices=2)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 2
    assert err.strip().splitlines()[-1].startswith("error: the runs of this group have no checkpointed step")
    assert {path: path.read_bytes() for path in tmp_path.rglob("*.jsonl")} == before


@pytest.mark.parametrize("alone", [()], indirect=True, ids=["lenet_bn"])
def test_a_group_of_saved_and_unstarted_runs_resumes_the_first_then_starts_the_others(alone, fixture_data_dir,
                                                                                     tmp_path):
    """Seed 3 stopped at step 15, seed 4 not started (a group stopped between its waves): each
    continues as the run alone, bit for bit."""
    extra, runs = alone
    workdir = tmp_path / "run"
    shutil.copytree(runs[3], workdir)
    shutil.rmtree(workdir / "checkpoints" / "18")
    out = _finish(_train(workdir, fixture_data_dir, "--seeds", "3-4", *extra))
    assert "resuming from step 15 (epoch 2, batch 6)" in out
    assert any(line.endswith(f"{workdir}-seed4") for line in out.splitlines())  # a wave of one names its run
    for ours, alone_run in ((workdir, runs[3]), (Path(f"{workdir}-seed4"), runs[4])):
        assert (ours / "metrics.jsonl").read_text() == (alone_run / "metrics.jsonl").read_text()


def test_runs_spread_over_as_many_devices_as_divide_them_and_at_most_runs_per_device(monkeypatch):
    monkeypatch.setattr(jax, "device_count", lambda: 4)
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert [programs.runs_spread(runs, 4) for runs in (1, 2, 3, 4, 5, 6, 8)] == [1, 2, 3, 4, 1, 3, 4]
    assert programs.runs_spread(18, 8) == 6
    # (runs, runs per device) -> the next wave: 3 runs on 4 devices, one each; 5 at 2 a device: 4, not 5 on one
    assert [programs.runs_per_wave(runs, limit) for runs, limit in
            ((3, 1), (5, 2), (6, 1), (6, 2), (18, None), (3, None))] == [3, 4, 4, 6, 18, 3]
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    assert [programs.runs_per_wave(runs, None) for runs in (1, 3, 6)] == [1, 3, 4]
    monkeypatch.setattr(jax, "process_count", lambda: 2)  # every process's devices take part
    assert [programs.runs_spread(runs, 4) for runs in (3, 6, 8)] == [1, 2, 4]


def test_a_program_of_three_runs_on_four_devices_holds_one_on_each_of_three():
    code = ("from jaxmnist import config; from jaxmnist.train import programs\n"
            f"run = config.load_experiment({str(CONFIG)!r})\n"
            "for runs in (3, 6):\n"
            "    engine = programs.Programs(run, runs=runs)\n"
            "    print(runs, dict(engine.mesh.shape), engine.local_runs)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300,
                            env={**os.environ, "JAX_PLATFORMS": "cpu",
                                 "XLA_FLAGS": "--xla_force_host_platform_device_count=4"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["3 {'runs': 3, 'batch': 1} 1", "6 {'runs': 3, 'batch': 1} 2"]


@pytest.mark.parametrize("arguments, message", [
    (("--seeds", "5-3"), "'5-3' is an empty range of seeds"),
    (("--seeds", "1,x"), "must be seeds such as 0-7 or 1,4,9"),
    (("--seeds", "1,1"), "names a seed twice"),
    (("--seeds", "1-2", "--seed", "4"), "give the seeds once"),
    (("--runs-per-device", "2",), "--runs-per-device goes with --seeds, --sweep or several experiments"),
    (("--sweep", "optimizer.learning_rate="), "gives optimizer.learning_rate no values"),
    (("--sweep", "optimizer.learning_rate=0.01,-1"), "optimizer.learning_rate must be"),
    (("--sweep", "batch_size=32,64"), "these differ in batch_size"),
    (("--sweep", "optimizer.momentum=0,0.9"), "differently shaped states"),
    (("--sweep", "optimizer.rate=0.1,0.2"), "--sweep optimizer.rate=0.1: the config has no key"),
    (("--sweep", "model_overrides.channels=[6,16],[8,16]"), "differ in the shapes of their variables"),
    (("--sweep", "model_overrides.width=1,2"), "model 'lenet_bn' has no attribute width"),
    (("--seeds", "1-2", "--set", "keep_checkpoints=1"), "a group keeps at least 2 checkpoints a run"),
    (("--seeds", "1-2", "--set", "model=lenet"), None),
])
def test_bad_group_requests_are_one_error_line_and_write_nothing(arguments, message, fixture_data_dir, tmp_path):
    if message is None:  # a group is fine with a model override that applies to every run
        process = _train(tmp_path / "run", fixture_data_dir, *arguments, "--dry-run")
        out = _finish(process)
        assert "(2 runs, 1 at a time)" in out
        return
    process = _train(tmp_path / "run", fixture_data_dir, *arguments)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert err.strip().startswith("error:") or "error:" in err.strip().splitlines()[-1]
    assert message in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("arguments, message", [
    ((str(CONFIG), str(CONFIG), "--workdir", "run"), "several experiments write each to its own workdir: give --dir"),
    ((str(CONFIG), "--workdir", "run", "--dir", "runs"), "give --workdir (one experiment's) or --dir"),
])
def test_where_a_group_of_experiments_writes_is_checked_first(arguments, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", *arguments]) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")
    assert list(tmp_path.iterdir()) == []


def _fixture_configs(seeds, data_dir) -> list:
    """The test config once per seed, reading the fixture's data, as `jaxmnist train` would pass it."""
    configs = []
    for seed in seeds:
        config = config_lib.load_experiment(str(CONFIG))
        with config.unlocked():
            config.seed, config.data_dir, config.data_source, config.shortened = seed, str(data_dir), None, False
        configs.append(config)
    return configs


def test_configs_that_differ_in_more_than_seeds_and_optimizers_are_not_a_group(fixture_data_dir, tmp_path):
    configs = _fixture_configs([3, 3], fixture_data_dir)
    with configs[1].unlocked():
        configs[1].batch_size = 32
    with pytest.raises(UserError, match="optimizer and schedule numbers; these differ in batch_size"):
        train_group(configs, [tmp_path / "a", tmp_path / "b"])
    with pytest.raises(UserError, match="optimizer and schedule numbers; these differ in batch_size"):
        estimate(configs)  # --dry-run estimates only a group that can train
    with pytest.raises(UserError, match="named twice"):
        train_group(configs[:1] * 2, [tmp_path / "a", tmp_path / "a"])
    assert list(tmp_path.iterdir()) == []


def test_a_group_saves_no_run_where_one_run_s_parameters_are_not_finite(fixture_data_dir, tmp_path):
    configs = _fixture_configs([3, 4, 5], fixture_data_dir)
    engine = Programs(configs[0], runs=3, run_configs=configs)
    state = engine.stack_states([engine.init_state(config.seed, run) for run, config in enumerate(configs)])
    assert engine.finite_runs(state.params).tolist() == [True, True, True]
    leaves, tree = jax.tree.flatten(state.params)
    leaves[-1] = leaves[-1].at[1, 0].set(np.inf)  # one number of the second run
    state = state.replace(params=jax.tree.unflatten(tree, leaves))
    assert engine.finite_runs(state.params).tolist() == [True, False, True]
    alone = Programs(configs[0])
    assert alone.finite_runs(alone.init_state(3).params).tolist() == [True]

    runs = [loop.Run(config, tmp_path / str(config.seed), of_group=True) for config in configs]
    for run in runs:
        run.open_manager()
    with pytest.raises(UserError, match=f"parameters are not finite at step 7 in {tmp_path / '4'}: not saving them"):
        loop.save_checkpoints(runs, engine, 7, state, checkpoint.Progress())
    assert [run.manager.all_steps() for run in runs] == [[], [], []]


def test_runs_that_differ_only_in_their_seed_trace_their_model_check_once(fixture_data_dir, monkeypatch):
    checked = []
    monkeypatch.setattr(models, "check_overrides", lambda name, overrides: checked.append(name))
    configs = _fixture_configs([3, 4, 5], fixture_data_dir)
    with configs[2].unlocked():
        configs[2].optimizer.learning_rate = 0.05
    run_config.check_group(configs)
    assert checked == ["lenet_bn", "lenet_bn"]  # seeds 3 and 4 share a check, seed 5's rate has its own
    with configs[1].unlocked():
        configs[1].seed = -1  # every run's own values are still checked
    with pytest.raises(UserError, match="seed"):
        run_config.check_group(configs)


@pytest.mark.parametrize("seeds, runs_per_device, message", [
    (4, 2, "cpu ran out of memory training 2 runs at once on each device (Out of memory while trying to allocate "
           "1.00GiB.): rerun with --runs-per-device 1; what the runs saved is kept and resumes"),
    (1, None, "cpu ran out of memory for one run of lenet_bn at batch size 48 (Out of memory while trying to "
              "allocate 1.00GiB.): it needs a device with more memory, or a smaller batch (--set batch_size=N, "
              "which changes the run's numbers)"),
])
def test_a_device_out_of_memory_is_one_error_line_naming_what_to_rerun_with(seeds, runs_per_device, message,
                                                                             fixture_data_dir, tmp_path, monkeypatch):
    configs = _fixture_configs(range(seeds), fixture_data_dir)
    workdirs = [tmp_path / f"seed{seed}" for seed in range(seeds)]

    def out_of_memory(*_):
        raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.00GiB.\n"
                                         "(the allocator's state)")
    monkeypatch.setattr(programs.RunPrograms, "load", out_of_memory)
    with pytest.raises(UserError) as raised:
        train_group(configs, workdirs, runs_per_device=runs_per_device)
    assert str(raised.value) == message
    assert list(tmp_path.iterdir()) == []

    def other_failure(*_):
        raise jax.errors.JaxRuntimeError("INTERNAL: a compiler bug")
    monkeypatch.setattr(programs.RunPrograms, "load", other_failure)
    with pytest.raises(jax.errors.JaxRuntimeError, match="a compiler bug"):  # not the user's to fix: as it is
        train_group(configs, workdirs, runs_per_device=runs_per_device)


def test_a_group_that_runs_out_of_memory_by_default_continues_with_half_the_runs_per_device(
        fixture_data_dir, tmp_path, monkeypatch, capsys):
    """On a GPU a group's runs share each device by default; where that exhausts the memory, the group
    trains half as many at a time, exactly as if asked for that many, and --dry-run estimates that."""
    configs = _fixture_configs([3, 4, 5, 6], fixture_data_dir)
    for config in configs:
        with config.unlocked():
            config.epochs = 1
    explicit = [tmp_path / "explicit" / f"seed{seed}" for seed in (3, 4, 5, 6)]
    train_group(configs, explicit, runs_per_device=2)
    waves = [line for line in capsys.readouterr().out.splitlines() if line.startswith("runs ")]
    assert waves == [f"runs 1-2 of 4, at once: {explicit[0]}, {explicit[1]}",
                     f"runs 3-4 of 4, at once: {explicit[2]}, {explicit[3]}"]

    load = programs.RunPrograms.load

    def out_of_memory_above_two_runs(config, engine):
        if engine.local_runs > 2:
            raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 1.00GiB.")
        return load(config, engine)
    monkeypatch.setattr(programs.RunPrograms, "load", out_of_memory_above_two_runs)
    monkeypatch.setattr(programs, "runs_per_wave", lambda runs, runs_per_device: (runs_per_device or runs)
                        * jax.device_count())  # the GPU's default: every run at once
    default = [tmp_path / "default" / f"seed{seed}" for seed in (3, 4, 5, 6)]
    train_group(configs, default)
    halved = ("cpu ran out of memory training 4 runs at once on each device (Out of memory while trying to allocate "
              "1.00GiB.): training 2 at a time instead (--runs-per-device 2 starts there)")
    assert capsys.readouterr().err.splitlines()[0] == halved
    for ours, theirs in zip(default, explicit):
        assert (ours / "metrics.jsonl").read_text() == (theirs / "metrics.jsonl").read_text()
    # A GPU's allocator counts the process's peak; after a halving it was the failed wave's.
    monkeypatch.setattr(programs, "device_memory",
                        lambda: {"device_peak_bytes": 3 * 2**30, "device_bytes_limit": 80 * 2**30})
    halved_estimate = estimate(configs, steps=2)
    assert halved_estimate["runs_per_wave"] == 2  # --dry-run estimates the size training goes on with
    assert capsys.readouterr().err.splitlines() == [halved]
    assert (halved_estimate["device_peak_bytes"], halved_estimate["device_bytes_limit"]) == (None, 80 * 2**30)
    assert estimate(configs, runs_per_device=2, steps=2)["device_peak_bytes"] == 3 * 2**30

    with pytest.raises(UserError, match="ran out of memory training 4 runs at once on each device"):
        train_group(configs, [tmp_path / f"asked-seed{seed}" for seed in (3, 4, 5, 6)], runs_per_device=4)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["default", "explicit"]  # nothing written


def test_a_group_trains_in_blocks_of_steps_as_in_single_steps(fixture_data_dir, tmp_path):
    """Blocks of 4 steps in one program (the GPU default is an epoch), with a constant rate, which
    varies over no run, in a carry that does."""
    constant = ("--set", 'schedule={"name": "constant"}', "--seeds", "3-4", "--runs-per-device", "2")
    _finish(_train(tmp_path / "single", fixture_data_dir, *constant))
    _finish(_train(tmp_path / "blocks", fixture_data_dir, *constant, "--steps-per-dispatch", "4"))
    for suffix in ("", "-seed4"):
        single, blocks = ([json.loads(line) for line in (tmp_path / f"{name}{suffix}" / "metrics.jsonl").read_text()
                           .splitlines() if json.loads(line)["kind"] == "epoch"] for name in ("single", "blocks"))
        assert [row["step"] for row in single] == [row["step"] for row in blocks] == [9, 18]
        for row_single, row_blocks in zip(single, blocks):
            assert row_blocks["learning_rate"] == row_single["learning_rate"] == pytest.approx(0.01)
            for split in ("train", "test"):
                assert abs(row_blocks[split]["correct"] - row_single[split]["correct"]) <= 3
                assert row_blocks[split]["loss"] == pytest.approx(row_single[split]["loss"], rel=1e-4)
