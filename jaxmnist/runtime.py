"""Settings of a training process (`jaxmnist train` and the benchmarks): made before JAX starts.

- On a CPU host every core is a JAX device, so data parallelism splits each batch over the cores.
- The compilation cache keeps compiled programs on disk, so a resumed run (or another run of a
  model) loads them instead of compiling again.
- glibc malloc is told to keep freed memory. XLA:CPU allocates every step's temporaries as one
  buffer; above 32 MB glibc maps fresh pages for it each time, and each page faults on first
  touch, which slowed the steps of the larger models (docs/PERFORMANCE.md).
- `provenance()` says what produced a process's numbers (versions, git commit, device kind), for timing.jsonl.
"""

import argparse
import ast
import ctypes
import ctypes.util
import functools
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

# mallopt parameters, from glibc's malloc.h
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -2, -4, -8


def keep_freed_host_memory() -> bool:
    """Serve every allocation from one heap that is never trimmed; False where libc has no mallopt.

    One arena (threads created later share it) and no mmap: a freed step buffer is reused by the
    next step. The process keeps the memory of its peak, as PyTorch's caching allocators do.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # not glibc (macOS, musl without mallopt, Windows)
        return False
    settings = {_M_ARENA_MAX: 1, _M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: 2**31 - 1, _M_TOP_PAD: 256 << 20}
    return all(mallopt(parameter, value) == 1 for parameter, value in settings.items())


_XLA_CACHES_OPTION = "jax_persistent_cache_enable_xla_caches"


def enable_compilation_cache(directory: str | Path | None = None):
    """Cache compiled programs in `directory`, else $JAX_COMPILATION_CACHE_DIR, else ~/.cache/jaxmnist/xla.

    A resumed run reaches its first train step seconds sooner (docs/PERFORMANCE.md).
    JAX_ENABLE_COMPILATION_CACHE=false turns it off.
    """
    import jax

    if directory is None and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        directory = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jaxmnist" / "xla"
    if directory is not None:
        jax.config.update("jax_compilation_cache_dir", str(directory))
    # Initialisation runs dozens of small programs: caching only the slow ones would leave it at seconds.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    # XLA:GPU's autotuning results go into the cache too, so a new program whose fusions were tuned
    # before (another block size, another run) skips their autotuning. jax 0.10.2 has this option,
    # and this value as its default; older jax lacks it, and $JAX_PERSISTENT_CACHE_ENABLE_XLA_CACHES wins.
    if _XLA_CACHES_OPTION in jax.config.values and not os.environ.get(_XLA_CACHES_OPTION.upper()):
        jax.config.update(_XLA_CACHES_OPTION, "xla_gpu_per_fusion_autotune_cache_dir")


_DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"


def with_xla_gpu_flags(xla_flags: str, flags: dict[str, str]) -> str:
    """`xla_flags` (an XLA_FLAGS value) with each XLA:GPU flag of `flags` (name: value) it does not set yet.

    A flag XLA_FLAGS already names keeps its value there: the user's choice stays. Only XLA:GPU
    flags (`xla_gpu_...`) are taken: XLA:CPU and TPU read none of them, so they act on GPU only.
    """
    unknown = [name for name in flags if not name.startswith("xla_gpu_")]
    if unknown:
        raise ValueError(f"not XLA:GPU flags: {', '.join(unknown)}")
    named = {item.removeprefix("--").split("=")[0] for item in xla_flags.split()}
    added = [f"--{name}={value}" for name, value in flags.items() if name not in named]
    return " ".join([xla_flags.strip(), *added]).strip()


def set_xla_gpu_flags(flags: dict[str, str]):
    """Adds XLA:GPU flags to this process's XLA_FLAGS (see `with_xla_gpu_flags`). Must run before
    JAX initialises its backends."""
    os.environ["XLA_FLAGS"] = with_xla_gpu_flags(os.environ.get("XLA_FLAGS", ""), flags)


def deterministic_gpu_ops():
    """Have XLA:GPU compute every result in a fixed order, unless XLA_FLAGS already sets this.

    Without it two runs of one config on an H200 wrote different metrics.jsonl, so no resumed run
    could equal an unbroken one. With it they were identical, and epochs took longer (docs/PERFORMANCE.md).
    XLA_FLAGS=--xla_gpu_deterministic_ops=false trades that for speed. Other backends ignore the
    flag. Must run before JAX initialises its backends.
    """
    set_xla_gpu_flags({"xla_gpu_deterministic_ops": "true"})


def usable_cores() -> int:
    """The cores this process may run on (its affinity: `taskset -c 1` gives 1)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def device_count_argument(text: str) -> int:
    """argparse type of `--cpu-devices`: a whole number of at least 1."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got '{text}'")
    return count


def seeds_argument(text: str) -> list[int]:
    """argparse type of `--seeds`: '0-7' (inclusive), '1,4,9', or a mix ('0-2,7'); each seed once."""
    seeds = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            seeds += range(int(first), int(last or first) + 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be seeds such as 0-7 or 1,4,9, got '{text}'") from None
    if not seeds:
        raise argparse.ArgumentTypeError(f"'{text}' is an empty range of seeds")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"'{text}' names a seed twice")
    if min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"seeds are whole numbers of at least 0, got '{text}'")
    return seeds


def sweep_argument(text: str) -> tuple[str, list[str]]:
    """argparse type of `--sweep`: 'KEY=V1,V2,...' as (KEY, [V1, V2, ...]), each value as written
    (Python literals such as {"name": "cosine"} may hold commas)."""
    key, separator, values = text.partition("=")
    key = key.strip()
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"must be KEY=V1,V2,... such as optimizer.learning_rate=0.01,0.02, "
                                         f"got '{text}'")
    try:
        source = f"({values},)"
        items = [ast.get_source_segment(source, item) for item in ast.parse(source, mode="eval").body.elts]
    except SyntaxError:  # bare words: adam,sgd
        items = values.split(",")
    items = [item.strip() for item in items if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"'{text}' gives {key} no values")
    if len(set(items)) != len(items):
        raise argparse.ArgumentTypeError(f"'{text}' names a value twice")
    return key, items


def steps_per_dispatch_argument(text: str) -> int | str:
    """argparse type of `--steps-per-dispatch`: a whole number of at least 1, or 'epoch'."""
    if text == "epoch":
        return text
    return device_count_argument(text)


def use_cpu_cores_as_devices(count: int | None = None):
    """Give JAX's CPU backend `count` devices (default: one per usable core).

    XLA:CPU runs a program's operations one after another and splits few of them over the
    cores, so one device left most of a 2-core host's second core idle; as one device per core,
    each core runs the step on its share of the batch (docs/PERFORMANCE.md).
    Only the CPU backend changes: GPU and TPU runs use their accelerators as before.
    Without `count`, a device count already given in XLA_FLAGS is kept. Must run before JAX
    initialises its backends.
    """
    import jax

    if count is None:
        if _DEVICE_COUNT_FLAG in os.environ.get("XLA_FLAGS", ""):
            return
        count = usable_cores()
    jax.config.update("jax_num_cpu_devices", count)


# The packages whose versions decide a run's numbers, besides jaxmnist and Python.
PROVENANCE_PACKAGES = ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint")
_GIT_SECONDS = 5


def _git(package_dir: Path, *arguments: str) -> str | None:
    """What `git -C package_dir ARGUMENTS` prints, or None where git is missing, slow or fails."""
    try:
        result = subprocess.run(["git", "-C", str(package_dir), *arguments], capture_output=True, text=True,
                                timeout=_GIT_SECONDS)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def git_state(package_dir: Path) -> tuple[str | None, bool | None]:
    """(commit, uncommitted changes) of the checkout holding `package_dir`; (None, None) outside one.

    The package must be tracked there: an installed copy inside some other repository (a venv
    within a project) is no checkout of jaxmnist.
    """
    if _git(package_dir, "ls-files", "--error-unmatch", "__init__.py") is None:
        return None, None
    commit, changes = _git(package_dir, "rev-parse", "HEAD"), _git(package_dir, "status", "--porcelain")
    return (commit.strip() if commit else None), (bool(changes.strip()) if changes is not None else None)


def _installed_version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.cache
def provenance() -> dict:
    """What produced this process's numbers, for timing.jsonl: jaxmnist's version and git commit,
    the versions of Python and of PROVENANCE_PACKAGES, and the kind of device. Computed once per process."""
    import jax

    commit, uncommitted_changes = git_state(Path(__file__).resolve().parent)
    return {"jaxmnist": _installed_version("jaxmnist"), "git_commit": commit, "git_uncommitted_changes": uncommitted_changes,
            "python": platform.python_version(),
            **{package: _installed_version(package) for package in PROVENANCE_PACKAGES},
            "device_kind": jax.devices()[0].device_kind}
