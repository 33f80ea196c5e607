"""Train-step throughput of every model, jaxmnist vs the notebook's PyTorch class, side by side.

Usage: python scripts/benchmark.py [--models def_net lenet ...] [--steps 10] [--repeats 3] [--cpu-devices N]
        [--torch-device cpu|cuda] [--json]
    python scripts/benchmark.py --json > docs/benchmark_train_step.json              # the whole machine
    taskset -c 1 python scripts/benchmark.py --json > docs/benchmark_train_step_one_core.json

For each model, at the batch size and with the optimizer of its notebook (taken from the
first experiment config that uses it): one jitted jaxmnist train step (forward, backward,
update; compile time reported separately) and the PyTorch eager equivalent
(zero_grad, forward, loss, backward, step) on the same shapes, alternating JAX and torch
for `--repeats` rounds of `--steps` steps each after warm-up. Reports the median (min-max)
images/s of each side and their ratio, and the train step's compile time: cold, and loaded
from a persistent compilation cache as `jaxmnist train` uses (what a resumed or repeated
run pays). Needs torch (`pip install .[torch]`).

Each side uses the cores this process may run on, as it would in a training run: torch its
intra-op threads, jaxmnist one device per core (as `jaxmnist train`; `--cpu-devices` sets
another count), each batch split over them. `taskset -c 1` gives both sides one core.

`--torch-device cuda` runs the PyTorch side on the GPU (JAX uses its default backend, the
GPU where there is one), waiting for the device at the end of every timed round. PyTorch's
TF32 follows the recipe's `matmul_precision`: off at 'highest' (the default), so both sides
multiply in full float32.
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
import torch

from jaxmnist import config as config_lib
from jaxmnist import models, runtime
from jaxmnist.data import augment, pipeline
from jaxmnist.torch_reference import TORCH_MODELS
from jaxmnist.data.batches import padded_rows
from jaxmnist.train.programs import Programs
from jaxmnist.train.steps import zero_totals
from jaxmnist.workdir import atomic_write_text


def notebook_recipes() -> dict:
    """model name -> the first experiment config that trains it.

    Runs with a dropout rate of 1 (notebook 000's DrO_Net(1)) are skipped: XLA drops the
    work whose output is multiplied by zero, which would time a different computation
    from PyTorch's.
    """
    recipes = {}
    for name in config_lib.experiment_names():
        config = config_lib.load_experiment(name)
        if 1.0 not in dict(config.model_overrides).values():
            recipes.setdefault(config.model, config)
    return recipes


_CACHE_HITS = []
jax.monitoring.register_event_listener(
    lambda event, **_: _CACHE_HITS.append(event) if event == "/jax/compilation_cache/cache_hits" else None)


def jax_runner(config, batch_size: int):
    """(run, compile seconds, compile seconds from the persistent cache, whether the first compile
    found the program in the cache already) of one model's train step.

    Models that differ only in their initialisation (bn_xavier, bn_kaiming, ...) have the train
    step of one benchmarked before them: its program is in the cache when their turn comes.
    """
    engine = Programs(config)
    state = engine.init_state(config.seed)
    rng = np.random.default_rng(0)
    # The loop's update program, on a batch its batch program gathered and scaled on the device. As
    # the loop does, a batch that does not divide among the devices is padded.
    update = engine.update_program()
    split = engine.replicate(pipeline.Split(rng.integers(0, 256, (batch_size, 28, 28, 1), dtype=np.uint8),
                                            rng.integers(0, 10, batch_size).astype(np.int32)))
    rows = engine.put_rows(padded_rows(np.arange(batch_size), batch_size, engine.mesh.size))
    roots = jax.device_put((jax.random.key(0), jax.random.key(1)), engine.replicated)
    batch = engine.batch_program(augment.parse("to_tensor"))(state.step, split, rows, state.step, roots[0])
    totals = engine.replicate(zero_totals())
    holder = {"state": state, "totals": totals}
    compile_seconds = []
    hits_before = len(_CACHE_HITS)
    for _ in range(2):  # compiled, then (in-memory caches cleared) loaded from the persistent cache
        jax.clear_caches()
        started = time.perf_counter()
        update.lower(state, totals, batch, roots[1]).compile()
        compile_seconds.append(time.perf_counter() - started)
        if len(compile_seconds) == 1:
            program_was_cached = len(_CACHE_HITS) > hits_before

    def run(steps: int):
        state, totals = holder["state"], holder["totals"]
        for _ in range(steps):
            state, totals, _ = update(state, totals, batch, roots[1])
        jax.block_until_ready(totals)
        holder["state"], holder["totals"] = state, totals

    run(1)
    return run, *compile_seconds, program_was_cached


def torch_runner(config, batch_size: int, device: torch.device):
    torch.manual_seed(0)
    model = TORCH_MODELS[config.model]().to(device)
    model.train()
    optimizer_config = dict(config.optimizer)
    if optimizer_config["name"] == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=optimizer_config["learning_rate"],
                                    momentum=optimizer_config.get("momentum", 0.0),
                                    weight_decay=optimizer_config.get("weight_decay", 0.0))
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=optimizer_config["learning_rate"])
    loss_fn = torch.nn.functional.nll_loss if config.loss == "nll" else torch.nn.functional.cross_entropy
    images = torch.randn(batch_size, 1, 28, 28, device=device)
    labels = torch.randint(0, 10, (batch_size,), device=device)

    def run(steps: int):
        for _ in range(steps):
            optimizer.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimizer.step()
        # CUDA kernels run asynchronously: a round ends when the device has finished its steps.
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    run(1)
    return run


def timed(run, steps: int, batch_size: int) -> float:
    started = time.perf_counter()
    run(steps)
    return steps * batch_size / (time.perf_counter() - started)


def fail(message: str):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def torch_device(name: str) -> torch.device:
    """The PyTorch side's device; 'cuda' only where this torch build sees a GPU."""
    if name == "cuda" and not torch.cuda.is_available():
        fail(f"--torch-device cuda: torch {torch.__version__} sees no CUDA device")
    return torch.device(name)


def use_tf32(precision: str) -> bool:
    """Whether PyTorch may multiply in TF32 to match JAX's `matmul_precision` (full float32 at 'highest')."""
    allowed = precision != "highest"
    torch.backends.cuda.matmul.allow_tf32 = allowed
    torch.backends.cudnn.allow_tf32 = allowed
    return allowed


def header(device) -> dict:
    return {"jax": jax.__version__, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "torch_device": str(device), "jax_backend": jax.default_backend(), "jax_devices": jax.device_count(),
            "usable_cores": runtime.usable_cores()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=models.names())
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu-devices", type=runtime.device_count_argument, metavar="N",
                        help="JAX CPU devices to split each batch over (default: one per usable core)")
    parser.add_argument("--torch-device", choices=["cpu", "cuda"], default="cpu",
                        help="where the PyTorch side runs (default: cpu)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--partial-json", type=Path, metavar="FILE",
                        help="rewrite FILE after each model with the results so far (kept if the run is stopped)")
    args = parser.parse_args()
    device = torch_device(args.torch_device)
    runtime.deterministic_gpu_ops()  # as `jaxmnist train`
    runtime.use_cpu_cores_as_devices(args.cpu_devices)
    # The process settings of `jaxmnist train` (they apply to the PyTorch side too: one process),
    # with a compilation cache of this run's own.
    runtime.keep_freed_host_memory()
    cache = tempfile.TemporaryDirectory(prefix="jaxmnist-benchmark-xla-cache-")
    runtime.enable_compilation_cache(cache.name)
    recipes = notebook_recipes()
    results = []
    for name in args.models:
        config = recipes[name]
        batch_size = config.batch_size
        jax_run, compile_seconds, cached_compile_seconds, program_was_cached = jax_runner(config, batch_size)
        tf32 = use_tf32(config.get("matmul_precision", config_lib.ADDED_KEY_DEFAULTS["matmul_precision"]))
        torch_run = torch_runner(config, batch_size, device)
        jax_rates, torch_rates = [], []
        for _ in range(args.repeats):
            jax_rates.append(timed(jax_run, args.steps, batch_size))
            torch_rates.append(timed(torch_run, args.steps, batch_size))
        result = {"model": name, "experiment": config.experiment, "batch_size": batch_size,
                  "jax_images_per_s": statistics.median(jax_rates), "jax_range": [min(jax_rates), max(jax_rates)],
                  "torch_images_per_s": statistics.median(torch_rates),
                  "torch_range": [min(torch_rates), max(torch_rates)],
                  "ratio": statistics.median(jax_rates) / statistics.median(torch_rates),
                  "compile_seconds": compile_seconds, "cached_compile_seconds": cached_compile_seconds,
                  "program_was_cached": program_was_cached, "torch_tf32": tf32}
        results.append(result)
        if args.partial_json:
            # Replaced whole, so a run stopped at any moment leaves a readable file.
            atomic_write_text(args.partial_json, json.dumps({**header(device), "partial": True, "results": results}))
        if not args.json:
            print(f"{name:14s} batch {batch_size:4d}  jax {result['jax_images_per_s']:8.0f} "
                  f"({min(jax_rates):.0f}-{max(jax_rates):.0f})  torch {result['torch_images_per_s']:8.0f} "
                  f"({min(torch_rates):.0f}-{max(torch_rates):.0f}) images/s  ratio {result['ratio']:.2f}  "
                  f"compile {compile_seconds:.1f} s{' (program cached by an earlier model)' if program_was_cached else ''}"
                  f", from the cache {cached_compile_seconds:.1f} s", flush=True)
    ratios = [result["ratio"] for result in results]
    geometric_mean = float(np.exp(np.mean(np.log(ratios))))
    if args.json:
        print(json.dumps({**header(device), "results": results, "geometric_mean_ratio": geometric_mean}, indent=2))
    else:
        print(f"jax {jax.__version__} ({jax.device_count()} {jax.default_backend()} devices), torch {torch.__version__} "
              f"({device}, {torch.get_num_threads()} threads), {runtime.usable_cores()} usable cores; "
              f"geometric mean ratio {geometric_mean:.2f}")


if __name__ == "__main__":
    main()
