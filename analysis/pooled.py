"""Gains pooled across datasets: DerSimonian–Laird random-effects meta-analysis per strategy.

Each dataset contributes its paired AUBC gain over random y_i with variance v_i = s_i² / n_i
(the squared standard error of the mean paired difference). DerSimonian & Laird (1986):
    w_i = 1 / v_i,  ȳ_F = Σ w_i y_i / Σ w_i,  Q = Σ w_i (y_i − ȳ_F)²,
    τ² = max(0, (Q − (k − 1)) / (Σ w_i − Σ w_i² / Σ w_i)),
    w*_i = 1 / (v_i + τ²),  μ̂ = Σ w*_i y_i / Σ w*_i,  SE(μ̂) = (Σ w*_i)^(−1/2),
and the CI is μ̂ ± z_{(1+level)/2} SE. I² = max(0, (Q − (k − 1)) / Q) (Higgins & Thompson 2002):
the share of the spread of gains across datasets that is not sampling noise — the
quantitative form of "the ranking changes across datasets".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

POOLED_COLUMNS = ["strategy", "mean", "ci_low", "ci_high", "tau2", "i2", "k", "q", "se"]


def dersimonian_laird(effects: np.ndarray, variances: np.ndarray, *, level: float = 0.95) -> dict[str, float]:
    """Random-effects pooled effect of `effects` with within-study `variances` (equations above).

    Studies with a missing or non-positive variance are left out (a zero-variance gain would
    take all the weight). k is the number used; τ², I² and Q are NaN when k < 2.
    """
    y, v = np.asarray(effects, dtype=float), np.asarray(variances, dtype=float)
    ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
    y, v = y[ok], v[ok]
    k = int(y.size)
    out = {"mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "tau2": float("nan"),
           "i2": float("nan"), "k": k, "q": float("nan"), "se": float("nan")}
    if k == 0:
        return out
    w = 1 / v
    tau2 = 0.0
    if k >= 2:
        fixed = (w * y).sum() / w.sum()
        q = float((w * (y - fixed) ** 2).sum())
        tau2 = max(0.0, (q - (k - 1)) / (w.sum() - (w ** 2).sum() / w.sum()))
        out.update(q=q, tau2=tau2, i2=max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0)
    w_star = 1 / (v + tau2)
    mean = float((w_star * y).sum() / w_star.sum())
    se = float(np.sqrt(1 / w_star.sum()))
    half = stats.norm.ppf(0.5 + level / 2) * se
    out.update(mean=mean, se=se, ci_low=mean - half, ci_high=mean + half)
    return out


def pooled_gain(verdict_table: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """Per strategy (and paradigm): the DL-pooled AUBC gain over random across datasets.

    `verdict_table` is `verdicts.verdicts(...)` (gain, sd, n per dataset × strategy).
    """
    by = (["paradigm"] if "paradigm" in verdict_table else []) + ["strategy"]
    out = []
    for key, g in verdict_table.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        var = g["sd"].to_numpy(dtype=float) ** 2 / g["n"].to_numpy(dtype=float)
        r = dersimonian_laird(g["gain"].to_numpy(dtype=float), var, level=level)
        out.append((*key, *(r[c] for c in POOLED_COLUMNS[1:])))
    return pd.DataFrame(out, columns=[*by[:-1], *POOLED_COLUMNS])
