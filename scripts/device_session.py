"""One call on a lent GPU machine, inside 9 minutes with its setup; each phase's JSON goes to --out as it ends.

Usage (scripts/device_session.sh installs the carried wheels, then runs this):
    python scripts/device_session.py --out $OUT [--phases many_runs check ab reproduce] [--seconds 540]
        [--plan check=390 ...]
    python scripts/device_session.py --dry-run --out /tmp/session     # every phase at toy size on the CPU

Phases, in this order:
    many_runs  scripts/benchmark_runs.py, N runs as a group against one after another: many_runs.json
    check      scripts/accelerator_check.py to its end, in two calls: the correctness phases (environment,
               unit_tests, parity) compiled cheaply (--xla_gpu_autotune_level=0), then the timed ones
               (benchmark, epoch, determinism) at the default flags: check.json, both reports
    ab         the epoch of notebook 002's and 003's recipes under each XLA:GPU flag choice (FLAG_CHOICES),
               choices alternating within each pair (A/B/A/B); per run: the cold (then cached) start, the
               second epoch's seconds, and whether the rerun wrote the same metrics.jsonl: ab.json
    reproduce  scripts/reproduce.py, every notebook run with three seeds, for the time left, stopped cleanly:
               reproduce.json (the run-epochs trained), runs.tar.gz (each run's records and its last checkpoint,
               so that it can be resumed elsewhere)
session.json holds every phase's status as it goes; logs.tar.gz every log. Eight files at most come back.
A phase gets its share of the seconds (PLAN, --plan); one planned at 0 s is skipped. A run that would not
end in its phase's time is not started, and the JSON says which ones were left out.
"""

import argparse
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from jaxmnist import runtime  # noqa: E402  (the checkout's jaxmnist, also where it is not installed)
from jaxmnist.report import runs as runs_lib  # noqa: E402

PHASES = ("many_runs", "check", "ab", "reproduce")
# Seconds per phase out of 540 (9 minutes), the setup of device_session.sh included; reproduce takes the rest.
PLAN = {"many_runs": 300, "check": 0, "ab": 0}
DRY_RUN_PLAN = {"many_runs": 600, "check": 1200, "ab": 900}
CHECK_CALLS = {  # name: (phases, --timeout overrides, XLA:GPU flags)
    "check_correctness": (("environment", "unit_tests", "parity"), ("unit_tests=110", "parity=50"),
                          {"xla_gpu_autotune_level": "0"}),
    "check_speed": (("benchmark", "epoch", "determinism"), ("benchmark=100", "epoch=70", "determinism=30"), {}),
}
# A dry run's phases share the CPU with whatever else runs there: generous limits.
DRY_RUN_CHECK_CALLS = {"check_correctness": (("environment",), ("environment=600",), {"xla_gpu_autotune_level": "0"}),
                       "check_speed": (("data",), ("data=600",), {})}

# The candidates to measure, none on by default: jaxmnist train adds --xla_gpu_deterministic_ops=true
# wherever a choice leaves it out. Pairs run A/B/A/B, the first of each pair the reference.
FLAG_CHOICES = {
    "deterministic": {},
    "exclude_nondeterministic": {"xla_gpu_deterministic_ops": "false", "xla_gpu_exclude_nondeterministic_ops": "true"},
    "nondeterministic": {"xla_gpu_deterministic_ops": "false"},
    "autotune_0": {"xla_gpu_autotune_level": "0"},
    "autotune_1": {"xla_gpu_autotune_level": "1"},
    "autotune_4": {"xla_gpu_autotune_level": "4"},  # XLA's default, named
    "command_buffer_off": {"xla_gpu_enable_command_buffer": ""},
    "command_buffer_while": {"xla_gpu_enable_command_buffer": "+WHILE"},
}
AB_PAIRS = (("deterministic", "exclude_nondeterministic"), ("deterministic", "nondeterministic"),
            ("autotune_4", "autotune_0"), ("autotune_4", "autotune_1"),
            ("command_buffer_off", "command_buffer_while"))
DRY_RUN_AB_PAIRS = (("deterministic", "autotune_0"),)
AB_RECIPES = ("net8k/net_bn_dropout_aug", "lenet/lenet_deep_aug")
DRY_RUN_AB_RECIPES = ("tests/configs/tiny_lenet_bn.py",)  # the engine tests' seconds-long run
# Groups of N runs against N runs one after another: the GPU target (16 runs in at most twice one
# run's epoch) first, and each row is kept as it is measured. Each group runs with XLA's convolutions
# (grouped ones when vmapped) and with patch_kernels' batched matrix products.
MANY_RUNS = ("--recipes", "net8k/net_bn_dropout_aug", "lenet/lenet_deep_aug", "--runs", "16", "64", "4", "1",
             "--repeats", "1", "--kernels", "xla", "patches")
DRY_RUN_MANY_RUNS = ("--recipes", "tests/configs/tiny_lenet_bn.py", "--runs", "1", "2", "--steps", "4",
                     "--repeats", "1", "--kernels", "xla", "patches")
RETURNED_FILE_BYTES = 15 * 2**20  # the device tool brings back files of 16 MiB at most
FIRST_RUN_GUESS_SECONDS = 60  # a run's seconds before one of its recipe has been timed

# Every notebook run with three seeds, the one command of docs/groups.md's plan for all of them
# (5,034 run-epochs): the epochs trained in the phase's time measure how fast it goes on a GPU.
REPRODUCTIONS = (("--seeds", "3", "activations/", "fashion/", "feature_maps/", "lenet/", "net8k/"),)
DRY_RUN_REPRODUCTIONS = (("--epochs", "1", "--limit-train", "256", "net8k/net_bn"),)


def write_json(path: Path, value):
    temporary = path.with_suffix(".partial")
    temporary.write_text(json.dumps(value, indent=1))
    temporary.replace(path)


class Session:
    """The phases' shared settings, their time, and what goes back under --out."""

    def __init__(self, args):
        self.args, self.out = args, args.out.resolve()
        self.dry_run = args.dry_run
        self.work = Path(tempfile.mkdtemp(prefix="device_session_"))
        self.logs = self.work / "logs"
        self.logs.mkdir()
        self.plan = {**(DRY_RUN_PLAN if self.dry_run else PLAN), **args.plan}
        self.deadline = args.started + args.seconds
        self.report = {"dry_run": self.dry_run, "seconds_budget": args.seconds, "plan": self.plan,
                       "phases": {name: {"status": "pending"} for name in args.phases}}
        self.data_source = Path(args.data_source or (REPO / "tests" / "fixtures" if self.dry_run
                                                      else REPO / ".device" / "data")).resolve()
        self.data_dir = self.work / "data"

    def left(self) -> float:
        return self.deadline - time.time()

    def environment(self, xla_gpu_flags: dict | None = None, cache: Path | None = None) -> dict:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                   PYTHONUNBUFFERED="1", JAXMNIST_DATA=str(self.data_source), TF_CPP_MIN_LOG_LEVEL="3",
                   XLA_PYTHON_CLIENT_PREALLOCATE="false",
                   JAX_COMPILATION_CACHE_DIR=str(cache or self.work / "xla-cache"))
        env["XLA_FLAGS"] = runtime.with_xla_gpu_flags(env.get("XLA_FLAGS", ""), xla_gpu_flags or {})
        return env

    def run(self, command: list[str], log_name: str, timeout: float, **environment) -> dict:
        """A command in its own process group, stopped with everything it started when its time is up."""
        started = time.time()
        with open(self.logs / f"{log_name}.log", "a") as log:
            process = subprocess.Popen(command, cwd=REPO, env=self.environment(**environment), stdout=log,
                                       stderr=subprocess.STDOUT, process_group=0)
            try:
                code, status = process.wait(timeout=max(timeout, 1)), None
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                code, status = None, "timed_out"
        return {"status": status or ("ok" if code == 0 else "crashed"), "return_code": code,
                "seconds": round(time.time() - started, 2)}

    def finish_phase(self, name: str, entry: dict, result: dict | None = None):
        if result is not None:
            write_json(self.out / f"{name}.json", result)
        self.report["phases"][name] = entry
        self.report["seconds_left"] = round(self.left(), 1)
        write_json(self.out / "session.json", self.report)
        with tarfile.open(self.out / "logs.tar.gz", "w:gz") as archive:
            archive.add(self.logs, arcname="logs")
        print(f"{name}: {entry['status']} ({entry.get('seconds', 0):.0f} s; {self.left():.0f} s left)", flush=True)


def check_phase(session: Session) -> dict:
    calls = DRY_RUN_CHECK_CALLS if session.dry_run else CHECK_CALLS
    entries = {}
    for name, (phases, timeouts, flags) in calls.items():
        report = session.logs / f"{name}.json"  # its log is written beside it
        command = [sys.executable, str(REPO / "scripts" / "accelerator_check.py"), "--out", str(report),
                   "--data-source", str(session.data_source), "--phases", *phases,
                   *[argument for timeout in timeouts for argument in ("--timeout", timeout)]]
        if session.dry_run:
            command.append("--dry-run")
        # The check's own timeouts end its phases; this limit only catches a check that hangs between them.
        entries[name] = session.run(command, name, timeout=min(session.plan["check"], session.left()),
                                    xla_gpu_flags=flags)
        if report.exists():
            entries[name]["report"] = json.loads(report.read_text())
        write_json(session.out / "check.json", {"calls": entries})
    return {"calls": entries}


def _timing(workdir: Path) -> dict:
    """From a run's timing.jsonl: seconds to its first program's end after the start, and each epoch's."""
    rows = [json.loads(line) for line in (workdir / "timing.jsonl").read_text().splitlines()]
    first = next(row for row in rows if row.get("kind") == "first_step")
    return {"first_step_seconds_since_start": first["seconds_since_start"],
            "epoch_seconds": [row["seconds"] for row in rows if "kind" not in row]}


def ab_phase(session: Session) -> dict:
    """Each pair A, B of flag choices: A, B, A, B per recipe; each choice's first run fills its own cache."""
    pairs = DRY_RUN_AB_PAIRS if session.dry_run else AB_PAIRS
    recipes = DRY_RUN_AB_RECIPES if session.dry_run else AB_RECIPES
    extra = ["--limit-train", "96"] if session.dry_run else []
    phase_end = time.time() + min(session.plan["ab"], session.left())
    longest = {}  # recipe -> the longest run so far: whether the next one still fits
    runs, left_out = [], []
    for pair in pairs:
        for recipe in recipes:
            for round_index, choice in ((0, pair[0]), (0, pair[1]), (1, pair[0]), (1, pair[1])):
                label = f"{'/'.join(pair)} {recipe} {choice} run {round_index + 1}"
                if time.time() + longest.get(recipe, FIRST_RUN_GUESS_SECONDS) > phase_end:
                    left_out.append(label)
                    continue
                workdir = session.work / "ab" / "-".join(pair) / recipe.replace("/", "_") / f"{choice}-{round_index}"
                cache = session.work / "ab-cache" / "-".join(pair) / choice
                command = [sys.executable, "-m", "jaxmnist.cli", "train", recipe, "--workdir", str(workdir),
                           "--epochs", "2", "--data-dir", str(session.data_dir), *extra]
                entry = session.run(command, "ab", timeout=phase_end - time.time(),
                                    xla_gpu_flags=FLAG_CHOICES[choice], cache=cache)
                longest[recipe] = max(longest.get(recipe, 0), entry["seconds"])
                entry.update(pair=list(pair), recipe=recipe, choice=choice, flags=FLAG_CHOICES[choice],
                             run=round_index + 1, cache="cold" if round_index == 0 else "warm")
                if entry["status"] == "ok":
                    entry.update(_timing(workdir), metrics=(workdir / "metrics.jsonl").read_text())
                runs.append(entry)
    for entry in runs:  # the rerun check: the second run of a choice against its first
        if entry["run"] == 2 and "metrics" in entry:
            first = next((other for other in runs if other["run"] == 1 and other["pair"] == entry["pair"]
                          and other["recipe"] == entry["recipe"] and other["choice"] == entry["choice"]), {})
            entry["rerun_bit_exact"] = first.get("metrics") == entry["metrics"]
    for entry in runs:
        entry.pop("metrics", None)
    return {"recipes": list(recipes), "epochs": 2, "choices": FLAG_CHOICES, "runs": runs, "left_out": left_out}


def many_runs_phase(session: Session) -> dict:
    """scripts/benchmark_runs.py for the phase's time: the rows it measured by then."""
    result = session.work / "many_runs.json"
    command = [sys.executable, str(REPO / "scripts" / "benchmark_runs.py"), "--json-out", str(result),
               "--data-dir", str(session.data_dir), *(DRY_RUN_MANY_RUNS if session.dry_run else MANY_RUNS)]
    entry = session.run(command, "many_runs", timeout=min(session.plan["many_runs"], session.left()))
    return {**entry, "result": json.loads(result.read_text()) if result.exists() else None}


def _run_records(root: Path, last_checkpoint: bool):
    """A tar filter for the runs under root: their records without TensorBoard's events, with each
    run's last checkpoint (what resumes it elsewhere) or none."""
    @functools.cache
    def last_step(checkpoints: Path) -> int:  # read once per run, not once per file
        return max(int(path.name) for path in (root / checkpoints).iterdir() if path.name.isdigit())

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        if "tensorboard" in parts or ("checkpoints" in parts and not last_checkpoint):
            return None
        if "checkpoints" in parts[:-1]:
            at = parts.index("checkpoints")
            if parts[at + 1].isdigit() and int(parts[at + 1]) != last_step(Path(*parts[:at + 1])):
                return None
        return info
    return keep


def reproduce_phase(session: Session) -> dict:
    """Each list of runs in turn, 4 at a time, until 25 s before the end: time to stop them with SIGTERM,
    let them save a checkpoint (20 s at most) and pack their records."""
    runs, calls = session.work / "runs", []
    for experiments in DRY_RUN_REPRODUCTIONS if session.dry_run else REPRODUCTIONS:
        seconds = session.left() - 25
        if seconds < 20:
            calls.append({"status": "skipped", "experiments": list(experiments), "seconds_left": round(session.left())})
            continue
        command = [sys.executable, str(REPO / "scripts" / "reproduce.py"), "--dir", str(runs), "--data-dir",
                   str(session.data_dir), "--data-source", str(session.data_source), "--parallel", "4",
                   "--stop-after", str(round(seconds)), *experiments]
        calls.append({**session.run(command, "reproduce", timeout=seconds + 20), "experiments": list(experiments)})
    if runs.exists():
        packed = session.out / "runs.tar.gz"
        for last_checkpoint in (True, False):  # without checkpoints where they make it too large to come back
            with tarfile.open(packed, "w:gz") as archive:
                archive.add(runs, arcname="runs", filter=_run_records(runs.parent, last_checkpoint))
            if packed.stat().st_size <= RETURNED_FILE_BYTES:
                break
    records = sorted(runs.rglob("metrics.jsonl"))
    workdirs = [str(path.parent.relative_to(runs)) for path in records]
    run_epochs = sum(len(runs_lib.epoch_rows(path.parent)) for path in records)
    return {"calls": calls, "workdirs": workdirs, "run_epochs": run_epochs}


PHASE_FUNCTIONS = {"check": check_phase, "ab": ab_phase, "many_runs": many_runs_phase, "reproduce": reproduce_phase}


def _planned(value: str) -> tuple[str, float]:
    name, _, seconds = value.partition("=")
    try:
        if name in PLAN and float(seconds) >= 0:
            return name, float(seconds)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"{value!r} is not PHASE=SECONDS with PHASE one of {', '.join(PLAN)}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the folder that comes back ($OUT)")
    parser.add_argument("--dry-run", action="store_true", help="every phase at toy size on the CPU")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--seconds", type=float, default=540, help="the whole call's time, setup included")
    parser.add_argument("--started", type=float, default=time.time(),
                        help="when the call started (seconds since the epoch; device_session.sh passes it)")
    parser.add_argument("--data-source", type=Path, help="MNIST's IDX files (default: .device/data; "
                                                          "tests/fixtures in a dry run)")
    parser.add_argument("--plan", nargs="+", type=_planned, default=[], metavar="PHASE=SECONDS",
                        help=f"a phase's seconds instead of PLAN's ({', '.join(f'{k}={v}' for k, v in PLAN.items())})")
    args = parser.parse_args(argv)
    args.plan = dict(args.plan)
    args.out.mkdir(parents=True, exist_ok=True)
    session = Session(args)
    prepare = [sys.executable, "-m", "jaxmnist.cli", "data", "prepare", "--source", str(session.data_source),
               "--dataset", "mnist", "--data-dir", str(session.data_dir),
               *(["--allow-unofficial"] if session.dry_run else [])]
    prepared = session.run(prepare, "setup", timeout=300)
    if prepared["status"] != "ok":
        session.finish_phase("setup", prepared)
        return 1
    try:
        for name in args.phases:
            started = time.time()
            if session.plan.get(name) == 0:
                session.finish_phase(name, {"status": "skipped", "seconds": 0})
                continue
            try:
                result = PHASE_FUNCTIONS[name](session)
                entry = {"status": "skipped" if "skipped" in result else result.get("status", "ok")}
            except Exception as error:  # recorded; the next phase still runs
                result, entry = None, {"status": "crashed", "error": repr(error)}
            entry["seconds"] = round(time.time() - started, 2)
            session.finish_phase(name, entry, result)
    finally:
        shutil.rmtree(session.work, ignore_errors=True)
    return 0 if all(entry["status"] in ("ok", "skipped") for entry in session.report["phases"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
