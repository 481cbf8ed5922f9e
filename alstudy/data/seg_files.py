"""Segmentation datasets read from a local root in torchvision's on-disk layouts; never downloaded.

Every image is resized to its dataset's fixed size so the split stacks into one uint8 tensor:
images bilinear (PIL), masks nearest (class ids stay exact). The aspect ratio is not kept.
Masks are uint8 class ids, 255 where a pixel is unlabeled (the datasets' `ignore_index`).
Inputs are standardized with the ImageNet statistics torchvision's segmentation models use.

* voc2012 (Pascal VOC 2012 segmentation, torchvision's `VOCSegmentation` layout):
  `VOCdevkit/VOC2012/JPEGImages/<id>.jpg`, `SegmentationClass/<id>.png` (palette PNGs whose
  indices are the 21 classes, 255 the object borders), `ImageSets/Segmentation/{train,val}.txt`.
  Train = the train list (1464 images), test = the val list (1449). Resized to 256 x 256.
* cityscapes (torchvision's `Cityscapes` layout, fine annotations):
  `leftImg8bit/{train,val}/<city>/<stem>_leftImg8bit.png` with
  `gtFine/{train,val}/<city>/<stem>_gtFine_labelIds.png`. labelIds become the 19 train ids of
  `CITYSCAPES_TRAIN_IDS`, every other id 255. Train = train (2975), test = val (500).
  Resized to 256 x 512 (the authors' s4GAN setup).
* oxford_pets_seg (torchvision's `OxfordIIITPet` layout): `oxford-iiit-pet/images/<id>.jpg`,
  `annotations/trimaps/<id>.png`, `annotations/{trainval,test}.txt`. Trimap 1 (pet) -> class 1,
  2 (background) -> class 0, 3 (the uncertain border) -> 255 (ignored): two classes.
  Train = trainval (3680), test = test (3669). Resized to 128 x 128.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from alstudy.data.arrays import to_dataset
from alstudy.data.dataset import Dataset
from alstudy.data.registry import dataset_spec
from alstudy.errors import UsageError

IGNORE = 255
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

# labelId -> trainId, from cityscapesScripts' helpers/labels.py (the `labels` table): the 19
# classes with a trainId below 255; every other labelId (unlabeled, ego vehicle, rectification
# border, out of roi, static, dynamic, ground, parking, rail track, guard rail, bridge, tunnel,
# polegroup, caravan, trailer; license plate is -1 and never in a labelIds PNG) is ignored.
CITYSCAPES_TRAIN_IDS = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10,
                        24: 11, 25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
PETS_TRIMAP = {1: 1, 2: 0, 3: IGNORE}   # trimap value -> class (pet 1, background 0, border ignored)

_LAYOUTS = {
    "voc2012": "VOCdevkit/VOC2012/{JPEGImages/*.jpg, SegmentationClass/*.png, ImageSets/Segmentation/"
               "{train,val}.txt} (torchvision's VOCSegmentation layout)",
    "cityscapes": "leftImg8bit/{train,val}/<city>/*_leftImg8bit.png and gtFine/{train,val}/<city>/"
                  "*_gtFine_labelIds.png (torchvision's Cityscapes layout)",
    "oxford_pets_seg": "oxford-iiit-pet/{images/*.jpg, annotations/trimaps/*.png, annotations/"
                       "{trainval,test}.txt} (torchvision's OxfordIIITPet layout)",
}


def load_voc2012(root: str, *, download: bool = False) -> Dataset:
    base = Path(root, "VOCdevkit", "VOC2012")
    parts = {}
    for part, listed in (("train", "train"), ("test", "val")):
        ids = _read_ids("voc2012", root, base / "ImageSets" / "Segmentation" / f"{listed}.txt")
        pairs = [(base / "JPEGImages" / f"{i}.jpg", base / "SegmentationClass" / f"{i}.png") for i in ids]
        parts[part] = _read_pairs("voc2012", root, pairs, _identity_lut())
    return _dataset("voc2012", parts)


def load_cityscapes(root: str, *, download: bool = False) -> Dataset:
    lut = np.full(256, IGNORE, np.uint8)
    lut[list(CITYSCAPES_TRAIN_IDS)] = list(CITYSCAPES_TRAIN_IDS.values())
    parts = {}
    for part, split in (("train", "train"), ("test", "val")):
        images = Path(root, "leftImg8bit", split)
        _require("cityscapes", root, images, folder=True)
        found = sorted(images.glob("*/*_leftImg8bit.png"))
        if not found:
            raise UsageError(f"cityscapes: no <city>/*_leftImg8bit.png under {images}; expected "
                             f"{_LAYOUTS['cityscapes']} under {root}")
        pairs = [(p, Path(root, "gtFine", split, p.parent.name,
                          p.name[:-len("_leftImg8bit.png")] + "_gtFine_labelIds.png")) for p in found]
        parts[part] = _read_pairs("cityscapes", root, pairs, lut)
    return _dataset("cityscapes", parts)


def load_oxford_pets_seg(root: str, *, download: bool = False) -> Dataset:
    base = Path(root, "oxford-iiit-pet")
    lut = np.full(256, IGNORE, np.uint8)
    lut[list(PETS_TRIMAP)] = list(PETS_TRIMAP.values())
    parts = {}
    for part, listed in (("train", "trainval"), ("test", "test")):
        ids = _read_ids("oxford_pets_seg", root, base / "annotations" / f"{listed}.txt")
        pairs = [(base / "images" / f"{i}.jpg", base / "annotations" / "trimaps" / f"{i}.png") for i in ids]
        parts[part] = _read_pairs("oxford_pets_seg", root, pairs, lut)
    return _dataset("oxford_pets_seg", parts)


def _identity_lut() -> np.ndarray:
    return np.arange(256, dtype=np.uint8)


def _require(name: str, root: str, path: Path, *, folder: bool = False) -> None:
    if not (path.is_dir() if folder else path.is_file()):
        raise UsageError(f"{name}: {path} not found; expected {_LAYOUTS[name]} under {root} "
                         f"(alstudy never downloads it)")


def _read_ids(name: str, root: str, path: Path) -> list[str]:
    """The image ids of a split list: the first word of each non-empty line (Pets' lists also
    carry class ids; '#' lines are comments)."""
    _require(name, root, path)
    ids = [line.split()[0] for line in path.read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    if not ids:
        raise UsageError(f"{name}: {path} lists no images")
    return ids


def _read_pairs(name: str, root: str, pairs: list[tuple[Path, Path]],
                lut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3, H, W) and masks (N, H, W) uint8 at the spec's size, masks through `lut`."""
    for image, mask in pairs:
        _require(name, root, image)
        _require(name, root, mask)
    _, h, w = dataset_spec(name).input_shape
    x = np.empty((len(pairs), 3, h, w), np.uint8)
    y = np.empty((len(pairs), h, w), np.uint8)

    def read(i: int) -> None:
        x[i], y[i] = _read_pair(name, *pairs[i], (w, h), lut)

    # PIL decodes without the GIL: threads overlap the decoding of many files.
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(read, range(len(pairs))))
    return x, y


def _read_pair(name: str, image_path: Path, mask_path: Path, size: tuple[int, int],
               lut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(image_path) as img:
            image = np.asarray(img.convert("RGB").resize(size, Image.BILINEAR)).transpose(2, 0, 1)
    except (OSError, UnidentifiedImageError) as err:
        raise UsageError(f"{name}: cannot read image {image_path}: {err}") from None
    try:
        with Image.open(mask_path) as m:
            if m.mode not in ("P", "L"):
                raise ValueError(f"mode {m.mode}, not a palette or 8-bit grey PNG of class ids")
            mask = np.asarray(m.resize(size, Image.NEAREST))   # a palette PNG's indices, not colours
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise UsageError(f"{name}: cannot read mask {mask_path}: {err}") from None
    mask = lut[mask]
    classes = dataset_spec(name).num_classes
    if ((mask >= classes) & (mask != IGNORE)).any():
        raise UsageError(f"{name}: {mask_path} holds class ids above {classes - 1} (other than {IGNORE})")
    return image, mask


def _dataset(name: str, parts: dict[str, tuple[np.ndarray, np.ndarray]]) -> Dataset:
    (x_train, y_train), (x_test, y_test) = parts["train"], parts["test"]
    return to_dataset(name, x_train, y_train, x_test, y_test, mean=IMAGENET_STATS[0], std=IMAGENET_STATS[1])
