"""Reading and validating the original IDX files (gzipped or raw).

The `.gz` bytes of the copies in circulation differ (compressor settings), so
content is checked on the decompressed bytes, against the digests of the
original files.
"""

import dataclasses
import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from jaxmnist.errors import UserError

IMAGES_MAGIC = 2051  # unsigned byte, 3 dimensions
LABELS_MAGIC = 2049  # unsigned byte, 1 dimension
IMAGE_SIDE = 28

FILE_STEMS = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
OFFICIAL_COUNTS = {"train": 60_000, "test": 10_000}

# sha256 of the decompressed IDX files (the same list as SHA256SUMS.decompressed).
OFFICIAL_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}


@dataclasses.dataclass(frozen=True)
class IdxSplit:
    """One split read from its two IDX files, in file order."""
    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) uint8
    images_bytes: bytes  # decompressed IDX content, as tfds's generator reads it
    labels_bytes: bytes


def find_file(folder: Path, stem: str) -> Path:
    """The IDX file `stem` in `folder`, gzipped (`stem.gz`) or raw (`stem`)."""
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise UserError(f"{folder / (stem + '.gz')}: missing (neither {stem}.gz nor {stem} is in {folder})")


def read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as error:
        raise UserError(f"{path}: not a valid gzip file ({error}); it is probably truncated or corrupt") from None


def _parse(path: Path, content: bytes, kind: str) -> np.ndarray:
    header_size = 16 if kind == "images" else 8
    if len(content) < header_size:
        raise UserError(f"{path}: only {len(content)} bytes, too short for an IDX header (truncated?)")
    header = np.frombuffer(content[:header_size], dtype=">u4")
    expected_magic = IMAGES_MAGIC if kind == "images" else LABELS_MAGIC
    if header[0] != expected_magic:
        raise UserError(f"{path}: magic number {header[0]}, expected {expected_magic} for an IDX {kind} file")
    count = int(header[1])
    if kind == "images" and (header[2], header[3]) != (IMAGE_SIDE, IMAGE_SIDE):
        raise UserError(f"{path}: images are {header[2]}x{header[3]}, expected {IMAGE_SIDE}x{IMAGE_SIDE}")
    item_size = IMAGE_SIDE * IMAGE_SIDE if kind == "images" else 1
    expected_size = header_size + count * item_size
    if len(content) != expected_size:
        raise UserError(f"{path}: {len(content)} bytes, but its header announces {count} {kind} "
                        f"({expected_size} bytes); the file is truncated or corrupt")
    data = np.frombuffer(content, dtype=np.uint8, offset=header_size)
    return data.reshape(count, IMAGE_SIDE, IMAGE_SIDE) if kind == "images" else data


def read_split(folder: Path, dataset: str, split: str, verify_official: bool = True) -> IdxSplit:
    """Read and validate one split. With `verify_official`, counts and sha256 must be the originals'."""
    arrays, contents = {}, {}
    for kind in ("images", "labels"):
        stem = FILE_STEMS[(split, kind)]
        path = find_file(folder, stem)
        content = read_bytes(path)
        arrays[kind] = _parse(path, content, kind)
        contents[kind] = content
        if verify_official:
            if len(arrays[kind]) != OFFICIAL_COUNTS[split]:
                raise UserError(f"{path}: {len(arrays[kind])} {kind}, the original {dataset} {split} split has "
                                f"{OFFICIAL_COUNTS[split]} (use --allow-unofficial to prepare a subset)")
            digest = hashlib.sha256(content).hexdigest()
            if digest != OFFICIAL_SHA256[dataset][stem]:
                raise UserError(f"{path}: sha256 of the decompressed content is {digest[:16]}..., expected "
                                f"{OFFICIAL_SHA256[dataset][stem][:16]}... (the original {dataset} file); "
                                "the file is corrupt or belongs to another dataset")
    images_path = find_file(folder, FILE_STEMS[(split, "images")])
    if len(arrays["images"]) != len(arrays["labels"]):
        raise UserError(f"{images_path}: {len(arrays['images'])} images but "
                        f"{len(arrays['labels'])} labels in {FILE_STEMS[(split, 'labels')]}")
    if arrays["labels"].size and arrays["labels"].max() > 9:
        raise UserError(f"{find_file(folder, FILE_STEMS[(split, 'labels')])}: label {arrays['labels'].max()} "
                        "is out of range 0..9")
    return IdxSplit(arrays["images"], arrays["labels"], contents["images"], contents["labels"])


def write_split(folder: Path, images: np.ndarray, labels: np.ndarray, split: str) -> None:
    """Write images/labels as gzipped IDX files (used to make the test fixture)."""
    folder.mkdir(parents=True, exist_ok=True)
    count = len(images)
    image_header = np.array([IMAGES_MAGIC, count, IMAGE_SIDE, IMAGE_SIDE], dtype=">u4").tobytes()
    label_header = np.array([LABELS_MAGIC, count], dtype=">u4").tobytes()
    for kind, content in (("images", image_header + images.astype(np.uint8).tobytes()),
                          ("labels", label_header + labels.astype(np.uint8).tobytes())):
        path = folder / f"{FILE_STEMS[(split, kind)]}.gz"
        path.write_bytes(gzip.compress(content, compresslevel=9, mtime=0))
