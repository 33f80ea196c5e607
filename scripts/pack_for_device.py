"""Build .device/, what travels with this checkout to a GPU machine for scripts/accelerator_check.py.

Usage: python scripts/pack_for_device.py [--data-source ../shared/data] [--json]

The GPU machine (Python 3.12, JAX with its CUDA plugin, Flax, Optax, Orbax, PyTorch and torchvision,
matplotlib, TensorBoard, tqdm, pytest; no TensorFlow, no network) lacks two of jaxmnist's pure-Python
dependencies. This writes

    .device/wheels/   ml-collections and dm-pix as wheels for CPython 3.12, the versions installed here
                      (what they need, absl-py, PyYAML, chex, jax and numpy, is on the machine)
    .device/data/     the gzipped MNIST and Fashion-MNIST IDX files (from --data-source, default
                      $JAXMNIST_DATA, else ../shared/data)

and prints the `run` call to make: carry [".device"], a command that installs the wheels into
/tmp/site and runs the check, its JSON report and log written to $OUT. .device/ is in .gitignore.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEVICE = REPO / ".device"
WHEELS = DEVICE / "wheels"
DATA = DEVICE / "data"
DATASETS = ("mnist", "fashion_mnist")
# jaxmnist's dependencies missing on the GPU machine, and the versions to carry where this venv has none.
MISSING_THERE = {"ml-collections": "1.1.0", "dm-pix": "0.4.5"}
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
TRAVEL_LIMIT_BYTES = 64 << 20  # the working tree and carried paths that may travel together
RUN_TIMEOUT_S = 600

RUN_COMMAND = (
    "python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "
    ".device/wheels/*.whl && export PYTHONPATH=/tmp/site || exit; "
    "PYTHONUNBUFFERED=1 python3 scripts/accelerator_check.py --data-source .device/data "
    "--out $OUT/accelerator_check.json"
)


def fail(message: str):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def pinned_versions() -> dict[str, str]:
    """The version of each missing package installed here (tested with jaxmnist), else the fallback pin."""
    versions = {}
    for name, fallback in MISSING_THERE.items():
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = fallback
    return versions


def download_wheels(versions: dict[str, str]):
    if WHEELS.exists():
        shutil.rmtree(WHEELS)  # one version of each: two would stop the whole install there
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
               "--python-version", "3.12", "--implementation", "cp", "-d", str(WHEELS)]
    for platform_tag in PLATFORMS:
        command += ["--platform", platform_tag]
    command += [f"{name}=={version}" for name, version in versions.items()]
    if subprocess.run(command).returncode != 0:
        fail(f"pip could not download {', '.join(f'{name}=={version}' for name, version in versions.items())}")


def copy_data(source: Path):
    for dataset in DATASETS:
        folder = source / dataset
        if not (folder / "train-images-idx3-ubyte.gz").is_file():
            fail(f"no IDX files in {folder} (expected train-images-idx3-ubyte.gz etc.); pass --data-source")
    if DATA.exists():
        shutil.rmtree(DATA)
    for dataset in DATASETS:
        (DATA / dataset).mkdir(parents=True)
        for path in (source / dataset).iterdir():
            # Contents only: the source's read-only modes would stop the next rebuild's removal.
            shutil.copyfile(path, DATA / dataset / path.name)


def travelling_bytes() -> int:
    """Tracked and untracked-not-ignored files of the checkout, plus .device/."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    files = [REPO / name for name in listed if name]
    files += [path for path in DEVICE.rglob("*") if path.is_file()]
    return sum(path.stat().st_size for path in files if path.is_file())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-source", type=Path,
                        help="folder with mnist/ and fashion_mnist/ IDX files (default: $JAXMNIST_DATA, else "
                             "../shared/data)")
    parser.add_argument("--json", action="store_true", help="print the run call as JSON only")
    args = parser.parse_args()
    source = args.data_source or Path(os.environ.get("JAXMNIST_DATA") or REPO.parent / "shared" / "data")
    versions = pinned_versions()
    download_wheels(versions)
    copy_data(source.resolve())
    size = travelling_bytes()
    if size > TRAVEL_LIMIT_BYTES:
        fail(f"{size / 2**20:.1f} MiB would travel, over the {TRAVEL_LIMIT_BYTES >> 20} MiB limit")
    call = {"command": RUN_COMMAND, "carry": [".device"], "timeout_s": RUN_TIMEOUT_S}
    if args.json:
        print(json.dumps(call))
        return 0
    wheels = sorted(path.name for path in WHEELS.glob("*.whl"))
    print(f"{DEVICE.relative_to(REPO)}/: {', '.join(wheels)}; IDX files of {', '.join(DATASETS)} from {source}")
    print(f"{size / 2**20:.1f} MiB travel with the checkout (limit {TRAVEL_LIMIT_BYTES >> 20} MiB)")
    print("run with:")
    print(json.dumps(call, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
