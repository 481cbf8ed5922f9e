"""The model contract: a backbone that yields the penultimate embedding, then dropout + linear.

Splitting the network there lets MC dropout sample only the head (T cheap matrix products on
embeddings computed once) and gives embedding-based strategies their features for free.
"""

from __future__ import annotations

import torch
from torch import nn

from alstudy.models.dropout import Dropout


class ALModel(nn.Module):
    """`features(x) -> (N, D)`, `head(emb) -> (N, C)` logits; forward = head(features(x)).

    `levels` names the backbone's submodules whose outputs are its intermediate features, from
    shallow to deep (a ResNet's four stages); none: the embedding is the only level.
    `dense`: per-pixel features and logits (alstudy.models.segmentation.SegModel).
    """

    dense = False

    def __init__(self, backbone: nn.Module, embed_dim: int, num_classes: int, *, dropout: float,
                 levels: tuple[str, ...] = ()):
        super().__init__()
        self.backbone = backbone
        self.embed_dim = embed_dim
        self.levels = tuple(levels)
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

    def forward_levels(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(logits, intermediate features) of one forward pass: the outputs of `levels` in
        order, (N, C, ...) maps or (N, D) rows, still attached to the graph."""
        if not self.levels:
            emb = self.features(x)
            return self.head(emb), [emb]
        grabbed: dict[str, torch.Tensor] = {}
        # forward hooks see each level's output without the backbones knowing about levels
        handles = [self.backbone.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: grabbed.__setitem__(name, out)) for name in self.levels]
        try:
            logits = self(x)
        finally:
            for h in handles:
                h.remove()
        return logits, [grabbed[name] for name in self.levels]
