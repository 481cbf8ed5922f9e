"""Friedman test over datasets as blocks, a post-hoc test, and the Nemenyi critical difference."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

POSTHOC_METHODS = ("nemenyi", "wilcoxon-holm")


def friedman(scores: pd.DataFrame) -> dict[str, float]:
    """Friedman chi-square over strategies (columns) with datasets (rows) as blocks; NaN when too small."""
    m, k = scores.shape
    if m < 2 or k < 3:
        return {"statistic": float("nan"), "p_value": float("nan"), "datasets": m, "strategies": k}
    result = stats.friedmanchisquare(*(scores[c].to_numpy(dtype=float) for c in scores.columns))
    return {"statistic": float(result.statistic), "p_value": float(result.pvalue), "datasets": m,
            "strategies": k}


def posthoc(scores: pd.DataFrame, *, method: str = "nemenyi") -> pd.DataFrame:
    """Pairwise p-values between strategies (symmetric, strategies × strategies), via scikit-posthocs.

    "nemenyi": Nemenyi–Friedman on the ranks within datasets. "wilcoxon-holm": Wilcoxon
    signed-rank over datasets for every pair, Holm-adjusted.
    """
    import scikit_posthocs as sp  # imports pyplot; load it only when a post-hoc test is asked for

    if method not in POSTHOC_METHODS:
        raise ValueError(f"posthoc method {method!r}: allowed: {', '.join(POSTHOC_METHODS)}")
    if scores.shape[0] < 2 or scores.shape[1] < 2:
        return pd.DataFrame(np.nan, index=scores.columns, columns=scores.columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small samples make the exact tests warn on every call
        if method == "nemenyi":
            out = sp.posthoc_nemenyi_friedman(scores.reset_index(drop=True))
        else:
            long = scores.reset_index(drop=True).melt(var_name="strategy", value_name="score")
            out = sp.posthoc_wilcoxon(long, val_col="score", group_col="strategy", p_adjust="holm")
    return out.loc[scores.columns, scores.columns].astype(float)


def critical_difference(n_strategies: int, n_datasets: int, *, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of mean ranks: q_alpha · sqrt(k (k + 1) / (6 N)).

    q_alpha is the studentized range quantile divided by sqrt(2) (Demšar 2006).
    """
    k, n = n_strategies, n_datasets
    if k < 2 or n < 1:
        return float("nan")
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6 * n)))
