"""Views and mixing for semi-supervised segmentation: what the pixel terms share.

A segmentation dataset's augmenter moves image and mask together, `aug(x, y, gen, *, host) ->
(x, y)`; unlabeled rows have no mask, so `ImageView` hands it an all-zero one and keeps the
image. The strong view of a pixel method is derived from the weak view (`photometric`: ops
that move no pixel, so a weak view's prediction stays the target of the same pixel), then
images are mixed by CutMix boxes (`cutmix_boxes`, `mix`) and so are their targets: CutMix-Seg
(French et al. 2020, Sec. 3.2) and UniMatch's FixMatch baseline (Yang et al. 2023). The mate
of row i is row i + 1 (mod B) of the same draw: the rows are drawn at random, so pairing
neighbours is a random pairing that costs no draw.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

BOX_AREA = 0.5                 # a CutMix box covers half the image (French et al. 2020, Sec. 4.1)
BOX_RATIO = (0.5, 2.0)         # its aspect ratio h / w, log-uniform in this range


@dataclass(frozen=True)
class ImageView:
    """A segmentation dataset's joint augmentation applied to images that have no mask:
    `view(x, gen, *, host) -> x`, x (B, C, H, W) floats."""

    augment: Callable[..., Any]

    def __call__(self, x: torch.Tensor, gen: torch.Generator, *,
                 host: torch.Generator | None = None) -> torch.Tensor:
        blank = torch.zeros((x.shape[0], *x.shape[2:]), dtype=torch.uint8, device=x.device)
        return self.augment(x, blank, gen, host=host)[0]


def photometric(x: torch.Tensor, gen: torch.Generator, strength: float) -> torch.Tensor:
    """(B, C, H, W) standardized images with per-image contrast (factor exp(0.25 s z)) and
    brightness (shift 0.25 s z', in units of the channel's std), per-channel gain exp(0.1 s z'')
    for colour images, a 3x3 box blur on half the images, and pixel noise of std 0.1 s;
    s = `strength`, every z a standard normal draw. No pixel moves. s 0 returns `x`."""
    if strength <= 0:
        return x
    b, c = x.shape[:2]
    z = torch.randn(b, 2 + c, 1, 1, generator=gen, device=x.device, dtype=x.dtype)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * torch.exp(0.25 * strength * z[:, :1]) + mean + 0.25 * strength * z[:, 1:2]
    if c > 1:
        x = x * torch.exp(0.1 * strength * z[:, 2:].view(b, c, 1, 1))
    blur = torch.rand(b, 1, 1, 1, generator=gen, device=x.device) < 0.5
    x = torch.where(blur, F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False), x)
    return x + 0.1 * strength * torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)


def cutmix_boxes(b: int, h: int, w: int, gen: torch.Generator, *, device: torch.device | str) -> torch.Tensor:
    """(B, H, W) bool: one box a row, area `BOX_AREA` of the image, aspect ratio log-uniform in
    `BOX_RATIO`, centre uniform such that the box lies inside the image."""
    u = torch.rand(b, 3, generator=gen, device=device)
    lo, hi = math.log(BOX_RATIO[0]), math.log(BOX_RATIO[1])
    ratio = torch.exp(lo + (hi - lo) * u[:, 0])                       # box h / box w
    bh = torch.sqrt(BOX_AREA * h * w * ratio).round().clamp(1, h).long()
    bw = torch.sqrt(BOX_AREA * h * w / ratio).round().clamp(1, w).long()
    top = ((h - bh + 1) * u[:, 1]).long()
    left = ((w - bw + 1) * u[:, 2]).long()
    ys = torch.arange(h, device=device).view(1, h, 1)
    xs = torch.arange(w, device=device).view(1, 1, w)
    t, l_ = top.view(b, 1, 1), left.view(b, 1, 1)
    return (ys >= t) & (ys < t + bh.view(b, 1, 1)) & (xs >= l_) & (xs < l_ + bw.view(b, 1, 1))


def mix(t: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """`t` (B, ...) with row i's box (B, H, W) taken from row i + 1 (mod B): images (B, C, H, W),
    targets (B, H, W) or per-pixel probabilities (B, C, H, W) alike."""
    box = boxes if t.dim() == 3 else boxes[:, None]
    return torch.where(box, t.roll(-1, dims=0), t)
