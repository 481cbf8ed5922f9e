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


# Segmentation roots: a few images per split in torchvision's exact layouts. Image k of a split
# is a flat grey of brightness `shade(k)`, so a test can tell which mask was paired with it.

def shade(k: int) -> int:
    return 30 + 50 * k


def voc_palette() -> list[int]:
    """The Pascal VOC colour map (the devkit's bit-interleaving rule), 256 RGB triples."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def voc_mask(k: int, h: int = 40, w: int = 60) -> np.ndarray:
    """Left half class 1 + k, right half class 20 - k, a 2-column 255 border at the middle."""
    mask = np.full((h, w), 20 - k, np.uint8)
    mask[:, : w // 2] = 1 + k
    mask[:, w // 2 - 1: w // 2 + 1] = 255
    return mask


def write_voc(root: Path, *, n_train: int = 3, n_val: int = 2) -> dict[str, list[str]]:
    from PIL import Image

    base = root / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / folder).mkdir(parents=True)
    ids = {"train": [f"2007_{k:06d}" for k in range(n_train)],
           "val": [f"2008_{k:06d}" for k in range(n_val)]}
    for split, names in ids.items():
        for k, name in enumerate(names):
            Image.new("RGB", (60, 40), (shade(k),) * 3).save(base / "JPEGImages" / f"{name}.jpg", quality=95)
            mask = Image.fromarray(voc_mask(k), mode="P")
            mask.putpalette(voc_palette())
            mask.save(base / "SegmentationClass" / f"{name}.png")
        (base / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    return ids


CITYSCAPES_BANDS = (7, 26, 9, 33)   # labelIds road, car, parking, bicycle -> train ids 0, 13, 255, 18


def cityscapes_mask(k: int, h: int, w: int) -> np.ndarray:
    """Four vertical bands of `CITYSCAPES_BANDS` rotated by k; the top row unlabeled (0)."""
    bands = np.roll(np.array(CITYSCAPES_BANDS, np.uint8), k)
    mask = np.repeat(bands, w // 4)[None].repeat(h, 0)
    mask[0] = 0
    return mask


def write_cityscapes(root: Path, *, n_train: int = 3, n_val: int = 2, size: tuple[int, int] = (32, 64),
                     cities: tuple[str, ...] = ("aachen", "bochum")) -> dict[str, list[str]]:
    """leftImg8bit and gtFine (labelIds only) folders; `size` (H, W): (1024, 2048) is full size.
    Images are spread over `cities` in turn; returns each split's stems in load order."""
    from PIL import Image

    h, w = size
    stems = {}
    for split, n in (("train", n_train), ("val", n_val)):
        stems[split] = []
        for k in range(n):
            city = cities[k % len(cities)]
            stem = f"{city}_{k:06d}_000019"
            for top in ("leftImg8bit", "gtFine"):
                (root / top / split / city).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (w, h), (shade(k),) * 3).save(root / "leftImg8bit" / split / city /
                                                           f"{stem}_leftImg8bit.png")
            Image.fromarray(cityscapes_mask(k, h, w), mode="L").save(
                root / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png")
            stems[split].append(f"{city}/{stem}")
        stems[split].sort()
    return stems


def pets_trimap(k: int, h: int = 50, w: int = 40) -> np.ndarray:
    """Trimap: background (2) everywhere, a pet (1) in the middle rectangle, its 2-pixel border 3;
    image k's pet is on the left for even k, on the right for odd k."""
    trimap = np.full((h, w), 2, np.uint8)
    left = 4 if k % 2 == 0 else w // 2
    trimap[10:40, left:left + 16] = 3
    trimap[12:38, left + 2:left + 14] = 1
    return trimap


def write_pets(root: Path, *, n_trainval: int = 3, n_test: int = 2) -> dict[str, list[str]]:
    from PIL import Image

    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations" / "trimaps").mkdir(parents=True)
    ids = {"trainval": [f"Abyssinian_{k + 1}" for k in range(n_trainval)],
           "test": [f"beagle_{k + 1}" for k in range(n_test)]}
    for split, names in ids.items():
        for k, name in enumerate(names):
            Image.new("RGB", (40, 50), (shade(k),) * 3).save(base / "images" / f"{name}.jpg", quality=95)
            Image.fromarray(pets_trimap(k), mode="L").save(base / "annotations" / "trimaps" / f"{name}.png")
        # "<image> <class id> <species> <breed id>", as the official lists
        (base / "annotations" / f"{split}.txt").write_text(
            "".join(f"{n} {1 if n.startswith('A') else 13} {1 if n.startswith('A') else 2} 1\n" for n in names))
    return ids


@pytest.fixture
def full_size_cityscapes(tmp_path):
    """A data root holding Cityscapes at full size (1024 x 2048): 3 train and 2 val images."""
    write_cityscapes(tmp_path, size=(1024, 2048))
    return tmp_path
