"""End-to-end epoch time of notebook recipes, jaxmnist vs the notebook's own PyTorch code, side by side.

Usage:
    python scripts/benchmark_epoch.py [--recipes net8k/net_bn_dropout_aug lenet/lenet_deep_aug]
        [--repeats 3] [--limit-batches N] [--torch-warmup-batches N] [--only jax|torch] [--cpu-devices N]
        [--steps-per-dispatch K] [--json]
        [--torch-python .venv-torchvision/bin/python] [--torch-device cpu|cuda] [--data-source DIR] [--data-dir DIR]
    python scripts/benchmark_epoch.py --repeats 2 --json > docs/benchmark_epoch.json        # the whole machine
    taskset -c 1 python scripts/benchmark_epoch.py --repeats 2 --json > docs/benchmark_epoch_one_core.json

An epoch is all one epoch of training costs: reading and augmenting every batch, the
train steps, and the evaluation that follows (the test set; notebook 003 also its
augmented validation split). Each side runs `--repeats` + 1 epochs, alternating one jax
epoch and one torch epoch so both see the same machine conditions; the first epoch of
each side is a warm-up (JAX compiles in it) and is reported apart; the table gives the
median (min-max) of the others and the ratio torch/jax (above 1: jaxmnist is faster).

JAX side: `train.train_and_evaluate`, the loop `jaxmnist train` runs, on the experiment
config in a fresh temporary workdir, with one CPU device per usable core as `jaxmnist train`
(`--cpu-devices` sets another count). Its epoch time is the loop's own (timing.jsonl:
train batches + evaluation; the checkpoint save comes after that timer). The torch epoch
runs inside `checkpoint.save`, wrapped to first wait until the (asynchronous) save is
written, so nothing of either side runs while the other is timed. "compile s" is JAX's
own compile time (tracing, lowering, XLA) up to the end of the first epoch.

PyTorch side: scripts/benchmark_epoch_torch_worker.py, the notebook's code (torchvision
datasets.MNIST, DataLoader and PIL transforms with the notebook's arguments), run by
`--torch-python`: a venv with torch==2.14.1 and torchvision==0.29.1 (the main venv has
no torchvision), made with
    python3.11 -m venv .venv-torchvision
    .venv-torchvision/bin/pip install torch==2.14.1 torchvision==0.29.1 numpy pillow
(plain PyPI gives torch's CUDA build, which runs on CPU; add --index-url
https://download.pytorch.org/whl/cpu for the smaller CPU build where that index is reachable).
`--torch-device cuda` runs the notebook's model on the GPU, as the notebooks do where CUDA is
available (their DataLoaders and PIL transforms stay on the CPU); the worker waits for the device
before and after each timed epoch.

`--limit-batches N` stops every loader of both sides after N batches, for quick checks;
such figures are marked as shortened and are not epoch times. `--torch-warmup-batches N`
shortens only the PyTorch side's warm-up epoch (it compiles nothing; its first batches meet
the CUDA context and the DataLoader workers' start), which saves a whole epoch of the
notebooks' data loading where time is short.
"""

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jaxmnist import runtime

REPO = Path(__file__).resolve().parent.parent
WORKER = REPO / "scripts" / "benchmark_epoch_torch_worker.py"
DEFAULT_TORCH_PYTHON = REPO / ".venv-torchvision" / "bin" / "python"
# Where the offline IDX files sit beside this checkout (as the Makefile and tests/conftest.py assume).
SHARED_DATA = REPO.parent / "shared" / "data"
RECIPES = ("net8k/net_bn_dropout_aug", "lenet/lenet_deep_aug")
COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                  "/jax/core/compile/backend_compile_duration")


def fail(message: str):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def check_torch_cuda(python: Path):
    """Stop with one `error:` line unless the torch of `python` sees a GPU (before any worker starts)."""
    probe = subprocess.run([str(python), "-c", "import torch; print(torch.__version__, torch.cuda.is_available())"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        last_line = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        fail(f"--torch-device cuda: {python} cannot import torch ({last_line})")
    version, available = probe.stdout.split()
    if available != "True":
        fail(f"--torch-device cuda: torch {version} of {python} sees no CUDA device")


class TorchWorker:
    """The PyTorch recipe in its own process and venv: one epoch per request."""

    def __init__(self, python: Path, experiment: str, idx_dir: Path, limit_batches: int | None,
                 device: str = "cpu"):
        # stderr is inherited: the worker's warnings and tracebacks show as they happen.
        self.process = subprocess.Popen([str(python), str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True)
        self.info = self._request(json.dumps({"experiment": experiment, "idx_dir": str(idx_dir),
                                              "limit_batches": limit_batches, "device": device}))

    def _request(self, line: str) -> dict:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            fail(f"the PyTorch worker exited with code {self.process.wait()} (its messages are above)")
        return json.loads(answer)

    def epoch(self, limit_batches: int | None = None) -> dict:
        """One epoch, every loader stopped after `limit_batches` where given."""
        return self._request("epoch" if limit_batches is None else f"epoch {limit_batches}")

    def close(self):
        self.process.stdin.close()
        self.process.wait()


class CompileClock:
    """Seconds JAX spent tracing, lowering and compiling since the last `take()`."""

    def __init__(self):
        import jax

        self.seconds = 0.0
        jax.monitoring.register_event_duration_secs_listener(self._record)

    def _record(self, event: str, duration: float, **kwargs):
        if event in COMPILE_EVENTS:
            self.seconds += duration

    def take(self) -> float:
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def jax_config(experiment: str, epochs: int, limit_batches: int | None, data_dir, data_source,
               steps_per_dispatch=None):
    """The experiment's config as `jaxmnist train EXPERIMENT --epochs N [--steps-per-dispatch K]` builds it."""
    from jaxmnist.data import pipeline, prepare
    from jaxmnist.train import command

    config = command.resolve_config(argparse.Namespace(
        experiment=experiment, set=[], epochs=epochs, limit_train=None, data_dir=data_dir, data_source=data_source,
        steps_per_dispatch=steps_per_dispatch))
    if limit_batches is not None:
        with config.unlocked():
            config.limit_train = limit_batches * config.batch_size
            # The loop evaluates whole splits: cut each to N batches with tfds's slice syntax.
            for spec in config.eval.values():
                name = spec.split.partition("[")[0]
                size = len(prepare.load_split(config.dataset, name, data_dir, data_source)[1])
                _, start, stop = pipeline._slice_bounds(spec.split, size)
                spec.split = f"{name}[{start}:{min(stop, start + limit_batches * config.eval_batch_size)}]"
    return config


def warmup_limit(args) -> int | None:
    """Batches per loader of the PyTorch warm-up epoch (None: as many as the other epochs)."""
    limits = [limit for limit in (args.limit_batches, args.torch_warmup_batches) if limit is not None]
    return min(limits) if limits else None


def run_recipe(experiment: str, args, idx_dir: Path | None, clock: CompileClock | None) -> dict:
    """Alternate jax and torch epochs of one recipe; per-epoch records of each side."""
    epochs = args.repeats + 1
    worker = (TorchWorker(args.torch_python, experiment, idx_dir, args.limit_batches, args.torch_device)
              if args.only != "jax" else None)
    jax_epochs, torch_epochs = [], []
    if args.only == "torch":
        torch_epochs = [worker.epoch(warmup_limit(args) if index == 0 else None) for index in range(epochs)]
    else:
        from unittest import mock

        from jaxmnist import checkpoint, train

        clock.take()  # start this recipe's count at zero
        config = jax_config(experiment, epochs, args.limit_batches, args.data_dir, args.data_source,
                            args.steps_per_dispatch)
        real_save = checkpoint.save
        workdir = Path(tempfile.mkdtemp(prefix="benchmark_epoch_"))

        # Where the current jax epoch began, for its CPU share: the loop's timer is not reachable from here,
        # so this interval (epoch plus the loop's logging) stands in for it.
        interval_start = {"wall": time.perf_counter(), "cpu": time.process_time()}

        def save_then_run_torch_epoch(manager, step, state, progress, *rest):
            cpu_share = ((time.process_time() - interval_start["cpu"])
                         / (time.perf_counter() - interval_start["wall"]))
            real_save(manager, step, state, progress, *rest)
            manager.wait_until_finished()
            if progress.batch != 0:  # not an end-of-epoch save
                return
            # The epoch's row is the last one with its wall time (the file also holds other kinds of rows).
            timing = [row for row in map(json.loads, (workdir / "timing.jsonl").read_text().splitlines())
                      if "seconds" in row][-1]
            row = progress.history[-1]
            jax_epochs.append({"seconds": timing["seconds"], "cpu_share": cpu_share, "compile_seconds": clock.take(),
                               "train_accuracy": row["train"]["accuracy"],
                               "test_accuracy": row["test"]["accuracy"]})
            if worker:
                torch_epochs.append(worker.epoch(None if torch_epochs else warmup_limit(args)))
            interval_start.update(wall=time.perf_counter(), cpu=time.process_time())

        try:
            with mock.patch.object(checkpoint, "save", save_then_run_torch_epoch), \
                    contextlib.redirect_stdout(sys.stderr):  # the loop's epoch table: keep stdout for ours
                train.train_and_evaluate(config, str(workdir))
        finally:
            shutil.rmtree(workdir)
    if worker:
        worker.close()
    jax_side, torch_side = summary(jax_epochs), summary(torch_epochs)
    return {"experiment": experiment, "shortened": args.limit_batches is not None, "jax": jax_side, "torch": torch_side,
            "ratio_torch_over_jax": torch_side["median_seconds"] / jax_side["median_seconds"]
            if jax_side and torch_side else None,
            "torch_recipe": worker.info["description"] if worker else None,
            "torch_environment": {key: worker.info.get(key) for key in ("torch", "torchvision", "pillow", "torch_threads",
                                                                        "device", "device_name")}
            if worker else None}


def summary(epochs: list[dict]) -> dict | None:
    """First (warm-up) epoch apart; median, min and max of the timed ones."""
    if not epochs:
        return None
    timed = [epoch["seconds"] for epoch in epochs[1:]]
    result = {"median_seconds": statistics.median(timed), "min_seconds": min(timed), "max_seconds": max(timed),
              "first_epoch_seconds": epochs[0]["seconds"],
              "min_cpu_share": min(epoch["cpu_share"] for epoch in epochs[1:]), "epochs": epochs}
    if "compile_seconds" in epochs[0]:
        result["compile_seconds"] = epochs[0]["compile_seconds"]
        result["compile_seconds_in_timed_epochs"] = sum(epoch["compile_seconds"] for epoch in epochs[1:])
    return result


def code_version() -> str:
    """The commit the JAX side ran, marked when jaxmnist/ had uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                                check=True).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--", "jaxmnist"], cwd=REPO, capture_output=True,
                                 text=True, check=True).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    changed = [line[3:] for line in changed if line]
    return f"{commit} + uncommitted changes in {', '.join(changed)}" if changed else commit


def environment(args) -> dict:
    cpus = sorted(os.sched_getaffinity(0))
    info = {"python": platform.python_version(), "cpus": cpus, "pinned_to_one_core": len(cpus) == 1,
            "machine_cores": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "command": " ".join(["python", *sys.argv]), "jaxmnist_code": code_version()}
    model = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
             if line.startswith("model name")] if Path("/proc/cpuinfo").exists() else []
    info["cpu_model"] = model[0] if model else platform.processor()
    if args.only != "torch":
        import flax
        import jax
        import jaxlib

        info.update(jax=jax.__version__, jaxlib=jaxlib.__version__, flax=flax.__version__,
                    jax_backend=jax.default_backend(), jax_devices=jax.device_count())
    return info


def span(side: dict | None) -> str:
    if side is None:
        return "-"
    return f"{side['median_seconds']:.2f} ({side['min_seconds']:.2f}-{side['max_seconds']:.2f})"


def field(side: dict | None, key: str) -> str:
    return "-" if side is None or side.get(key) is None else f"{side[key]:.2f}"


def print_table(report: dict):
    columns = (("recipe", 24), ("jax epoch s", 24), ("torch epoch s", 24), ("torch/jax", 9), ("jax 1st epoch s", 15),
               ("compile s", 9), ("torch 1st epoch s", 17), ("CPU share jax/torch", 19))
    print(" ".join(name.ljust(width) if index == 0 else name.rjust(width)
                   for index, (name, width) in enumerate(columns)))
    for result in report["results"]:
        jax_side, torch_side, ratio = result["jax"], result["torch"], result["ratio_torch_over_jax"]
        values = (result["experiment"], span(jax_side), span(torch_side), "-" if ratio is None else f"{ratio:.2f}",
                  field(jax_side, "first_epoch_seconds"), field(jax_side, "compile_seconds"),
                  field(torch_side, "first_epoch_seconds"),
                  f"{field(jax_side, 'min_cpu_share')}/{field(torch_side, 'min_cpu_share')}")
        print(" ".join(value.ljust(width) if index == 0 else value.rjust(width)
                       for index, (value, (_, width)) in enumerate(zip(values, columns))))
    env = report["environment"]
    torch_env = next((result["torch_environment"] for result in report["results"] if result["torch_environment"]),
                     None)
    versions = [f"jaxmnist {env['jaxmnist_code']}, jax {env['jax']} ({env['jax_devices']} {env['jax_backend']} "
                f"devices)"] if "jax" in env else []
    if torch_env:
        device = f"{torch_env['device']}, " if torch_env.get("device", "cpu") != "cpu" else ""
        versions.append(f"torch {torch_env['torch']}, torchvision {torch_env['torchvision']}, "
                        f"pillow {torch_env['pillow']} ({device}{torch_env['torch_threads']} threads)")
    print(f"{'; '.join(versions)}; CPUs {env['cpus']} of {env['machine_cores']}"
          f"{' (pinned to one core)' if env['pinned_to_one_core'] else ''}; {env['cpu_model']}")
    print(f"median (min-max) of {report['repeats']} epochs per side after one warm-up epoch; compile s: JAX's "
          "tracing and compiling up to the end of its first epoch (model init included); CPU share: lowest "
          "CPU time / wall time of a timed epoch, below ~0.95 another process took part of the core")
    if report["limit_batches"] is not None:
        print(f"SHORTENED: every loader stopped after {report['limit_batches']} batches; not epoch times")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per side, after one warm-up epoch")
    parser.add_argument("--limit-batches", type=int, help="stop every loader after N batches (quick checks)")
    parser.add_argument("--torch-warmup-batches", type=int, metavar="N",
                        help="stop the PyTorch side's warm-up epoch after N batches of every loader")
    parser.add_argument("--only", choices=["jax", "torch"], help="run one side only")
    parser.add_argument("--torch-python", type=Path,
                        help=f"python of a venv with torch and torchvision (default: {DEFAULT_TORCH_PYTHON})")
    parser.add_argument("--torch-device", choices=["cpu", "cuda"], default="cpu",
                        help="where the PyTorch side's model runs (default: cpu)")
    parser.add_argument("--data-source", type=Path,
                        help="folder with mnist/ IDX files (default: $JAXMNIST_DATA, else ../shared/data)")
    parser.add_argument("--data-dir", help="tfds data dir of the JAX side (default: tfds's)")
    parser.add_argument("--cpu-devices", type=runtime.device_count_argument, metavar="N",
                        help="JAX CPU devices to split each batch over (default: one per usable core)")
    parser.add_argument("--steps-per-dispatch", type=runtime.steps_per_dispatch_argument, metavar="K",
                        help="JAX train steps per compiled program (default: the backend's, as `jaxmnist train`)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.repeats < 1:
        fail("--repeats must be at least 1")
    if args.limit_batches is not None and args.limit_batches < 1:
        fail("--limit-batches must be at least 1")
    if args.torch_warmup_batches is not None and args.torch_warmup_batches < 1:
        fail("--torch-warmup-batches must be at least 1")
    if args.data_source is None:
        env_source = os.environ.get("JAXMNIST_DATA")
        args.data_source = Path(env_source) if env_source else SHARED_DATA if SHARED_DATA.is_dir() else None
    idx_dir = None
    if args.only != "jax":
        args.torch_python = args.torch_python or DEFAULT_TORCH_PYTHON
        if not args.torch_python.is_file():
            fail(f"no PyTorch python at {args.torch_python}: make the torchvision venv (see --help) or pass "
                 "--torch-python, or use --only jax")
        if args.torch_device == "cuda":
            check_torch_cuda(args.torch_python)
        idx_dir = args.data_source / "mnist" if args.data_source else None
        if idx_dir is None or not idx_dir.is_dir():
            fail(f"the PyTorch side needs the MNIST IDX files in DATA_SOURCE/mnist/ (not found: {idx_dir}); "
                 "pass --data-source")
    args.data_source = str(args.data_source) if args.data_source else None
    runtime.keep_freed_host_memory()  # as `jaxmnist train` (and the PyTorch worker) runs
    runtime.deterministic_gpu_ops()  # as `jaxmnist train`
    runtime.use_cpu_cores_as_devices(args.cpu_devices)
    clock = CompileClock() if args.only != "torch" else None
    machine = environment(args)  # before the runs: the code and time they started with
    results = [run_recipe(experiment, args, idx_dir, clock) for experiment in args.recipes]
    report = {"repeats": args.repeats, "limit_batches": args.limit_batches,
              "torch_warmup_batches": args.torch_warmup_batches,
              "steps_per_dispatch": args.steps_per_dispatch, "environment": machine,
              "results": results}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
