"""Shared fixtures: tfds data dirs prepared once per session from the committed fixture or ../shared/data."""

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# The `jaxmnist train` processes the tests start share one compilation cache, away from ~/.cache.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="jaxmnist-test-xla-cache-"))
# float32 products everywhere, also in the processes the tests start: on recent NVIDIA GPUs XLA
# otherwise multiplies float32 in TF32, and the parity tests' tolerances are float32's.
os.environ.setdefault("JAX_DEFAULT_MATMUL_PRECISION", "highest")

REPO = Path(__file__).resolve().parent.parent
FIXTURE_IDX = REPO / "tests" / "fixtures"
# The IDX files where `make` and the README point jaxmnist ($JAXMNIST_DATA), else beside this checkout.
SHARED_DATA = Path(os.environ.get("JAXMNIST_DATA") or REPO.parent / "shared" / "data")


def _tfds_installed() -> bool:
    from jaxmnist.data import prepare

    return prepare.tfds_installed()


# Tests of the tfds build and of TensorFlow's own output; a machine without the tfds extra skips them.
needs_tfds = pytest.mark.skipif(not _tfds_installed(), reason="needs tensorflow-datasets (the tfds extra)")


@pytest.fixture(scope="session")
def fixture_data_dir(tmp_path_factory) -> Path:
    """A tfds data dir with mnist and fashion_mnist prepared from the 2,000-image fixture."""
    from jaxmnist.data import prepare

    data_dir = tmp_path_factory.mktemp("tfds_fixture")
    for dataset in prepare.DATASETS:
        prepare.prepare(dataset, FIXTURE_IDX, data_dir, verify_official=False)
    return data_dir


@pytest.fixture(scope="session")
def full_data_dir(tmp_path_factory) -> Path:
    """A tfds data dir with the full datasets prepared from ../shared/data (skips where absent)."""
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"full data not found at {SHARED_DATA}")
    from jaxmnist.data import prepare

    data_dir = tmp_path_factory.mktemp("tfds_full")
    for dataset in prepare.DATASETS:
        prepare.prepare(dataset, SHARED_DATA, data_dir)
    return data_dir
