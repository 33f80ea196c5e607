"""Run a list of experiments to completion into one directory, then print the compare table.

Usage:
    python scripts/reproduce.py --dir workdirs/repro net8k/net_bn net8k/net_bn_dropout feature_maps/network_cnn
    python scripts/reproduce.py --dir workdirs/repro net8k/           # every experiment of a group
    python scripts/reproduce.py --dir workdirs/repro --seeds 3 activations/   # 3 seeds each
    python scripts/reproduce.py --dir workdirs/repro --seeds 3 --skip-seeds 1 lenet/lenet_deep_triangular2
    python scripts/reproduce.py --dir workdirs/repro --parallel 8 --stop-after 1800 lenet/   # a lent GPU
    python scripts/reproduce.py --dir /tmp/smoke --epochs 1 --limit-train 256 net8k/   # a quick smoke run

With `--seeds N`, each experiment also runs with seeds S+1 .. S+N-1 (S: the
config's seed) in DIR/<experiment>-seed<seed>; `compare` shows their mean and std.
`--skip-seeds K` leaves out the first K of them (runs made elsewhere). An experiment's
seeds train as one group (`jaxmnist train --seeds`: one program, on CPU one run per
device); `--no-group` trains each seed in a process of its own.

Each experiment trains in DIR/<experiment> in its own process, in the order given.
Rerunning resumes every unfinished run from its last checkpoint and skips finished
ones, so the script can be stopped (Ctrl-C, SIGTERM, preemption) and started again
at any time. `--parallel N` trains N runs at once (small models leave a GPU mostly
idle), each writing its output to DIR/<workdir>.log. `--stop-after SECONDS` starts
no run after that time and stops the running ones with SIGTERM, so that they save
a checkpoint: for a machine lent for a fixed time.
"""

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from jaxmnist import config as config_lib

INTERRUPTED = (128 + signal.SIGINT, 128 + signal.SIGTERM)


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


def seeded_runs(name: str, seeds: int, skip: int = 0, group: bool = True) -> list[tuple[str, str, list[str]]]:
    """(label, workdir below DIR, train arguments) of each process: the config's seed S in DIR/<name>,
    seed K in DIR/<name>-seedK, all of an experiment's seeds in one process where `group`."""
    if seeds == 1 and skip == 0:
        return [(name, name, [name])]
    seed = config_lib.load_experiment(name).seed
    chosen = [seed + k for k in range(skip, seeds)]
    if group:
        seed_list = ",".join(map(str, chosen))
        return [(f"{name} (seeds {seed_list})", name, [name, "--seeds", seed_list])]
    return [(workdir, workdir, [name] + ([] if run_seed == seed else ["--set", f"seed={run_seed}"]))
            for run_seed, workdir in ((run_seed, name if run_seed == seed else f"{name}-seed{run_seed}")
                                      for run_seed in chosen)]


def seed_workdirs(name: str, seeds: int, skip: int = 0) -> list[str]:
    """The workdirs below DIR that `seeded_runs` trains."""
    seed = config_lib.load_experiment(name).seed if seeds > 1 or skip else None
    return [name if seed is None or k == 0 else f"{name}-seed{seed + k}" for k in range(skip, seeds)]


class _Pool:
    """Up to `parallel` runs at once; after a stop request none starts and the running ones save and exit."""

    def __init__(self, parallel: int, stop_after: float | None):
        self.parallel = parallel
        self.deadline = None if stop_after is None else time.monotonic() + stop_after
        self.stopping = False
        self.running: dict[subprocess.Popen, str] = {}
        self.failed: list[str] = []

    def _on_signal(self, signum, frame):
        # Ctrl-C reaches the runs from the terminal themselves; a SIGTERM sent to this process is
        # passed on. A run that gets a second signal stops without saving, so each gets one.
        if not self.stopping and signum == signal.SIGTERM:
            self._terminate_running()
        self.stopping = True

    def _terminate_running(self):
        for process in self.running:
            process.send_signal(signal.SIGTERM)

    def run(self, runs: list[tuple[str, list[str]]], directory: Path):
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        pending, not_started = list(enumerate(runs, 1)), []
        while pending or self.running:
            if self.deadline is not None and time.monotonic() >= self.deadline and not self.stopping:
                print(f"--stop-after reached: stopping {len(self.running)} run(s)", flush=True)
                self._terminate_running()
                self.stopping = True
            while pending and len(self.running) < self.parallel and not self.stopping:
                index, (workdir, command) = pending.pop(0)
                print(f"[{index}/{len(runs)}] {workdir}", flush=True)
                self.running[self._start(command, directory, workdir)] = workdir
            for process in [process for process in self.running if process.poll() is not None]:
                workdir = self.running.pop(process)
                if process.returncode != 0:
                    self.failed.append(f"{workdir} (exit {process.returncode})")
                    if process.returncode in INTERRUPTED:  # interrupted: stop here, rerun resumes
                        self.stopping = True
                if self.parallel > 1:
                    print(f"finished {workdir} (exit {process.returncode})", flush=True)
            if self.stopping and pending:
                not_started, pending = pending, []
            time.sleep(0.2 if self.running else 0)
        self.failed += [f"{workdir} (not started)" for _, (workdir, _) in not_started]

    def _start(self, command: list[str], directory: Path, workdir: str) -> subprocess.Popen:
        if self.parallel == 1:
            return subprocess.Popen(command)
        log = directory / f"{workdir.split(' ')[0]}.log"  # a group's log is named after its experiment
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as output:
            return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiments", nargs="+")
    parser.add_argument("--dir", required=True, help="directory holding one workdir per experiment")
    parser.add_argument("--data-dir")
    parser.add_argument("--data-source")
    parser.add_argument("--seeds", type=int, default=1, help="runs per experiment, with consecutive seeds")
    parser.add_argument("--skip-seeds", type=int, default=0, help="leave out the first K of the --seeds runs")
    parser.add_argument("--no-group", action="store_true", help="train each seed in a process of its own")
    parser.add_argument("--parallel", type=int, default=1, help="processes trained at once (default 1)")
    parser.add_argument("--stop-after", type=float, metavar="SECONDS",
                        help="start no run after SECONDS and stop the running ones, saving a checkpoint")
    parser.add_argument("--epochs", type=int, help="passed to `jaxmnist train` (marks the runs as shortened)")
    parser.add_argument("--limit-train", type=int,
                        help="passed to `jaxmnist train`: the first N training examples (marks the runs as shortened)")
    parser.add_argument("--cpu-devices", help="passed to `jaxmnist train`")
    args = parser.parse_args()
    for option, value in (("--seeds", args.seeds), ("--epochs", args.epochs), ("--limit-train", args.limit_train),
                          ("--parallel", args.parallel)):
        if value is not None and value < 1:
            _fail(f"{option} must be at least 1, got {value}")
    if not 0 <= args.skip_seeds < args.seeds:
        _fail(f"--skip-seeds must be at least 0 and below --seeds ({args.seeds}), got {args.skip_seeds}")
    if args.stop_after is not None and args.stop_after <= 0:
        _fail(f"--stop-after must be above 0 seconds, got {args.stop_after:g}")
    names = selected(args.experiments)
    runs = [run for name in names for run in seeded_runs(name, args.seeds, args.skip_seeds, not args.no_group)]
    passed = [flag for option, value in (("--data-dir", args.data_dir), ("--data-source", args.data_source),
                                         ("--epochs", args.epochs), ("--limit-train", args.limit_train),
                                         ("--cpu-devices", args.cpu_devices))
              if value is not None for flag in (option, str(value))]
    directory = Path(args.dir)
    pool = _Pool(args.parallel, args.stop_after)
    pool.run([(label, [sys.executable, "-m", "jaxmnist.cli", "train", "--workdir", str(directory / workdir),
                       *arguments, *passed])
              for label, workdir, arguments in runs], directory)
    workdirs = [str(directory / workdir) for name in names for workdir in seed_workdirs(name, args.seeds, args.skip_seeds)
                if (directory / workdir / "metrics.jsonl").exists()]
    if workdirs:
        subprocess.run([sys.executable, "-m", "jaxmnist.cli", "compare", *workdirs])
    if pool.failed:
        print(f"not finished: {', '.join(pool.failed)}", file=sys.stderr)
    return 1 if pool.failed else 0


if __name__ == "__main__":
    sys.exit(main())
