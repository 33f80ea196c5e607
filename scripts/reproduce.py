"""Run a list of experiments to completion into one directory, then print the compare table.

Usage:
    python scripts/reproduce.py --dir workdirs/repro net8k/net_bn net8k/net_bn_dropout feature_maps/network_cnn
    python scripts/reproduce.py --dir workdirs/repro net8k/           # every experiment of a group
    python scripts/reproduce.py --dir workdirs/repro --seeds 3 activations/   # 3 seeds each
    python scripts/reproduce.py --dir workdirs/repro --seeds 3 --skip-seeds 1 lenet/lenet_deep_triangular2
    python scripts/reproduce.py --dir workdirs/repro --parallel 8 --stop-after 1800 lenet/   # a lent GPU
    python scripts/reproduce.py --dir /tmp/smoke --epochs 1 --limit-train 256 net8k/   # a quick smoke run
    python scripts/reproduce.py --dir workdirs/repro --seeds 3 --dry-run activations/ lenet/   # how long, here

With `--seeds N`, each experiment also runs with seeds S+1 .. S+N-1 (S: the
config's seed) in DIR/<experiment>-seed<seed>; `compare` shows their mean and std.
`--skip-seeds K` leaves out the first K of them (runs made elsewhere).

Each experiment trains in DIR/<experiment>. Experiments whose runs can share one program
(they differ only in their models' rates and their optimizers, e.g. activations/dro_net_25,
_50, _75 and _100) train with all their seeds as one group in one process (`jaxmnist train
E1 E2 ... --seeds ... --dir DIR`: on CPU one run per device, on GPU all at once, or at most
`--runs-per-device N` at once where the device's memory holds no more); the others
each in a process of their own, in the order given. `--no-group` trains every run in a
process of its own. Rerunning resumes every unfinished run from its last checkpoint and
skips finished ones, so the script can be stopped (Ctrl-C, SIGTERM, preemption) and started
again at any time. `--parallel N` trains N processes at once (small models leave a GPU mostly
idle), each writing its output to DIR/<experiment>.log and taking GPU memory as it needs it
(XLA_PYTHON_CLIENT_PREALLOCATE=false, unless set). `--stop-after SECONDS` starts
no run after that time and stops the running ones with SIGTERM, so that they save
a checkpoint: for a machine lent for a fixed time. `--dry-run` writes nothing: it measures each
process's `jaxmnist train --dry-run` estimate here, one at a time, and adds them up.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from jaxmnist import config as config_lib
from jaxmnist.errors import closest_names, did_you_mean

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
        folders = sorted({name.split("/")[0] for name in names})

        def closest(pattern: str) -> list[str]:
            if pattern.rstrip("/") in folders:
                return [pattern.rstrip("/") + "/"]  # a folder named without its slash
            if pattern.endswith("/"):
                return [folder + "/" for folder in closest_names(pattern.rstrip("/"), folders)]
            return closest_names(pattern, names, separator="/")

        _fail("unknown experiment(s) " + ", ".join(pattern + did_you_mean(closest(pattern)) for pattern in unknown)
              + " (see `jaxmnist experiments`)")
    return list(dict.fromkeys(chosen))


def seeded_runs(name: str, seeds: int, skip: int, directory: Path) -> list[tuple[str, str, list[str]]]:
    """(label, log name, train arguments) of each run in a process of its own: the config's seed S
    in DIR/<name>, seed K in DIR/<name>-seedK."""
    seed = config_lib.load_experiment(name).seed
    return [(workdir, workdir, ["--workdir", str(directory / workdir), name]
             + ([] if seed + k == seed else ["--set", f"seed={seed + k}"]))
            for k, workdir in zip(range(skip, seeds), seed_workdirs(name, seeds, skip))]


def grouped_runs(names: list[str], seeds: int, skip: int, directory: Path,
                 runs_per_device: int | None = None) -> list[tuple[str, str, list[str]]]:
    """(label, log name, train arguments) of each group process: experiments whose runs can share one
    program train together (`jaxmnist train E1 E2 ... --seeds ... --dir DIR`), each with all its seeds;
    `runs_per_device` goes to each process that trains more than one run.

    Experiments group where they differ only in their models' rates and their optimizers
    (`jaxmnist.train.run_config.check_group`), train the same seeds, and their unfinished runs were saved
    last at one step: a group resumes from a step its runs share (finished runs are left out).
    """
    import jax

    from jaxmnist.errors import UserError
    from jaxmnist.train.run_config import check_group

    # The runs' processes use the accelerators; this one only compares configs, on the CPU.
    jax.config.update("jax_platforms", "cpu")
    with_seeds = (seeds, skip) != (1, 0)
    groups: list[tuple[tuple, set, list[str], list]] = []  # (seeds, resumed steps, names, configs)
    for name in names:
        config = config_lib.load_experiment(name)
        chosen = tuple(config.seed + k for k in range(skip, seeds)) if with_seeds else ()
        steps = _resumed_steps(directory, seed_workdirs(name, seeds, skip), config.epochs)
        for group_seeds, group_steps, members, configs in groups:
            if group_seeds != chosen or len(group_steps | steps) > 1:
                continue
            try:
                check_group(configs + [config])
            except UserError:
                continue
            group_steps |= steps
            members.append(name)
            configs.append(config)
            break
        else:
            groups.append((chosen, set(steps), [name], [config]))
    processes = []
    for chosen, _, members, _ in groups:
        seed_list = ",".join(map(str, chosen))
        label = ", ".join(members) + (f" (seeds {seed_list})" if with_seeds else "")
        processes.append((label, members[0], ["--dir", str(directory), *members]
                          + (["--seeds", seed_list] if with_seeds else [])
                          + (["--runs-per-device", str(runs_per_device)]
                             if runs_per_device and (with_seeds or len(members) > 1) else [])))
    return processes


def _resumed_steps(directory: Path, workdirs: list[str], epochs: int) -> set[int]:
    """The newest saved step of each unfinished run among `workdirs` (0 where none was saved)."""
    from jaxmnist import checkpoint
    from jaxmnist.train.loop import complete_rows

    return {(checkpoint.saved_steps(directory / workdir) or [0])[-1] for workdir in workdirs
            if complete_rows(directory / workdir, epochs) is None}


def seed_workdirs(name: str, seeds: int, skip: int = 0) -> list[str]:
    """The workdirs below DIR that `seeded_runs` trains."""
    seed = config_lib.load_experiment(name).seed if seeds > 1 or skip else None
    return [name if seed is None or k == 0 else f"{name}-seed{seed + k}" for k in range(skip, seeds)]


def estimate(runs: list[tuple[str, str, list[str]]], passed: list[str]) -> int:
    """Each process's `jaxmnist train --dry-run` estimate, one at a time, and their sum (from the start)."""
    from jaxmnist.train.progress import format_duration

    total, steps, trained, failed = 0.0, 0, 0, []
    for index, (label, _, arguments) in enumerate(runs, 1):
        result = subprocess.run([sys.executable, "-m", "jaxmnist.cli", "train", *arguments, *passed,
                                 "--dry-run", "--json"], capture_output=True, text=True)
        if result.returncode != 0:
            failed.append(label)
            print(f"[{index}/{len(runs)}] {label}: {(result.stderr.strip().splitlines() or ['failed'])[-1]}",
                  flush=True)
            continue
        process = json.loads(result.stdout)
        waves = -(-process["runs"] // process["runs_per_wave"])
        total, trained = total + process["total_seconds"], trained + process["runs"]
        steps += waves * process["epochs"] * process["steps_per_epoch"]
        print(f"[{index}/{len(runs)}] {label}: {process['runs']} run(s) in {waves} wave(s), {process['epochs']} "
              f"epochs of {process['steps_per_epoch']} steps, {process['epoch_seconds']:.2f} s each after "
              f"{process['startup_seconds']:.0f} s of startup: {format_duration(process['total_seconds'])}", flush=True)
    print(f"{len(runs) - len(failed)} process(es), {trained} run(s), {steps:,} steps of their programs, one after "
          f"another: about {format_duration(total)}" + (f" ({len(failed)} failed)" if failed else ""))
    return 1 if failed else 0


def shared_gpu_environment() -> dict[str, str]:
    """The environment for processes that share a GPU: JAX takes 75% of a GPU's memory per process
    at its first operation, so a second process would run out of memory; it allocates what it uses
    instead, unless the user chose how much each process takes."""
    environment = dict(os.environ)
    chosen = {"XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_CLIENT_MEM_FRACTION"}
    if not chosen & set(environment):
        environment["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    return environment


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

    def run(self, runs: list[tuple[str, str, list[str]]], directory: Path):
        """Each (label, log name, command) of `runs`, up to `parallel` at once."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        pending, not_started = list(enumerate(runs, 1)), []
        while pending or self.running:
            if self.deadline is not None and time.monotonic() >= self.deadline and not self.stopping:
                print(f"--stop-after reached: stopping {len(self.running)} run(s)", flush=True)
                self._terminate_running()
                self.stopping = True
            while pending and len(self.running) < self.parallel and not self.stopping:
                index, (label, log_name, command) = pending.pop(0)
                print(f"[{index}/{len(runs)}] {label}", flush=True)
                self.running[self._start(command, directory / f"{log_name}.log")] = label
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
        self.failed += [f"{label} (not started)" for _, (label, _, _) in not_started]

    def _start(self, command: list[str], log: Path) -> subprocess.Popen:
        if self.parallel == 1:
            return subprocess.Popen(command)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as output:
            return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=shared_gpu_environment())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiments", nargs="+")
    parser.add_argument("--dir", required=True, help="directory holding one workdir per experiment")
    parser.add_argument("--data-dir")
    parser.add_argument("--data-source")
    parser.add_argument("--seeds", type=int, default=1, help="runs per experiment, with consecutive seeds")
    parser.add_argument("--skip-seeds", type=int, default=0, help="leave out the first K of the --seeds runs")
    parser.add_argument("--no-group", action="store_true", help="train every run in a process of its own")
    parser.add_argument("--runs-per-device", type=int, metavar="N",
                        help="passed to each group's `jaxmnist train`: at most N runs at once on a device")
    parser.add_argument("--parallel", type=int, default=1, help="processes trained at once (default 1)")
    parser.add_argument("--stop-after", type=float, metavar="SECONDS",
                        help="start no run after SECONDS and stop the running ones, saving a checkpoint")
    parser.add_argument("--epochs", type=int, help="passed to `jaxmnist train` (marks the runs as shortened)")
    parser.add_argument("--limit-train", type=int,
                        help="passed to `jaxmnist train`: the first N training examples (marks the runs as shortened)")
    parser.add_argument("--cpu-devices", help="passed to `jaxmnist train`")
    parser.add_argument("--dry-run", action="store_true",
                        help="estimate each process's time here and their sum; writes nothing")
    args = parser.parse_args()
    for option, value in (("--seeds", args.seeds), ("--epochs", args.epochs), ("--limit-train", args.limit_train),
                          ("--parallel", args.parallel), ("--runs-per-device", args.runs_per_device)):
        if value is not None and value < 1:
            _fail(f"{option} must be at least 1, got {value}")
    if not 0 <= args.skip_seeds < args.seeds:
        _fail(f"--skip-seeds must be at least 0 and below --seeds ({args.seeds}), got {args.skip_seeds}")
    if args.stop_after is not None and args.stop_after <= 0:
        _fail(f"--stop-after must be above 0 seconds, got {args.stop_after:g}")
    names = selected(args.experiments)
    directory = Path(args.dir)
    if args.no_group:
        if args.runs_per_device is not None:
            _fail("--runs-per-device goes with groups, not with --no-group")
        runs = [run for name in names for run in seeded_runs(name, args.seeds, args.skip_seeds, directory)]
    else:
        runs = grouped_runs(names, args.seeds, args.skip_seeds, directory, args.runs_per_device)
    passed = [flag for option, value in (("--data-dir", args.data_dir), ("--data-source", args.data_source),
                                         ("--epochs", args.epochs), ("--limit-train", args.limit_train),
                                         ("--cpu-devices", args.cpu_devices))
              if value is not None for flag in (option, str(value))]
    if args.dry_run:
        return estimate(runs, passed)
    pool = _Pool(args.parallel, args.stop_after)
    pool.run([(label, log_name, [sys.executable, "-m", "jaxmnist.cli", "train", *arguments, *passed])
              for label, log_name, arguments in runs], directory)
    workdirs = [str(directory / workdir) for name in names
                for workdir in seed_workdirs(name, args.seeds, args.skip_seeds)
                if (directory / workdir / "metrics.jsonl").exists()]
    if workdirs:
        subprocess.run([sys.executable, "-m", "jaxmnist.cli", "compare", *workdirs])
    if pool.failed:
        print(f"not finished: {', '.join(pool.failed)}", file=sys.stderr)
    return 1 if pool.failed else 0


if __name__ == "__main__":
    sys.exit(main())
