"""Epoch time of N runs trained as one group against the same N runs one after another.

Usage:
    python scripts/benchmark_runs.py [--recipes net8k/net_bn_dropout_aug lenet/lenet_deep_aug]
        [--runs 1 2 4] [--steps 40] [--repeats 2] [--runs-per-device N] [--cpu-devices N] [--kernels xla patches]
        [--json]
    python scripts/benchmark_runs.py --json > docs/benchmark_runs.json                    # this CPU: N = 1, 2, 4
    python scripts/benchmark_runs.py --runs 1 4 16 64 --json > docs/h200/benchmark_runs.json   # a GPU

Both sides are `jaxmnist train --dry-run`'s measurement (`jaxmnist.train.dry_run.estimate`)
with the defaults `jaxmnist train` uses: a run alone is spread over every device; a group of N
(`--seeds`) is spread over the devices and vmapped on each (on CPU one run per device, in
waves). Each side compiles and trains one warm-up block, then `--steps` timed steps, then
evaluates and saves every run's checkpoint: an epoch is the epoch's steps at the timed pace plus
its evaluation and saves. The N runs one
after another take N epochs of the run alone; the group takes its waves' epochs.
`throughput_ratio` is the first over the second (above 1: the group does more per second).
`--kernels` measures the groups with each of the layers' kernels named (jaxmnist.models.kernels;
'patches' is the candidate for vmapped runs), against the run alone with the default ones.
Each repeat measures every recipe alone, then each N (in the order given) for every recipe and
kernels; each figure is the median of its repeats; `--json-out FILE` rewrites FILE after every
measurement. On a GPU or TPU, `group_device_peak_bytes` is the most the process had held on a
device by the end of the group's first measurement: its own peak where that was the largest so
far (the largest N of a recipe, N given rising), else an upper bound on it.
"""

import argparse
import copy
import json
import platform
import statistics
import sys
from pathlib import Path

from jaxmnist import runtime
from jaxmnist.models import kernels

RECIPES = ("net8k/net_bn_dropout_aug", "lenet/lenet_deep_aug")


def _configs(experiment: str, runs: int, args):
    from jaxmnist import config as config_lib

    config = config_lib.load_experiment(experiment)
    with config.unlocked():
        config.data_dir, config.data_source, config.shortened = args.data_dir, args.data_source, False
    configs = []
    for seed in range(config.seed, config.seed + runs):
        run = copy.deepcopy(config)
        with run.unlocked():
            run.seed = seed
        configs.append(run)
    return configs


def _row(experiment: str, runs: int, alone: list[dict], group: list[dict]) -> dict:
    """One recipe, N and kernels: the medians of the estimates so far, and the throughput ratio."""
    alone_epoch = statistics.median(result["epoch_seconds"] for result in alone)
    wave_epoch = statistics.median(result["epoch_seconds"] for result in group)
    waves = -(-runs // group[0]["runs_per_wave"])
    return {"experiment": experiment, "runs": runs, "runs_per_wave": group[0]["runs_per_wave"],
            "kernels": group[0]["kernels"], "alone_kernels": alone[0]["kernels"],
            "alone_epoch_seconds": alone_epoch, "one_after_another_epoch_seconds": runs * alone_epoch,
            "group_epoch_seconds": waves * wave_epoch, "throughput_ratio": runs * alone_epoch / (waves * wave_epoch),
            "alone_step_seconds": statistics.median(result["step_seconds"] for result in alone),
            "group_step_seconds": statistics.median(result["step_seconds"] for result in group),
            # Training stops this long at each save of every run's checkpoint (a wave's, for the group).
            "alone_save_seconds": statistics.median(result["save_seconds"] for result in alone),
            "group_save_seconds": statistics.median(result["save_seconds"] for result in group),
            # ... and the host writes a wave's checkpoints this long, while training goes on.
            "group_save_written_seconds": statistics.median(result["save_written_seconds"] for result in group),
            # The process's peak so far, read after the group's first measurement (see the docstring).
            "group_device_peak_bytes": group[0]["device_peak_bytes"],
            "device_bytes_limit": group[0]["device_bytes_limit"],
            "measurements": len(group)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument("--runs", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=40, help="timed train steps per measurement")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--runs-per-device", type=int, help="as `jaxmnist train --runs-per-device`")
    parser.add_argument("--cpu-devices", type=runtime.device_count_argument)
    parser.add_argument("--kernels", nargs="+", choices=kernels.NAMES,
                        help="the layers' kernels of the groups, each measured (default: the backend's)")
    parser.add_argument("--data-dir")
    parser.add_argument("--data-source")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--json-out", metavar="FILE", help="also write the JSON to FILE after each row (a run "
                                                          "stopped at its time limit leaves the rows it measured)")
    args = parser.parse_args()
    if any(runs < 1 for runs in args.runs):
        print("error: --runs takes whole numbers of at least 1", file=sys.stderr)
        return 2
    runtime.keep_freed_host_memory()
    runtime.use_cpu_cores_as_devices(args.cpu_devices)
    import jax

    from jaxmnist.train.dry_run import estimate

    environment = {"devices": f"{jax.device_count()} x {jax.devices()[0].device_kind}", "jax": jax.__version__,
                   "python": platform.python_version(), "cpus": runtime.usable_cores()}
    rows = {}  # (recipe, N, kernels) -> its row, as measured so far

    def report() -> dict:
        return {"environment": environment, "steps": args.steps, "repeats": args.repeats,
                "results": list(rows.values())}

    # N by N across the recipes and kernels: a run stopped at its time limit has the first N of every recipe.
    kernel_choices = args.kernels or [None]
    alone = {experiment: [] for experiment in args.recipes}
    groups = {(experiment, runs, choice): [] for runs in args.runs for experiment in args.recipes
              for choice in kernel_choices}
    for _ in range(args.repeats):
        for experiment in args.recipes:
            alone[experiment].append(estimate(_configs(experiment, 1, args), steps=args.steps))
        for runs in args.runs:
            for experiment in args.recipes:
                for choice in kernel_choices:
                    group = groups[experiment, runs, choice]
                    group.append(estimate(_configs(experiment, runs, args), args.runs_per_device, steps=args.steps,
                                          kernels=choice))
                    row = rows[experiment, runs, choice] = _row(experiment, runs, alone[experiment], group)
                    if args.json_out:
                        Path(args.json_out).write_text(json.dumps(report(), indent=2))
                    print(f"{experiment}: {runs} run(s), {row['kernels']} kernels: one after another "
                          f"{row['one_after_another_epoch_seconds']:.1f} s an epoch, as a group "
                          f"{row['group_epoch_seconds']:.1f} s: {row['throughput_ratio']:.2f}x",
                          file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(report(), indent=2))
    else:
        for row in rows.values():
            print(f"{row['experiment']:<28} N={row['runs']:<3} {row['kernels']:<7} "
                  f"alone {row['alone_epoch_seconds']:7.1f} s  "
                  f"N after another {row['one_after_another_epoch_seconds']:8.1f} s  group "
                  f"{row['group_epoch_seconds']:8.1f} s  ratio {row['throughput_ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
