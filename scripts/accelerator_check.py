"""One-command accelerator check: environment, device unit tests, torch parity, benchmarks, determinism.

Usage:
    python scripts/accelerator_check.py [--out accelerator_check.json] [--data-source DIR]
        [--torch-python PYTHON] [--torch-device cuda|cpu] [--phases NAME ...] [--timeout NAME=SECONDS ...]
    python scripts/accelerator_check.py --dry-run --out /tmp/check.json      # every phase at toy size on CPU

On a GPU machine (scripts/pack_for_device.py builds what travels there and prints the command) the
phases below run one after another, each in a process of its own with its own timeout, so a hang
or a crash in one is recorded and the next still runs. After each phase the JSON file is rewritten
whole (atomically) with every phase's status, time and results; a summary table is printed last.
The default timeouts add up to 530 s, inside 9 minutes.

    environment   devices and versions of Python, JAX, Flax, PyTorch, ...
    data          MNIST's IDX files (--data-source, else $JAXMNIST_DATA, else ../shared/data) prepared
                  into the check's own data dir (without TensorFlow: the decoded arrays only)
    unit_tests    the tests that matter on the device (models, torch port, optim, augment, train),
                  JAX_DEFAULT_MATMUL_PRECISION=highest; tests that need TensorFlow where it is not
                  installed are skipped, those of CPU-only features deselected
    parity        every model's outputs and parameter gradients (eval and train mode) against the
                  notebook's PyTorch class on --torch-device, JAX at 'highest', torch without TF32
    benchmark     scripts/benchmark.py: the train step against PyTorch eager on --torch-device
    epoch         scripts/benchmark_epoch.py: an epoch of notebook 002's and 003's recipes against the
                  notebooks' own code path (torchvision, DataLoader, model on --torch-device)
    determinism   two identical short `jaxmnist train` runs must write identical metrics.jsonl

Targets (reported, not failures): train step >= 2x PyTorch in geometric mean and no model below 1x;
each recipe's epoch >= 20x the notebook's; every model within 1e-5 of torch. Exit code: 0 when
every phase ran to its end, 1 when one crashed or ran out of time, 2 for a usage error.

`--dry-run` runs every phase at toy size on the CPU (two models, two steps, epochs cut to two
batches, the fixture data of tests/fixtures); tests/test_accelerator_check.py runs it.
"""

import argparse
import contextlib
import datetime
import importlib.util
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
FIXTURE_DATA = REPO / "tests" / "fixtures"
SHARED_DATA = REPO.parent / "shared" / "data"
CARRIED_DATA = REPO / ".device" / "data"  # where scripts/pack_for_device.py puts the IDX files

PHASES = ("environment", "data", "unit_tests", "parity", "benchmark", "epoch", "determinism")
# Seconds per phase on a GPU machine (530 in all) and on the CPU of a dry run.
TIMEOUTS = {"environment": 15, "data": 15, "unit_tests": 120, "parity": 60, "benchmark": 120, "epoch": 140,
            "determinism": 60}
DRY_RUN_TIMEOUTS = {"environment": 60, "data": 90, "unit_tests": 120, "parity": 120, "benchmark": 120,
                    "epoch": 180, "determinism": 180}

TARGETS = {"parity_max_error": 1e-5, "train_step_geometric_mean": 2.0, "train_step_min": 1.0,
           "epoch_speedup": 20.0}

UNIT_TEST_FILES = ("tests/test_torch_port.py", "tests/test_models.py", "tests/test_optim.py", "tests/test_augment.py",
                   "tests/test_train.py")
# Multi-process, SIGTERM/SIGKILL and CPU-device tests: CPU-host features, and minutes of process starts.
UNIT_TEST_DESELECT = "not cpu_devices and not two_processes and not data_parallel and not sigkill and not sigterm"
# The dry run's tests, picked from the same files by name (so a file that skips whole, as test_torch_port.py
# without torch, leaves the selection valid); the first runs on both layer paths.
DRY_RUN_UNIT_TESTS = ("test_eval_outputs_equal_torch and -net]", "test_state_round_trips_like_a_checkpoint",
                      "test_rotation_equals_pil_exactly_including_fill", "test_padded_rows_keep_the_last_smaller_batch",
                      "test_evaluation_in_blocks_counts_every_example_once")
TENSORFLOW_MODULES = ("tensorflow", "tensorflow_datasets")

BENCHMARK_MODELS = ("def_net", "cnn", "cnn3", "net", "lenet_bn", "lenet_deep", "simple_net", "network_cnn")
DRY_RUN_MODELS = ("net", "lenet_bn")
EPOCH_RECIPES = ("net8k/net_bn_dropout_aug", "lenet/lenet_deep_aug")
# Notebook 003 validates on train[48000:], which the 1,500-image fixture does not have.
DRY_RUN_EPOCH_RECIPES = ("net8k/net_bn_dropout_aug",)
DETERMINISM_EXPERIMENT = "net8k/net_bn_dropout_aug"  # augmentation and dropout: every random stream is used


def fail(message: str):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def write_json(path: Path, value):
    """Replace `path` whole: a reader (or a kill) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as file:
        json.dump(value, file, indent=2)
    os.replace(file.name, path)


def geometric_mean(values) -> float:
    return math.exp(sum(math.log(value) for value in values) / len(values))


# ---------------------------------------------------------------------------------------------------------------
# The phases, each run in a process of its own (`--run-phase NAME`). Each returns its result as a dict; `progress`
# stores a partial result, which is kept if the phase runs out of time.

def environment_phase(args, progress):
    import flax
    import jax
    import jaxlib
    import numpy as np
    import optax
    import orbax.checkpoint

    versions = {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": jaxlib.__version__,
                "flax": flax.__version__, "optax": optax.__version__, "orbax_checkpoint": orbax.checkpoint.__version__,
                "numpy": np.__version__}
    for name in ("ml_collections", "dm_pix", "chex", "torch", "torchvision", "tensorflow", "tensorflow_datasets"):
        versions[name] = package_version(name)
    devices = [{"platform": device.platform, "kind": device.device_kind, "id": device.id} for device in jax.devices()]
    result = {"versions": versions, "jax_backend": jax.default_backend(), "jax_devices": devices,
              "cpu_cores": os.cpu_count(), "machine": platform.machine(), "dry_run": args.dry_run,
              "torch_device": args.torch_device, "torch_python": str(args.torch_python) if args.torch_python else None}
    if versions["torch"]:
        import torch

        result["torch_cuda"] = {"available": torch.cuda.is_available(), "cuda": torch.version.cuda,
                                "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
                                "devices": [torch.cuda.get_device_name(index)
                                            for index in range(torch.cuda.device_count())]}
    if shutil.which("nvidia-smi"):
        query = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=15)
        result["nvidia_smi"] = query.stdout.strip().splitlines() if query.returncode == 0 else query.stderr.strip()
    return result


def package_version(name: str) -> str | None:
    """The installed distribution's version, without importing it (None where it is missing)."""
    from importlib import metadata

    if importlib.util.find_spec(name) is None:
        return None
    distribution = {"dm_pix": "dm-pix", "ml_collections": "ml-collections"}.get(name, name)
    for candidate in (distribution, "tensorflow-cpu" if name == "tensorflow" else distribution):
        with contextlib.suppress(metadata.PackageNotFoundError):
            return metadata.version(candidate)
    return "installed"


def data_phase(args, progress):
    """The dataset the later phases train on, prepared once into the check's data dir."""
    command = [sys.executable, "-m", "jaxmnist.cli", "data", "prepare", "--source", str(args.data_source),
               "--dataset", "mnist", "--data-dir", str(args.data_dir)]
    if args.dry_run:
        command.append("--allow-unofficial")  # the fixture is a subset: its digests are not the originals'
    run_child(command)
    return {"source": str(args.data_source), "data_dir": str(args.data_dir),
            "tensorflow_datasets": importlib.util.find_spec("tensorflow_datasets") is not None,
            "files": sorted(str(path.relative_to(args.data_dir)) for path in Path(args.data_dir).rglob("*")
                            if path.is_file())[:20]}


def unit_tests_phase(args, progress):
    import pytest

    import jax

    backend = jax.default_backend()
    results = {"backend": backend, "matmul_precision": os.environ.get("JAX_DEFAULT_MATMUL_PRECISION"),
               "passed": 0, "failed": 0, "errors": 0, "skipped": 0, "deselected": 0, "failures": [],
               "skip_reasons": {}, "skipped_files": []}

    class DeviceSelection:
        """Deselects what does not run on this device, skips what needs TensorFlow, records every outcome."""

        def pytest_collection_modifyitems(self, config, items):
            # The CPU layer kernels (models/cpu_kernels.py) serve only CPU backends.
            dropped = [item for item in items if backend != "cpu" and getattr(item, "callspec", None)
                       and item.callspec.params.get("layer_kernels") == "cpu"]
            if dropped:
                config.hook.pytest_deselected(items=dropped)
                items[:] = [item for item in items if item not in dropped]

        def pytest_deselected(self, items):
            results["deselected"] += len(items)

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_makereport(self, item, call):
            outcome = yield
            error = call.excinfo.value if call.excinfo is not None else None
            if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] in TENSORFLOW_MODULES:
                test_report = outcome.get_result()
                test_report.outcome = "skipped"
                test_report.longrepr = (str(item.path), item.location[1] or 0, f"needs {error.name} (not installed)")

        def pytest_collectreport(self, report):
            if report.skipped:  # a whole file, e.g. importorskip("torch")
                results["skipped_files"].append(f"{report.nodeid}: {report.longrepr[2].removeprefix('Skipped: ')}")

        def pytest_runtest_logreport(self, report):
            if report.when == "call" or (report.when == "setup" and not report.passed):
                key = {"passed": "passed", "skipped": "skipped"}.get(report.outcome,
                                                                     "failed" if report.when == "call" else "errors")
                results[key] += 1
                if report.skipped:
                    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
                    reason = reason.removeprefix("Skipped: ")
                    results["skip_reasons"][reason] = results["skip_reasons"].get(reason, 0) + 1
            elif report.when == "teardown" and report.failed:
                results["errors"] += 1
            if report.failed and len(results["failures"]) < 20:
                last_line = (report.longreprtext.strip().splitlines() or [""])[-1]
                results["failures"].append({"test": report.nodeid, "when": report.when, "message": last_line[:300]})
            progress(results)

    if args.dry_run:
        selection = [*UNIT_TEST_FILES, "-k", " or ".join(f"({expression})" for expression in DRY_RUN_UNIT_TESTS)]
    else:
        selection = [*UNIT_TEST_FILES, "-k", UNIT_TEST_DESELECT]
    results["selection"] = selection
    exit_code = pytest.main(["-q", "-p", "no:cacheprovider", "-o", "console_output_style=classic", *selection],
                            plugins=[DeviceSelection()])
    # 0: all passed, 1: some failed (reported above); anything else is pytest itself failing.
    if exit_code not in (0, 1):
        raise RuntimeError(f"pytest exited with code {exit_code}")
    results["all_passed"] = exit_code == 0
    return results


def parity_phase(args, progress):
    import jax
    import torch

    from jaxmnist import models

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(args.torch_device)
    names = list(DRY_RUN_MODELS) if args.dry_run else models.names()
    results = {"torch_device": str(device), "jax_backend": jax.default_backend(), "matmul_precision": "highest",
               "layer_kernels": "cpu" if jax.default_backend() == "cpu" else "xla",
               "target_max_error": TARGETS["parity_max_error"], "models": {}}
    for name in names:
        results["models"][name] = compare_with_torch(name, device)
        progress(results)
    errors = {name: model["max_error"] for name, model in results["models"].items()}
    worst = max(errors, key=errors.get)
    results.update(count=len(errors), worst_model=worst, max_error=errors[worst],
                   max_error_float64_reference=max(model["max_error_float64_reference"]
                                                   for model in results["models"].values()))
    results["target_met"] = results["max_error"] <= TARGETS["parity_max_error"]
    return results


def compare_with_torch(name: str, device) -> dict:
    """Largest differences from the notebook's class with the same weights, in eval and train mode.

    Outputs: absolute. Gradients: relative to the largest gradient of the parameter's layer (at
    least 1), as tests/test_torch_port.py measures them (a bias in front of a training-mode
    BatchNorm has gradient 0 up to its layer's rounding). Dropout is set to 0, so train mode is
    deterministic on both sides. Torch runs in float32 (the comparison the target is about) and in
    float64, which tells jaxmnist's own rounding from torch's.
    """
    import jax
    import numpy as np
    import torch

    from jaxmnist import models, torch_port
    from jaxmnist.models import kernels
    from jaxmnist.torch_reference import TORCH_MODELS

    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    weights = torch.randn(8, 10, generator=torch.Generator().manual_seed(2))
    module = models.create(name, **{attribute: 0.0 for attribute in models.info(name)["dropout_rates"]})
    result = {}
    for mode in ("eval", "train"):
        train = mode == "train"
        torch_model = notebook_model(name, TORCH_MODELS)
        variables = torch_port.from_torch(name, torch_model.state_dict())  # before train mode updates statistics

        def weighted_sum(params):
            outputs, updates = module.apply({**variables, "params": params}, x.numpy().transpose(0, 2, 3, 1),
                                            train=train, mutable=["batch_stats"], rngs={"dropout": jax.random.key(0)})
            return (outputs * weights.numpy()).sum(), (outputs, updates)

        with kernels.use("cpu" if jax.default_backend() == "cpu" else "xla"), jax.default_matmul_precision("highest"):
            grads, (outputs, updates) = jax.jit(jax.grad(weighted_sum, has_aux=True))(variables["params"])
        got = torch_port.to_torch(name, {"params": grads, **updates})
        for dtype in (torch.float32, torch.float64):
            reference = notebook_model(name, TORCH_MODELS).to(device=device, dtype=dtype).train(train)
            expected = reference(x.to(device=device, dtype=dtype))
            (expected * weights.to(device=device, dtype=dtype)).sum().backward()
            suffix = "" if dtype == torch.float32 else "_float64_reference"
            result[f"{mode}_outputs{suffix}"] = float(np.abs(np.asarray(outputs, np.float64)
                                                             - expected.detach().cpu().double().numpy()).max())
            expected_grads = {key: parameter.grad.cpu().double().numpy()
                              for key, parameter in reference.named_parameters()}
            layer_scale = {}
            for key, grad in expected_grads.items():
                layer = key.rpartition(".")[0]
                layer_scale[layer] = max(layer_scale.get(layer, 1.0), float(np.abs(grad).max()))
            result[f"{mode}_gradients{suffix}"] = max(
                float(np.abs(got[key].numpy().astype(np.float64) - grad).max()) / layer_scale[key.rpartition(".")[0]]
                for key, grad in expected_grads.items())
            if train and models.info(name)["batch_norm"]:
                statistics = {key: tensor.cpu().double().numpy() for key, tensor in reference.state_dict().items()
                              if key.endswith(("running_mean", "running_var"))}
                result[f"running_statistics{suffix}"] = max(
                    float(np.abs(got[key].numpy().astype(np.float64) - value).max() / max(1.0, np.abs(value).max()))
                    for key, value in statistics.items())
    result["max_error"] = max(value for key, value in result.items() if not key.endswith("_float64_reference"))
    result["max_error_float64_reference"] = max(value for key, value in result.items()
                                                if key.endswith("_float64_reference"))
    return result


def notebook_model(name: str, torch_models):
    """The notebook's class with its own init (seed 0), BatchNorm state randomised so it is not the identity,
    and every dropout probability 0."""
    import torch

    torch.manual_seed(0)
    model = torch_models[name]()
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, torch.nn.modules.batchnorm._BatchNorm):
                layer.weight.uniform_(0.5, 1.5)
                layer.bias.uniform_(-0.5, 0.5)
                layer.running_mean.uniform_(-0.5, 0.5)
                layer.running_var.uniform_(0.5, 2.0)
            if isinstance(layer, torch.nn.modules.dropout._DropoutNd):
                layer.p = 0.0
    return model


def benchmark_phase(args, progress):
    # Each model's figures go to the phase's result as they come, so a timeout keeps the models measured.
    command = [sys.executable, str(SCRIPTS / "benchmark.py"), "--torch-device", args.torch_device, "--json",
               "--partial-json", args.phase_result]
    if args.dry_run:
        command += ["--models", *DRY_RUN_MODELS, "--steps", "2", "--repeats", "1"]
    else:
        command += ["--models", *args.benchmark_models, "--steps", "50", "--repeats", "5"]
    result = json.loads(run_child(command))
    ratios = {row["model"]: row["ratio"] for row in result["results"]}
    slowest = min(ratios, key=ratios.get)
    result.update(ratios=ratios, min_ratio=ratios[slowest], min_ratio_model=slowest,
                  targets={"geometric_mean_at_least": TARGETS["train_step_geometric_mean"],
                           "none_below": TARGETS["train_step_min"]})
    result["target_met"] = (result["geometric_mean_ratio"] >= TARGETS["train_step_geometric_mean"]
                            and result["min_ratio"] >= TARGETS["train_step_min"])
    return result


def epoch_phase(args, progress):
    recipes = DRY_RUN_EPOCH_RECIPES if args.dry_run else EPOCH_RECIPES
    command = [sys.executable, str(SCRIPTS / "benchmark_epoch.py"), "--recipes", *recipes, "--repeats", "1",
               "--data-source", str(args.data_source), "--data-dir", str(args.data_dir), "--json"]
    if args.torch_python:
        # PyTorch compiles nothing: a few batches warm it up (CUDA context, DataLoader workers).
        command += ["--torch-python", str(args.torch_python), "--torch-device", args.torch_device,
                    "--torch-warmup-batches", "1" if args.dry_run else "20"]
    else:
        command += ["--only", "jax"]
    if args.dry_run:
        command += ["--limit-batches", "2"]
    result = json.loads(run_child(command))
    result["speedups"] = {recipe["experiment"]: recipe["ratio_torch_over_jax"] for recipe in result["results"]}
    result["torch_side"] = "ran" if args.torch_python else "not run: no python with torchvision found"
    result["target_speedup"] = TARGETS["epoch_speedup"]
    measured = [value for value in result["speedups"].values() if value is not None]
    result["target_met"] = len(measured) == len(recipes) and min(measured) >= TARGETS["epoch_speedup"]
    return result


def determinism_phase(args, progress):
    """The same short run twice, the second loading the first's compiled programs from the cache."""
    # Two epochs, so that the second epoch's order, augmentation and dropout draws are compared too.
    limit_train, log_every_steps = ("256", "1") if args.dry_run else ("6400", "10")
    runs = []
    with tempfile.TemporaryDirectory(prefix="accelerator_check_determinism_") as directory:
        for index in range(2):
            workdir = Path(directory) / f"run{index}"
            started = time.perf_counter()
            run_child([sys.executable, "-m", "jaxmnist.cli", "train", DETERMINISM_EXPERIMENT, "--workdir",
                       str(workdir), "--epochs", "2", "--limit-train", limit_train, "--data-dir", str(args.data_dir),
                       "--set", f"log_every_steps={log_every_steps}"])
            runs.append({"seconds": time.perf_counter() - started,
                         "metrics": (workdir / "metrics.jsonl").read_text()})
    first, second = (run["metrics"].splitlines() for run in runs)
    differing = [index for index, (a, b) in enumerate(zip(first, second)) if a != b]
    last_epoch = [json.loads(line) for line in first if json.loads(line).get("kind") == "epoch"]
    return {"experiment": DETERMINISM_EXPERIMENT, "limit_train": int(limit_train), "epochs": 2,
            "rows": [len(first), len(second)], "identical": runs[0]["metrics"] == runs[1]["metrics"],
            "first_differing_row": differing[0] if differing else None,
            "first_differing_lines": [first[differing[0]], second[differing[0]]] if differing else None,
            "test_accuracy": last_epoch[-1].get("test", {}).get("accuracy") if last_epoch else None,
            "run_seconds": [run["seconds"] for run in runs]}


PHASE_FUNCTIONS = {"environment": environment_phase, "data": data_phase, "unit_tests": unit_tests_phase,
                   "parity": parity_phase, "benchmark": benchmark_phase, "epoch": epoch_phase,
                   "determinism": determinism_phase}


def run_child(command: list[str]) -> str:
    """Run a command of a phase; its stderr goes to the phase's log, its stdout is returned."""
    completed = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} ... exited with code {completed.returncode}")
    return completed.stdout


def run_phase_here(args) -> int:
    """`--run-phase NAME`: one phase in this process; the result goes to --phase-result."""
    result_path = Path(args.phase_result)

    def progress(partial):
        write_json(result_path, {"partial": True, **partial})

    result = PHASE_FUNCTIONS[args.run_phase](args, progress)
    write_json(result_path, result)
    return 0


# ---------------------------------------------------------------------------------------------------------------
# The driver: one child process per phase, the JSON after each, the summary table last.

def phase_environment(name: str, args) -> dict:
    env = dict(os.environ)
    # jaxmnist from this checkout, also where it is not installed (the GPU machine).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env["PYTHONUNBUFFERED"] = "1"
    env["JAXMNIST_DATA"] = str(args.data_source)
    env["JAX_COMPILATION_CACHE_DIR"] = str(args.workdir / "xla-cache")
    # Several processes share the GPU (pytest's and its children, JAX's and the torch worker's).
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if name == "unit_tests":
        env["JAX_DEFAULT_MATMUL_PRECISION"] = "highest"
    return env


def run_phase(name: str, args, timeout: float, log) -> dict:
    result_path = args.workdir / f"{name}.json"
    command = [sys.executable, str(Path(__file__).resolve()), *args.argv, "--run-phase", name,
               "--phase-result", str(result_path), "--workdir", str(args.workdir)]
    log.write(f"\n===== {name} (timeout {timeout:.0f} s) =====\n")
    log.flush()
    started = time.perf_counter()
    # A process group of its own: on a timeout the whole group goes (benchmark workers, DataLoader processes).
    process = subprocess.Popen(command, cwd=REPO, env=phase_environment(name, args), stdout=log,
                               stderr=subprocess.STDOUT, process_group=0)
    try:
        return_code = process.wait(timeout=timeout)
        status = "ok" if return_code == 0 else "crashed"
    except subprocess.TimeoutExpired:
        stop_group(process)
        return_code, status = None, "timed_out"
    except BaseException:  # Ctrl-C or SIGTERM of the check: its phase's processes go with it
        stop_group(process)
        raise
    seconds = time.perf_counter() - started
    entry = {"status": status, "seconds": round(seconds, 2), "timeout_seconds": timeout, "return_code": return_code}
    if result_path.exists():
        entry["result"] = json.loads(result_path.read_text())
    if status != "ok":
        log.flush()
        entry["output_tail"] = log_tail(Path(log.name), since=f"===== {name} ")
    return entry


def stop_group(process: subprocess.Popen):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def log_tail(path: Path, since: str, characters: int = 4000) -> str:
    text = path.read_text(errors="replace")
    return text[text.rfind(since):][-characters:]


def one_line(name: str, entry: dict) -> tuple[str, str]:
    """(result, target) of a phase for the summary table."""
    result = entry.get("result") or {}
    if not result:
        return "-", "-"

    def met(flag):
        return "met" if flag else "NOT met"

    if name == "environment":
        torch_cuda = result.get("torch_cuda") or {}
        devices = result["jax_devices"]
        return (f"jax {result['versions']['jax']} {result['jax_backend']} x{len(devices)} ({devices[0]['kind']}); "
                f"torch {result['versions']['torch']}, cuda {'yes' if torch_cuda.get('available') else 'no'}"), "-"
    if name == "data":
        return f"mnist from {result['source']}{'' if result['tensorflow_datasets'] else ' (no tfds)'}", "-"
    if name == "unit_tests":
        counts = (f"{result['passed']} passed, {result['failed']} failed, {result['errors']} errors, "
                  f"{result['skipped']} skipped, {result['deselected']} deselected")
        return counts, ("all passed" if result.get("all_passed") else
                        "-" if result.get("partial") else "FAILURES")
    if name == "parity":
        if result.get("partial"):
            return f"{len(result['models'])} models (partial)", "-"
        return (f"{result['count']} models on {result['torch_device']}, max error {result['max_error']:.1e} "
                f"({result['worst_model']}; vs float64 {result['max_error_float64_reference']:.1e})",
                f"<= {TARGETS['parity_max_error']:.0e}: {met(result['target_met'])}")
    if name == "benchmark":
        if result.get("partial"):
            ratios = ", ".join(f"{row['model']} {row['ratio']:.2f}x" for row in result["results"])
            return f"{len(result['results'])} models (partial): {ratios}", "-"
        return (f"{len(result['ratios'])} models, geometric mean {result['geometric_mean_ratio']:.2f}x, "
                f"min {result['min_ratio']:.2f}x ({result['min_ratio_model']})",
                f">= {TARGETS['train_step_geometric_mean']:g}x mean, >= {TARGETS['train_step_min']:g}x each: "
                f"{met(result['target_met'])}")
    if name == "epoch":
        speedups = ", ".join(f"{recipe} {'-' if ratio is None else f'{ratio:.1f}x'}"
                             for recipe, ratio in result["speedups"].items())
        shortened = " (shortened)" if result.get("limit_batches") else ""
        return f"{speedups}{shortened}", f">= {TARGETS['epoch_speedup']:g}x: {met(result['target_met'])}"
    if name == "determinism":
        return (f"metrics.jsonl {'identical' if result['identical'] else 'DIFFERENT'} "
                f"({result['rows'][0]} rows)"), "identical" if result["identical"] else "DIFFERENT"
    return "-", "-"


def print_summary(report: dict):
    rows = [("phase", "status", "seconds", "result", "target")]
    for name, entry in report["phases"].items():
        rows.append((name, entry["status"], f"{entry.get('seconds', 0):.1f}", *one_line(name, entry)))
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    print()
    for row in rows:
        print("  ".join(value.ljust(width) for value, width in zip(row[:4], widths)) + "  " + row[4])
    print(f"{'DRY RUN (toy sizes on CPU); ' if report['dry_run'] else ''}total {report['seconds']:.1f} s; "
          f"details in {report['json']}")


def resolve_settings(args):
    """Fill in the data source, torch python and device the phases share."""
    if args.data_source is None:
        if args.dry_run:
            args.data_source = FIXTURE_DATA
        else:
            candidates = [os.environ.get("JAXMNIST_DATA"), SHARED_DATA, CARRIED_DATA]
            args.data_source = next((Path(path) for path in candidates if path and (Path(path) / "mnist").is_dir()),
                                    None)
            if args.data_source is None:
                fail("no MNIST IDX files: pass --data-source DIR (DIR/mnist/train-images-idx3-ubyte.gz etc.) or set "
                     "JAXMNIST_DATA")
    args.data_source = Path(args.data_source).resolve()
    if args.torch_device is None:
        args.torch_device = "cpu" if args.dry_run else "cuda"
    if args.torch_python is None:
        # The python running this check where it has torchvision (the GPU image), else the benchmark's venv.
        venv = REPO / ".venv-torchvision" / "bin" / "python"
        if importlib.util.find_spec("torchvision") is not None:
            args.torch_python = Path(sys.executable)
        elif venv.is_file():
            args.torch_python = venv


def parse_timeouts(items: list[str], dry_run: bool) -> dict:
    timeouts = dict(DRY_RUN_TIMEOUTS if dry_run else TIMEOUTS)
    for item in items:
        name, _, seconds = item.partition("=")
        if name not in PHASES or not seconds.replace(".", "", 1).isdigit():
            fail(f"--timeout takes PHASE=SECONDS with PHASE one of {', '.join(PHASES)}; got {item!r}")
        timeouts[name] = float(seconds)
    return timeouts


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("accelerator_check.json"),
                        help="the JSON report (default: accelerator_check.json); its .log beside it")
    parser.add_argument("--dry-run", action="store_true", help="every phase at toy size on the CPU")
    parser.add_argument("--data-source", type=Path,
                        help="folder with mnist/ IDX files (default: $JAXMNIST_DATA, ../shared/data or .device/data; "
                             "tests/fixtures in a dry run)")
    parser.add_argument("--torch-python", type=Path,
                        help="python with torch and torchvision for the epoch phase's PyTorch side (default: this "
                             "python if it has torchvision, else .venv-torchvision/bin/python)")
    parser.add_argument("--torch-device", choices=["cpu", "cuda"],
                        help="where PyTorch runs (default: cuda; cpu in a dry run)")
    parser.add_argument("--benchmark-models", nargs="+", default=list(BENCHMARK_MODELS),
                        help=f"models of the train-step benchmark (default: {' '.join(BENCHMARK_MODELS)})")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES),
                        help="run only these phases (and data, where epoch or determinism needs it)")
    parser.add_argument("--timeout", action="append", default=[], metavar="PHASE=SECONDS",
                        help="another timeout for a phase")
    parser.add_argument("--run-phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--phase-result", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    resolve_settings(args)
    if args.run_phase:
        args.data_dir = args.workdir / "data"
        return run_phase_here(args)

    timeouts = parse_timeouts(args.timeout, args.dry_run)
    # In PHASES' order; the epoch and determinism phases train on what the data phase prepares.
    needed = set(args.phases) | ({"data"} if {"epoch", "determinism"} & set(args.phases) else set())
    args.phases = [name for name in PHASES if name in needed]
    if args.torch_device == "cuda":
        probe = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__, torch.cuda.is_available())"],
                               capture_output=True, text=True)
        version, _, available = probe.stdout.strip().partition(" ")
        if probe.returncode != 0 or available != "True":
            fail(f"--torch-device cuda: torch {version or '(not importable)'} sees no CUDA device "
                 "(use --dry-run or --torch-device cpu on a machine without one)")
    args.argv = argv
    out = args.out.resolve()
    log_path = out.with_suffix(".log")
    report = {"check": "jaxmnist accelerator check", "dry_run": args.dry_run,
              "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
              "command": " ".join(["python", "scripts/accelerator_check.py", *argv]), "json": str(out),
              "log": str(log_path), "targets": TARGETS, "timeouts": {name: timeouts[name] for name in args.phases},
              "phases": {name: {"status": "pending"} for name in args.phases}, "seconds": 0.0}
    started = time.perf_counter()
    write_json(out, report)
    print(f"accelerator check{' (dry run)' if args.dry_run else ''}: {len(args.phases)} phases, at most "
          f"{sum(report['timeouts'].values()):.0f} s; report {out}, log {log_path}", flush=True)
    # SIGTERM ends the check as Ctrl-C does: the running phase's processes are stopped, the report says so.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    with tempfile.TemporaryDirectory(prefix="accelerator_check_") as workdir, open(log_path, "w") as log:
        args.workdir = Path(workdir)
        for index, name in enumerate(args.phases, 1):
            try:
                entry = run_phase(name, args, timeouts[name], log)
            except (KeyboardInterrupt, SystemExit):
                report["phases"][name] = {"status": "interrupted"}
                report["seconds"] = round(time.perf_counter() - started, 2)
                write_json(out, report)
                raise
            report["phases"][name] = entry
            report["seconds"] = round(time.perf_counter() - started, 2)
            write_json(out, report)
            result, target = one_line(name, entry) if entry.get("result") else ("-", "-")
            print(f"[{index}/{len(args.phases)}] {name}: {entry['status']} in {entry['seconds']:.1f} s; {result}"
                  f"{'' if target == '-' else f'; target {target}'}", flush=True)
            if entry["status"] != "ok":
                print(entry.get("output_tail", "")[-1500:], flush=True)
    print_summary(report)
    return 0 if all(entry["status"] == "ok" for entry in report["phases"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
