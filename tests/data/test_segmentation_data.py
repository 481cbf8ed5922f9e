"""`mnist5k_seg`: scenes of real digits with per-pixel masks, the same bytes on every load."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from alstudy.data import dataset_info, dataset_spec, get_dataset
from alstudy.data.segmentation import SCENE_SIZE, STROKE, mnist5k_scenes

# sha256 of x_train, y_train, x_test, y_test bytes: a change to the generator, the split or a
# library's resize shows here (then every stored mnist5k_seg result is from other data).
MNIST5K_SEG_SHA256 = "731dee59fcbe11f9ecb5d345475aced83f0ff47bc6018e59586104e360ca9dbd"


@pytest.fixture(scope="module")
def scenes():
    return mnist5k_scenes()


def test_spec_and_list_row():
    spec = dataset_spec("mnist5k_seg")
    assert (spec.task, spec.metric, spec.ignore_index, spec.num_classes) == ("segmentation", "miou", None, 11)
    assert (spec.input_shape, spec.default_model, spec.augmentation) == ((1, 32, 32), "unet", "seg_crop")
    row = next(r for r in dataset_info() if r["name"] == "mnist5k_seg")
    assert (row["task"], row["source"], row["classes"]) == ("segmentation", "embedded", 11)


def test_shapes_dtypes_and_classes():
    ds = get_dataset("mnist5k_seg")
    assert ds.x_train.shape == (4000, 1, 32, 32) and ds.x_test.shape == (1000, 1, 32, 32)
    assert ds.y_train.shape == (4000, 32, 32) and ds.y_test.shape == (1000, 32, 32)
    assert ds.x_train.dtype == ds.y_train.dtype == ds.y_test.dtype == torch.uint8
    assert ds.task == "segmentation"
    for y in (ds.y_train, ds.y_test):
        share = torch.bincount(y.flatten().long(), minlength=11).double() / y.numel()
        assert len(share) == 11 and share[1:].min() > 0.003   # every digit class in both splits
        assert 0.85 < share[0] < 0.95                        # mostly background, as measured: ~0.90
    # every scene holds at least one digit; bright pixels are labeled, dark ones background
    assert (ds.y_train.flatten(1) > 0).any(1).all() and (ds.y_test.flatten(1) > 0).any(1).all()
    bright = ds.x_train[:, 0] >= STROKE
    assert (ds.y_train[bright] > 0).all() and (ds.y_train[ds.x_train[:, 0] == 0] == 0).all()
    x = ds.to_float(ds.x_train)
    assert abs(float(x.mean())) < 1e-4 and abs(float(x.std()) - 1) < 1e-2


def test_same_bytes_on_every_load():
    ds = get_dataset("mnist5k_seg")
    h = hashlib.sha256()
    for t in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        h.update(t.numpy().tobytes())
    assert h.hexdigest() == MNIST5K_SEG_SHA256


def test_no_test_digit_in_a_training_scene(scenes):
    # placements name rows of mnist5k's own split: train scenes its x_train, test scenes its x_test
    mnist5k = get_dataset("mnist5k")
    digits = {part: getattr(mnist5k, f"x_{part}").numpy() for part in ("train", "test")}
    used = {part: np.unique(scenes[part].placements[:, 1]) for part in ("train", "test")}
    for part in ("train", "test"):
        assert used[part].min() >= 0 and used[part].max() < len(digits[part])
        assert len(used[part]) == len(digits[part])   # every digit of the split serves
    # no test digit equals, pixel for pixel, a digit placed in a training scene
    train_pixels = {digits["train"][i].tobytes() for i in used["train"]}
    assert not any(digits["test"][i].tobytes() in train_pixels for i in used["test"])


@pytest.mark.parametrize("part", ["train", "test"])
def test_placements_explain_every_labeled_pixel(scenes, part):
    """The record is what drew the scenes: a labeled pixel lies in a box of a digit of its class."""
    labels = getattr(get_dataset("mnist5k"), f"y_{part}").numpy()
    s = scenes[part]
    n = len(s.masks)
    explained = np.zeros_like(s.masks, dtype=bool)
    counts = np.bincount(s.placements[:, 0], minlength=n)
    assert counts.min() >= 1 and counts.max() <= 3
    for scene, digit, side, top, left in s.placements:
        assert 0 <= top <= SCENE_SIZE - side and 0 <= left <= SCENE_SIZE - side and 16 <= side <= 24
        box = (slice(top, top + side), slice(left, left + side))
        explained[scene][box] |= s.masks[scene][box] == labels[digit] + 1
    assert np.array_equal(explained, s.masks > 0)
