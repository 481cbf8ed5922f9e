"""Uncertainty scores: one number per pool row, higher = more informative.

Each takes probabilities as a numpy array or torch tensor and returns the same kind (torch
results stay on the input's device). Rows are assumed to sum to 1.
"""

from __future__ import annotations

from typing import Any

import torch

from alstudy.strategies.arrays import as_float, give_back


def _probs(p: Any, ndim: int, name: str) -> tuple[torch.Tensor, bool]:
    t, from_numpy = as_float(p, name=name)
    if t.ndim != ndim:
        shape = "(N, C)" if ndim == 2 else "(T, N, C)"
        raise ValueError(f"{name}: expected shape {shape}, got {tuple(t.shape)}")
    return t, from_numpy


def _entropy(p: torch.Tensor) -> torch.Tensor:
    # xlogy makes 0 * log 0 = 0, so one-hot rows score exactly 0.
    return -torch.special.xlogy(p, p).sum(-1)


def entropy(probs: Any) -> Any:
    """Predictive entropy -sum_c p_c log p_c (nats) of each row of probs (N, C)."""
    p, from_numpy = _probs(probs, 2, "probs")
    return give_back(_entropy(p), from_numpy)


def least_confidence(probs: Any) -> Any:
    """1 - max_c p_c for each row of probs (N, C)."""
    p, from_numpy = _probs(probs, 2, "probs")
    return give_back(1.0 - p.amax(-1), from_numpy)


def margin(probs: Any) -> Any:
    """1 - (p_top1 - p_top2) for each row of probs (N, C): in [0, 1], 1 when the two most
    likely classes tie. With a single class the margin is p_top1."""
    p, from_numpy = _probs(probs, 2, "probs")
    top = p.topk(min(2, p.shape[-1]), dim=-1).values
    gap = top[:, 0] - top[:, 1] if top.shape[-1] == 2 else top[:, 0]
    return give_back(1.0 - gap, from_numpy)


def bald(mc_probs: Any) -> Any:
    """Mutual information between prediction and weights from MC samples mc_probs (T, N, C):
    H(mean_t p_t) - mean_t H(p_t), clamped at 0 against rounding."""
    p, from_numpy = _probs(mc_probs, 3, "mc_probs")
    mi = _entropy(p.mean(0)) - _entropy(p).mean(0)
    return give_back(mi.clamp_min(0.0), from_numpy)


def variation_ratio(mc_probs: Any) -> Any:
    """1 - (votes of the modal class) / T over the T argmax predictions in mc_probs (T, N, C)."""
    p, from_numpy = _probs(mc_probs, 3, "mc_probs")
    t, n, c = p.shape
    votes = torch.zeros(n, c, device=p.device, dtype=p.dtype)
    votes.scatter_add_(1, p.argmax(-1).T, torch.ones(n, t, device=p.device, dtype=p.dtype))
    return give_back(1.0 - votes.amax(-1) / t, from_numpy)


def mean_entropy(mc_probs: Any) -> Any:
    """Entropy of the MC-averaged prediction, mc_probs (T, N, C) -> (N,)."""
    p, from_numpy = _probs(mc_probs, 3, "mc_probs")
    return give_back(_entropy(p.mean(0)), from_numpy)
