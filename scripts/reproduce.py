"""Run a list of experiments to completion into one directory, then print the compare table.

Usage:
    python scripts/reproduce.py --dir workdirs/repro tiny/net_bn tiny/net_bn_dropout report/network_cnn
    python scripts/reproduce.py --dir workdirs/repro tiny/           # every experiment of a group
    python scripts/reproduce.py --dir workdirs/repro --seeds 3 activations/   # 3 seeds each

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


def selected(patterns: list[str]) -> list[str]:
    names = config_lib.experiment_names()
    chosen = [name for pattern in patterns for name in names
              if name == pattern or (pattern.endswith("/") and name.startswith(pattern))]
    unknown = [pattern for pattern in patterns if not any(
        name == pattern or (pattern.endswith("/") and name.startswith(pattern)) for name in names)]
    if unknown:
        sys.exit(f"error: unknown experiment(s) {', '.join(unknown)} (see `jaxmnist experiments`)")
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
    args = parser.parse_args()
    if args.seeds < 1:
        sys.exit(f"error: --seeds must be at least 1, got {args.seeds}")
    runs = [run for name in selected(args.experiments) for run in seeded_runs(name, args.seeds)]
    location = [flag for option, value in (("--data-dir", args.data_dir), ("--data-source", args.data_source))
                if value for flag in (option, value)]
    failed = []
    for index, (name, workdir, overrides) in enumerate(runs, 1):
        print(f"[{index}/{len(runs)}] {workdir}", flush=True)
        result = subprocess.run([sys.executable, "-m", "jaxmnist.cli", "train", name,
                                 "--workdir", str(Path(args.dir) / workdir), *overrides, *location])
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
