"""Pixel keys to image keys: how a segmentation strategy turns the scores of an image's pixels
into the one score it ranks the image by.

A pixel-score strategy computes its keys on rows; on a dense model each row is a pixel, and
`reduce_pixels` makes one key per image: "mean" (the default, the mean pixel entropy of
Mittal et al. 2023, arXiv 2302.04075, and of baal's segmentation example), "max" (the most
uncertain pixel), or "top" (the mean of the image's top `top_q` fraction of pixel scores).
"""

from __future__ import annotations

import math

import torch

from alstudy.errors import UsageError

REDUCTIONS = ("mean", "max", "top")


def check_reduce(reduce, top_q) -> tuple[str, float]:
    """(reduce, top_q) if valid; a UsageError naming the option and what is allowed if not."""
    if reduce not in REDUCTIONS:
        raise UsageError(f"strategy option reduce = {reduce!r}: allowed: {', '.join(REDUCTIONS)}")
    if isinstance(top_q, bool) or not isinstance(top_q, (int, float)) or not 0.0 < top_q <= 1.0:
        raise UsageError(f"strategy option top_q = {top_q!r}: expected a number in (0, 1]")
    return reduce, float(top_q)


def top_count(pixels: int, top_q: float) -> int:
    """How many of an image's `pixels` scores the "top" reduction averages: ceil(q * P), at
    least 1 (q * P within 1e-9 of an integer counts as that integer)."""
    return max(1, math.ceil(top_q * pixels - 1e-9))


def reduce_pixels(keys: torch.Tensor, reduce: str, top_q: float) -> torch.Tensor:
    """One key per image from the pixel keys of B images, keys (B, P) -> (B,)."""
    if reduce == "mean":
        return keys.mean(1)
    if reduce == "max":
        return keys.amax(1)
    return keys.topk(top_count(keys.shape[1], top_q), dim=1).values.mean(1)
