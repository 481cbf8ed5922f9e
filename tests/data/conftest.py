"""Small files in torchvision's own on-disk formats, written into a temporary data root."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

N = 20  # images per split


def write_cifar(root: Path, name: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """CIFAR python batches: pickled dicts with 'data' (N, 3072) uint8 rows in C, H, W order."""
    classes, folder, label_key = ((10, "cifar-10-batches-py", "labels") if name == "cifar10"
                                  else (100, "cifar-100-python", "fine_labels"))
    out = root / folder
    out.mkdir(parents=True)
    x = {part: rng.integers(0, 256, (N, 3, 32, 32), dtype=np.uint8) for part in ("train", "test")}
    y = {part: rng.integers(0, classes, N) for part in ("train", "test")}
    files = ({f"data_batch_{i}": slice(4 * (i - 1), 4 * i) for i in range(1, 6)} if name == "cifar10"
             else {"train": slice(0, N)})
    batches = [(f, "train", s) for f, s in files.items()]
    batches.append(("test_batch" if name == "cifar10" else "test", "test", slice(0, N)))
    for filename, part, rows in batches:
        entry = {"data": x[part][rows].reshape(-1, 3072), label_key: y[part][rows].tolist()}
        if name == "cifar100":
            entry["coarse_labels"] = (y[part][rows] // 5).tolist()
        with open(out / filename, "wb") as f:
            pickle.dump(entry, f, protocol=2)
    return {"x_train": x["train"], "y_train": y["train"], "x_test": x["test"], "y_test": y["test"]}


def write_svhn(root: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """SVHN .mat files: 'X' (32, 32, 3, N) uint8 as (H, W, C, N), 'y' (N, 1) in 1..10, 10 = digit 0."""
    arrays = {}
    for part in ("train", "test"):
        x = rng.integers(0, 256, (N, 3, 32, 32), dtype=np.uint8)
        digits = np.arange(N) % 10  # every digit, 0 included
        savemat(root / f"{part}_32x32.mat", {"X": np.transpose(x, (2, 3, 1, 0)),
                                             "y": np.where(digits == 0, 10, digits)[:, None].astype(np.uint8)})
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x, digits
    return arrays


def write_idx(path: Path, array: np.ndarray, *, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def write_mnist(root: Path, folder: str, rng: np.random.Generator, *, compress: bool) -> dict[str, np.ndarray]:
    """MNIST-style IDX files under <root>/<folder>/raw."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for part, prefix in (("train", "train"), ("test", "t10k")):
        x = rng.integers(0, 256, (N, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, N).astype(np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", x, compress=compress)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", y, compress=compress)
        arrays[f"x_{part}"], arrays[f"y_{part}"] = x[:, None], y
    return arrays


def write_vision_root(root: Path, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """All five torchvision datasets under `root`; {dataset name: the arrays written for it}."""
    rng = np.random.default_rng(seed)
    return {
        "cifar10": write_cifar(root, "cifar10", rng),
        "cifar100": write_cifar(root, "cifar100", rng),
        "svhn": write_svhn(root, rng),
        "mnist": write_mnist(root, "MNIST", rng, compress=False),
        "fashion_mnist": write_mnist(root, "FashionMNIST", rng, compress=True),
    }


@pytest.fixture
def vision_root(tmp_path):
    """(root, written arrays) of a data root holding all five torchvision datasets."""
    return tmp_path, write_vision_root(tmp_path, 0)


@pytest.fixture
def make_vision_root():
    return write_vision_root
