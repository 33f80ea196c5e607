"""Offline tfds preparation: validation, clear errors, nothing half-prepared, tfds untouched."""

import gzip
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxmnist import cli
from jaxmnist.data import idx, prepare
from jaxmnist.errors import UserError

from conftest import FIXTURE_IDX, REPO, SHARED_DATA, needs_tfds

FIXTURE_FACTS = {
    # dataset: {split: (examples, label counts 0..9, pixel mean, pixel std)}, from the fixture's own files.
    "mnist": {"train": (1500, [140, 172, 144, 142, 160, 137, 141, 177, 134, 153], 0.1309, 0.3085),
              "test": (500, [42, 67, 55, 45, 55, 50, 43, 49, 40, 54], 0.1206, 0.2966)},
    "fashion_mnist": {"train": (1500, [146, 151, 148, 145, 146, 158, 148, 165, 148, 145], 0.2827, 0.3531),
                      "test": (500, [55, 52, 65, 46, 57, 39, 47, 47, 44, 48], 0.2951, 0.3569)},
}
FULL_FACTS = {
    "mnist": {"train": (60000, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949], 0.1307, 0.3081),
              "test": (10000, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009], None, None)},
    "fashion_mnist": {"train": (60000, [6000] * 10, 0.2860, 0.3530),
                      "test": (10000, [1000] * 10, None, None)},
}


def _assert_facts(data_dir, facts):
    for dataset, splits in facts.items():
        info = prepare.dataset_info(dataset, str(data_dir))
        assert info["prepared"] and info["version"] == "3.0.1"
        for split, (examples, label_counts, mean, std) in splits.items():
            stats = info["splits"][split]
            assert stats["examples"] == examples
            assert stats["label_counts"] == label_counts
            if mean is not None:
                assert stats["pixel_mean"] == mean and stats["pixel_std"] == std


def _package_digest(module) -> str:
    digest = hashlib.sha256()
    root = Path(module.__file__).parent
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def test_fixture_prepares_with_exact_counts_and_stats(fixture_data_dir):
    _assert_facts(fixture_data_dir, FIXTURE_FACTS)


def test_loaded_split_is_in_idx_file_order(fixture_data_dir):
    images, labels = prepare.load_split("mnist", "train", str(fixture_data_dir))
    original = idx.read_split(FIXTURE_IDX / "mnist", "mnist", "train", verify_official=False)
    assert images.shape == (1500, 28, 28, 1) and images.dtype == np.uint8
    np.testing.assert_array_equal(images[..., 0], original.images)
    np.testing.assert_array_equal(labels, original.labels)


@needs_tfds
def test_later_loads_read_the_decoded_copy_without_tensorflow(tmp_path, monkeypatch):
    prepare.prepare("mnist", FIXTURE_IDX, tmp_path, verify_official=False)
    prepare.load_split.cache_clear()
    images, labels = prepare.load_split("mnist", "test", str(tmp_path))
    [copy] = (tmp_path / "mnist").glob("*/jaxmnist-decoded-test.npz")

    def no_tensorflow():
        raise AssertionError("TensorFlow was needed")

    prepare.load_split.cache_clear()
    with monkeypatch.context() as patch:
        patch.setattr(prepare, "_quiet_tensorflow", no_tensorflow)
        again = prepare.load_split("mnist", "test", str(tmp_path))
    np.testing.assert_array_equal(again[0], images)
    np.testing.assert_array_equal(again[1], labels)
    assert again[1].dtype == np.int32 and not again[0].flags.writeable

    copy.write_bytes(copy.read_bytes()[:1000])  # damaged: decoded from the records again, and rewritten
    prepare.load_split.cache_clear()
    repaired = prepare.load_split("mnist", "test", str(tmp_path))
    np.testing.assert_array_equal(repaired[0], images)
    with np.load(copy) as saved:
        np.testing.assert_array_equal(saved["labels"], labels)
    prepare.load_split.cache_clear()


@needs_tfds
def test_prepare_leaves_installed_tfds_byte_identical(tmp_path):
    import tensorflow_datasets

    before = _package_digest(tensorflow_datasets)
    prepare.prepare("mnist", FIXTURE_IDX, tmp_path, verify_official=False)
    assert _package_digest(tensorflow_datasets) == before


def test_subset_is_refused_without_allow_unofficial(tmp_path):
    with pytest.raises(UserError, match="--allow-unofficial"):
        prepare.prepare("mnist", FIXTURE_IDX, tmp_path)
    assert not (tmp_path / "mnist").exists()


def _broken_copy(tmp_path, filename, mutate) -> Path:
    source = tmp_path / "source" / "mnist"
    shutil.copytree(FIXTURE_IDX / "mnist", source)
    mutate(source / filename)
    return source.parent


def _run_prepare_cli(source, data_dir, capsys):
    code = cli.main(["data", "prepare", "--source", str(source), "--dataset", "mnist",
                     "--data-dir", str(data_dir), "--allow-unofficial"])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("filename, mutate, message", [
    ("train-images-idx3-ubyte.gz",
     lambda path: path.write_bytes(path.read_bytes()[:5000]), "not a valid gzip file"),
    ("t10k-labels-idx1-ubyte.gz",
     lambda path: path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-7])), "truncated"),
    ("train-labels-idx1-ubyte.gz",
     lambda path: path.write_bytes(gzip.compress(b"\x00\x00\x08\x03" + gzip.decompress(path.read_bytes())[4:])),
     "magic number 2051, expected 2049"),
    ("t10k-images-idx3-ubyte.gz", lambda path: path.unlink(), "missing"),
])
def test_bad_file_gives_one_clear_line_and_leaves_nothing(tmp_path, capsys, filename, mutate, message):
    source = _broken_copy(tmp_path, filename, mutate)
    data_dir = tmp_path / "tfds"
    code, err = _run_prepare_cli(source, data_dir, capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert filename.removesuffix(".gz") in lines[0] and message in lines[0]
    assert not data_dir.exists() or list(data_dir.iterdir()) == []


def test_cli_error_has_no_traceback_in_a_real_process(tmp_path):
    source = _broken_copy(tmp_path, "train-images-idx3-ubyte.gz", lambda path: path.write_bytes(b"junk"))
    result = subprocess.run(
        [sys.executable, "-m", "jaxmnist.cli", "data", "prepare", "--source", str(source), "--dataset", "mnist",
         "--data-dir", str(tmp_path / "tfds"), "--allow-unofficial"],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_train_without_data_or_network_says_how_to_prepare(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(prepare.DATA_SOURCE_ENV, raising=False)
    monkeypatch.setattr(prepare, "_network_reachable", lambda: False)
    with pytest.raises(UserError, match=r"jaxmnist data prepare --source DIR"):
        prepare.ensure_prepared("mnist", str(tmp_path))


def test_data_source_env_that_is_no_directory_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setenv(prepare.DATA_SOURCE_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(UserError, match="not a directory"):
        prepare.ensure_prepared("mnist", str(tmp_path / "tfds"))


@pytest.mark.full_data
def test_data_source_env_prepares_automatically(tmp_path, monkeypatch):
    # Only the official files are prepared without being asked: the fixture subset would be refused.
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"full data not found at {SHARED_DATA}")
    monkeypatch.setenv(prepare.DATA_SOURCE_ENV, str(SHARED_DATA))
    monkeypatch.setattr(prepare, "_network_reachable", lambda: pytest.fail("looked for the network"))
    data_dir = prepare.ensure_prepared("mnist", str(tmp_path / "tfds"))
    assert prepare.is_prepared("mnist", data_dir)
    _assert_facts(data_dir, {"mnist": FULL_FACTS["mnist"]})


def test_data_info_cli(fixture_data_dir, capsys):
    assert cli.main(["data", "info", "--dataset", "mnist", "--data-dir", str(fixture_data_dir)]) == 0
    out = capsys.readouterr().out
    assert "test     500 examples  pixel mean 0.1206 std 0.2966" in out
    assert "labels 0..9: 42 67 55 45 55 50 43 49 40 54" in out


@pytest.mark.full_data
def test_full_data_prepares_with_the_published_facts(full_data_dir):
    _assert_facts(full_data_dir, FULL_FACTS)


@pytest.mark.full_data
def test_full_data_corrupt_byte_is_caught_by_checksum(tmp_path, capsys):
    source = tmp_path / "source" / "mnist"
    source.mkdir(parents=True)
    for path in (SHARED_DATA / "mnist").glob("*.gz"):
        (source / path.name).symlink_to(path)
    labels = source / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(labels.read_bytes()))
    content[100] = (content[100] + 1) % 10
    labels.unlink()
    labels.write_bytes(gzip.compress(bytes(content)))
    code = cli.main(["data", "prepare", "--source", str(source.parent), "--dataset", "mnist",
                     "--data-dir", str(tmp_path / "tfds")])
    err = capsys.readouterr().err
    assert code == 2 and "t10k-labels-idx1-ubyte" in err and "sha256" in err
    assert not (tmp_path / "tfds").exists() or list((tmp_path / "tfds").iterdir()) == []


def test_without_tensorflow_the_idx_files_give_the_arrays_tfds_gives(fixture_data_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "tfds_installed", lambda: False)
    for dataset in prepare.DATASETS:
        path = prepare.prepare(dataset, FIXTURE_IDX, tmp_path, verify_official=False)
        assert path == tmp_path / dataset / "3.0.1"
        assert sorted(file.name for file in path.iterdir()) == ["jaxmnist-decoded-test.npz",
                                                                "jaxmnist-decoded-train.npz"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fashion_mnist", "mnist"]  # no staging left
    prepare.load_split.cache_clear()
    for dataset in prepare.DATASETS:
        for split in prepare.SPLITS:
            arrays = prepare.load_split(dataset, split, str(tmp_path))
            from_tfds = prepare.load_split(dataset, split, str(fixture_data_dir))
            for array, expected in zip(arrays, from_tfds):
                assert array.dtype == expected.dtype and array.shape == expected.shape
                np.testing.assert_array_equal(array, expected)
    _assert_facts(tmp_path, FIXTURE_FACTS)


def test_without_tensorflow_missing_data_says_how_to_prepare_from_idx_files(tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "tfds_installed", lambda: False)
    monkeypatch.delenv(prepare.DATA_SOURCE_ENV, raising=False)
    monkeypatch.setattr(prepare, "_network_reachable", lambda: pytest.fail("looked for the network"))
    prepare.load_split.cache_clear()
    with pytest.raises(UserError, match=r"without tensorflow-datasets installed.*JAXMNIST_DATA=DIR"):
        prepare.load_split("mnist", "train", str(tmp_path))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.full_data
def test_without_tensorflow_data_source_env_prepares_the_arrays(tmp_path, monkeypatch):
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"full data not found at {SHARED_DATA}")
    monkeypatch.setattr(prepare, "tfds_installed", lambda: False)
    monkeypatch.setenv(prepare.DATA_SOURCE_ENV, str(SHARED_DATA))
    prepare.load_split.cache_clear()
    images, labels = prepare.load_split("mnist", "test", str(tmp_path))
    assert images.shape == (10000, 28, 28, 1) and np.bincount(labels).tolist() == FULL_FACTS["mnist"]["test"][1]
    # Damaged arrays are rebuilt from the IDX files, not trusted.
    (tmp_path / "mnist" / "3.0.1" / "jaxmnist-decoded-test.npz").write_bytes(b"junk")
    prepare.load_split.cache_clear()
    np.testing.assert_array_equal(prepare.load_split("mnist", "test", str(tmp_path))[1], labels)


def test_training_plotting_and_compare_never_import_tensorflow_once_data_is_prepared(fixture_data_dir, tmp_path):
    for split in prepare.SPLITS:  # the decoded arrays a first load leaves beside the records
        prepare.load_split("mnist", split, str(fixture_data_dir))
    workdir = tmp_path / "run"
    script = f"""
import sys
from jaxmnist.cli import main
config = {str(REPO / 'tests' / 'configs' / 'tiny_lenet_bn.py')!r}
codes = [main(["train", config, "--workdir", {str(workdir)!r}, "--data-dir", {str(fixture_data_dir)!r},
               "--epochs", "1", "--limit-train", "96", "--cpu-devices", "1"]),
         main(["plot", {str(workdir)!r}, "--kind", "predictions", "--out", {str(tmp_path / 'p.png')!r}]),
         main(["compare", {str(REPO / 'docs' / 'runs' / 'net8k')!r}])]
imported = sorted(name for name in sys.modules if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"))
print("codes", codes, "imported", imported[:5])
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.stdout.strip().splitlines()[-1] == "codes [0, 0, 0] imported []", result.stderr[-2000:]
