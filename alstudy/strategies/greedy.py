"""Farthest-first traversal and k-means++ (D^2) seeding over a running minimum distance.

Both pick one point at a time and then lower every point's squared distance to the chosen set,
so each step is one matrix-vector product over the pool: O(N * D) time and memory, no N x N.

On CPU that product is bound by memory bandwidth. A float16 copy of the rows (half the bytes)
gives an estimate of every inner product with a proven error bound; only rows whose running
minimum the error could change are recomputed exactly, so results equal the exact computation.
"""

from __future__ import annotations

import torch

from alstudy.strategies.draws import uniform
from alstudy.strategies.distances import sq_norms

# Bound on |fp16 dot - exact dot| / (||x|| ||y||) for rows scaled into [-1, 1]: float16
# rounding of both inputs (2 * 2^-11), float32 accumulation and the float16 rounding of the
# result (2^-11) sum to < 2^-9.4; 2^-8 adds a safety factor of about 2.7.
_FP16_DOT_ERR = 2.0 ** -8


def _screens(x: torch.Tensor) -> bool:
    """Screen on CPU float32 only: on GPUs bandwidth is ample and half-precision reductions may
    be reduced-precision; float64 is kept exact for reference computations."""
    # (Rows scaled into [-1, 1] keep every float16 product sum below D <= 16384: no overflow.)
    return x.device.type == "cpu" and x.dtype == torch.float32 and 32 <= x.shape[1] <= 16384


class _Dot:
    """Inner products of every row of x (N, D) with one of its rows, exact where it matters."""

    def __init__(self, x: torch.Tensor, screen: bool | None) -> None:
        self.x = x
        self.screen = _screens(x) if screen is None else screen
        if self.screen:
            # x_j.x_i = c_j.c_i + m.x_j + m.x_i - m.m with c = x - m: only the centred part
            # goes through float16, so the error scales with the spread of the rows, not their
            # size; c is scaled into [-1, 1] to stay inside float16's range.
            m = x.mean(0)
            c = x - m
            amax = max(float(c.abs().max()), 1e-30)
            self.unscale = amax * amax
            self.scale = c.norm(dim=1)
            # Entries below float16's smallest normal (2^-14 scaled) may be flushed to zero:
            # an absolute error of at most 2^-14 * amax * (|c_j|_1 + |c_i|_1) per product; a
            # result below it loses at most 2^-25 scaled, covered by 2^-20 * amax^2.
            floor = c.abs().sum(1).mul_(2.0 ** -13 * amax).add_(2.0 ** -20 * amax * amax)
            self.lo = c.mul_(1.0 / amax).to(torch.float16)
            del c
            mm = float(m @ m)
            self.shift = (x @ m).sub_(0.5 * mm)  # m.x_j - m.m / 2, in float32
            # float32 rounding of the shift terms (far above its real size) and the flush floor
            self.slack = self.shift.abs().add_(mm).mul_(2.0 ** -16).add_(floor)

    def exact(self, i: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        return (self.x if rows is None else self.x[rows]) @ self.x[i]

    def estimate(self, i: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(estimate, error bound), both (N,)."""
        est = torch.mv(self.lo, self.lo[i]).float().mul_(self.unscale)
        est.add_(self.shift).add_(self.shift[i])
        err = (self.scale * (self.scale[i] * _FP16_DOT_ERR)).add_(self.slack).add_(self.slack[i])
        return est, err


class EuclideanSpace:
    """Squared Euclidean distances between rows of x (N, D)."""

    def __init__(self, x: torch.Tensor, *, screen: bool | None = None) -> None:
        self.n = x.shape[0]
        self.sq = sq_norms(x)
        self.dot = _Dot(x, screen)

    def sq_norms(self) -> torch.Tensor:
        return self.sq

    def lower_min_(self, min_d: torch.Tensor, i: torch.Tensor) -> None:
        """min_d <- min(min_d, ||x - x_i||^2), in place."""
        if not self.dot.screen:
            d = (self.sq + self.sq[i]).sub_(self.dot.exact(i), alpha=2.0).clamp_min_(0.0)
            torch.minimum(min_d, d, out=min_d)
            return
        est, err = self.dot.estimate(i)
        low = (self.sq + self.sq[i]).sub_(est.add_(err), alpha=2.0)
        rows = torch.nonzero(low < min_d).squeeze(1)
        d = (self.sq[rows] + self.sq[i]).sub_(self.dot.exact(i, rows), alpha=2.0).clamp_min_(0.0)
        min_d[rows] = torch.minimum(min_d[rows], d)


class GradientSpace:
    """Squared distances between BADGE gradient embeddings g_i = a_i (x) e_i, factorized:
    ||g_i - g_j||^2 = |a_i|^2 |e_i|^2 + |a_j|^2 |e_j|^2 - 2 (a_i . a_j)(e_i . e_j).
    Memory O(N * (C + D)); the N x (C * D) embeddings are never formed."""

    def __init__(self, a: torch.Tensor, e: torch.Tensor, *, screen: bool | None = None) -> None:
        self.n = a.shape[0]
        self.a = a                                  # (N, C)
        self.g_sq = sq_norms(a) * sq_norms(e)       # (N,) = ||g_i||^2
        self.dot = _Dot(e, screen)                  # e: (N, D)

    def sq_norms(self) -> torch.Tensor:
        return self.g_sq

    def lower_min_(self, min_d: torch.Tensor, i: torch.Tensor) -> None:
        aa = self.a @ self.a[i]
        if not self.dot.screen:
            d = (self.g_sq + self.g_sq[i]).sub_(aa * self.dot.exact(i), alpha=2.0).clamp_min_(0.0)
            torch.minimum(min_d, d, out=min_d)
            return
        est, err = self.dot.estimate(i)
        low = (self.g_sq + self.g_sq[i]).sub_(aa * est + aa.abs() * err, alpha=2.0)
        rows = torch.nonzero(low < min_d).squeeze(1)
        d = (self.g_sq[rows] + self.g_sq[i]).sub_(aa[rows] * self.dot.exact(i, rows), alpha=2.0)
        min_d[rows] = torch.minimum(min_d[rows], d.clamp_min_(0.0))


def _d2_draw(min_d: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Index drawn with probability proportional to min_d (picked rows hold -1, weight 0).
    Consumes exactly one uniform from gen. If every weight is 0 (the rest duplicate chosen
    points), the first unpicked row."""
    cdf = min_d.clamp_min(0.0).to(torch.float64).cumsum(0)
    u = uniform(gen, min_d.device) * cdf[-1]
    drawn = torch.searchsorted(cdf, u.reshape(1), right=True)[0].clamp_max(min_d.shape[0] - 1)
    return torch.where(cdf[-1] > 0, drawn, torch.argmax(min_d))


def traverse(space, min_d: torch.Tensor, k: int, *, gen: torch.Generator | None = None,
             first: torch.Tensor | None = None) -> torch.Tensor:
    """k distinct row indices (int64) in pick order.

    min_d (N,) holds each row's squared distance to the already chosen set (+inf if empty); it
    is updated in place. gen None: farthest-first (argmax, lowest index on ties); otherwise
    D^2 sampling from gen. `first`, if given, is taken as the first pick.

    Rows that are not finite (a diverged model's embeddings) have no meaningful distance: they
    count as distance 0, so picks stay distinct whatever the input holds.
    """
    picks = torch.empty(k, dtype=torch.long, device=min_d.device)
    # one check (one host sync), not one per step: a non-finite row makes every distance to it NaN
    guard = bool(torch.isnan(min_d).any() | ~torch.isfinite(space.sq_norms()).all())
    taken = torch.zeros_like(min_d, dtype=torch.bool) if guard else None
    if guard:
        min_d.nan_to_num_(nan=0.0)
    for s in range(k):
        if s == 0 and first is not None:
            i = first.reshape(())
        elif gen is None:
            i = torch.argmax(min_d)
        else:
            i = _d2_draw(min_d, gen)
        picks[s] = i
        space.lower_min_(min_d, i)
        min_d[i] = -1.0  # never again: below every distance, weight 0 for D^2 sampling
        if taken is not None:   # NaN distances swallow the -1 marks (minimum propagates NaN)
            taken[i] = True
            min_d.nan_to_num_(nan=0.0).masked_fill_(taken, -1.0)
    return picks
