"""The model contract: a backbone that yields the penultimate embedding, then dropout + linear.

Splitting the network there lets MC dropout sample only the head (T cheap matrix products on
embeddings computed once) and gives embedding-based strategies their features for free.
"""

from __future__ import annotations

import torch
from torch import nn

from alstudy.models.dropout import Dropout


class ALModel(nn.Module):
    """`features(x) -> (N, D)`, `head(emb) -> (N, C)` logits; forward = head(features(x))."""

    def __init__(self, backbone: nn.Module, embed_dim: int, num_classes: int, *, dropout: float):
        super().__init__()
        self.backbone = backbone
        self.embed_dim = embed_dim
        self.dropout = Dropout(dropout)
        self.classifier = nn.Linear(embed_dim, num_classes)

    @property
    def dropout_p(self) -> float:
        return self.dropout.p

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def head(self, emb: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(emb))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
