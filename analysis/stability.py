"""Rank stability across datasets: Kendall's W, pairwise Kendall τ-b, rank spread, bootstrap CIs.

A rank table has datasets as rows (the "raters") and strategies as columns (the "objects"),
1 = best, ties sharing their average rank (see `ranks.rank_table`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from alstudy.metrics import rank_desc
from analysis.ranks import score_table
from analysis.stats import bootstrap_generator


def _w(ranks: np.ndarray) -> np.ndarray:
    """Tie-corrected Kendall's W of rank arrays shaped (..., m raters, n objects)."""
    m, n = ranks.shape[-2:]
    totals = ranks.sum(axis=-2)                                       # (..., n)
    s = ((totals - totals.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    # Each member of a tie group of size t sees t equal values: sum over members of (t^2 - 1) = t^3 - t.
    equal = (ranks[..., :, None] == ranks[..., None, :]).sum(axis=-1)  # (..., m, n)
    ties = (equal.astype(float) ** 2 - 1).sum(axis=(-2, -1))
    denom = m ** 2 * (n ** 3 - n) - m * ties
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 12 * s / denom, np.nan)


def kendall_w(ranks: pd.DataFrame) -> dict[str, float]:
    """Kendall's W (tie-corrected) with its chi-square test: chi2 = m (n − 1) W, n − 1 dof.

    m = datasets, n = strategies. NaN where undefined (fewer than two of either, or all tied).
    """
    m, n = ranks.shape
    if m < 2 or n < 2:
        return {"w": float("nan"), "chi2": float("nan"), "p_value": float("nan"), "m": m, "n": n}
    w = float(_w(ranks.to_numpy(dtype=float)))
    chi2 = m * (n - 1) * w
    return {"w": w, "chi2": chi2, "p_value": float(stats.chi2.sf(chi2, n - 1)), "m": m, "n": n}


def tau_b(x: np.ndarray, y: np.ndarray) -> float:
    """Kendall's τ-b of two equally long rankings: (concordant − discordant) over the tie-corrected pair counts."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    sx = np.sign(x[:, None] - x[None, :])
    sy = np.sign(y[:, None] - y[None, :])
    denom = np.sqrt((sx ** 2).sum() * (sy ** 2).sum())
    return float((sx * sy).sum() / denom) if denom > 0 else float("nan")


def pairwise_tau(ranks: pd.DataFrame) -> pd.DataFrame:
    """Kendall's τ-b between every two datasets' rankings of the strategies (symmetric, 1 on the diagonal)."""
    rows = ranks.to_numpy(dtype=float)
    out = np.array([[tau_b(a, b) for b in rows] for a in rows]).reshape(len(rows), len(rows))
    return pd.DataFrame(out, index=ranks.index, columns=ranks.index)


def mean_off_diagonal(matrix: pd.DataFrame) -> float:
    values = matrix.to_numpy(dtype=float)
    mask = ~np.eye(len(values), dtype=bool)
    picked = values[mask]
    picked = picked[~np.isnan(picked)]
    return float(picked.mean()) if picked.size else float("nan")


def rank_spread(ranks: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: mean, best (lowest), worst rank across datasets, their range and std; best mean first."""
    out = pd.DataFrame({"mean_rank": ranks.mean(), "best": ranks.min(), "worst": ranks.max(),
                        "range": ranks.max() - ranks.min(), "std": ranks.std(ddof=0)})
    out.index.name = "strategy"
    return out.sort_values("mean_rank")


def bootstrap_stability(per_campaign: pd.DataFrame, value: str, *, n_boot: int = 1000,
                        level: float = 0.95, seed: int = 0, two_level: bool = False) -> dict:
    """Percentile CIs of W and of mean ranks, resampling seeds with replacement within each dataset.

    The same resampled seeds serve every strategy of a dataset (pairing is kept); only seeds
    run by every strategy in the rank table are used. With `two_level`, each resample first
    draws m datasets with replacement, then seeds within each drawn dataset (the two-stage
    bootstrap of hierarchical data, Davison & Hinkley 1997, §3.8): the interval then also
    covers which datasets the study happened to pick, not only seed noise — a seeds-only
    interval is too narrow, and with few seeds biased towards the observed W. Its W interval is
    the basic bootstrap interval (resampled raters inflate W), the mean-rank ones percentile. Returns
    {"w": (low, high), "mean_rank": DataFrame[strategy -> ci_low, ci_high], "n_boot": n_boot,
    "method": "seeds within datasets" or "datasets and seeds within them"}.
    """
    method = "datasets and seeds within them" if two_level else "seeds within datasets"
    strategies = list(score_table(per_campaign, value).columns)
    rng = bootstrap_generator(seed, f"stability.{value}")
    tables = []
    for _, group in per_campaign.loc[per_campaign["strategy"].isin(strategies)].groupby("dataset", sort=True):
        table = group.pivot_table(index="seed", columns="strategy", values=value, aggfunc="mean")
        table = table.reindex(columns=strategies).dropna(axis=0, how="any").to_numpy(dtype=float)
        if len(table):
            tables.append(table)                                         # (seeds, n)
    tail = (1 - level) / 2 * 100
    nan_ci = pd.DataFrame(np.nan, index=pd.Index(strategies, name="strategy"), columns=["ci_low", "ci_high"])
    if len(tables) < 1 or len(strategies) < 2:
        return {"w": (float("nan"), float("nan")), "mean_rank": nan_ci, "n_boot": n_boot, "method": method}
    # Which dataset fills each of the m places of each resample (itself, without two_level).
    places = (rng.integers(0, len(tables), size=(n_boot, len(tables))) if two_level
              else np.broadcast_to(np.arange(len(tables)), (n_boot, len(tables))))
    stacked = np.empty((n_boot, len(tables), len(strategies)))             # (B, m, n)
    for j, table in enumerate(tables):
        where = places == j
        # Every drawn copy of a dataset gets its own seed resample (the second stage).
        picks = rng.integers(0, len(table), size=(int(where.sum()), len(table)))
        stacked[where] = rank_desc(table[picks].mean(axis=1))
    w = _w(stacked) if stacked.shape[1] >= 2 else np.full(n_boot, np.nan)
    w_ci = (float("nan"), float("nan"))
    if np.isfinite(w).any():
        low, high = np.nanpercentile(w, [tail, 100 - tail])
        if two_level:
            # Drawn twice, a dataset agrees with itself: resampled W sits above the observed one.
            # The basic interval (Davison & Hinkley 1997, eq. 5.6) reflects that shift back.
            observed = float(_w(np.stack([rank_desc(t.mean(axis=0)) for t in tables])))
            low, high = max(0.0, 2 * observed - high), min(1.0, 2 * observed - low)
        w_ci = (float(low), float(high))
    mr = np.percentile(stacked.mean(axis=1), [tail, 100 - tail], axis=0)  # (2, n)
    ci = pd.DataFrame(mr.T, index=pd.Index(strategies, name="strategy"), columns=["ci_low", "ci_high"])
    return {"w": w_ci, "mean_rank": ci, "n_boot": n_boot, "method": method}


def agreement(ranks_a: pd.DataFrame, ranks_b: pd.DataFrame) -> pd.Series:
    """τ-b between two rank tables on each shared dataset, over their shared strategies.

    Used to compare budget regimes (low vs high) and arms (untuned vs tuned); the entry
    "mean ranks" compares the two average rankings.
    """
    datasets = ranks_a.index.intersection(ranks_b.index)
    strategies = ranks_a.columns.intersection(ranks_b.columns)
    if len(strategies) < 2:
        return pd.Series(dtype=float, name="tau")
    a = ranks_a.loc[datasets, strategies].rank(axis=1)
    b = ranks_b.loc[datasets, strategies].rank(axis=1)
    out = {d: tau_b(a.loc[d], b.loc[d]) for d in datasets}
    out["mean ranks"] = tau_b(a.mean(), b.mean())
    return pd.Series(out, name="tau")
