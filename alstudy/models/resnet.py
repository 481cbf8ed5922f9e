"""CIFAR-style networks: torchvision's ResNet-18 with a 3x3 stem, and WRN-28-k."""

from __future__ import annotations

import torch
from torch import nn

from alstudy.models.almodel import ALModel


def resnet18(input_shape: tuple[int, ...], num_classes: int, *, dropout: float) -> ALModel:
    """ResNet-18 for 32x32 inputs: 3x3 stride-1 stem and no max-pool (as in CIFAR work)."""
    from torchvision.models import resnet18 as tv_resnet18

    net = tv_resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(input_shape[0], 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    embed_dim = net.fc.in_features
    net.fc = nn.Identity()  # the ALModel head replaces it
    return ALModel(net, embed_dim, num_classes, dropout=dropout,
                   levels=("layer1", "layer2", "layer3", "layer4"))  # the stages Yoo & Kweon tap


class _WideBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(cin, cout, 1, stride, bias=False)
                         if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = torch.relu(self.bn1(x))
        y = self.conv2(torch.relu(self.bn2(self.conv1(o))))
        return y + (self.shortcut(o) if self.shortcut is not None else x)


def wrn(input_shape: tuple[int, ...], num_classes: int, *, dropout: float,
        depth: int = 28, widen: int = 2) -> ALModel:
    """Wide ResNet-depth-widen (pre-activation), the usual semi-supervised CIFAR backbone."""
    n = (depth - 4) // 6
    widths = [16, 16 * widen, 32 * widen, 64 * widen]
    layers: list[nn.Module] = [nn.Conv2d(input_shape[0], widths[0], 3, 1, 1, bias=False)]
    cin = widths[0]
    for stage, cout in enumerate(widths[1:]):
        for i in range(n):
            layers.append(_WideBlock(cin, cout, 2 if (i == 0 and stage > 0) else 1))
            cin = cout
    layers += [nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    levels = (str(n), str(2 * n), str(3 * n + 2))  # each stage's last block; the last after BN + ReLU
    return ALModel(nn.Sequential(*layers), cin, num_classes, dropout=dropout, levels=levels)
