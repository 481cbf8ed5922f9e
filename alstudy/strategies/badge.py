"""BADGE (Ash et al. 2020): k-means++ seeding on the gradient embeddings of the last layer."""

from __future__ import annotations

import torch

from alstudy.strategies.greedy import GradientSpace, traverse


def gradient_factors(probs: torch.Tensor) -> torch.Tensor:
    """a_i = onehot(argmax p_i) - p_i (N, C): the gradient of the cross-entropy at the predicted
    label with respect to the logits, up to sign. g_i = a_i (x) e_i."""
    a = -probs.clone()
    a[torch.arange(a.shape[0], device=a.device), probs.argmax(1)] += 1.0
    return a


def badge(pool: torch.Tensor, probs: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k distinct row indices (int64, 1 <= k <= N), in pick order: k-means++ seeding on
    g_i = a_i (x) e_i for the pool's embeddings (N, D) and probabilities (N, C) (BADGE ignores
    the labeled set, so probs take its place). The first pick is the largest ||g_i|| (lowest
    row on ties); each later pick is a D^2 draw that uses exactly one uniform from gen."""
    space = GradientSpace(gradient_factors(probs), pool)
    min_d = torch.full((pool.shape[0],), float("inf"), dtype=pool.dtype, device=pool.device)
    return traverse(space, min_d, k, gen=gen, first=torch.argmax(space.g_sq))
