"""Batch augmentation: identity at 0, per-sample, deterministic given the generator."""

from __future__ import annotations

import pickle

import pytest
import torch

from alstudy.data.augment import AUGMENT_KINDS, _rand_augment, make_augment
from alstudy.errors import UsageError

SHAPES = {"crop_flip": (32, 3, 32, 32), "crop": (32, 1, 8, 8), "signal": (32, 1, 40),
          "tabular": (32, 13), "none": (32, 5)}


def _gen(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _batch(kind: str, device: str = "cpu") -> torch.Tensor:
    return torch.randn(SHAPES[kind], generator=_gen(99), dtype=torch.float32).to(device)


@pytest.mark.parametrize("kind", AUGMENT_KINDS)
def test_strength_zero_is_identity_and_draws_nothing(kind):
    x, gen = _batch(kind), _gen()
    state = gen.get_state()
    assert make_augment(kind, 0.0)(x, gen) is x
    assert torch.equal(gen.get_state(), state)


@pytest.mark.parametrize("kind", AUGMENT_KINDS)
@pytest.mark.parametrize("strength", [0.5, 1.0, 2.0])
def test_deterministic_given_the_generator_and_keeps_shape(kind, strength):
    aug, x = make_augment(kind, strength), _batch(kind)
    original = x.clone()
    a, b = aug(x, _gen(1)), aug(x, _gen(1))
    assert torch.equal(a, b) and a.shape == x.shape and a.dtype == x.dtype and a.device == x.device
    assert torch.equal(x, original)  # the caller's batch is not modified in place
    if kind != "none":
        assert not torch.equal(a, aug(x, _gen(2)))


@pytest.mark.parametrize("kind", ["crop_flip", "crop", "signal", "tabular"])
def test_each_sample_gets_its_own_draw(kind):
    # one sample repeated: a single draw for the whole batch would make all outputs equal
    x = _batch(kind)[:1].expand(SHAPES[kind]).contiguous()
    out = make_augment(kind, 1.0)(x, _gen())
    distinct = {tuple(row.flatten().tolist()) for row in out}
    assert len(distinct) >= 6  # (the 8 px crop has 9 possible shifts)


def test_crop_shifts_pixels_within_the_padding():
    x = torch.arange(8 * 8, dtype=torch.float32).view(1, 1, 8, 8).expand(64, 1, 8, 8)
    out = make_augment("crop", 1.0)(x, _gen())  # 8 px image: at most 1 px shift, no flip
    assert set(out.unique().tolist()) <= set(range(64))
    # every output is the input shifted by (dy, dx) in [-1, 1]^2, interior pixels untouched
    shifts = {(int(o[0, 3, 3]) // 8 - 3, int(o[0, 3, 3]) % 8 - 3) for o in out}
    assert shifts <= {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)} and len(shifts) > 4
    for o in out:
        dy, dx = int(o[0, 3, 3]) // 8 - 3, int(o[0, 3, 3]) % 8 - 3
        assert torch.equal(o[0, 1:7, 1:7], x[0, 0, 1 + dy:7 + dy, 1 + dx:7 + dx])


def test_flip_only_for_crop_flip():
    # a horizontal ramp: a mirrored sample decreases left to right
    x = torch.linspace(0, 1, 32).expand(256, 3, 32, 32).contiguous()

    def mirrored(kind):
        out = make_augment(kind, 0.25)(x, _gen())  # 1 px crop: the ramp direction survives
        return (out[:, 0, 16, 20] < out[:, 0, 16, 10]).float().mean().item()

    assert 0.35 < mirrored("crop_flip") < 0.65 and mirrored("crop") == 0.0


def test_noise_grows_with_strength():
    x = torch.zeros(512, 13)
    weak, strong = (make_augment("tabular", s)(x, _gen()).std().item() for s in (0.5, 2.0))
    assert weak == pytest.approx(0.05, rel=0.1) and strong == pytest.approx(0.2, rel=0.1)


def test_rand_augment_is_seeded_from_gen_and_leaves_global_rng_alone():
    mean, std = (0.49, 0.48, 0.45), (0.25, 0.24, 0.26)
    pixels = torch.randint(0, 256, (40, 3, 32, 32), generator=_gen(5), dtype=torch.uint8)
    x = (pixels.float() / 255 - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    strong = make_augment("crop_flip", 2.0, mean=mean, std=std)
    torch.manual_seed(7)
    before = torch.get_rng_state()
    a = strong(x, _gen(3))
    assert torch.equal(torch.get_rng_state(), before)
    torch.manual_seed(8)  # a different global state changes nothing
    assert torch.equal(a, strong(x, _gen(3)))
    # RandAugment itself changes (nearly) every sample
    out = _rand_augment(x, _gen(3), 9, mean, std)
    changed = (out - x).abs().flatten(1).amax(1) > 1e-3  # (B,)
    assert changed.float().mean() > 0.7 and out.shape == x.shape
    assert (out - x).abs().mean() > 0.05


@pytest.mark.parametrize("kind", AUGMENT_KINDS)
@pytest.mark.parametrize("strength", [1.0, 3.0])
def test_reads_no_value_back_from_the_device(kind, strength):
    # Meta tensors have shapes but no values: reading one (.item(), float(), a branch on a
    # tensor) raises. The batch lives on "meta", the generator on the host, as a CUDA batch
    # with its CUDA generator and fit's host generator would; anything the step read back
    # from the device would be a host sync per batch on a GPU.
    x = _batch(kind).to("meta")
    channels = x.shape[1] if x.dim() == 4 else 0
    aug = make_augment(kind, strength, mean=(0.5,) * channels, std=(0.25,) * channels)
    out = aug(x, _gen(), host=_gen(1))
    assert out.device.type == "meta" and out.shape == x.shape


def test_rand_augment_choices_come_from_the_host_generator():
    x = _batch("crop_flip")
    strong = make_augment("crop_flip", 3.0)
    a = strong(x, _gen(1), host=_gen(5))
    assert torch.equal(a, strong(x, _gen(1), host=_gen(5)))
    assert not torch.equal(a, strong(x, _gen(1), host=_gen(6)))


def test_picklable_and_bad_input():
    aug = make_augment("signal", 1.5)
    assert pickle.loads(pickle.dumps(aug)) == aug
    with pytest.raises(UsageError, match="unknown augmentation 'image'; choices: crop_flip"):
        make_augment("image", 1.0)
    for bad in (-0.1, float("nan"), "1"):
        with pytest.raises(UsageError, match="strength"):
            make_augment("crop", bad)


@pytest.mark.gpu
@pytest.mark.parametrize("kind", AUGMENT_KINDS)
def test_on_cuda_with_a_cuda_generator_and_no_host_sync(kind):
    x, aug = _batch(kind, "cuda"), make_augment(kind, 2.0)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any synchronizing call below raises
    try:
        a, b = (aug(x, _gen(1, "cuda"), host=_gen(2)) for _ in range(2))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert a.device.type == "cuda" and torch.equal(a, b) and a.shape == x.shape
    if kind in ("crop", "crop_flip"):  # RandAugment's ops are drawn in Python: a host generator
        with pytest.raises(ValueError, match="host"):
            aug(x, _gen(1, "cuda"))


def test_rand_augment_ops_match_torchvisions_on_uint8_images():
    import math

    from torchvision.transforms.v2 import functional as TF

    from alstudy.data.augment import _affine, _pixel_op

    img = torch.randint(0, 256, (4, 3, 16, 16), generator=_gen(0), dtype=torch.uint8)
    img[1] = img[1] // 2 + 40                                     # a low-contrast image
    p, v = img.float(), torch.full((4,), 0.3)

    def levels_apart(mine, ref):                                  # uint8 arithmetic truncates
        return (mine.clamp(0, 255).floor() - ref.float()).abs().max().item()

    assert levels_apart(_pixel_op("brightness", p, v), TF.adjust_brightness(img, 1.3)) == 0
    assert levels_apart(_pixel_op("posterize", p, torch.full((4,), 2.0)), TF.posterize(img, 6)) == 0
    assert levels_apart(_pixel_op("solarize", p, torch.full((4,), 0.4)), TF.solarize(img, 0.6 * 255)) == 0
    assert levels_apart(_pixel_op("equalize", p, v), TF.equalize(img)) == 0
    # float rounding: at most one gray level apart
    assert levels_apart(_pixel_op("color", p, v), TF.adjust_saturation(img, 1.3)) <= 1
    assert levels_apart(_pixel_op("contrast", p, v), TF.adjust_contrast(img, 1.3)) <= 1
    assert levels_apart(_pixel_op("sharpness", p, v), TF.adjust_sharpness(img, 1.3)) <= 1
    assert levels_apart(_pixel_op("autocontrast", p, v), TF.autocontrast(img)) <= 1
    # the geometric ops, each sample its own: translate by 4 and -2 px, shear 0.3, rotate 20 degrees
    out = _pixel_op("warp", p, _affine(torch.tensor([3, 4, 1, 5]), torch.tensor([0.25, -0.125, 0.3, 20.0]), 16, 16))
    still = dict(angle=0.0, scale=1.0, center=[0, 0])
    assert levels_apart(out[:1], TF.affine(img[:1], translate=[4, 0], shear=[0.0, 0.0], **still)) == 0
    assert levels_apart(out[1:2], TF.affine(img[1:2], translate=[0, -2], shear=[0.0, 0.0], **still)) == 0
    assert levels_apart(out[2:3], TF.affine(img[2:3], translate=[0, 0], shear=[math.degrees(math.atan(0.3)), 0.0],
                                            **still)) == 0
    assert levels_apart(out[3:4], TF.rotate(img[3:4], 20.0)) == 0


def test_rand_augment_draws_its_ops_per_sample():
    # 64 copies of one image: with ops drawn per sample (not per call) the copies come out different
    mean, std = (0.5,), (0.25,)
    pixels = torch.randint(0, 256, (1, 1, 16, 16), generator=_gen(2), dtype=torch.uint8).expand(64, 1, 16, 16)
    x = (pixels.float() / 255 - 0.5) / 0.25
    out = _rand_augment(x, _gen(3), 9, mean, std).flatten(1)
    assert len({tuple(row.tolist()) for row in out}) > 20
