"""Pairwise penalty matrix (Ash et al. 2020, as used by Lüth et al. 2023).

For every setting (a dataset, by default) and every budget point, two strategies are compared
with a paired t-test on their seed-matched scores (accuracy or mIoU); a significant win of a over b adds
1/L to entry [a, b], L being the number of budget points of that setting. Summed over
settings, an entry is at most the number of settings.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from analysis.load import TEST
from analysis.stats import paired_summary


def penalty_matrix(rows: pd.DataFrame, *, alpha: float = 0.05, metric: str = TEST,
                   setting: tuple[str, ...] = ("dataset",)) -> pd.DataFrame:
    """Entry [a, b]: how often (in settings' worth of budget points) a significantly beats b.

    `rows`: one phase's rows (dataset, strategy, seed, n_labeled, metric). Row sums are wins,
    column sums losses. Pairs with fewer than two matched seeds at a point are not tested.
    """
    strategies = sorted(rows["strategy"].unique())
    index = {s: i for i, s in enumerate(strategies)}
    wins = np.zeros((len(strategies), len(strategies)))
    for _, group in rows.groupby(list(setting), sort=True):
        points = np.unique(group["n_labeled"])
        weight = 1.0 / len(points)
        for _, at_point in group.groupby("n_labeled", sort=True):
            table = at_point.pivot_table(index="seed", columns="strategy", values=metric, aggfunc="mean")
            for a, b in itertools.combinations(table.columns, 2):
                diffs = (table[a] - table[b]).dropna().to_numpy()
                test = paired_summary(diffs)
                if not test["p_value"] < alpha or test["mean"] == 0:
                    continue
                winner, loser = (a, b) if test["mean"] > 0 else (b, a)
                wins[index[winner], index[loser]] += weight
    return pd.DataFrame(wins, index=pd.Index(strategies, name="winner"),
                        columns=pd.Index(strategies, name="loser"))
