"""Dense reference implementations: core-set and BADGE the textbook way.

Core-set on the full (N + L) x (N + L) distance matrix, BADGE on the materialized N x (C * D)
gradient embeddings, both in float64 with one Python step per pick. Slow and memory-hungry on
purpose: the tests check the product's kernels against them (same picks), and the bench's
reference campaign selects with them (what common AL toolkits do).
"""

from __future__ import annotations

from typing import Any

import torch

from alstudy.strategies.builtin import Badge, Coreset
from alstudy.strategies.contract import PoolView, Strategy
from alstudy.strategies.registry import make_strategy


def farthest_first(pool: torch.Tensor, labeled: torch.Tensor, k: int, *,
                   first: int | None = None) -> list[int]:
    """min(k, N) farthest-first picks from pool (N, D) with labeled (L, D) as centers; with no
    centers and no `first`, the first pick is the pool point nearest the pool's mean."""
    x = torch.cat([pool, labeled]).double()
    dist = torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist")  # (N + L, N + L)
    n = pool.shape[0]
    if first is None and labeled.shape[0] == 0:
        first = int(torch.argmin(((x[:n] - x[:n].mean(0)) ** 2).sum(1)))
    min_d = dist[:n, n:].min(1).values if labeled.shape[0] else torch.full((n,), float("inf"))
    picks = [] if first is None else [first]
    for i in picks:
        min_d = torch.minimum(min_d, dist[:n, i])
        min_d[i] = -1.0
    while len(picks) < min(k, n):
        i = int(torch.argmax(min_d))
        picks.append(i)
        min_d = torch.minimum(min_d, dist[:n, i])
        min_d[i] = -1.0
    return picks


def gradient_embeddings(probs: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
    """(N, C * D): the last layer's loss gradient at the predicted label, for every sample."""
    scale = -probs.clone()
    scale[torch.arange(len(probs)), probs.argmax(1)] += 1.0
    return (scale.unsqueeze(2) * emb.unsqueeze(1)).reshape(len(probs), -1)


def kmeans_pp(g: torch.Tensor, k: int, gen: torch.Generator) -> list[int]:
    """k-means++ seeding on explicit embeddings g (N, E): first the largest norm, then D^2 draws
    by inverse CDF with one float64 uniform from `gen` each (the rule `badge` documents); when
    every weight is 0 the first unpicked row."""
    g = g.double()
    picks = [int(torch.argmax((g * g).sum(1)))]
    min_d = ((g - g[picks[0]]) ** 2).sum(1)
    min_d[picks[0]] = 0.0
    for _ in range(1, min(k, len(g))):
        cdf = min_d.clamp_min(0.0).cumsum(0)
        u = torch.rand((), generator=gen, dtype=torch.float64) * cdf[-1]
        i = int(torch.searchsorted(cdf, u.reshape(1), right=True)[0].clamp_max(len(g) - 1))
        if float(cdf[-1]) <= 0:
            i = next(j for j in range(len(g)) if j not in picks)
        picks.append(i)
        min_d = torch.minimum(min_d, ((g - g[i]) ** 2).sum(1))
        min_d[picks] = 0.0
    return picks


class DenseCoreset(Coreset):
    """Core-set with the product's rule (a first pick drawn from gen when nothing is labeled)."""

    def pick(self, view: PoolView, k: int, gen: torch.Generator) -> torch.Tensor:
        pool, lab = view.embedding.cpu(), view.labeled().cpu()
        first = None if lab.shape[0] else int(torch.randint(view.n, (), generator=gen))
        return torch.tensor(farthest_first(pool, lab, k, first=first))


class DenseBadge(Badge):
    """BADGE on materialized gradient embeddings."""

    def pick(self, view: PoolView, k: int, gen: torch.Generator) -> torch.Tensor:
        g = gradient_embeddings(view.probs.cpu().double(), view.embedding.cpu().double())
        return torch.tensor(kmeans_pp(g, k, gen))


DENSE: dict[str, type[Strategy]] = {"coreset": DenseCoreset, "badge": DenseBadge}


def make_dense(name: str, **options: Any) -> Strategy:
    """Strategy `name` with its dense implementation where one exists (the rest compute no
    distances: the product's own)."""
    strategy = make_strategy(name, **options)  # validates the name and options
    return DENSE[name](**options) if name in DENSE else strategy
