"""Segmentation models: the `ALModel` contract on pixels.

`features(x)` is a per-pixel embedding map (N, D, h, w) and the head is the same dropout +
`nn.Linear(D, C)` as a classifier's, applied to every pixel: MC dropout and BADGE see pixel
rows exactly as they see image rows. `forward` upsamples the logits to the input size.

Models: a small U-Net for the CPU (`unet`), and torchvision's LR-ASPP MobileNetV3-Large,
DeepLabV3 ResNet-50/101 and FCN ResNet-50, built with `weights=None, weights_backbone=None`
(nothing is ever downloaded) and no auxiliary classifier. Their backbone keeps torchvision's
key layout, so an ImageNet backbone file loads through `init = { weights = PATH }`
(alstudy.models.weights).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from alstudy.models.almodel import ALModel
from alstudy.models.small import conv_bn


class SegModel(ALModel):
    """`features(x) -> (N, D, h, w)`, `head(emb) -> (N, C, h, w)`, `forward(x) -> (N, C, H, W)`.

    `backbone` maps images to what `decoder` reads (a map, or torchvision's dict of taps);
    `decoder` (identity by default) gives the per-pixel features; `levels` name backbone
    submodules, shallow to deep, as in ALModel (at least one: learning loss reads them).
    """

    dense = True

    def __init__(self, backbone: nn.Module, embed_dim: int, num_classes: int, *, dropout: float,
                 levels: tuple[str, ...], decoder: nn.Module | None = None):
        if not levels:
            raise ValueError("a segmentation model names at least one level")
        super().__init__(backbone, embed_dim, num_classes, dropout=dropout, levels=levels)
        self.decoder = decoder if decoder is not None else nn.Identity()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.backbone(x))

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        # the Linear as a 1x1 convolution: the same per-pixel product, without moving D last
        w = self.classifier.weight
        return F.conv2d(self.dropout(emb), w.view(*w.shape, 1, 1), self.classifier.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.head(self.features(x)), x.shape[-2:])

    @staticmethod
    def upsample(t: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
        """(N, K, h, w) maps bilinearly resized to `size` (as torchvision's segmentation models
        resize their logits); unchanged when already that size."""
        if tuple(t.shape[-2:]) == tuple(size):
            return t
        return F.interpolate(t, size=tuple(size), mode="bilinear", align_corners=False)

    @staticmethod
    def pool(emb: torch.Tensor) -> torch.Tensor:
        """The image embedding (N, D): per-pixel features (N, D, h, w) averaged over pixels."""
        return emb.mean(dim=(2, 3))


# ---- U-Net -------------------------------------------------------------------------------------

def _double(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(conv_bn(nn.Conv2d(cin, cout, 3, padding=1, bias=False), cout, nn.BatchNorm2d),
                         conv_bn(nn.Conv2d(cout, cout, 3, padding=1, bias=False), cout, nn.BatchNorm2d))


class UNet(nn.Module):
    """Ronneberger et al. 2015's U-Net, two downsamplings deep: widths w, 2w, 4w; max-pool
    down, 2x2 transposed convolution up, skip connections concatenated. Output (N, w, H, W)."""

    def __init__(self, channels: int, width: int):
        super().__init__()
        w = width
        self.enc1, self.enc2, self.mid = _double(channels, w), _double(w, 2 * w), _double(2 * w, 4 * w)
        self.up2, self.dec2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2), _double(4 * w, 2 * w)
        self.up1, self.dec1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2), _double(2 * w, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.enc1(x)                                   # (N, w, H, W)
        e2 = self.enc2(F.max_pool2d(e1, 2))                 # (N, 2w, H/2, W/2)
        m = self.mid(F.max_pool2d(e2, 2))                   # (N, 4w, H/4, W/4)
        d2 = self.dec2(torch.cat([_like(self.up2(m), e2), e2], dim=1))
        return self.dec1(torch.cat([_like(self.up1(d2), e1), e1], dim=1))


def _like(up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """`up` zero-padded at the bottom and right to the skip's size: an odd side loses a row
    to max-pooling that the transposed convolution does not give back."""
    dh, dw = skip.shape[-2] - up.shape[-2], skip.shape[-1] - up.shape[-1]
    return F.pad(up, (0, dw, 0, dh)) if dh or dw else up


def unet(input_shape: tuple[int, ...], num_classes: int, *, dropout: float, width: int = 16) -> SegModel:
    """Small U-Net for (C, H, W) images: 117k parameters at width 16 (1 channel, 11 classes).
    Per-pixel features: the last decoder stage's `width` channels at full resolution."""
    levels = ("enc1", "enc2", "mid", "dec2", "dec1")
    return SegModel(UNet(input_shape[0], width), width, num_classes, dropout=dropout, levels=levels)
