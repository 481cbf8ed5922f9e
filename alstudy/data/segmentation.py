"""`mnist5k_seg`: segmentation scenes composed from mnist5k's 5000 real digits, no download.

The generator, fixed so every load gives the same bytes:

* A scene is `SCENE_SIZE` x `SCENE_SIZE` (32 x 32, chosen for time: a prototype U-Net step at
  batch 16 took 45-59 ms there on one loaded CPU thread, and 64 x 64 has four times the pixels
  to convolve; 32 px still holds three legible digits), black, with 1 to `MAX_DIGITS` (3)
  digits, the count uniform.
* Digits are drawn without replacement from a seeded permutation of the split's digits, taken
  again (a new permutation) when used up, so every digit serves about equally often. Train
  scenes use only mnist5k's train digits, test scenes only its test digits.
* Each digit (a 28 x 28 MNIST image) is resized to a side uniform in `DIGIT_SIDES` (16..24 px;
  bilinear with antialiasing, rounded to bytes). `CANDIDATES` (8) top-left corners are drawn
  uniform over the positions that keep it inside the scene; it goes to the first of those whose
  stroke pixels cover the fewest stroke pixels already placed, so digits overlap little but may.
* The image is the pixelwise maximum of the placed digits (ink over ink). The mask is 0
  (background) everywhere except where a placed digit's resized intensity is >= `STROKE`
  (128 of 255), which gets that digit's class + 1 (classes 1..10 = digits 0..9); where strokes
  overlap, the digit drawn later wins.
* Counts: `SCENES` = 4000 train and 1000 test scenes, generator seeds `SCENE_SEEDS`. Measured:
  background is 90.0 % of train pixels (89.9 % of test), each digit class 0.6-1.4 %.

Each placement is kept as a row (scene, digit, side, top, left) of `Scenes.placements`, the
digit being a row of the same split of `mnist5k` (its `x_train` for train scenes, `x_test` for
test scenes), so which digit is in which scene can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from alstudy.data.dataset import Dataset

SCENE_SIZE = 32
MAX_DIGITS = 3
DIGIT_SIDES = (16, 24)            # inclusive range of the side a 28 x 28 digit is resized to
STROKE = 128                      # resized intensity at or above which a pixel is the digit's class
CANDIDATES = 8                    # positions drawn per digit; the one overlapping fewest strokes wins
SCENES = {"train": 4000, "test": 1000}
SCENE_SEEDS = {"train": 1, "test": 2}


@dataclass(frozen=True)
class Scenes:
    """One split's scenes: images (N, 1, S, S) uint8, masks (N, S, S) uint8 and the placements
    (P, 5) int64 rows (scene, digit row, side, top, left) in drawing order."""

    images: np.ndarray
    masks: np.ndarray
    placements: np.ndarray


def compose_scenes(digits: np.ndarray, labels: np.ndarray, n: int, seed: int) -> Scenes:
    """`n` scenes from `digits` (M, 1, 28, 28) uint8 of classes `labels` (M,); see the module
    docstring for the rule."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, MAX_DIGITS + 1, n)
    total = int(counts.sum())
    m = len(digits)
    order = np.concatenate([rng.permutation(m) for _ in range(-(-total // m))])[:total]
    sides = rng.integers(DIGIT_SIDES[0], DIGIT_SIDES[1] + 1, total)
    free = (SCENE_SIZE - sides + 1)[:, None, None]
    corners = np.floor(rng.random((total, CANDIDATES, 2)) * free).astype(np.int64)  # (P, K, 2) top, left
    scene = np.repeat(np.arange(n), counts)
    resized = _resized(digits, order, sides)

    images = np.zeros((n, 1, SCENE_SIZE, SCENE_SIZE), np.uint8)
    masks = np.zeros((n, SCENE_SIZE, SCENE_SIZE), np.uint8)
    tops, lefts = np.empty(total, np.int64), np.empty(total, np.int64)
    for i in range(total):
        s, side, digit = scene[i], sides[i], resized[i]
        stroke = digit >= STROKE
        windows = sliding_window_view(masks[s] > 0, (side, side))[corners[i, :, 0], corners[i, :, 1]]
        overlap = (windows & stroke).sum(axis=(1, 2))                       # (K,)
        t, l = tops[i], lefts[i] = corners[i, int(np.argmin(overlap))]
        window = images[s, 0, t:t + side, l:l + side]
        np.maximum(window, digit, out=window)
        masks[s, t:t + side, l:l + side][stroke] = labels[order[i]] + 1
    placements = np.stack([scene, order, sides, tops, lefts], axis=1).astype(np.int64)
    return Scenes(images, masks, placements)


def _resized(digits: np.ndarray, order: np.ndarray, sides: np.ndarray) -> list[np.ndarray]:
    """digits[order[i]] resized to sides[i] x sides[i] (bilinear, antialiased, rounded), one
    batched resize per side."""
    import torch
    import torch.nn.functional as F

    out: list[np.ndarray] = [np.empty(0, np.uint8)] * len(order)
    for side in np.unique(sides):
        at = np.flatnonzero(sides == side)
        x = torch.from_numpy(digits[order[at]]).float()
        small = F.interpolate(x, size=(int(side), int(side)), mode="bilinear", align_corners=False,
                              antialias=True)
        small = small.round_().clamp_(0, 255).to(torch.uint8)[:, 0].numpy()
        for k, i in enumerate(at):
            out[i] = small[k]
    return out


def mnist5k_scenes() -> dict[str, Scenes]:
    """The train and test scenes of `mnist5k_seg`, with their placements, from the digits of
    `mnist5k`'s own train and test split (its loaded copy: a process holding both loads once)."""
    from alstudy.data.registry import get_dataset

    digits = get_dataset("mnist5k")
    return {part: compose_scenes(getattr(digits, f"x_{part}").numpy(), getattr(digits, f"y_{part}").numpy(),
                                 SCENES[part], SCENE_SEEDS[part]) for part in ("train", "test")}


def load_mnist5k_seg() -> Dataset:
    """`mnist5k_seg`: 4000 train / 1000 test scenes (1, 32, 32) uint8 with uint8 masks (N, 32, 32)
    of 11 classes (0 background, d + 1 the digit d); `mean`/`std` from the train scenes."""
    from alstudy.data.arrays import to_dataset

    scenes = mnist5k_scenes()
    train, test = scenes["train"], scenes["test"]
    pixels = train.images.astype(np.float64) / 255.0
    return to_dataset("mnist5k_seg", train.images, train.masks, test.images, test.masks,
                      mean=(pixels.mean(),), std=(pixels.std(),))
