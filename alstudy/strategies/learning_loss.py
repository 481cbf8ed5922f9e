"""Learning loss (Yoo & Kweon 2019): label the rows whose loss a jointly trained module predicts
highest.

The strategy only ranks; it declares `Needs(loss_module=...)`, so the campaign trains the task
model together with the loss-prediction module (`alstudy.training.loss_module`) and hands over
the predicted losses of the pool. The paper ranks a random subset of the pool (10 000 of
CIFAR-10's 50 000 rows, to avoid picking near-duplicates of each other): `subset`, default the
whole pool.
"""

from __future__ import annotations

import torch

from alstudy.strategies.builtin import _check, top_k
from alstudy.strategies.contract import LossModule, Needs, PoolView, Strategy


class LearningLoss(Strategy):
    """Top-k predicted loss, within a random `subset` of the pool when set (at least k rows).
    `width`, `weight` (lambda), `margin` (xi) and `detach_after` configure the loss module
    (their 128, 1, 1 and 120 of 200 epochs)."""

    name = "learning_loss"

    def __init__(self, *, subset: int | None = None, width: int = 128, weight: float = 1.0,
                 margin: float = 1.0, detach_after: float = 0.6) -> None:
        self.subset = _check("subset", subset, int, low=1, allow_none=True)
        self.width = _check("width", width, int, low=1)
        self.weight = _check("weight", weight, (int, float), low=0.0)
        self.margin = _check("margin", margin, (int, float), low=0.0)
        self.detach_after = _check("detach_after", detach_after, (int, float), low=0.0, high=1.0)

    def needs(self) -> Needs:
        return Needs(loss_module=LossModule(width=self.width, weight=float(self.weight),
                                            margin=float(self.margin), detach_after=float(self.detach_after)))

    def pick(self, view: PoolView, k: int, gen: torch.Generator) -> torch.Tensor:
        pred = view.predicted_loss.float().cpu()
        if self.subset is None or max(self.subset, k) >= view.n:
            return top_k([pred], k, gen)
        rows = torch.randperm(view.n, generator=gen)[:max(self.subset, k)]
        return rows[top_k([pred[rows]], k, gen)]
