"""Run a list of experiments to completion into one directory, then print the compare table.

Usage:
    python scripts/reproduce.py --dir workdirs/repro tiny/net_bn tiny/net_bn_dropout report/network_cnn
    python scripts/reproduce.py --dir workdirs/repro tiny/           # every experiment of a group

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiments", nargs="+")
    parser.add_argument("--dir", required=True, help="directory holding one workdir per experiment")
    parser.add_argument("--data-dir")
    parser.add_argument("--data-source")
    args = parser.parse_args()
    names = selected(args.experiments)
    location = [flag for option, value in (("--data-dir", args.data_dir), ("--data-source", args.data_source))
                if value for flag in (option, value)]
    failed = []
    for index, name in enumerate(names, 1):
        print(f"[{index}/{len(names)}] {name}", flush=True)
        result = subprocess.run([sys.executable, "-m", "jaxmnist.cli", "train", name,
                                 "--workdir", str(Path(args.dir) / name), *location])
        if result.returncode != 0:
            failed.append(f"{name} (exit {result.returncode})")
            if result.returncode in (128 + 2, 128 + 15):  # interrupted: stop here, rerun resumes
                break
    workdirs = [str(Path(args.dir) / name) for name in names if (Path(args.dir) / name / "metrics.jsonl").exists()]
    if workdirs:
        subprocess.run([sys.executable, "-m", "jaxmnist.cli", "compare", *workdirs])
    if failed:
        print(f"not finished: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
