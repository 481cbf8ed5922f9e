"""Small statistical building blocks shared by the analysis modules."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats

from alstudy.rng import numpy_generator


def bootstrap_generator(seed: int, purpose: str) -> np.random.Generator:
    """The explicit generator of one bootstrap; the same (seed, purpose) resamples identically."""
    return numpy_generator(seed, f"analysis.{purpose}")


def bootstrap_mean_ci(values: np.ndarray, *, rng: np.random.Generator, n_boot: int = 1000,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values`; NaNs when fewer than two values."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if values.size < 2:
        return float("nan"), float("nan")
    means = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def paired_summary(diffs: np.ndarray, *, level: float = 0.95) -> dict[str, float]:
    """Mean of paired differences, its Student-t interval and the paired t-test p-value.

    The t interval excludes 0 exactly when p < 1 - level, so "significant" means the same in
    every table. Differences that are all equal give a zero-width interval (p = 0 if nonzero).
    """
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    n = d.size
    out = {"mean": float(d.mean()) if n else float("nan"), "ci_low": float("nan"),
           "ci_high": float("nan"), "p_value": float("nan"), "n": int(n)}
    if n < 2:
        return out
    sd = d.std(ddof=1)
    if sd == 0:
        out.update(ci_low=out["mean"], ci_high=out["mean"], p_value=1.0 if out["mean"] == 0 else 0.0)
        return out
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / np.sqrt(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = stats.ttest_1samp(d, 0.0).pvalue
    out.update(ci_low=out["mean"] - half, ci_high=out["mean"] + half, p_value=float(p))
    return out


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaNs stay NaN and do not count as tests)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    order = np.argsort(p[ok])
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[ok][order] * (m - np.arange(m))))
    result = np.empty(m)
    result[order] = adjusted
    out[ok] = result
    return out
