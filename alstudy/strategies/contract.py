"""The strategy contract: what a strategy needs from the model, and how it selects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class LossModule:
    """A loss-prediction module trained jointly with the task model (Yoo & Kweon 2019, Eq. 2-3):
    `width` units per feature level, the ranking loss's `weight` (their lambda) and `margin`
    (xi), and the fraction of training after which the features are detached from its
    gradient (`detach_after`; they detach after epoch 120 of 200)."""

    width: int = 128
    weight: float = 1.0
    margin: float = 1.0
    detach_after: float = 0.6


@dataclass(frozen=True)
class Needs:
    """Model outputs a strategy asks for; the campaign computes only these."""

    probs: bool = False            # softmax probabilities of the pool, (N, C)
    mc_samples: int = 0            # > 0: MC-dropout probabilities of the pool, (T, N, C)
    embedding: bool = False        # penultimate embeddings of the pool, (N, D)
    labeled_embedding: bool = False  # penultimate embeddings of the labeled set, (L, D)
    ensemble: int = 0              # > 1: softmax probabilities of K trained members, (K, N, C);
                                   # member 0 is the campaign's own model, members k > 0 are
                                   # trained alike from their own initial weights
    inputs: bool = False           # the stored inputs of the pool and of the labeled set
    loss_module: LossModule | None = None  # train the task model with this loss predictor and
                                           # give its predicted losses of the pool, (N,)
    simclr_features: bool = False  # embeddings from the campaign's pretrained SimCLR encoder
                                   # (alstudy.training.simclr), not from the task model
    flip_probs: bool = False       # probabilities of each row and of its horizontally flipped
                                   # input, flipped back, (2, N, C)
    # Dense (segmentation) models, where a pool row is an image of pixels:
    row_keys: bool = False         # the strategy ranks rows by `row_keys`: the campaign computes
                                   # them on pixel rows and hands over image keys (PoolView.keys)
    pixels: int | None = None      # MC-dropout pixel rows drawn per image (None: every pixel)
    gradient_embedding: bool = False  # BADGE's gradient embedding summed over pixels, (N, C * D)

    @property
    def plain_training(self) -> bool:
        """The task model trains alone with its task loss (no loss module, no ensemble): what a
        cell's cycle-0 training must be to be shared with other cells (alstudy.training.shared)."""
        return self.loss_module is None and self.ensemble <= 1


@dataclass(frozen=True)
class PoolView:
    """What a strategy sees of the unlabeled pool: row r is pool position r (0..n-1). For a
    dense model a row is an image: `embedding` is the pooled image embedding, `probs` the mean
    of its pixels' probabilities, and pixel-score strategies get their image `keys`."""

    n: int
    probs: torch.Tensor | None = None
    mc_probs: torch.Tensor | None = None
    embedding: torch.Tensor | None = None
    labeled_embedding: torch.Tensor | None = None
    ensemble_probs: torch.Tensor | None = None
    inputs: torch.Tensor | None = None           # stored pool rows (uint8 images or floats)
    labeled_inputs: torch.Tensor | None = None   # stored labeled rows
    to_float: Callable[[torch.Tensor], torch.Tensor] | None = None  # stored rows -> network input
    predicted_loss: torch.Tensor | None = None   # (N,) the loss module's predicted task losses
    flip_probs: torch.Tensor | None = None       # (2, N, C) rows and their flips, flipped back
    keys: list[torch.Tensor] | None = None       # dense models: each row key reduced per image, (N,)
    gradient_embedding: torch.Tensor | None = None  # dense models: (N, C * D), see Needs

    def labeled(self) -> torch.Tensor:
        """The labeled embeddings, (0, D) when none were given."""
        return self.embedding[:0] if self.labeled_embedding is None else self.labeled_embedding


class Strategy:
    """Base class. Subclasses set `name`, keep their options as plain attributes (picklable),
    report `needs()` and implement `pick`."""

    name: str = ""

    def needs(self) -> Needs:
        return Needs()

    def select(self, view: PoolView, k: int, gen: torch.Generator) -> torch.Tensor:
        """min(k, view.n) distinct pool positions (int64, on any device), in pick order.
        All randomness comes from `gen` (a CPU torch.Generator)."""
        k = min(int(k), view.n)
        if k <= 0:
            return torch.empty(0, dtype=torch.long)
        return self.pick(view, k, gen)

    def pick(self, view: PoolView, k: int, gen: torch.Generator) -> torch.Tensor:
        """`select` for 1 <= k <= view.n: the one place a subclass implements."""
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({opts})"
