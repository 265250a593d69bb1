"""MNIST: the bundled copy (checksummed), a directory of IDX files, or a Keras mnist.npz.

Pixels come out as float32 in [0, 1], images flattened to 784, labels as uint8. Bad data is an
InputError naming the file and what is wrong with it.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import BinaryIO

import numpy as np

from scopelab.errors import InputError

BUNDLED_DIR = Path(__file__).parent / "datasets" / "mnist"
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
IMAGE_MAGIC, LABEL_MAGIC = 0x00000803, 0x00000801
NUM_CLASSES = 10
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_LIMIT = 1 << 30  # bytes per array: MNIST's largest is 47 MB; EMNIST's 640 MB still fits


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (n, 784) float32 in [0, 1]
    labels: np.ndarray  # (n,) uint8 in 0..9

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Mnist:
    train: Split
    test: Split
    source: str  # where it came from, for the run summary
    checksum: str  # of the files it came from (data_checksum), for the run summary


def load_mnist(path: str | None = None) -> Mnist:
    """Load from `path`, else $SCOPELAB_DATA, else the bundled copy (whose checksums are verified)."""
    location = _location(path)
    if location is None:
        return _bundled(BUNDLED_DIR)
    if location.is_dir():
        return _load_idx_dir(location, str(location))
    return _load_npz(location)


def data_checksum(path: str | None = None) -> str:
    """The checksum a run on `path` (else $SCOPELAB_DATA, else the bundled copy) records, without loading the
    data: what `reproduce` compares before it reuses a run."""
    location = _location(path) or BUNDLED_DIR
    if location.is_dir():
        return _checksum({key: _find(location, name) for key, name in FILES.items()})
    return _checksum({"npz": location})


def _location(path: str | None) -> Path | None:
    """The data's directory or .npz file; None for the bundled copy."""
    chosen = path or os.environ.get("SCOPELAB_DATA")
    if not chosen:
        return None
    location = Path(chosen).expanduser()
    if location.is_dir() or (location.is_file() and location.suffix == ".npz"):
        return location
    if location.exists():
        raise InputError(f"{location}: expected a directory of MNIST IDX files or an mnist.npz file.")
    raise InputError(f"{location}: no such data directory or file (from data.path or SCOPELAB_DATA).")


def _checksum(files: dict[str, Path]) -> str:
    """sha256 over each file's sha256, as stored (the compressed bytes of a .gz: no decompressing, about 20 ms
    for MNIST). Equal data in another form (raw instead of gzip, or gzipped again: the header holds a time)
    counts as other data: a needless retraining at worst, never a wrong match."""
    whole = hashlib.sha256()
    for role, file in files.items():
        digest = hashlib.sha256()
        try:
            with open(file, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):  # hashlib.file_digest is Python 3.11+
                    digest.update(chunk)
        except OSError as error:
            raise InputError(f"{file}: cannot read the data file ({error.strerror}).") from None
        whole.update(f"{role} {digest.hexdigest()}\n".encode())
    return f"sha256:{whole.hexdigest()}"


@cache
def _bundled(directory: Path) -> Mnist:
    """Read once per process (about a second): `reproduce` and serial sweeps train many runs in one process.
    Read-only arrays, so that no run can change the copy the next one gets."""
    verify_checksums(directory)
    mnist = _load_idx_dir(directory, "bundled MNIST")
    for split in (mnist.train, mnist.test):
        split.images.setflags(write=False)
        split.labels.setflags(write=False)
    return mnist


def verify_checksums(directory: Path) -> None:
    """Compare each .gz file with the SHA256SUMS beside it, so a damaged install is caught early."""
    sums = directory / "SHA256SUMS"
    for line in sums.read_text().splitlines():
        expected, name = line.split()
        file = directory / name
        if not file.is_file():
            raise InputError(f"{file}: the bundled MNIST file is missing; reinstall scopelab.")
        actual = hashlib.sha256(file.read_bytes()).hexdigest()
        if actual != expected:
            raise InputError(f"{file}: checksum mismatch (the bundled MNIST copy is corrupted); reinstall scopelab.")


def train_slice(split: Split, start: int, stop: int | None, key: str) -> Split:
    """Images start..stop-1 of a split; `key` names the config keys in the error when out of range."""
    end = len(split) if stop is None else stop
    if end > len(split) or start >= len(split):
        raise InputError(
            f"config key '{key}' asks for training images {start}..{end - 1}, "
            f"but the training set has {len(split)} images (0..{len(split) - 1})."
        )
    return Split(split.images[start:end], split.labels[start:end])


class Batches:
    """Seeded mini-batches, reshuffled every epoch (the last partial batch of an epoch is dropped).

    The batch of a step is a pure function of (seed, step): a resumed run needs no saved shuffle
    state to continue exactly where it stopped.
    """

    def __init__(self, split: Split, batch_size: int, seed: int, stream: int = 0, key: str = "train.batch_size"):
        if batch_size > len(split):
            raise InputError(
                f"config key '{key}' is {batch_size}, larger than the {len(split)} training images it draws from."
            )
        self.split = split
        self.batch_size = batch_size
        self.seed = seed
        self.stream = stream  # one independent shuffle per network of an experiment
        self.per_epoch = len(split) // batch_size
        self._epoch = -1
        self._order = np.arange(0)

    def indices(self, step: int) -> np.ndarray:
        epoch, position = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, self.stream, epoch]).permutation(len(self.split))
            self._epoch = epoch
        start = position * self.batch_size
        return self._order[start : start + self.batch_size]

    def batch(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        chosen = self.indices(step)
        return self.split.images[chosen], self.split.labels[chosen]


def _load_idx_dir(directory: Path, source: str) -> Mnist:
    files = {key: _find(directory, name) for key, name in FILES.items()}
    arrays = {key: _read_idx(file) for key, file in files.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1:
            raise InputError(
                f"{directory}: the {part} files have the wrong dimensions "
                f"(images {images.shape}, labels {labels.shape})."
            )
        if len(images) != len(labels):
            raise InputError(f"{directory}: {len(images)} {part} images but {len(labels)} {part} labels.")
    return Mnist(
        _split(arrays["train_images"], arrays["train_labels"], f"{directory} (train)"),
        _split(arrays["test_images"], arrays["test_labels"], f"{directory} (test)"),
        source,
        _checksum(files),
    )


def _find(directory: Path, name: str) -> Path:
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    raise InputError(f"{directory}: missing MNIST file {name}.gz (or {name}).")


def _read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (gzip or raw): magic number, dimensions, then exactly that many bytes.

    Streamed, never decompressed whole: the header is checked first (its size against the limit and
    against the size the file says it holds), then exactly the declared bytes are read into an array of
    that size, and anything after them is refused. A gzip bomb costs at most the declared size."""
    try:
        with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as stream:
            head = _read_exact(stream, 4, path, "no header")
            magic = int.from_bytes(head, "big")
            if magic not in (IMAGE_MAGIC, LABEL_MAGIC):
                raise InputError(
                    f"{path}: wrong IDX magic number 0x{magic:08x}; "
                    f"expected 0x{IMAGE_MAGIC:08x} (images) or 0x{LABEL_MAGIC:08x} (labels)."
                )
            ndim = magic & 0xFF
            dims = _read_exact(stream, 4 * ndim, path, "truncated IDX header")
            shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
            size = math.prod(shape)  # Python integers: (2^31, 2^31, 4) cannot wrap around
            if size > IDX_LIMIT:
                raise InputError(
                    f"{path}: its IDX header declares {shape}, {size:,} bytes; more than the {IDX_LIMIT:,} allowed."
                )
            _check_declared_size(path, 4 + 4 * ndim + size, shape)
            array = np.empty(size, dtype=np.uint8)
            view, filled = memoryview(array), 0
            while filled < size:
                count = stream.readinto(view[filled:])
                if not count:
                    raise InputError(f"{path}: IDX file ends after {filled:,} of the {size:,} bytes its header needs.")
                filled += count
            if stream.read(1):
                raise InputError(f"{path}: IDX file holds more than the {size:,} bytes its header {shape} needs.")
    except (OSError, EOFError, zlib.error) as error:  # gzip.BadGzipFile is an OSError
        raise InputError(f"{path}: cannot read the IDX file ({error}).") from None
    return array.reshape(shape)


def _read_exact(stream: BinaryIO, count: int, path: Path, problem: str) -> bytes:
    data = stream.read(count)
    if len(data) < count:
        raise InputError(f"{path}: truncated IDX file ({problem}).")
    return data


def _check_declared_size(path: Path, expected: int, shape: tuple[int, ...]) -> None:
    """Before reading the data: a raw file's size, or the uncompressed size a gzip file records in its last
    four bytes (modulo 2^32), must be what the header declares."""
    if path.suffix != ".gz":
        actual = path.stat().st_size
    else:
        with open(path, "rb") as raw:
            raw.seek(-4, os.SEEK_END)
            actual = int.from_bytes(raw.read(4), "little")
        expected %= 1 << 32
    if actual != expected:
        raise InputError(f"{path}: IDX file has {actual:,} bytes; its header {shape} needs {expected:,}.")


def _load_npz(path: Path) -> Mnist:
    try:
        _check_npz_headers(path)
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in NPZ_KEYS if key in archive}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise InputError(f"{path}: cannot read the .npz file ({error}).") from None
    missing = [key for key in NPZ_KEYS if key not in arrays]
    if missing:
        raise InputError(
            f"{path}: the .npz file lacks the arrays {', '.join(missing)} (expected Keras mnist.npz layout)."
        )
    for part in ("train", "test"):
        images, labels = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if images.ndim not in (2, 3) or images.shape[1:] not in ((28, 28), (784,)) or labels.ndim != 1:
            raise InputError(
                f"{path}: x_{part} has shape {images.shape} and y_{part} {labels.shape}; expected (n, 28, 28) and (n,)."
            )
        if len(images) != len(labels):
            raise InputError(f"{path}: {len(images)} {part} images but {len(labels)} {part} labels.")
    return Mnist(
        _split(arrays["x_train"], arrays["y_train"], f"{path} (train)"),
        _split(arrays["x_test"], arrays["y_test"], f"{path} (test)"),
        str(path),
        _checksum({"npz": path}),
    )


def _check_npz_headers(path: Path) -> None:
    """Read each array's .npy header before numpy allocates it: a header may claim any shape."""
    with zipfile.ZipFile(path) as archive:
        for key in NPZ_KEYS:
            name = f"{key}.npy"
            if name not in archive.namelist():
                continue  # reported as missing, with the others, by the caller
            with archive.open(name) as member:
                version = np.lib.format.read_magic(member)
                npy = np.lib.format
                reader = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                shape, _, dtype = reader(member)
            size = math.prod(shape) * dtype.itemsize
            if dtype.hasobject or size > IDX_LIMIT or size > archive.getinfo(name).file_size:
                raise InputError(
                    f"{path}: its array {key} declares shape {shape} of {dtype} ({size:,} bytes), "
                    f"more than the file holds or the {IDX_LIMIT:,} allowed."
                )


def _split(images: np.ndarray, labels: np.ndarray, where: str) -> Split:
    if len(labels) == 0:
        raise InputError(f"{where}: holds no images.")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise InputError(
            f"{where}: label {int(labels.max() if labels.max() >= NUM_CLASSES else labels.min())} is outside 0-9."
        )
    if images.dtype == np.uint8:
        pixels = images.reshape(len(images), -1).astype(np.float32) / 255.0
    else:
        pixels = images.reshape(len(images), -1).astype(np.float32)
        if pixels.min() < 0 or pixels.max() > 1:
            raise InputError(f"{where}: float pixels must lie in [0, 1]; found {pixels.min()}..{pixels.max()}.")
    return Split(pixels, labels.astype(np.uint8))
