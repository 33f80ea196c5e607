"""The configuration GPUs and TPUs run, exercised on CPU: XLA's own layer kernels, many steps per program.

Each layer path is compared with torch model by model (tests/test_torch_port.py); here the whole loop
runs on XLA's kernels in blocks of steps, as on an accelerator.
"""

import functools
import json

import jax
import numpy as np
import pytest

from jaxmnist import train
from jaxmnist.models import cpu_kernels
from jaxmnist.train import programs

from test_train import _config, _final_variables


def test_xla_kernels_in_blocks_of_steps_train_as_single_steps(fixture_data_dir, tmp_path, monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("a CPU-only kernel ran in the accelerator configuration")

    for name in ("conv2d", "batch_norm_training", "fusion_barrier"):
        monkeypatch.setattr(cpu_kernels, name, refused)
    monkeypatch.setattr(programs, "Programs", functools.partial(programs.Programs, kernels="xla"))
    runs = {steps: train.train_and_evaluate(_config(fixture_data_dir, steps_per_dispatch=steps),
                                            str(tmp_path / str(steps)))
            for steps in (1, 4, "epoch")}
    variables = {steps: jax.tree.leaves(_final_variables(tmp_path / str(steps))) for steps in runs}

    # An epoch of 9 steps in blocks of 4 ends with 3 masked steps, which must change nothing: the same
    # program body without them (an epoch per program) gives the same bits.
    assert json.dumps(runs[4]) == json.dumps(runs["epoch"])
    for block_leaf, epoch_leaf in zip(variables[4], variables["epoch"], strict=True):
        np.testing.assert_array_equal(block_leaf, epoch_leaf)

    # Against one step per program, XLA compiles the scan's body with other rounding, which BatchNorm
    # amplifies over the 18 steps (measured: train loss 3e-7 apart after epoch 1, 1.4e-4 after epoch 2;
    # parameters up to 6.7e-3 of a leaf's largest value; a resume that skipped a batch ended 7.7e-2 away).
    for single, block in zip(runs[1], runs["epoch"], strict=True):
        for split in ("train", "test"):
            for count in ("correct", "total"):
                assert single[split][count] == block[split][count]
            assert block[split]["loss"] == pytest.approx(single[split]["loss"], rel=1e-3)
    assert runs["epoch"][0]["train"]["loss"] == pytest.approx(runs[1][0]["train"]["loss"], rel=1e-5)
    for single_leaf, block_leaf in zip(variables[1], variables["epoch"], strict=True):
        np.testing.assert_allclose(block_leaf, single_leaf, rtol=0, atol=2e-2 * np.abs(single_leaf).max())
