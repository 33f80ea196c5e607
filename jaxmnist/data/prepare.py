"""tfds datasets `mnist` and `fashion_mnist`, prepared online as usual or offline from IDX files.

Offline preparation runs tfds's own builder (same name, version, features and
splits as a download would give) with its download step replaced by the local,
validated IDX content. It builds into a temporary directory inside the data dir
and renames the result into place, so an interruption or a bad file never
leaves a half-prepared dataset. Nothing in the installed tensorflow_datasets
package is touched (its registered .gz checksums are never consulted).

Training reads a split's decoded arrays (an .npz beside the tfds records), so
TensorFlow is imported only to build a dataset or decode it once. Where
TensorFlow or tensorflow-datasets is not installed (a typical GPU machine),
preparation writes those arrays straight from the validated IDX files into the
directory tfds would use, and nothing else changes.
"""

import contextlib
import functools
import importlib.util
import json
import os
import socket
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

from jaxmnist import workdir
from jaxmnist.config import DATASETS
from jaxmnist.data import idx
from jaxmnist.errors import RunWarning, UserError

SPLITS = ("train", "test")
DATA_SOURCE_ENV = "JAXMNIST_DATA"
# The version of tfds's mnist and fashion_mnist builders: where arrays prepared without tfds go.
TFDS_VERSION = "3.0.1"


def tfds_installed() -> bool:
    """Whether TensorFlow and tensorflow-datasets can be imported (checked without importing them)."""
    return all(importlib.util.find_spec(name) is not None for name in ("tensorflow", "tensorflow_datasets"))


def resolve_data_dir(data_dir: str | None = None) -> Path:
    """--data-dir, else $TFDS_DATA_DIR, else tfds's default ~/tensorflow_datasets."""
    return Path(data_dir or os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets").expanduser()


def _quiet_tensorflow():
    # Read by TensorFlow's C++ runtime when it loads: its startup lines (absl's "WARNING: All log
    # messages before absl::InitializeLog()...", CPU features) are news for no user of ours.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # oneDNN's kernels change float results only, and announce themselves on stderr at import;
    # TensorFlow here decodes uint8 images, where they change nothing.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf
    # tf.data is only used on the host: keep TensorFlow away from any accelerator JAX uses.
    tf.config.set_visible_devices([], "GPU")
    import tensorflow_datasets as tfds
    tfds.disable_progress_bar()
    from absl import logging as absl_logging
    absl_logging.set_verbosity(absl_logging.ERROR)  # tfds warns about folders it is about to create
    return tfds


def _builder(dataset: str, data_dir: Path):
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset '{dataset}' (known: {', '.join(DATASETS)})")
    return _quiet_tensorflow().builder(dataset, data_dir=str(data_dir))


def is_prepared(dataset: str, data_dir: Path) -> bool:
    """Both splits' decoded arrays are there, or (with tfds installed) tfds's records."""
    if all(_decoded_copy_path(dataset, split, data_dir) for split in SPLITS):
        return True
    if not (Path(data_dir) / dataset).is_dir():  # nothing of it there: said without importing TensorFlow
        return False
    return tfds_installed() and _builder(dataset, data_dir).is_prepared()


def _source_folder(source: Path, dataset: str) -> Path:
    """`source/<dataset>` (the layout of ../shared/data), or `source` itself if it holds the files."""
    if not source.is_dir():
        raise UserError(f"{source}: not a directory (expected a folder with mnist/ and fashion_mnist/ "
                        "or the four IDX files)")
    nested = source / dataset
    return nested if nested.is_dir() else source


def prepare(dataset: str, source: Path, data_dir: Path, verify_official: bool = True,
            force: bool = False) -> Path:
    """Build the tfds dataset from IDX files in `source`; returns its prepared directory.

    Without tfds installed, the directory holds the decoded arrays only (what training reads).
    """
    if not tfds_installed():
        return _prepare_arrays(dataset, source, data_dir, verify_official, force)
    tfds = _quiet_tensorflow()
    final_builder = _builder(dataset, data_dir)
    if final_builder.is_prepared() and not force:
        return Path(final_builder.data_dir)
    folder = _source_folder(Path(source), dataset)
    # Validate everything before building anything.
    splits = {split: idx.read_split(folder, dataset, split, verify_official) for split in SPLITS}

    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=f".{dataset}-preparing-") as tmp:
        raw_dir = Path(tmp) / "raw"
        raw_dir.mkdir()
        raw_files = {}
        for split, content in splits.items():
            for kind in ("images", "labels"):
                path = raw_dir / idx.FILE_STEMS[(split, kind)]
                path.write_bytes(content.images_bytes if kind == "images" else content.labels_bytes)
                raw_files[(split, kind)] = str(path)

        builder = tfds.builder(dataset, data_dir=str(Path(tmp) / "tfds"))

        def local_split_generators(dl_manager):
            del dl_manager  # the files are already here: nothing to download
            return [
                tfds.core.SplitGenerator(name=split, gen_kwargs=dict(
                    num_examples=len(splits[split].labels),
                    data_path=raw_files[(split, "images")],
                    label_path=raw_files[(split, "labels")]))
                for split in SPLITS
            ]

        # Instance attributes shadow the class's download step and its "Downloading..." banner;
        # tfds itself stays unmodified.
        builder._split_generators = local_split_generators
        builder._log_download_bytes = builder._log_download_done = lambda: None
        print(f"{dataset}: building the tfds dataset from the validated IDX files in {folder} ...",
              file=sys.stderr, flush=True)
        builder.download_and_prepare(
            download_dir=str(Path(tmp) / "downloads"),
            download_config=tfds.download.DownloadConfig(try_download_gcs=False))

        target = Path(final_builder.data_dir)
        _move_into_place(Path(builder.data_dir), target, Path(tmp))
    return target


def _move_into_place(built: Path, target: Path, scratch: Path):
    """Rename `built` to `target`; a previous `target` moves into `scratch`, deleted with it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.rename(scratch / "replaced")
    built.rename(target)


def _prepare_arrays(dataset: str, source: Path, data_dir: Path, verify_official: bool, force: bool) -> Path:
    """The decoded arrays of both splits, straight from the validated IDX files, under tfds's directory name."""
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset '{dataset}' (known: {', '.join(DATASETS)})")
    target = data_dir / dataset / TFDS_VERSION
    if is_prepared(dataset, data_dir) and not force:
        return _decoded_copy_path(dataset, "train", data_dir).parent
    folder = _source_folder(Path(source), dataset)
    splits = {split: idx.read_split(folder, dataset, split, verify_official) for split in SPLITS}
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data_dir, prefix=f".{dataset}-preparing-") as tmp:
        built = Path(tmp) / "arrays"
        built.mkdir()
        for split, content in splits.items():
            _write_decoded_copy(built, split, content.images[..., None], content.labels.astype(np.int32))
        _move_into_place(built, target, Path(tmp))
    return target


def _network_reachable(host: str = "storage.googleapis.com", port: int = 443, timeout: float = 3.0) -> bool:
    with contextlib.suppress(OSError):
        with socket.create_connection((host, port), timeout=timeout):
            return True
    return False


def ensure_prepared(dataset: str, data_dir: str | None = None, data_source: str | None = None,
                    force: bool = False) -> Path:
    """Make `dataset` loadable, preparing it if needed (or with `force`, again).

    Order: already prepared; else from IDX files in `data_source` or $JAXMNIST_DATA;
    else tfds's own download; else one clear error saying how to prepare offline.
    """
    directory = resolve_data_dir(data_dir)
    if is_prepared(dataset, directory) and not force:
        return directory
    source = data_source or os.environ.get(DATA_SOURCE_ENV)
    if source:
        workdir.make_directory(directory)
        # Runs started together on a fresh data dir prepare it once: the others wait, then find it done.
        with workdir.exclusive_lock(directory, "jaxmnist (preparing the data)", wait=True):
            if force or not is_prepared(dataset, directory):
                prepare(dataset, Path(source), directory, force=force)
        return directory
    if not tfds_installed():
        raise UserError(
            f"dataset '{dataset}' is not prepared (or damaged) in {directory}, and without tensorflow-datasets installed "
            f"it can only be prepared from the original IDX files: set {DATA_SOURCE_ENV}=DIR or pass "
            f"--data-source DIR (DIR holding {dataset}/train-images-idx3-ubyte.gz etc., e.g. ../shared/data), "
            f"or run `jaxmnist data prepare --source DIR`.")
    if not _network_reachable():
        raise UserError(
            f"dataset '{dataset}' is not prepared in {directory} and there is no network to download it. "
            f"Prepare it offline from the original IDX files: `jaxmnist data prepare --source DIR` "
            f"(DIR holding {dataset}/train-images-idx3-ubyte.gz etc., e.g. ../shared/data), "
            f"or set {DATA_SOURCE_ENV}=DIR or pass --data-source DIR.")
    _builder(dataset, directory).download_and_prepare()
    return directory


def file_order(split: str, num_examples: int) -> np.ndarray:
    """Positions, in tfds's stored order, of the examples in IDX file order.

    tfds stores examples sorted by a salted hash of their key (the file index,
    for these builders; the salt is the split name). Recomputing that hash
    recovers the original order, which notebook 003's sequential 80/20 split
    and unshuffled training depend on.
    """
    from tensorflow_datasets.core import hashing

    hasher = hashing.Hasher(split)
    stored_order = np.argsort([hasher.hash_key(index) for index in range(num_examples)], kind="stable")
    # stored_order[p] is the file index of the example at stored position p; invert it.
    positions = np.empty(num_examples, dtype=np.int64)
    positions[stored_order] = np.arange(num_examples)
    return positions


@functools.lru_cache(maxsize=4)  # a run reads the train split for both its train and valid slices
def load_split(dataset: str, split: str, data_dir: str | None = None,
               data_source: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A whole tfds split as (images uint8 (N, 28, 28, 1), labels int32 (N,)), in IDX file order.

    The first read decodes the tfds records and keeps the result beside them (see
    `_decoded_copy`); later reads, in any process, load that copy. The arrays are shared:
    treat them as read-only.
    """
    if split not in SPLITS:
        raise UserError(f"{dataset} has no split '{split}' (has: {', '.join(SPLITS)})")
    copy = _decoded_copy(dataset, split, resolve_data_dir(data_dir))
    if copy is None and not tfds_installed():  # the arrays are all there is: (re)build them from the IDX files
        ensure_prepared(dataset, data_dir, data_source, force=True)
        copy = _decoded_copy(dataset, split, resolve_data_dir(data_dir))
    if copy is not None:
        images, labels = copy
    else:
        tfds = _quiet_tensorflow()
        directory = ensure_prepared(dataset, data_dir, data_source)
        builder = _builder(dataset, directory)
        data = tfds.as_numpy(builder.as_dataset(
            split=split, batch_size=-1, shuffle_files=False,
            read_config=tfds.ReadConfig(interleave_cycle_length=1)))
        order = file_order(split, len(data["label"]))
        images, labels = data["image"][order], data["label"][order].astype(np.int32)
        _keep_decoded_copy(Path(builder.data_dir), split, images, labels)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


# Importing TensorFlow and decoding a split's tfds records took most of a resumed run's startup
# (docs/PERFORMANCE.md). The decoded arrays are kept as an .npz inside
# the prepared dataset's version directory, so re-preparing the dataset (which replaces
# that directory) drops them with the records they came from.
_DECODED_COPY = "jaxmnist-decoded-{split}.npz"


def _decoded_copy_path(dataset: str, split: str, data_dir: Path) -> Path | None:
    if dataset not in DATASETS:
        return None
    paths = list((data_dir / dataset).glob(f"*/{_DECODED_COPY.format(split=split)}"))
    return paths[0] if len(paths) == 1 else None  # none yet, or several tfds versions prepared


def _decoded_copy(dataset: str, split: str, data_dir: Path):
    path = _decoded_copy_path(dataset, split, data_dir)
    if path is None:
        return None
    try:
        # Opened here: np.load leaves the file it opened open when the archive is damaged.
        with open(path, "rb") as file, np.load(file) as saved:
            return saved["images"], saved["labels"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:  # decoded again, rewritten
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        warnings.warn(f"{path} is damaged ({reason}): the {split} split is read from the dataset again and the "
                      "file rewritten", RunWarning, stacklevel=2)
        return None


def _write_decoded_copy(version_dir: Path, split: str, images: np.ndarray, labels: np.ndarray):
    path = version_dir / _DECODED_COPY.format(split=split)
    with tempfile.NamedTemporaryFile(dir=version_dir, prefix=f".{path.name}.", delete=False) as file:
        np.savez(file, images=images, labels=labels)
    os.chmod(file.name, 0o644)  # readable like the records beside it (a temporary file is private)
    os.replace(file.name, path)  # whole or absent, also with concurrent runs


def _keep_decoded_copy(version_dir: Path, split: str, images: np.ndarray, labels: np.ndarray):
    with contextlib.suppress(OSError):  # a read-only data dir just keeps decoding every time
        _write_decoded_copy(version_dir, split, images, labels)


def dataset_info(dataset: str, data_dir: str | None = None) -> dict:
    """Where `dataset` is prepared, its splits, label counts and pixel mean/std (pixels in [0, 1])."""
    directory = resolve_data_dir(data_dir)
    if dataset not in DATASETS:
        raise UserError(f"unknown dataset '{dataset}' (known: {', '.join(DATASETS)})")
    if not is_prepared(dataset, directory):
        return {"dataset": dataset, "prepared": False, "data_dir": str(directory)}
    splits = {}
    for split in SPLITS:
        images, labels = load_split(dataset, split, str(directory))
        pixels = images.astype(np.float64) / 255.0
        splits[split] = {
            "examples": int(len(labels)),
            "label_counts": np.bincount(labels, minlength=10).tolist(),
            "pixel_mean": round(float(pixels.mean()), 4),
            "pixel_std": round(float(pixels.std()), 4),
        }
    decoded = _decoded_copy_path(dataset, "train", directory)  # none where the data dir is read-only
    version_dir = decoded.parent if decoded else Path(_builder(dataset, directory).data_dir)
    return {"dataset": dataset, "prepared": True, "path": str(version_dir),
            "version": version_dir.name, "splits": splits}


def _selected(dataset: str) -> tuple[str, ...]:
    return DATASETS if dataset == "all" else (dataset,)


def prepare_command(args) -> int:
    data_dir = resolve_data_dir(args.data_dir)
    source = Path(args.source)
    if not source.is_dir():
        raise UserError(f"--source {source}: not a directory (expected a folder with mnist/ and fashion_mnist/, "
                        "or the four IDX files of the dataset given with --dataset)")
    created = workdir.make_directory(data_dir)
    try:
        # One preparation per data dir at a time: a second is refused, naming the first's PID.
        with workdir.exclusive_lock(data_dir, "jaxmnist data prepare"):
            prepared = 0
            for dataset in _selected(args.dataset):
                if args.dataset == "all" and not (source / dataset).is_dir():
                    print(f"{dataset}: skipped (no {source / dataset})")
                    continue
                path = prepare(dataset, source, data_dir, verify_official=not args.allow_unofficial,
                               force=args.force)
                print(f"{dataset}: prepared in {path}")
                prepared += 1
    finally:
        if created:
            workdir.remove_if_empty(data_dir)
    if not prepared:
        raise UserError(f"--source {source} holds neither mnist/ nor fashion_mnist/: point it at the folder that "
                        "does, or give --dataset mnist or fashion_mnist for a folder of one dataset's IDX files")
    return 0


def info_command(args) -> int:
    infos = [dataset_info(dataset, args.data_dir) for dataset in _selected(args.dataset)]
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    for info in infos:
        if not info["prepared"]:
            print(f"{info['dataset']}: not prepared in {info['data_dir']} "
                  f"(run `jaxmnist data prepare --source DIR`)")
            continue
        print(f"{info['dataset']} {info['version']}: {info['path']}")
        for split, stats in info["splits"].items():
            print(f"  {split:5s} {stats['examples']:6d} examples  pixel mean {stats['pixel_mean']:.4f} "
                  f"std {stats['pixel_std']:.4f}")
            print(f"        labels 0..9: {' '.join(str(count) for count in stats['label_counts'])}")
    return 0
