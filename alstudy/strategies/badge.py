"""BADGE (Ash et al. 2020): k-means++ seeding on the gradient embeddings of the last layer."""

from __future__ import annotations

import torch

from alstudy.strategies.greedy import EuclideanSpace, GradientSpace, traverse


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


def badge_embedded(grads: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """`badge` on explicit gradient embeddings grads (N, G): the same first pick (largest
    ||g_i||) and D^2 draws. For a dense model's sum over pixels of a_p (x) e_p, which is not one
    outer product, so the factorized distance of `badge` does not apply."""
    space = EuclideanSpace(grads)
    min_d = torch.full((grads.shape[0],), float("inf"), dtype=grads.dtype, device=grads.device)
    return traverse(space, min_d, k, gen=gen, first=torch.argmax(space.sq_norms()))
