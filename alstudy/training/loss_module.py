"""Learning loss (Yoo & Kweon 2019, "Learning Loss for Active Learning", CVPR): a small module
that predicts the task model's loss of a row from the model's intermediate features.

Their Fig. 2: each feature level goes through global average pooling, a linear layer and a
ReLU; the levels are concatenated and one linear layer gives a scalar. The module is trained
with the task model (`fit(..., aux=learner)`) by Eq. 2: task loss + lambda * the mean over
pairs of Eq. 3's margin ranking loss, the pairs being the batch's first half against its
reversed second half, as in the reference code the authors point to. The target losses carry
no gradient; after `detach_after` of training the features carry none either, so the module
stops shaping the task model (their epoch 120 of 200).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from alstudy.models.almodel import ALModel
from alstudy.training.infer import _batches

ToFloat = Callable[[torch.Tensor], torch.Tensor]


def ranking_loss(pred: torch.Tensor, target: torch.Tensor, *, margin: float) -> torch.Tensor:
    """Eq. 3 averaged over the B // 2 pairs (i, B-1-i) of a batch: max(0, -s (p_i - p_j) + margin)
    with s = +1 when target_i > target_j, else -1. `pred`, `target`: (B,). An odd last row
    is left out."""
    half = pred.shape[0] // 2
    dp = (pred - pred.flip(0))[:half]
    sign = torch.where((target - target.flip(0))[:half] > 0, 1.0, -1.0).to(dp.dtype)
    return torch.clamp(margin - sign * dp, min=0).mean() if half else pred.sum() * 0


def _pool(level: torch.Tensor) -> torch.Tensor:
    """Global average pooling of (N, C, ...) maps to (N, C); (N, D) rows stay as they are."""
    return level.float().flatten(2).mean(2) if level.dim() > 2 else level.float()


class LossLearner(nn.Module):
    """The loss-prediction module of one task model, and its joint training loss.

    `forward(levels, losses, step=, total=)` is what `fit` adds to the task loss: weight *
    ranking_loss(predicted, losses). `predict(levels)` gives the predicted losses (N,)."""

    def __init__(self, channels: list[int], *, width: int = 128, weight: float = 1.0,
                 margin: float = 1.0, detach_after: float = 0.6) -> None:
        super().__init__()
        self.fcs = nn.ModuleList(nn.Linear(c, width) for c in channels)
        self.out = nn.Linear(width * len(channels), 1)
        self.weight, self.margin, self.detach_after = weight, margin, detach_after

    @classmethod
    def for_model(cls, model: ALModel, probe: torch.Tensor, **options) -> "LossLearner":
        """A learner sized for `model`'s levels, read off one eval-mode pass over `probe` (a
        network-ready batch); on the model's device. Initial weights come from torch's global
        generator: seed it (the campaign forks it per cycle)."""
        was = model.training
        model.eval()
        with torch.no_grad():
            channels = [int(t.shape[1]) for t in model.forward_levels(probe)[1]]
        model.train(was)
        return cls(channels, **options).to(probe.device)

    def predict(self, levels: list[torch.Tensor]) -> torch.Tensor:
        """Predicted loss per row, (N,) float32."""
        h = torch.cat([F.relu(fc(_pool(t))) for fc, t in zip(self.fcs, levels)], dim=1)
        return self.out(h).squeeze(1).float()

    def forward(self, levels: list[torch.Tensor], losses: torch.Tensor, *, step: int,
                total: int) -> torch.Tensor:
        if step >= self.detach_after * total:
            levels = [t.detach() for t in levels]
        return self.weight * ranking_loss(self.predict(levels), losses.detach().float(), margin=self.margin)


@torch.inference_mode()
def predict_losses(model: ALModel, learner: LossLearner, x: torch.Tensor, *, to_float: ToFloat,
                   batch_size: int = 2048) -> torch.Tensor:
    """The learner's predicted loss of every row of stored inputs `x`: (N,) float32."""
    model.eval(), learner.eval()
    out = [learner.predict(model.forward_levels(xb)[1]) for xb in _batches(x, to_float, batch_size)]
    return torch.cat(out) if out else torch.empty(0, device=x.device)
