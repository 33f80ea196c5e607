"""How long a run takes: the whole run's remaining time while it trains, and `train --dry-run`'s estimate."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxmnist import config as config_lib
from jaxmnist import train
from jaxmnist.train import loop
from jaxmnist.train.command import _print_estimate
from jaxmnist.train.progress import EpochBar, epoch_done_line, format_duration, seconds_left, typical_epoch_seconds

CONFIG = Path(__file__).resolve().parent / "configs" / "tiny_lenet_bn.py"
REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("epoch_seconds", "epochs_after", "fraction", "elapsed", "expected"), [
    (None, 3, 0.25, 10.0, 150.0),  # no epoch timed yet: 40 s an epoch at this epoch's pace, 3.75 epochs left
    (20.0, 2, 0.5, 999.0, 50.0),  # the last epoch's 20 s, 2.5 epochs left
    (20.0, 0, 1.0, 999.0, 0.0),
    (None, 5, 0.0, 0.0, None),  # nothing done yet: no estimate
])
def test_seconds_left(epoch_seconds, epochs_after, fraction, elapsed, expected):
    assert seconds_left(epoch_seconds, epochs_after, fraction, elapsed) == expected


@pytest.mark.parametrize(("epochs_seconds", "expected"), [
    ([], None),
    ([95.0], 95.0),                            # the first epoch, compiles included, until another is timed
    ([95.0, 40.0], 67.5),
    ([95.0, 40.0, 38.0, 41.0], 40.5),          # the compiles no longer count
    ([40.0, 38.0, 92.0, 41.0, 39.0], 40.0),    # nor a burst of another process
    ([95.0, 40.0, 38.0, 41.0, 39.0, 37.0], 39.0),  # the last five
])
def test_an_epoch_takes_the_median_of_the_last_five(epochs_seconds, expected):
    assert typical_epoch_seconds(epochs_seconds) == expected


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0s"), (45, "45s"), (192.4, "3m12s"), (7500, "2h05m")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("runs", "later_runs", "line", "bar_left"), [
    (1, 0, "epoch 3/10 done; the run needs about 7m00s more", "run_left=6m30s"),  # 7 epochs of 60 s; 6.5 midway
    (2, 0, "epoch 3/10 done; the 2 runs need about 7m00s more", "run_left=6m30s"),
    # Waves of 2 on a CPU's two devices: 3 more waves of 10 epochs after this one's 7.
    (2, 6, "epoch 3/10 done; the 2 runs and the 6 after them need about 37m00s more", "group_left=36m30s"),
    (2, 1, "epoch 3/10 done; the 2 runs and the 1 after them need about 17m00s more", "group_left=16m30s"),
])
def test_a_group_trained_in_waves_counts_the_later_waves_in_the_time_it_needs(runs, later_runs, line, bar_left):
    assert epoch_done_line(3, 10, runs, later_runs, 60.0) == line
    # Epoch 4 half done, an epoch timed at 60 s.
    bar = EpochBar(4, 10, batches=100, first_batch=50, started=0.0, epoch_seconds=60.0, enabled=True, runs=runs,
                   later_runs=later_runs)
    assert bar.postfix == bar_left
    bar.close()


@pytest.mark.parametrize(("live", "shown"), [
    ([{"loss": 0.41234, "accuracy": 98.126}], "loss=0.4123, acc=98.13%"),  # a run alone: its own
    ([{"loss": 0.5, "accuracy": 97.0}, {"loss": 0.38, "accuracy": 98.5}, {"loss": 0.45, "accuracy": 98.0}],
     "loss=0.3800-0.5000, acc=97.00-98.50%"),  # a group: the range over its runs
])
def test_the_bar_shows_a_run_or_the_range_over_a_group(live, shown):
    bar = EpochBar(1, 10, batches=100, first_batch=0, started=0.0, epoch_seconds=None, enabled=True, runs=len(live))
    bar.show_runs(live)
    assert bar.postfix == shown
    bar.close()


def test_without_a_terminal_each_epoch_but_the_last_ends_with_the_time_the_run_needs(fixture_data_dir, tmp_path,
                                                                                   capsys, monkeypatch):
    """That time counts each epoch's save at its end, which timing.jsonl's epoch leaves out (a group
    stops for every run's)."""
    saving, counted = 2.0, []
    save = loop.save_checkpoints

    def slow_save(runs, engine, step, state, progress, *rest):
        if progress.batch == 0:  # at an epoch's end
            time.sleep(saving)
        save(runs, engine, step, state, progress, *rest)

    monkeypatch.setattr(loop, "save_checkpoints", slow_save)
    monkeypatch.setattr(loop, "typical_epoch_seconds", lambda seconds: counted.append(list(seconds))
                        or typical_epoch_seconds(seconds))
    config = config_lib.load_experiment(str(CONFIG))
    with config.unlocked():
        config.update(data_dir=str(fixture_data_dir), data_source=None, shortened=False, epochs=3)
    train.train_and_evaluate(config, str(tmp_path))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "the run needs about" in line]
    assert [line.split(" done;")[0] for line in lines] == ["epoch 1/3", "epoch 2/3"]
    assert "\r" not in err  # no progress bar redrawn into a log
    timing = [row["seconds"] for row in map(json.loads, (tmp_path / "timing.jsonl").read_text().splitlines())
              if "seconds" in row]
    assert len(timing) == 3 and len(counted[-1]) == 2  # the last estimate, after epoch 2
    assert all(with_save - epoch >= saving for with_save, epoch in zip(counted[-1], timing))


def _dry_run(workdir: Path, data_dir, *extra) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "jaxmnist.cli", "train", str(CONFIG), "--dry-run", "--json", "--epochs", "3",
         "--workdir", str(workdir), "--data-dir", str(data_dir), "--cpu-devices", "1", *extra],
        capture_output=True, text=True, cwd=REPO, env=os.environ, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dry_run_estimates_the_configured_epochs_and_writes_no_workdir(fixture_data_dir, tmp_path):
    workdir = tmp_path / "not_created"
    estimate = _dry_run(workdir, fixture_data_dir)
    assert estimate["epochs"] == 3
    assert estimate["steps_per_epoch"] == 9  # 400 examples in batches of 48
    assert estimate["steps_timed"] == 40
    assert estimate["step_seconds"] > 0 and estimate["evaluation_seconds"] > 0 and estimate["startup_seconds"] >= 0
    # A save at the epoch's end and after steps 3 and 6 of its 9 (checkpoint_every_steps 3).
    assert estimate["saves_per_epoch"] == 3 and estimate["save_seconds"] > 0
    assert estimate["epoch_save_seconds"] == pytest.approx(3 * estimate["save_seconds"])
    assert estimate["save_written_seconds"] >= estimate["save_seconds"]
    assert estimate["epoch_seconds"] == pytest.approx(9 * estimate["step_seconds"] + estimate["evaluation_seconds"]
                                                      + estimate["epoch_save_seconds"])
    assert estimate["total_seconds"] == pytest.approx(estimate["startup_seconds"] + 3 * estimate["epoch_seconds"])
    assert (estimate["device_peak_bytes"], estimate["device_bytes_limit"]) == (None, None)  # XLA:CPU counts none
    assert not workdir.exists()
    # Epochs of seconds, saved at their end at most once a day: the epoch's end adds next to nothing.
    once_a_day = _dry_run(workdir, fixture_data_dir, "--set", "checkpoint_every_seconds=86400")
    assert 2 < once_a_day["saves_per_epoch"] < 2.001
    assert not workdir.exists()


@pytest.mark.parametrize(("peak", "limit", "text"), [
    (310 * 2**20, int(139.8 * 2**30), ", peak device memory 310 MiB of 139.8 GiB"),
    (int(2.14 * 2**30), 80 * 2**30, ", peak device memory 2.1 GiB of 80.0 GiB"),
    (None, None, ""),  # CPU
])
def test_dry_run_prints_the_device_memory_where_the_backend_counts_it(peak, limit, text, capsys):
    result = {"experiment": "net8k/net_bn", "runs": 16, "runs_per_wave": 16, "total_seconds": 70.0, "epochs": 1,
              "epoch_seconds": 60.0, "steps_per_epoch": 469, "step_seconds": 0.1, "evaluation_seconds": 13.1,
              "save_seconds": 0.2, "saves_per_epoch": 2, "epoch_save_seconds": 0.4, "startup_seconds": 10.0,
              "device_peak_bytes": peak, "device_bytes_limit": limit}
    assert _print_estimate(result, as_json=False) == 0
    assert capsys.readouterr().out == ("net8k/net_bn (16 runs, 16 at a time): about 1m10s for 1 epochs: 60.0 s per "
                                       "epoch (469 steps at 100.0 ms, evaluation 13.1 s, checkpoints 0.4 s), "
                                       "startup 10.0 s" + text + "\n")


@pytest.mark.parametrize(("extra", "message"), [
    ([], "error: --workdir is required (or --dir, or --dry-run to estimate how long the run takes)"),
    (["--workdir", "unused", "--json"], "error: --json goes with --dry-run"),
])
def test_train_without_workdir_or_with_json_alone_is_one_error_line(extra, message, capsys):
    from jaxmnist import cli

    assert cli.main(["train", str(CONFIG), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.splitlines()) == 1
