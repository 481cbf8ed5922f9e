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
  Above strength 1, RandAugment (torchvision v2's op space, 2 ops per sample, magnitude
  round(9 * (strength - 1)) of 30, batched on the device) runs first, see `_rand_augment`.
* "signal" ((B, C, L)): zero-padded shift by up to ceil(strength * L / 8) steps, amplitude
  scaling by exp(0.2 * strength * z), additive noise of std 0.05 * strength.
* "tabular" ((B, D)): additive Gaussian noise of std 0.1 * strength (features are standardized).
* "none": identity.

Segmentation moves image and mask together: `make_augment("seg_crop" | "seg_crop_flip", ...)`
returns a `JointAugment`, `aug(x, y, gen, *, host=None) -> (x, y)` with `y` the uint8 masks
(B, H, W). One gather of per-sample pixel indices serves both (the mask's nearest pixel is its
own pixel: no interpolation, class ids stay exact). It shifts every sample by (dy, dx) with
|dy| <= ceil(strength * H / 8) and |dx| <= ceil(strength * W / 8) (each at most half the side),
which is a crop of the image padded by that much; what comes in from outside is padding:
image pixel 0 (black, standardized like the rest) and mask value `fill` (the dataset's
`ignore_index` where it has one, else background 0: `Dataset.augmenter` sets it).
"seg_crop_flip" also mirrors half the samples horizontally (not for digits). Above strength 1
the shifts grow with it (no RandAugment: its geometric ops would need the mask too).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from alstudy.errors import UsageError

AUGMENT_KINDS = ("crop_flip", "crop", "signal", "tabular", "none")
JOINT_AUGMENT_KINDS = ("seg_crop", "seg_crop_flip")   # segmentation: (x, y) -> (x, y)


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


@dataclass(frozen=True)
class JointAugment:
    """aug(x, y, gen, *, host=None) -> (x, y) for segmentation batches; see the module
    docstring. `mean`/`std` give the standardized value of a black padding pixel; `fill` is
    the mask value of padding."""

    kind: str
    strength: float
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    fill: int = 0

    def __call__(self, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, *,
                 host: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.strength == 0:
            return x, y
        black = [-m / s for m, s in zip(self.mean, self.std)] or [0.0] * x.shape[1]
        return _joint_crop_flip(x, y, gen, self.strength, flip=self.kind == "seg_crop_flip",
                                black=black, fill=self.fill)


def make_augment(kind: str, strength: float, *, mean: tuple[float, ...] = (),
                 std: tuple[float, ...] = (), fill: int = 0) -> Augment | JointAugment:
    """The augmentation `kind` (a `Dataset.augmentation` name) at `strength` >= 0; a
    `JointAugment` padding masks with `fill` for the segmentation kinds."""
    if kind not in AUGMENT_KINDS + JOINT_AUGMENT_KINDS:
        raise UsageError(f"unknown augmentation {kind!r}; choices: "
                         f"{', '.join(AUGMENT_KINDS + JOINT_AUGMENT_KINDS)}")
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not strength >= 0 \
            or not math.isfinite(strength):
        raise UsageError(f"augmentation strength {strength!r}: must be a number >= 0")
    if kind in JOINT_AUGMENT_KINDS:
        return JointAugment(kind, float(strength), tuple(mean), tuple(std), int(fill))
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


def _joint_crop_flip(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, strength: float, *,
                     flip: bool, black: list[float], fill: int) -> tuple[torch.Tensor, torch.Tensor]:
    # As `_crop_flip`, but what falls outside is padding (a mirrored border would invent
    # labels), and the mask takes the very same pixel indices as the image.
    b, c, h, w = x.shape
    pad_y, pad_x = min(math.ceil(strength * h / 8), h // 2), min(math.ceil(strength * w / 8), w // 2)
    dy, dx = _offsets(b, pad_y, gen, x.device), _offsets(b, pad_x, gen, x.device)
    rows = torch.arange(h, device=x.device) + dy[:, None]   # (B, H)
    cols = torch.arange(w, device=x.device) + dx[:, None]   # (B, W)
    if flip:
        mirror = torch.rand(b, generator=gen, device=x.device) < 0.5
        cols = torch.where(mirror[:, None], cols.flip(1), cols)
    outside = ((rows < 0) | (rows >= h))[:, :, None] | ((cols < 0) | (cols >= w))[:, None, :]  # (B, H, W)
    pixels = rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]        # (B, H, W)
    x = x.reshape(b, c, h * w).gather(2, pixels.view(b, 1, h * w).expand(b, c, h * w)).view(b, c, h, w)
    for channel, value in enumerate(black):   # Python floats: no host-to-device copy per batch
        x[:, channel].masked_fill_(outside, value)
    y = y.reshape(b, h * w).gather(1, pixels.view(b, h * w)).view(b, h, w).masked_fill_(outside, fill)
    return x, y


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


# RandAugment's op space (Cubuk et al. 2020) as torchvision's v2 RandAugment defines it:
# name -> (largest magnitude at bin 30 of 31, whether a random sign applies)
RANDAUGMENT_OPS = {"identity": (0.0, False), "shear_x": (0.3, True), "shear_y": (0.3, True),
                   "translate_x": (150.0 / 331.0, True), "translate_y": (150.0 / 331.0, True),
                   "rotate": (30.0, True), "brightness": (0.9, True), "color": (0.9, True),
                   "contrast": (0.9, True), "sharpness": (0.9, True), "posterize": (4.0, False),
                   "solarize": (1.0, False), "autocontrast": (0.0, False), "equalize": (0.0, False)}
RANDAUGMENT_NUM_OPS = 2


def _rand_augment(x: torch.Tensor, host: torch.Generator, magnitude: int,
                  mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """RandAugment on the batch in pixel space (0..255, truncated after every op, as on uint8):
    every sample applies `RANDAUGMENT_NUM_OPS` ops drawn uniformly from `RANDAUGMENT_OPS`, at
    bin `magnitude` of 31, each signed op with its own random sign, as torchvision's v2
    RandAugment does per call. Each op runs once, on the slice of samples that chose it, on
    x's device; the draws come from the CPU generator `host`, so the grouping is known on the
    host and nothing is read back from the device. Geometric ops sample the nearest pixel and fill 0.
    """
    b = x.shape[0]
    shape = (1, -1, 1, 1)
    m = torch.tensor(mean or (0.0,), device=x.device, dtype=x.dtype).view(shape)
    s = torch.tensor(std or (1.0,), device=x.device, dtype=x.dtype).view(shape)
    p = (x * s + m).mul(255).round_().clamp_(0, 255)                       # (B, C, H, W)
    names = list(RANDAUGMENT_OPS)
    ops = torch.randint(0, len(names), (RANDAUGMENT_NUM_OPS, b), generator=host)       # on the host
    signs = torch.randint(0, 2, (RANDAUGMENT_NUM_OPS, b), generator=host) * 2.0 - 1
    tops = torch.tensor([top for top, _ in RANDAUGMENT_OPS.values()]) * (min(magnitude, 30) / 30)
    signed = torch.tensor([sg for _, sg in RANDAUGMENT_OPS.values()])
    for k in range(RANDAUGMENT_NUM_OPS):
        # Sorted by op on the host, each op's samples are one slice: one gather in, one out.
        order = torch.argsort(ops[k], stable=True)
        op, sign = ops[k, order], signs[k, order]
        v = tops[op] * torch.where(signed[op], sign, 1.0)
        counts = torch.bincount(op, minlength=len(names)).tolist()
        warps = sum(counts[1:6])                        # the geometric ops 1-5: one warp for all
        bounds = [0, counts[0], counts[0] + warps] + [sum(counts[:i + 1]) for i in range(6, len(names))]
        moved = p.index_select(0, order.to(x.device))
        v_dev = v.to(x.device, x.dtype)
        pieces = [moved[:counts[0]]]
        for i, (lo, hi) in zip([None, *range(6, len(names))], zip(bounds[1:], bounds[2:])):
            if hi == lo:
                continue
            arg = v_dev[lo:hi] if i is not None else _affine_table(
                p.shape[2], p.shape[3], magnitude)[op[lo:hi], (sign[lo:hi] > 0).long()].to(x.device)
            pieces.append(_pixel_op("warp" if i is None else names[i], moved[lo:hi], arg))
        p = torch.empty_like(p).index_copy_(0, order.to(x.device), torch.cat(pieces))
        p = p.clamp_(0, 255).floor_()    # uint8 arithmetic truncates
    return (p / 255 - m) / s


def _pixel_op(name: str, p: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """One RandAugment op on pixels `p` (B, C, H, W) in 0..255 at per-sample magnitudes `v`
    (B,) (for "warp", the (B, 2, 3) maps of `_affine`), following torchvision's functional
    definitions."""
    b, c, h, w = p.shape
    f = v.view(-1, 1, 1, 1)
    if name == "warp":
        return _warp(p, v)
    if name == "brightness":
        return p * (1 + f)
    gray = p if c == 1 else (0.2989 * p[:, :1] + 0.587 * p[:, 1:2] + 0.114 * p[:, 2:3])
    if name == "color":
        return (1 + f) * p - f * gray
    if name == "contrast":
        return (1 + f) * p - f * gray.mean(dim=(1, 2, 3), keepdim=True)
    if name == "sharpness":   # blend with the 3x3 smoothed image; the border keeps its pixels
        kernel = torch.tensor([[1.0, 1, 1], [1, 5, 1], [1, 1, 1]], device=p.device, dtype=p.dtype) / 13
        smooth = torch.nn.functional.conv2d(p.reshape(b * c, 1, h, w), kernel.view(1, 1, 3, 3))
        blurred = p.clone()
        blurred[:, :, 1:-1, 1:-1] = smooth.round().view(b, c, h - 2, w - 2)
        return (1 + f) * p - f * blurred
    if name == "posterize":   # keep the top round(8 - v) bits
        step = torch.exp2(8 - (8 - f).round())
        return (p / step).floor() * step
    if name == "solarize":    # invert pixels at or above the threshold (1 - v of the range)
        return torch.where(p >= 255 * (1 - f), 255 - p, p)
    if name == "autocontrast":
        lo, hi = p.amin(dim=(2, 3), keepdim=True), p.amax(dim=(2, 3), keepdim=True)
        return torch.where(hi > lo, (p - lo) * 255 / (hi - lo).clamp_min(1), p)
    if name == "equalize":
        return _equalize(p)
    raise ValueError(name)


def _affine(ops: torch.Tensor, v: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, 2, 3) maps from an output pixel (x, y, 1) to the pixel it reads, for the geometric
    ops 1-5 of `RANDAUGMENT_OPS` at magnitudes `v`: shear about the top-left corner (v the
    shear factor), translate (v a fraction of the side), rotate about the centre (v degrees)."""
    a = torch.zeros(len(ops), 2, 3, dtype=torch.float64)
    a[:, 0, 0] = a[:, 1, 1] = 1.0
    v = v.double()
    a[:, 0, 1] = torch.where(ops == 1, v, 0.0)                 # shear_x (pixel centres at +0.5)
    a[:, 0, 2] = torch.where(ops == 1, 0.5 * v, 0.0)
    a[:, 1, 0] = torch.where(ops == 2, v, 0.0)                 # shear_y
    a[:, 1, 2] = torch.where(ops == 2, 0.5 * v, 0.0)
    a[:, 0, 2] += torch.where(ops == 3, -(v * w).trunc(), 0.0)   # translate_x (whole pixels)
    a[:, 1, 2] += torch.where(ops == 4, -(v * h).trunc(), 0.0)   # translate_y
    turn = ops == 5
    t = torch.deg2rad(v[turn])
    cos, sin, cx, cy = torch.cos(t), torch.sin(t), (w - 1) / 2, (h - 1) / 2
    a[turn] = torch.stack([torch.stack([cos, -sin, cx - cos * cx + sin * cy], 1),
                           torch.stack([sin, cos, cy - sin * cx - cos * cy], 1)], 1)
    return a.float()


@functools.lru_cache(maxsize=32)
def _affine_table(h: int, w: int, magnitude: int) -> torch.Tensor:
    """(ops, 2, 2, 3): `_affine`'s map of each geometric op at `magnitude`, negative sign at
    index 0 and positive at 1 (zeros for the other ops): the same few maps every batch."""
    level = min(magnitude, 30) / 30
    table = torch.zeros(len(RANDAUGMENT_OPS), 2, 2, 3)
    geometric = torch.arange(1, 6)
    for j, sign in enumerate((-1.0, 1.0)):
        tops = torch.tensor([top for top, _ in RANDAUGMENT_OPS.values()])[geometric]
        table[geometric, j] = _affine(geometric, sign * level * tops, h, w)
    return table


def _warp(p: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """Every sample read through its own map `a` (B, 2, 3): nearest pixel, 0 outside."""
    b, c, h, w = p.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=p.device, dtype=p.dtype),
                            torch.arange(w, device=p.device, dtype=p.dtype), indexing="ij")
    grid = torch.stack([xs.flatten(), ys.flatten(), torch.ones_like(xs.flatten())])   # (3, H*W)
    src = (a @ grid).round().long()                                          # (B, 2, H*W)
    sx, sy = src[:, 0], src[:, 1]
    inside = (sx >= 0) & (sx < w) & (sy >= 0) & (sy < h)
    idx = (sy.clamp(0, h - 1) * w + sx.clamp(0, w - 1)).view(b, 1, h * w).expand(b, c, h * w)
    out = p.reshape(b, c, h * w).gather(2, idx) * inside[:, None]
    return out.view(b, c, h, w)


def _equalize(p: torch.Tensor) -> torch.Tensor:
    """Histogram equalization of every channel of every sample (PIL's and torchvision's rule:
    step = (pixels - count of the last used level) // 255; identity where step is 0)."""
    b, c, h, w = p.shape
    levels = p.reshape(b * c, h * w).long()
    hist = torch.zeros(b * c, 256, device=p.device, dtype=torch.long).scatter_add_(
        1, levels, torch.ones_like(levels))
    last = (torch.arange(256, device=p.device) * (hist > 0)).argmax(dim=1, keepdim=True)
    step = (h * w - hist.gather(1, last)) // 255                             # (B*C, 1)
    lut = (hist.cumsum(1) + step // 2) // step.clamp_min(1)
    lut = torch.cat([torch.zeros_like(lut[:, :1]), lut[:, :-1]], dim=1).clamp(0, 255)
    out = lut.gather(1, levels).to(p.dtype)
    return torch.where(step > 0, out, p.reshape(b * c, h * w)).view(b, c, h, w)
