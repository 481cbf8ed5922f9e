"""EquAL: label the images whose segmentation is least consistent under a horizontal flip.

Golestaneh & Kitani 2020 ("Importance of self-consistency in active learning for semantic
segmentation", BMVC; arXiv 2008.01860) select what has "high entropy under equivariant
transformations": a segmentation of the flipped image, flipped back, should equal the
segmentation of the image. Mittal et al. 2023 (arXiv 2302.04075) use it as an image-level
strategy, "EquAL", scoring an image by the entropy of its prediction and its flip's.

Per pixel (a row), with p = p(x) and p~ = F^-1 p(F x) (F the horizontal flip):
    score = "entropy":      H((p + p~) / 2)                     (the default)
    score = "disagreement": H((p + p~) / 2) - (H(p) + H(p~)) / 2  (Jensen-Shannon divergence
                            of the two views: BALD over a committee of the two)
where H(q) = -sum_c q_c log q_c; pixel scores reduce to an image score by `reduce` (the mean by
default). The formula is read from the papers' descriptions; their code was not available.
On a classifier a row is an input, flipped along its last axis.
"""

from __future__ import annotations

import torch

from alstudy.errors import UsageError
from alstudy.strategies import scores
from alstudy.strategies.builtin import _ScoreStrategy
from alstudy.strategies.contract import Needs

EQUAL_SCORES = ("entropy", "disagreement")


class Equal(_ScoreStrategy):
    """Flip inconsistency per pixel (see the module), highest first."""

    name = "equal"

    def __init__(self, *, score: str = "entropy", reduce: str = "mean", top_q: float = 0.1) -> None:
        super().__init__(reduce=reduce, top_q=top_q)
        if score not in EQUAL_SCORES:
            raise UsageError(f"strategy option score = {score!r}: allowed: {', '.join(EQUAL_SCORES)}")
        self.score = score

    def needs(self) -> Needs:
        return Needs(flip_probs=True, row_keys=True)

    def row_keys(self, *, flip_probs=None, **_) -> list[torch.Tensor]:
        views = flip_probs  # (2, R, C): the rows and their flips, flipped back
        return [scores.mean_entropy(views) if self.score == "entropy" else scores.bald(views)]
