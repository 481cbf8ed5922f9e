"""Batch augmentation on the device: a few tensor ops on the whole (already standardized) batch.

`make_augment(kind, strength)` returns a picklable `aug(x, gen, *, host=None) -> x`. Every
sample gets its own random parameters, drawn from `gen` (a torch.Generator on x's device); the
few choices made in Python (RandAugment's ops) draw from `host`, a CPU generator (`gen` itself
when that is a CPU generator). The result is a function of (x, generator states), and no value
is read back from the device: no host sync in a training step. Strength 0 returns `x` itself
and draws nothing. Strength 1 is the usual recipe; larger values push further.

* "crop" / "crop_flip" (images, (B, C, H, W)): a random crop of the image padded by
  ceil(strength * H / 8) pixels (4 px at 32 px for strength 1), reflect padding; "crop_flip"
  also flips half the samples horizontally (datasets whose labels survive a mirror image).
  Above strength 1, RandAugment (torchvision.transforms.v2, 2 ops, magnitude
  round(9 * (strength - 1)) of 30) runs first, see `_rand_augment`.
* "signal" ((B, C, L)): zero-padded shift by up to ceil(strength * L / 8) steps, amplitude
  scaling by exp(0.2 * strength * z), additive noise of std 0.05 * strength.
* "tabular" ((B, D)): additive Gaussian noise of std 0.1 * strength (features are standardized).
* "none": identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from alstudy.errors import UsageError

AUGMENT_KINDS = ("crop_flip", "crop", "signal", "tabular", "none")
RANDAUGMENT_GROUP = 16  # samples sharing one RandAugment draw (v2 draws once per call)


@dataclass(frozen=True)
class Augment:
    """aug(x, gen, *, host=None) -> x; see the module docstring. `mean`/`std` are the dataset's
    per-channel statistics (those of `Dataset.to_float`), needed only to run RandAugment in
    pixel space."""

    kind: str
    strength: float
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()

    def __call__(self, x: torch.Tensor, gen: torch.Generator, *,
                 host: torch.Generator | None = None) -> torch.Tensor:
        if self.strength == 0 or self.kind == "none":
            return x
        if self.kind == "signal":
            return _signal(x, gen, self.strength)
        if self.kind == "tabular":
            return x + 0.1 * self.strength * _normal(x, gen)
        if self.strength > 1:
            x = _rand_augment(x, _host(gen, host), round(9 * (self.strength - 1)), self.mean, self.std)
        return _crop_flip(x, gen, self.strength, flip=self.kind == "crop_flip")


def make_augment(kind: str, strength: float, *, mean: tuple[float, ...] = (),
                 std: tuple[float, ...] = ()) -> Augment:
    """The augmentation `kind` (a `Dataset.augmentation` name) at `strength` >= 0."""
    if kind not in AUGMENT_KINDS:
        raise UsageError(f"unknown augmentation {kind!r}; choices: {', '.join(AUGMENT_KINDS)}")
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not strength >= 0 \
            or not math.isfinite(strength):
        raise UsageError(f"augmentation strength {strength!r}: must be a number >= 0")
    return Augment(kind, float(strength), tuple(mean), tuple(std))


def cutout(x: torch.Tensor, gen: torch.Generator, size: float) -> torch.Tensor:
    """Images (B, C, H, W) with one square of side ceil(size * H) per sample set to 0 (the
    channel mean, inputs being standardized) at a random centre; the square may overhang the
    border (DeVries & Taylor 2017). size 0 returns `x`."""
    if size <= 0:
        return x
    b, _, h, w = x.shape
    side = math.ceil(size * h)
    cy = torch.randint(0, h, (b, 1, 1), generator=gen, device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), generator=gen, device=x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    top, left = cy - side // 2, cx - side // 2
    hole = (ys >= top) & (ys < top + side) & (xs >= left) & (xs < left + side)  # (B, H, W)
    return x.masked_fill(hole[:, None], 0.0)


def _host(gen: torch.Generator, host: torch.Generator | None) -> torch.Generator:
    if host is not None:
        return host
    if gen.device.type != "cpu":
        raise ValueError("RandAugment with a device generator needs a CPU `host` generator")
    return gen  # a CPU generator is its own host generator (what `fit` passes on the CPU too)


def _normal(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)


def _offsets(n: int, limit: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randint(-limit, limit + 1, (n,), generator=gen, device=device)


def _crop_flip(x: torch.Tensor, gen: torch.Generator, strength: float, flip: bool) -> torch.Tensor:
    # Cropping an image padded by p equals shifting it by (dy, dx) in [-p, p] and reading the
    # pixels that fall outside from the mirror image; a flip reverses the column order. All of
    # it is one gather of per-sample pixel indices: no padded copy, no second pass.
    b, c, h, w = x.shape
    pad = min(math.ceil(strength * h / 8), h // 2, w // 2)
    dy, dx = _offsets(b, pad, gen, x.device), _offsets(b, pad, gen, x.device)
    rows = _reflect(torch.arange(h, device=x.device) + dy[:, None], h)  # (B, H)
    cols = _reflect(torch.arange(w, device=x.device) + dx[:, None], w)  # (B, W)
    if flip:
        mirror = torch.rand(b, generator=gen, device=x.device) < 0.5
        cols = torch.where(mirror[:, None], cols.flip(1), cols)
    pixels = (rows[:, :, None] * w + cols[:, None, :]).view(b, 1, h * w).expand(b, c, h * w)
    return x.reshape(b, c, h * w).gather(2, pixels).view(b, c, h, w)


def _reflect(idx: torch.Tensor, n: int) -> torch.Tensor:
    idx = idx.abs()
    return torch.where(idx > n - 1, 2 * (n - 1) - idx, idx)


def _signal(x: torch.Tensor, gen: torch.Generator, strength: float) -> torch.Tensor:
    b, c, n = x.shape
    shift = _offsets(b, min(math.ceil(strength * n / 8), n - 1), gen, x.device)
    src = torch.arange(n, device=x.device) - shift[:, None]  # (B, L)
    inside = (src >= 0) & (src < n)
    x = x.gather(2, src.clamp(0, n - 1)[:, None, :].expand(b, c, n))
    x = torch.where(inside[:, None, :], x, torch.zeros((), dtype=x.dtype, device=x.device))
    scale = torch.exp(0.2 * strength * torch.randn(b, 1, 1, generator=gen, device=x.device, dtype=x.dtype))
    return x * scale + 0.05 * strength * _normal(x, gen)


def _rand_augment(x: torch.Tensor, host: torch.Generator, magnitude: int,
                  mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """RandAugment on uint8 pixels, one draw of ops per group of RANDAUGMENT_GROUP samples.

    torchvision's v2 RandAugment draws its ops in Python from torch's global CPU generator,
    once per call. It runs here under `fork_rng`, seeded from the CPU generator `host`, so the
    result depends on `host` only, nothing is read back from x's device, and the global state
    is left as it was (not safe against other threads drawing meanwhile).
    """
    from torchvision.transforms import v2

    shape = (1, -1, 1, 1)
    m = torch.tensor(mean or (0.0,), device=x.device, dtype=x.dtype).view(shape)
    s = torch.tensor(std or (1.0,), device=x.device, dtype=x.dtype).view(shape)
    pixels = (x * s + m).mul_(255).round_().clamp_(0, 255).to(torch.uint8)
    op = v2.RandAugment(num_ops=2, magnitude=min(magnitude, 30))
    seed = int(torch.randint(0, 2**62, (1,), generator=host))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        pixels = torch.cat([op(group) for group in pixels.split(RANDAUGMENT_GROUP)])
    return (pixels.to(x.dtype).div_(255) - m) / s
