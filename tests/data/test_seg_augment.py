"""Joint augmentation of segmentation batches: image and mask move together, padding is
labeled background (or ignore), strength 0 is the identity."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest
import torch

from alstudy.data import get_dataset
from alstudy.data.augment import JointAugment, make_augment
from alstudy.data.dataset import Dataset
from alstudy.data.segmentation import STROKE


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def scenes():
    ds = get_dataset("mnist5k_seg")
    return ds, ds.x_train[:256], ds.y_train[:256]


def _pixels(ds: Dataset, x: torch.Tensor) -> torch.Tensor:
    """Back from `to_float` to 0..255."""
    return (x * ds.std[0] + ds.mean[0]) * 255


@pytest.mark.parametrize("kind", ["seg_crop", "seg_crop_flip"])
@pytest.mark.parametrize("strength", [0.5, 1.0, 3.0])
def test_mask_stays_where_the_image_is_bright(scenes, kind, strength):
    ds, x, y = scenes
    # in mnist5k_seg a pixel is labeled exactly where the image reaches the stroke threshold
    assert torch.equal(x[:, 0] >= STROKE, y > 0)
    aug = make_augment(kind, strength, mean=ds.mean, std=ds.std, fill=0)
    moved = 0
    for seed in range(8):
        xa, ya = aug(ds.to_float(x), y, _gen(seed))
        assert ya.dtype == torch.uint8 and ya.shape == y.shape and xa.shape == x.shape
        assert torch.equal(_pixels(ds, xa[:, 0]) >= STROKE - 0.5, ya > 0)
        # the class of a labeled pixel is one of its scene's classes (labels move, never change)
        for i in range(0, 256, 37):
            assert set(ya[i].unique().tolist()) <= set(y[i].unique().tolist()) | {0}
        moved += int((ya != y).flatten(1).any(1).sum())
    assert moved > 0.8 * 8 * 256


def test_strength_zero_is_the_identity_and_draws_nothing(scenes):
    ds, x, y = scenes
    xf, gen = ds.to_float(x), _gen()
    state = gen.get_state()
    for kind in ("seg_crop", "seg_crop_flip"):
        out = make_augment(kind, 0.0, mean=ds.mean, std=ds.std)(xf, y, gen)
        assert out[0] is xf and out[1] is y
    assert torch.equal(gen.get_state(), state)


def _shifted(img: torch.Tensor, dy: int, dx: int, value) -> torch.Tensor:
    """Hand-made shift: out[r, c] = img[r + dy, c + dx], `value` where that is outside."""
    h, w = img.shape[-2:]
    out = torch.full_like(img, value)
    rs, re = max(0, -dy), min(h, h - dy)
    cs, ce = max(0, -dx), min(w, w - dx)
    out[..., rs:re, cs:ce] = img[..., rs + dy:re + dy, cs + dx:ce + dx]
    return out


@pytest.mark.parametrize("kind", ["seg_crop", "seg_crop_flip"])
def test_every_output_is_a_shift_or_mirror_of_its_input_padded_with_fill(kind):
    # 16 x 24 image and mask: strength 1 shifts rows by up to 2 and columns by up to 3
    x = torch.arange(16 * 24, dtype=torch.float32).view(1, 1, 16, 24).expand(64, 1, 16, 24).contiguous()
    y = (torch.arange(16 * 24) % 200).to(torch.uint8).view(1, 16, 24).expand(64, 16, 24).contiguous()
    xa, ya = make_augment(kind, 1.0, mean=(0.5,), std=(0.25,), fill=255)(x, y, _gen(3))
    black = -0.5 / 0.25
    seen = set()
    for i in range(64):
        match = [(dy, dx, m) for dy in range(-2, 3) for dx in range(-3, 4) for m in (False, True)
                 if torch.equal(xa[i], _shifted(x[i].flip(-1) if m else x[i], dy, dx if not m else -dx, black))
                 and torch.equal(ya[i], _shifted(y[i].flip(-1) if m else y[i], dy, dx if not m else -dx, 255))]
        assert len(match) == 1, i
        seen.add(match[0])
    mirrored = {m for _, _, m in seen}
    assert mirrored == ({False, True} if kind == "seg_crop_flip" else {False})
    assert len(seen) > 10


def test_deterministic_given_the_generator_and_leaves_the_batch_alone(scenes):
    ds, x, y = scenes
    xf = ds.to_float(x)
    before = (xf.clone(), y.clone())
    aug = make_augment("seg_crop_flip", 1.0, mean=ds.mean, std=ds.std)
    a, b, c = aug(xf, y, _gen(1)), aug(xf, y, _gen(1)), aug(xf, y, _gen(2))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])
    assert torch.equal(xf, before[0]) and torch.equal(y, before[1])
    assert isinstance(pickle.loads(pickle.dumps(aug)), JointAugment)


def test_dataset_augmenter_pads_masks_with_ignore_index_where_the_dataset_has_one(scenes):
    ds, x, y = scenes
    aug = ds.augmenter(1.0)
    assert isinstance(aug, JointAugment) and (aug.kind, aug.fill) == ("seg_crop", 0)
    with_ignore = replace(ds, spec=replace(ds.spec, ignore_index=255, augmentation="seg_crop_flip"))
    aug = with_ignore.augmenter(1.0)
    assert (aug.kind, aug.fill, aug.mean, aug.std) == ("seg_crop_flip", 255, ds.mean, ds.std)
    xa, ya = aug(ds.to_float(x), y, _gen())
    padded = ya == 255
    assert padded.any()
    # the padding is black in the image: the standardized value of pixel 0
    assert torch.allclose(_pixels(ds, xa[:, 0][padded]), torch.zeros(()), atol=1e-3)
    # classification keeps its one-argument augmenter
    assert not isinstance(get_dataset("mnist5k").augmenter(1.0), JointAugment)


@pytest.mark.parametrize("kind", ["seg_crop", "seg_crop_flip"])
def test_reads_no_value_back_from_the_device(kind):
    # as for classification (tests/data/test_augment.py): meta tensors raise on any read-back
    x = torch.empty(8, 3, 16, 24, device="meta")
    y = torch.empty(8, 16, 24, dtype=torch.uint8, device="meta")
    xa, ya = make_augment(kind, 3.0, mean=(0.5,) * 3, std=(0.25,) * 3, fill=255)(x, y, _gen(), host=_gen(1))
    assert xa.device.type == ya.device.type == "meta" and xa.shape == x.shape and ya.shape == y.shape
    assert ya.dtype == torch.uint8


@pytest.mark.gpu
@pytest.mark.parametrize("kind", ["seg_crop", "seg_crop_flip"])
def test_on_cuda_with_a_cuda_generator_and_no_host_sync(kind):
    x = torch.randn(16, 3, 64, 128, device="cuda")
    y = torch.randint(0, 19, (16, 64, 128), device="cuda").to(torch.uint8)
    aug = make_augment(kind, 1.0, mean=(0.5,) * 3, std=(0.25,) * 3, fill=255)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any synchronizing call below raises
    try:
        a, b = (aug(x, y, torch.Generator("cuda").manual_seed(1)) for _ in range(2))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[1].device.type == "cuda"
    cpu = aug(x.cpu(), y.cpu(), _gen(1))
    assert cpu[1].shape == a[1].shape
