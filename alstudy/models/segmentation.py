"""Segmentation models: the `ALModel` contract on pixels.

`features(x)` is a per-pixel embedding map (N, D, h, w) and the head is the same dropout +
`nn.Linear(D, C)` as a classifier's, applied to every pixel: MC dropout and BADGE see pixel
rows exactly as they see image rows. `forward` upsamples the logits to the input size.

Models: a small U-Net for the CPU (`unet`), and torchvision's LR-ASPP MobileNetV3-Large,
DeepLabV3 ResNet-50/101 and FCN ResNet-50, built with `weights=None, weights_backbone=None`
(nothing is ever downloaded) and no auxiliary classifier. Their backbone keeps torchvision's
key layout, so an ImageNet backbone file loads through `init = { weights = PATH }`
(alstudy.models.weights), and so does a whole torchvision segmentation network's file
(`from_torchvision`).
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


# ---- torchvision's segmentation networks -------------------------------------------------------
# Built by torchvision with weights=None, weights_backbone=None and no auxiliary classifier, then
# split at their last 1x1 convolution: the backbone (torchvision's keys, so ImageNet files load),
# the decoder up to the features that convolution read, and a fresh Linear head on those
# features. A first convolution of the images' channel count replaces the 3-channel stem (grey
# images stay one channel; an ImageNet stem file is summed over its colours on loading).

class _Tap(nn.Module):
    """The decoder of a one-tap backbone: `head` on its "out" map (layer4). `head` keeps the
    indices of torchvision's classifier, whose layer `last` is the final 1x1 convolution."""

    def __init__(self, head: nn.Sequential, last: int):
        super().__init__()
        self.head, self.last = head, last

    def forward(self, taps: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(taps["out"])

    def from_torchvision(self, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = {}
        for key, value in weights.items():
            if key.startswith("classifier."):
                index, rest = key[len("classifier."):].split(".", 1)
                if int(index) == self.last:   # the final convolution: the Linear head
                    out[f"classifier.{rest}"] = value.flatten(1) if rest == "weight" else value
                else:
                    out[f"decoder.head.{index}.{rest}"] = value
            elif not key.startswith("aux_classifier."):
                out[key] = value
        return out


class _LRASPPFeatures(nn.Module):
    """LR-ASPP's decoder (Howard et al. 2019, torchvision's LRASPPHead) up to its classifiers:
    the low tap (stride 8) beside the gated high tap (stride 16) upsampled to it. torchvision's
    two 1x1 classifiers summed are one Linear on this concatenation."""

    def __init__(self, cbr: nn.Module, scale: nn.Module):
        super().__init__()
        self.cbr, self.scale = cbr, scale

    def forward(self, taps: dict[str, torch.Tensor]) -> torch.Tensor:
        low, high = taps["low"], taps["high"]
        x = F.interpolate(self.cbr(high) * self.scale(high), size=low.shape[-2:], mode="bilinear",
                          align_corners=False)
        return torch.cat([low, x], dim=1)                   # (N, low + inter, H/8, W/8)

    def from_torchvision(self, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out, head = {}, {}
        for key, value in weights.items():
            if key.startswith("backbone."):
                out["backbone.features." + key[len("backbone."):]] = value
            elif key.startswith(("classifier.cbr.", "classifier.scale.")):
                out["decoder." + key[len("classifier."):]] = value
            elif key.startswith(("classifier.low_classifier.", "classifier.high_classifier.")):
                head[key[len("classifier."):]] = value
            else:
                out[key] = value
        if len(head) == 4:   # the two classifiers summed: one Linear on [low, high]
            weight = torch.cat([head["low_classifier.weight"], head["high_classifier.weight"]], dim=1)
            out["classifier.weight"] = weight.flatten(1)                  # (C, low + inter)
            out["classifier.bias"] = head["low_classifier.bias"] + head["high_classifier.bias"]
        return out


def from_torchvision(model: nn.Module, weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor] | None:
    """`weights` in `model`'s keys when they are the state dict of the torchvision segmentation
    network `model` wraps (`backbone.*`, `classifier.<layer>.*`, maybe `aux_classifier.*`);
    None for any other file or model. The auxiliary classifier is left out; the final 1x1
    convolution(s) become the Linear head."""
    decoder = getattr(model, "decoder", None)
    if not isinstance(decoder, (_Tap, _LRASPPFeatures)):
        return None
    if not any(k.startswith("backbone.") for k in weights) or not any(
            k.startswith("classifier.") and k.count(".") > 1 for k in weights):
        return None
    return decoder.from_torchvision(weights)


class _Features(nn.Module):
    """MobileNetV3's `features` under its own name, so ImageNet files' `features.*` keys fit."""

    def __init__(self, features: nn.Module):
        super().__init__()
        self.features = features

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.features(x)


def _stem(conv: nn.Conv2d, channels: int) -> nn.Conv2d:
    """`conv` for `channels` input channels (itself when it already fits)."""
    if conv.in_channels == channels:
        return conv
    return nn.Conv2d(channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                     conv.dilation, conv.groups, conv.bias is not None)


def _resnet_seg(builder: str, input_shape: tuple[int, ...], num_classes: int, dropout: float) -> SegModel:
    from torchvision.models import segmentation

    net = getattr(segmentation, builder)(weights=None, weights_backbone=None, num_classes=num_classes,
                                         aux_loss=False)
    backbone = net.backbone                  # conv1 ... layer4 (dilated: output stride 8) -> {"out": layer4}
    backbone.conv1 = _stem(backbone.conv1, input_shape[0])
    *decoder, last = net.classifier
    # FCN's Dropout(0.1) before its last convolution is the model's own head dropout; the
    # layers before it keep their indices
    decoder = [m for m in decoder if not isinstance(m, nn.Dropout)]
    return SegModel(backbone, last.in_channels, num_classes, dropout=dropout,
                    levels=("layer1", "layer2", "layer3", "layer4"),
                    decoder=_Tap(nn.Sequential(*decoder), last=len(net.classifier) - 1))


def deeplabv3_resnet50(input_shape: tuple[int, ...], num_classes: int, *, dropout: float) -> SegModel:
    """DeepLabV3 (Chen et al. 2017) on a dilated ResNet-50; features: ASPP's 256 channels at stride 8.
    ASPP pools each image to 1x1 before a BatchNorm: training batches need 2 images or more."""
    return _resnet_seg("deeplabv3_resnet50", input_shape, num_classes, dropout)


def deeplabv3_resnet101(input_shape: tuple[int, ...], num_classes: int, *, dropout: float) -> SegModel:
    """DeepLabV3 on a dilated ResNet-101; features: ASPP's 256 channels at stride 8."""
    return _resnet_seg("deeplabv3_resnet101", input_shape, num_classes, dropout)


def fcn_resnet50(input_shape: tuple[int, ...], num_classes: int, *, dropout: float) -> SegModel:
    """FCN (Long et al. 2015) on a dilated ResNet-50; features: its head's 512 channels at stride 8."""
    return _resnet_seg("fcn_resnet50", input_shape, num_classes, dropout)


def lraspp_mobilenet_v3_large(input_shape: tuple[int, ...], num_classes: int, *, dropout: float) -> SegModel:
    """LR-ASPP on a dilated MobileNetV3-Large; features: 40 low + 128 gated high channels at stride 8."""
    from torchvision.models import segmentation

    net = segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=num_classes)
    features = net.backbone                  # MobileNetV3's blocks "0" ... "16" -> {"low", "high"}
    features["0"][0] = _stem(features["0"][0], input_shape[0])
    stages = [name for name, block in features.named_children() if getattr(block, "_is_cn", False)]
    head = net.classifier
    dim = head.low_classifier.in_channels + head.high_classifier.in_channels
    return SegModel(_Features(features), dim, num_classes, dropout=dropout,
                    levels=tuple(f"features.{s}" for s in stages) + ("features.16",),
                    decoder=_LRASPPFeatures(head.cbr, head.scale))
