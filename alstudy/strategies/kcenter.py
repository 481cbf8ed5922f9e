"""k-center greedy (Sener & Savarese 2018, core-set): repeatedly take the pool point farthest
from everything labeled or already taken."""

from __future__ import annotations

import torch

from alstudy.strategies.distances import nearest
from alstudy.strategies.draws import index
from alstudy.strategies.greedy import EuclideanSpace, traverse


def kcenter_greedy(pool: torch.Tensor, labeled: torch.Tensor, k: int,
                   gen: torch.Generator | None) -> torch.Tensor:
    """k row indices (int64, 1 <= k <= N) into pool (N, D), in pick order, by farthest-first
    traversal with labeled (L, D) as the initial centers (Euclidean, ties to the lowest row).
    With no labeled rows the first pick is drawn uniformly from `gen`, or is the row nearest
    the pool mean when gen is None."""
    # Centering leaves distances unchanged but shrinks norms: less cancellation in
    # |x|^2 + |y|^2 - 2 x.y and tighter screening bounds (see greedy.py).
    mean = pool.mean(0)
    x, lab = pool - mean, labeled - mean
    first = None
    if lab.shape[0] > 0:
        min_d = nearest(x, lab)[0]
    else:
        min_d = torch.full((x.shape[0],), float("inf"), dtype=x.dtype, device=x.device)
        first = torch.argmin((x * x).sum(1)) if gen is None else index(x.shape[0], gen, x.device)
    return traverse(EuclideanSpace(x), min_d, k, first=first)
