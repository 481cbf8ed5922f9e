"""Small models for the embedded datasets: MLP, 1-D CNN (MNIST-1D) and a small 2-D CNN."""

from __future__ import annotations

import math

from torch import nn

from alstudy.models.base import ALModel, conv_bn


def mlp(input_shape: tuple[int, ...], num_classes: int, *, dropout: float,
        width: int = 256, depth: int = 2) -> ALModel:
    """Flatten, then `depth` blocks of Linear + BatchNorm + ReLU of `width` units."""
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(input_shape)
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), nn.BatchNorm1d(width), nn.ReLU(inplace=True)]
        fan_in = width
    return ALModel(nn.Sequential(*layers), fan_in, num_classes, dropout=dropout)


def cnn1d(input_shape: tuple[int, ...], num_classes: int, *, dropout: float,
          width: int = 32) -> ALModel:
    """Three strided 1-D conv blocks and global average pooling; for (C, L) signals.

    Convolutions share weights across positions, which is what MNIST-1D rewards: its
    digits are shifted and scaled templates an MLP must learn at every offset.
    """
    channels = input_shape[0]
    w = width
    backbone = nn.Sequential(
        conv_bn(nn.Conv1d(channels, w, 5, padding=2), w, nn.BatchNorm1d),
        conv_bn(nn.Conv1d(w, w, 5, stride=2, padding=2), w, nn.BatchNorm1d),
        conv_bn(nn.Conv1d(w, 2 * w, 3, stride=2, padding=1), 2 * w, nn.BatchNorm1d),
        conv_bn(nn.Conv1d(2 * w, 2 * w, 3, padding=1), 2 * w, nn.BatchNorm1d),
        nn.AdaptiveAvgPool1d(1), nn.Flatten())
    return ALModel(backbone, 2 * w, num_classes, dropout=dropout)


def cnn2d(input_shape: tuple[int, ...], num_classes: int, *, dropout: float,
          width: int = 32) -> ALModel:
    """Two conv-conv-pool stages and global average pooling; for (C, H, W) images."""
    channels = input_shape[0]
    w = width

    def block(cin: int, cout: int) -> nn.Sequential:
        return conv_bn(nn.Conv2d(cin, cout, 3, padding=1, bias=False), cout, nn.BatchNorm2d)

    backbone = nn.Sequential(
        block(channels, w), block(w, w), nn.MaxPool2d(2),
        block(w, 2 * w), block(2 * w, 2 * w), nn.MaxPool2d(2),
        block(2 * w, 4 * w), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return ALModel(backbone, 4 * w, num_classes, dropout=dropout)
