"""Ranks of strategies within each dataset (1 = best) and their averages across datasets."""

from __future__ import annotations

import pandas as pd

from analysis.regimes import REGIMES
from alstudy.metrics import rank_desc


def score_table(per_campaign: pd.DataFrame, value: str) -> pd.DataFrame:
    """Mean of `value` over seeds: rows = datasets, columns = strategies (complete cases only).

    Strategies missing on some dataset are dropped, because rank agreement needs every
    dataset to rank the same strategies.
    """
    table = per_campaign.pivot_table(index="dataset", columns="strategy", values=value,
                                     aggfunc="mean", observed=True)
    table = table.dropna(axis=1, how="any")
    table.columns.name, table.index.name = "strategy", "dataset"
    return table.sort_index().sort_index(axis=1)


def rank_table(scores: pd.DataFrame) -> pd.DataFrame:
    """Rank of each strategy (column) within each dataset (row); ties share their average rank."""
    return pd.DataFrame(rank_desc(scores.to_numpy()), index=scores.index, columns=scores.columns)


def mean_ranks(ranks: pd.DataFrame) -> pd.Series:
    """Average rank of each strategy across datasets, best first."""
    return ranks.mean(axis=0).sort_values().rename("mean_rank")


def regime_rank_tables(regime_scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One rank table per budget regime present (from `regimes.regime_scores`)."""
    out = {}
    for regime in REGIMES:
        part = regime_scores.loc[regime_scores["regime"] == regime]
        if len(part):
            scores = score_table(part, "score")
            if scores.shape[1]:
                out[regime] = rank_table(scores)
    return out
