"""BADGE (Ash et al. 2020): k-means++ seeding on the gradient embeddings of the last layer."""

from __future__ import annotations

from typing import Any

import torch

from alstudy.strategies.arrays import Rng, as_float, as_generator, give_back
from alstudy.strategies.greedy import GradientSpace, traverse


def gradient_factors(probs: torch.Tensor) -> torch.Tensor:
    """a_i = onehot(argmax p_i) - p_i (N, C): the gradient of the cross-entropy at the predicted
    label with respect to the logits, up to sign. g_i = a_i (x) e_i."""
    a = -probs.clone()
    a[torch.arange(a.shape[0], device=a.device), probs.argmax(1)] += 1.0
    return a


def badge(probs: Any, emb: Any, k: int, rng: Rng) -> Any:
    """min(k, N) distinct row indices, in pick order: k-means++ seeding on g_i = a_i (x) e_i for
    probs (N, C) and embeddings emb (N, D). The first pick is the largest ||g_i|| (lowest row on
    ties); each later pick is a D^2 draw that uses exactly one uniform from rng (torch/numpy
    Generator or int). Returns numpy if emb is numpy, else a tensor on emb's device.
    """
    e, from_numpy = as_float(emb, name="emb")
    p = as_float(probs, name="probs")[0].to(device=e.device, dtype=e.dtype)
    if p.ndim != 2 or e.ndim != 2 or p.shape[0] != e.shape[0]:
        raise ValueError(f"badge: probs {tuple(p.shape)} and emb {tuple(e.shape)} must be (N, C) and (N, D)")
    n = e.shape[0]
    k = min(int(k), n)
    if k <= 0:
        return give_back(torch.empty(0, dtype=torch.long, device=e.device), from_numpy)
    gen = as_generator(rng)
    space = GradientSpace(gradient_factors(p), e)
    min_d = torch.full((n,), float("inf"), dtype=e.dtype, device=e.device)
    picks = traverse(space, min_d, k, gen=gen, first=torch.argmax(space.g_sq))
    return give_back(picks, from_numpy)
