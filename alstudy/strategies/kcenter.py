"""k-center greedy (Sener & Savarese 2018, core-set): repeatedly take the pool point farthest
from everything labeled or already taken."""

from __future__ import annotations

from typing import Any

import torch

from alstudy.strategies.arrays import Rng, as_float, as_generator, give_back
from alstudy.strategies.distances import nearest
from alstudy.strategies.greedy import EuclideanSpace, traverse


def kcenter_greedy(pool_emb: Any, labeled_emb: Any, k: int, *, rng: Rng = None) -> Any:
    """min(k, N) row indices into pool_emb (N, D), in pick order, by farthest-first traversal
    with labeled_emb (L, D) as the initial centers (Euclidean distance, ties to the lowest row).

    With no labeled rows the first pick is drawn uniformly from `rng` (torch/numpy Generator or
    int) if given, else it is the row nearest the pool mean. Returns int64 indices as numpy if
    pool_emb is numpy, else as a tensor on pool_emb's device.
    """
    x, from_numpy = as_float(pool_emb, name="pool_emb")
    n = x.shape[0]
    k = min(int(k), n)
    if k <= 0:
        return give_back(torch.empty(0, dtype=torch.long, device=x.device), from_numpy)
    lab = torch.as_tensor(labeled_emb).to(device=x.device, dtype=x.dtype).reshape(-1, x.shape[1])
    # Centering leaves distances unchanged but shrinks norms: less cancellation in
    # |x|^2 + |y|^2 - 2 x.y and tighter screening bounds (see greedy.py).
    mean = x.mean(0)
    x, lab = x - mean, lab - mean
    first = None
    if lab.shape[0] > 0:
        min_d = nearest(x, lab)[0]
    else:
        min_d = torch.full((n,), float("inf"), dtype=x.dtype, device=x.device)
        if rng is None:
            first = torch.argmin((x * x).sum(1))
        else:
            gen = as_generator(rng)
            first = torch.randint(n, (), generator=gen, device=gen.device).to(x.device)
    picks = traverse(EuclideanSpace(x), min_d, k, first=first)
    return give_back(picks, from_numpy)
