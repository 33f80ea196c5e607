"""Run a list of experiments to completion into one directory, then print the compare table.

Usage:
    python scripts/reproduce.py --dir workdirs/repro net8k/net_bn net8k/net_bn_dropout feature_maps/network_cnn
    python scripts/reproduce.py --dir workdirs/repro net8k/           # every experiment of a group
    python scripts/reproduce.py --dir workdirs/repro --seeds 3 activations/   # 3 seeds each
    python scripts/reproduce.py --dir /tmp/smoke --epochs 1 --limit-train 256 net8k/   # a quick smoke run

With `--seeds N`, each experiment also runs with seeds S+1 .. S+N-1 (S: the
config's seed) in DIR/<experiment>-seed<seed>; `compare` shows their mean and std.

Each experiment trains in DIR/<experiment> in its own process. Rerunning resumes
every unfinished run from its last checkpoint and skips finished ones, so the
script can be stopped (Ctrl-C, preemption) and started again at any time.
"""

import argparse
import subprocess
import sys
from pathlib import Path

from jaxmnist import config as config_lib


def _fail(message: str):
    """Bad input: one `error:` line and exit status 2, as `jaxmnist` itself."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def selected(patterns: list[str]) -> list[str]:
    names = config_lib.experiment_names()
    patterns = [config_lib.current_name(pattern) for pattern in patterns]
    chosen = [name for pattern in patterns for name in names
              if name == pattern or (pattern.endswith("/") and name.startswith(pattern))]
    unknown = [pattern for pattern in patterns if not any(
        name == pattern or (pattern.endswith("/") and name.startswith(pattern)) for name in names)]
    if unknown:
        _fail(f"unknown experiment(s) {', '.join(unknown)} (see `jaxmnist experiments`)")
    return list(dict.fromkeys(chosen))


def seeded_runs(name: str, seeds: int) -> list[tuple[str, str, list[str]]]:
    """(experiment, workdir below DIR, train arguments) of each seed's run: the config's seed first."""
    if seeds == 1:
        return [(name, name, [])]
    seed = config_lib.load_experiment(name).seed
    return [(name, name, [])] + [(name, f"{name}-seed{seed + k}", ["--set", f"seed={seed + k}"])
                                 for k in range(1, seeds)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiments", nargs="+")
    parser.add_argument("--dir", required=True, help="directory holding one workdir per experiment")
    parser.add_argument("--data-dir")
    parser.add_argument("--data-source")
    parser.add_argument("--seeds", type=int, default=1, help="runs per experiment, with consecutive seeds")
    parser.add_argument("--epochs", type=int, help="passed to `jaxmnist train` (marks the runs as shortened)")
    parser.add_argument("--limit-train", type=int,
                        help="passed to `jaxmnist train`: the first N training examples (marks the runs as shortened)")
    parser.add_argument("--cpu-devices", help="passed to `jaxmnist train`")
    args = parser.parse_args()
    for option, value in (("--seeds", args.seeds), ("--epochs", args.epochs), ("--limit-train", args.limit_train)):
        if value is not None and value < 1:
            _fail(f"{option} must be at least 1, got {value}")
    runs = [run for name in selected(args.experiments) for run in seeded_runs(name, args.seeds)]
    passed = [flag for option, value in (("--data-dir", args.data_dir), ("--data-source", args.data_source),
                                         ("--epochs", args.epochs), ("--limit-train", args.limit_train),
                                         ("--cpu-devices", args.cpu_devices))
              if value is not None for flag in (option, str(value))]
    failed = []
    for index, (name, workdir, overrides) in enumerate(runs, 1):
        print(f"[{index}/{len(runs)}] {workdir}", flush=True)
        result = subprocess.run([sys.executable, "-m", "jaxmnist.cli", "train", name,
                                 "--workdir", str(Path(args.dir) / workdir), *overrides, *passed])
        if result.returncode != 0:
            failed.append(f"{workdir} (exit {result.returncode})")
            if result.returncode in (128 + 2, 128 + 15):  # interrupted: stop here, rerun resumes
                break
    workdirs = [str(Path(args.dir) / workdir) for _, workdir, _ in runs
                if (Path(args.dir) / workdir / "metrics.jsonl").exists()]
    if workdirs:
        subprocess.run([sys.executable, "-m", "jaxmnist.cli", "compare", *workdirs])
    if failed:
        print(f"not finished: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
