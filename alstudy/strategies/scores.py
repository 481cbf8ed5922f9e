"""Uncertainty scores: one number per pool row, higher = more informative.

Torch in, torch out on the input's device; rows of probabilities are assumed to sum to 1.
`alstudy.strategies` exports array-like fronts of these (numpy in, numpy out).
"""

from __future__ import annotations

import torch


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Predictive entropy -sum_c p_c log p_c (nats) of each row of probs (N, C)."""
    # xlogy makes 0 * log 0 = 0, so one-hot rows score exactly 0.
    return -torch.special.xlogy(probs, probs).sum(-1)


def least_confidence(probs: torch.Tensor) -> torch.Tensor:
    """1 - max_c p_c for each row of probs (N, C)."""
    return 1.0 - probs.amax(-1)


def margin(probs: torch.Tensor) -> torch.Tensor:
    """1 - (p_top1 - p_top2) for each row of probs (N, C): in [0, 1], 1 when the two most
    likely classes tie. With a single class the margin is p_top1."""
    top = probs.topk(min(2, probs.shape[-1]), dim=-1).values
    gap = top[:, 0] - top[:, 1] if top.shape[-1] == 2 else top[:, 0]
    return 1.0 - gap


def bald(mc_probs: torch.Tensor) -> torch.Tensor:
    """Mutual information between prediction and weights from MC samples mc_probs (T, N, C):
    H(mean_t p_t) - mean_t H(p_t), clamped at 0 against rounding."""
    return (entropy(mc_probs.mean(0)) - entropy(mc_probs).mean(0)).clamp_min(0.0)


def variation_ratio(mc_probs: torch.Tensor) -> torch.Tensor:
    """1 - (votes of the modal class) / T over the T argmax predictions in mc_probs (T, N, C)."""
    t, n, c = mc_probs.shape
    votes = torch.zeros(n, c, device=mc_probs.device, dtype=mc_probs.dtype)
    votes.scatter_add_(1, mc_probs.argmax(-1).T, torch.ones_like(votes[:, :1]).expand(n, t))
    return 1.0 - votes.amax(-1) / t


def mean_entropy(mc_probs: torch.Tensor) -> torch.Tensor:
    """Entropy of the MC-averaged prediction, mc_probs (T, N, C) -> (N,)."""
    return entropy(mc_probs.mean(0))


def vote_entropy(member_probs: torch.Tensor) -> torch.Tensor:
    """Vote entropy -sum_c (V_c / K) log(V_c / K) of the K members' predicted classes, where V_c
    counts the members voting c; member_probs (K, N, C) -> (N,). 0 when all members agree."""
    k, n, c = member_probs.shape
    votes = torch.zeros(n, c, device=member_probs.device, dtype=member_probs.dtype)
    votes.scatter_add_(1, member_probs.argmax(-1).T, torch.ones_like(votes[:, :1]).expand(n, k))
    return entropy(votes / k)
