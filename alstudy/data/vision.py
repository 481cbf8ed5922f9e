"""Image benchmarks read from a local root in torchvision's own on-disk formats.

Layout under `root` (what torchvision's classes download there):

* cifar10:  cifar-10-batches-py/data_batch_1 .. data_batch_5, test_batch   (python pickles)
* cifar100: cifar-100-python/train, test                                   (python pickles)
* svhn:     train_32x32.mat, test_32x32.mat                                (MATLAB, scipy.io)
* mnist:         MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]  (IDX)
* fashion_mnist: FashionMNIST/raw/ with the same file names                   (IDX)

The files are read directly rather than through torchvision's dataset classes, which check
the MD5 of the full official files (so any other copy, e.g. a small test fixture, is refused)
and hand out PIL images one at a time. torchvision is used only to download, and only when
the user asks. Splits are the official train/test splits; images are uint8 (N, C, H, W).
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np

from alstudy.data.arrays import to_dataset
from alstudy.data.dataset import Dataset
from alstudy.data.registry import dataset_spec
from alstudy.errors import UsageError

# Per-channel mean/std of each train split, pixel values in [0, 1].
CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
CIFAR100_STATS = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
SVHN_STATS = ((0.4377, 0.4438, 0.4728), (0.1980, 0.2010, 0.1970))
MNIST_STATS = ((0.1307,), (0.3081,))
FASHION_MNIST_STATS = ((0.2860,), (0.3530,))

_CIFAR10_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def load_cifar10(root: str, *, download: bool = False) -> Dataset:
    folder = Path(root, "cifar-10-batches-py")
    _ensure(root, "cifar10", [folder / f for f in _CIFAR10_TRAIN + ("test_batch",)], download)
    train = [_read_cifar_batch(folder / f, "labels") for f in _CIFAR10_TRAIN]
    x_test, y_test = _read_cifar_batch(folder / "test_batch", "labels")
    x_train, y_train = np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])
    return _images("cifar10", x_train, y_train, x_test, y_test, CIFAR10_STATS)


def load_cifar100(root: str, *, download: bool = False) -> Dataset:
    folder = Path(root, "cifar-100-python")
    _ensure(root, "cifar100", [folder / "train", folder / "test"], download)
    x_train, y_train = _read_cifar_batch(folder / "train", "fine_labels")
    x_test, y_test = _read_cifar_batch(folder / "test", "fine_labels")
    return _images("cifar100", x_train, y_train, x_test, y_test, CIFAR100_STATS)


def load_svhn(root: str, *, download: bool = False) -> Dataset:
    """SVHN's cropped digits; its label 10 stands for the digit 0 and becomes 0, as in torchvision."""
    paths = [Path(root, "train_32x32.mat"), Path(root, "test_32x32.mat")]
    _ensure(root, "svhn", paths, download)
    (x_train, y_train), (x_test, y_test) = (_read_svhn(p) for p in paths)
    return _images("svhn", x_train, y_train, x_test, y_test, SVHN_STATS)


def load_mnist(root: str, *, download: bool = False) -> Dataset:
    return _load_idx_dataset("mnist", Path(root, "MNIST", "raw"), root, download, MNIST_STATS)


def load_fashion_mnist(root: str, *, download: bool = False) -> Dataset:
    return _load_idx_dataset("fashion_mnist", Path(root, "FashionMNIST", "raw"), root, download,
                             FASHION_MNIST_STATS)


def _load_idx_dataset(name: str, folder: Path, root: str, download: bool, stats) -> Dataset:
    def present(stem: str) -> Path:
        # torchvision keeps both the .gz it downloaded and the extracted file; either will do.
        plain = folder / stem
        return plain if plain.exists() or not Path(f"{plain}.gz").exists() else Path(f"{plain}.gz")

    _ensure(root, name, [present(f) for f in _IDX_FILES], download)
    x_train, y_train, x_test, y_test = (_read_idx(present(f)) for f in _IDX_FILES)
    return _images(name, x_train[:, None], y_train, x_test[:, None], y_test, stats)


def _images(name, x_train, y_train, x_test, y_test, stats) -> Dataset:
    spec = dataset_spec(name)
    for part, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.shape[1:] != spec.input_shape or len(x) != len(y) or len(y) == 0:
            raise UsageError(f"{name}: the {part} files hold images {x.shape[1:]} with {len(y)} labels; "
                             f"expected a non-empty set of {spec.input_shape} images")
        if y.min() < 0 or y.max() >= spec.num_classes:
            raise UsageError(f"{name}: {part} labels outside 0..{spec.num_classes - 1}")
    return to_dataset(name, x_train, y_train, x_test, y_test, mean=stats[0], std=stats[1])


def _ensure(root: str, name: str, paths: list[Path], download: bool) -> None:
    """Fetch missing files through torchvision when asked; otherwise name the first missing one."""
    missing = [p for p in paths if not p.is_file()]
    if missing and download:
        _download(name, root)
        missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UsageError(
            f"{name}: {missing[0]} not found; run with --download on a machine with network, "
            f"or place torchvision's {name} files under {root}")


def _download(name: str, root: str) -> None:
    from torchvision import datasets

    os.makedirs(root, exist_ok=True)
    try:
        if name == "svhn":
            for split in ("train", "test"):
                datasets.SVHN(root, split=split, download=True)
        else:
            cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100,
                   "mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}[name]
            for train in (True, False):
                cls(root, train=train, download=True)
    except Exception as err:  # no network, a proxy, a full disk: one line for the user
        detail = " ".join(str(err).split()) or type(err).__name__
        raise UsageError(f"{name}: download into {root} failed ({detail})") from None


def _read_cifar_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="latin1")  # the official files are Python 2 pickles
        x = np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        return x, np.asarray(entry[label_key], dtype=np.int64)
    except (OSError, pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as err:
        raise UsageError(f"cannot read CIFAR batch {path}: {type(err).__name__}: {err}") from None


def _read_svhn(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
        x = np.ascontiguousarray(np.transpose(mat["X"], (3, 2, 0, 1)), dtype=np.uint8)  # (H,W,C,N) -> (N,C,H,W)
        y = mat["y"].astype(np.int64).reshape(-1)
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise UsageError(f"cannot read SVHN file {path}: {type(err).__name__}: {err}") from None
    return x, np.where(y == 10, 0, y)


def _read_idx(path: Path) -> np.ndarray:
    """An IDX file of unsigned bytes (magic 0x00 0x00 0x08 ndim, then ndim big-endian int32 sizes)."""
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
        if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
            raise ValueError("not an IDX file of unsigned bytes")
        ndim = raw[3]
        shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
        data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
        if data.size != int(np.prod(shape)):
            raise ValueError(f"header says {shape} but the file holds {data.size} values")
    except (OSError, EOFError, ValueError) as err:  # gzip.BadGzipFile is an OSError
        raise UsageError(f"cannot read IDX file {path}: {err}") from None
    return data.reshape(shape).copy()
