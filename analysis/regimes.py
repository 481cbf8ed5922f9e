"""Budget regimes: the low, middle and high thirds of each dataset's budget axis."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.load import TEST

REGIMES = ("low", "middle", "high")


def regime_of_points(points: np.ndarray) -> dict[float, str]:
    """Split sorted distinct budget points into three contiguous groups of near-equal size.

    Splitting the points (not the n_labeled range) keeps every regime populated when cycles
    add labels unevenly; two points become low and high, one point is low.
    """
    points = np.unique(np.asarray(points))
    if points.size == 2:
        return {points[0].item(): "low", points[1].item(): "high"}
    return {p.item(): name for name, part in zip(REGIMES, np.array_split(points, 3)) for p in part}


def with_regimes(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with a `regime` column computed per dataset from its own budget points."""
    parts = []
    for _, group in rows.groupby("dataset", sort=True):
        mapping = regime_of_points(group["n_labeled"].to_numpy())
        parts.append(group.assign(regime=group["n_labeled"].map(mapping)))
    return pd.concat(parts, ignore_index=True) if parts else rows.assign(regime=pd.Series(dtype=str))


def regime_scores(rows: pd.DataFrame, *, metric: str = TEST) -> pd.DataFrame:
    """Mean `metric` of every campaign over the budget points of each regime.

    Columns: dataset, strategy, seed, regime, score.
    """
    tagged = with_regimes(rows)
    out = (tagged.groupby(["dataset", "strategy", "seed", "regime"], sort=False, as_index=False)[metric]
           .mean().rename(columns={metric: "score"}))
    out["regime"] = pd.Categorical(out["regime"], categories=REGIMES, ordered=True)
    return out.sort_values(["regime", "dataset", "strategy", "seed"]).reset_index(drop=True)
