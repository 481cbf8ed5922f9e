"""Power of the paired comparisons: minimum detectable gain and evaluation seeds needed.

Both follow the paired (one-sample) t-test on per-seed differences with standard deviation σ,
using the noncentral t distribution (Cohen 1988, ch. 2; Chow, Shao & Wang 2008, *Sample Size
Calculations in Clinical Research*, §3.2). They are computed with scipy; the tests check them
against statsmodels' `TTestPower`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize, stats

POWER = 0.8          # the conventional target power of every calculation here
MAX_SEEDS = 100_000  # seeds_needed gives up (returns this) beyond it


def t_power(effect: float, n: int, *, alpha: float, two_sided: bool = True) -> float:
    """Power of the one-sample t-test with n observations at standardized effect d = μ/σ.

    Noncentrality λ = d √n, df = n − 1; two-sided: P(|T'| > t_{1−α/2}), one-sided (larger):
    P(T' > t_{1−α}) — Cohen (1988) eq. 2.3.x, exact via scipy.stats.nct.
    """
    if n < 2:
        return float("nan")
    df, nc = n - 1, effect * math.sqrt(n)
    if two_sided:
        crit = stats.t.ppf(1 - alpha / 2, df)
        # The far tail can come out NaN for a large λ (scipy's nct); it is then negligible.
        return float(np.nan_to_num(stats.nct.sf(crit, df, nc)) + np.nan_to_num(stats.nct.cdf(-crit, df, nc)))
    return float(stats.nct.sf(stats.t.ppf(1 - alpha, df), df, nc))


def mde(sd: float, n: int, *, alpha: float, power: float = POWER) -> float:
    """Minimum detectable gain: the smallest |mean paired difference| the two-sided paired
    t-test at `alpha` detects with probability `power`, given n seeds and SD `sd` of the
    differences (solves t_power(d, n) = power for d; returns d · sd). NaN when n < 2 or sd is NaN."""
    if n < 2 or not np.isfinite(sd):
        return float("nan")
    if sd == 0:
        return 0.0
    # At λ = d√n = 12 the power of any n ≥ 2 at a usual α exceeds 0.99: the root lies below.
    d = optimize.brentq(lambda e: t_power(e, n, alpha=alpha) - power, 1e-9, 12 / math.sqrt(n) + 40, xtol=1e-12)
    return float(d * sd)


def tost_power(margin: float, sd: float, n: int, *, alpha: float) -> float:
    """Power of TOST (two one-sided t-tests at `alpha`, margin ±δ) when the true gain is 0.

    Each one-sided test rejects with probability P(T' > t_{1−α}) at λ = δ√n/σ; TOST's power is
    then at least 1 − 2(1 − that) (Bonferroni bound; tight whenever the power is useful,
    Chow, Shao & Wang 2008, §3.2.4: n ≥ (t_{1−α} + t_{1−β/2})² σ² / δ²).
    """
    if n < 2 or not np.isfinite(sd):
        return float("nan")
    if sd == 0:
        return 1.0
    return max(0.0, 2 * t_power(margin / sd, n, alpha=alpha, two_sided=False) - 1)


def seeds_needed(margin: float, sd: float, *, alpha: float, power: float = POWER) -> int | None:
    """Fewest evaluation seeds for which TOST with margin ±`margin` reaches `power` when the
    true gain is 0 — the seeds needed to tell a gain of ±δ from none. None when sd is unknown."""
    if not np.isfinite(sd) or margin <= 0:
        return None
    if sd == 0:
        return 2
    n = 2
    while tost_power(margin, sd, n, alpha=alpha) < power:
        if n >= MAX_SEEDS:
            return MAX_SEEDS
        # Grow geometrically, then bisect back to the first n that reaches the power.
        step = n
        if tost_power(margin, sd, n + step, alpha=alpha) < power:
            n += step
            continue
        low, high = n, n + step
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if tost_power(margin, sd, mid, alpha=alpha) < power else (low, mid)
        return high
    return n
