"""Anytime-valid verdicts for an evaluation that adds seeds in rounds until each cell is decided.

Method: the scale-invariant t confidence sequence for the mean of Gaussian paired differences
with unknown variance, mixing over the standardized effect with a Gaussian prior and over the
scale with the right-Haar prior dσ/σ (Wang & Ramdas, "Anytime-valid t-tests and confidence
sequences for Gaussian means with unknown variance", arXiv:2310.03722, 2023: Lai's 1976
confidence sequence, Ann. Statist. 4(2), with his flat mixture over the mean swapped for a
Gaussian one, which makes it a test martingale in the filtration of the scale-invariant
statistics). Equation (1) below is that mixture integrated in closed form; the tests check it
against the integral computed numerically.

For differences d_1..d_n and a hypothesised mean μ, with R_n(μ) = n (d̄ − μ)² / Σ (d_i − μ)²
and mixture variance g (of the effect in units of σ), integrating the Gaussian likelihood gives

    E_n(μ) = (1 + n g)^(−1/2) · (1 − R_n(μ) · n g / (1 + n g))^(−n/2),            (1)

with E_1 = 1. Under N(μ, σ²) data it is a nonnegative martingale whatever σ, so Ville's
inequality gives P(∃ n: E_n(μ) ≥ 1/α) ≤ α, and CS_n = {μ : E_n(μ) < 1/α} covers μ at every n at
once. Solving (1) for μ:

    CS_n = d̄ ± √(ρ / (1 − ρ) · SS / n),  ρ = (1 − (α² / (1 + n g))^(1/n)) · (1 + n g) / (n g),   (2)

SS = Σ (d_i − d̄)²; the whole line while ρ ≥ 1 (the first few seeds). Coverage that holds at every
n holds at any stopping time, so rounds may be added, and stopped, on what the data show; the
running intersection of the intervals is a confidence sequence too. The default g = 3 makes the
sequence tightest around 4–9 seeds, where rounds of 3 seeds look. Nothing here depends on a
planned number of seeds (g is fixed, α is split over cells, not looks), so a study's cap
(`max_seeds`) may be raised after a look and the verdicts stay valid.

Verdicts mirror `analysis.verdicts`: `equivalent` when the interval lies inside ±margin, else
`better` / `worse` when it excludes 0, else `undecided`. A wrong verdict needs the interval to
miss the true mean at some look, so each is wrong with probability ≤ α (a study of many cells
divides α among them, as Bonferroni). numpy only; the data are assumed Gaussian.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

DECISIONS = ("undecided", "better", "worse", "equivalent")
MIXTURE = 3.0
ALPHA = 0.05            # a study's error rate per verdict family, split over its cells (Bonferroni)
BASELINE = "random"     # the arm every cell of an adaptive evaluation is tested against


@dataclass(frozen=True)
class Sequential:
    """A cell's state after its last look: the decision, the look (1-based round) and number of
    seeds it was taken at (the last ones while undecided), the interval there, and its mean."""

    decision: str
    look: int
    n: int
    low: float
    high: float
    mean: float


def round_sizes(n: int, size: int) -> list[int]:
    """Sizes of the rounds of `size` seeds that make up the first `n` seeds (the last may be short)."""
    return [min(size, n - start) for start in range(0, n, size)]


def e_value(diffs: Any, mu: float, *, g: float = MIXTURE) -> float:
    """E_n(μ) of equation (1) for the differences so far: evidence against the mean being `mu`."""
    d = np.asarray(diffs, dtype=float) - mu
    n = d.size
    ratio = n * d.mean() ** 2 / (d ** 2).sum()
    return float((1 + n * g) ** -0.5 * (1 - ratio * n * g / (1 + n * g)) ** (-n / 2))


def half_width_factor(n: Any, *, alpha: float = 0.05, g: float = MIXTURE) -> np.ndarray:
    """√(ρ / (1 − ρ)) of equation (2) per sample size n; inf where the sequence is the whole line."""
    n = np.asarray(n, dtype=float)
    rho = (1 - (alpha ** 2 / (1 + n * g)) ** (1 / n)) * (1 + n * g) / (n * g)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(rho < 1, np.sqrt(rho / (1 - rho)), np.inf)


def intervals(diffs: Any, looks: Sequence[int], *, alpha: float = 0.05, g: float = MIXTURE
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) at each look: arrays (..., len(looks)) for differences (..., n_max).

    `looks`: cumulative seed counts at which the data are looked at (increasing, ≤ n_max); the
    bounds are the running intersection of equation (2)'s intervals over the looks."""
    d = np.asarray(diffs, dtype=float)
    n = np.asarray(looks, dtype=int)
    if n.size == 0 or np.any(np.diff(n) <= 0) or n[0] < 1 or n[-1] > d.shape[-1]:
        raise ValueError(f"looks must increase within 1..{d.shape[-1]} seeds, got {list(n)}")
    total = np.cumsum(d, axis=-1)[..., n - 1]              # (..., L)
    squares = np.cumsum(d ** 2, axis=-1)[..., n - 1]
    mean = total / n
    ss = np.maximum(squares - n * mean ** 2, 0.0)
    with np.errstate(invalid="ignore"):
        half = half_width_factor(n, alpha=alpha, g=g) * np.sqrt(ss / n)
    half = np.where(np.isnan(half), np.inf, half)          # inf · 0: one seed, or identical ones
    low = np.maximum.accumulate(mean - half, axis=-1)
    high = np.minimum.accumulate(mean + half, axis=-1)
    return mean, low, high


def decisions(low: np.ndarray, high: np.ndarray, margin: float) -> np.ndarray:
    """Index into DECISIONS per look: equivalent (inside ±margin), else better / worse (0 excluded)."""
    code = np.zeros(np.shape(low), dtype=int)
    code = np.where(high < 0, 2, code)
    code = np.where(low > 0, 1, code)
    return np.where((low > -margin) & (high < margin), 3, code)


def stopping(codes: np.ndarray) -> np.ndarray:
    """The first decided look (0-based) per row of `codes` (..., L); L when none decided."""
    decided = codes > 0
    return np.where(decided.any(axis=-1), decided.argmax(axis=-1), codes.shape[-1])


def decide(diffs: Any, *, margin: float, alpha: float = 0.05, rounds: Sequence[int] | None = None,
           g: float = MIXTURE) -> Sequential:
    """The verdict of a cell against tuned random from its paired differences so far (in seed order),
    valid under optional stopping: better / worse / equivalent within ±margin, or undecided.

    `rounds`: the size of each round run so far (they must add up to the differences; default:
    a look after every seed). The verdict is the one of the first round that decided (the
    evaluation stops there); undecided, the interval after the last round."""
    d = np.asarray(diffs, dtype=float)
    if d.ndim != 1 or d.size == 0 or np.isnan(d).any():
        raise ValueError("differences must be a non-empty 1-D array without NaN")
    if not 0 < alpha < 1 or not margin > 0:
        raise ValueError(f"alpha must be in (0, 1) and margin > 0, got alpha={alpha}, margin={margin}")
    sizes = [1] * d.size if rounds is None else [int(r) for r in rounds]
    if any(r < 1 for r in sizes) or sum(sizes) != d.size:
        raise ValueError(f"rounds {list(sizes)} must be positive and add up to the {d.size} differences")
    looks = np.cumsum(sizes)
    mean, low, high = intervals(d, looks, alpha=alpha, g=g)
    codes = decisions(low, high, margin)
    at = min(int(stopping(codes)), len(looks) - 1)
    return Sequential(DECISIONS[codes[at]], at + 1, int(looks[at]), float(low[at]), float(high[at]), float(mean[at]))
