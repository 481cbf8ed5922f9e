"""Learning curves, area under the budget curve (AUBC) and final score (accuracy or mIoU).

Input everywhere: the rows of one phase as returned by `load.phase_rows`
(dataset, strategy, seed, n_labeled, test_score: the test value of the dataset's metric).
A campaign is one (dataset, strategy, seed).
"""

from __future__ import annotations

import pandas as pd

from alstudy import metrics
from analysis.load import TEST
from analysis.stats import bootstrap_generator, bootstrap_mean_ci

CAMPAIGN = ["dataset", "strategy", "seed"]


def learning_curves(rows: pd.DataFrame, *, metric: str = TEST, n_boot: int = 1000,
                    level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean and bootstrap CI over seeds of `metric` at each n_labeled, per dataset × strategy.

    Columns: dataset, strategy, n_labeled, mean, ci_low, ci_high, n_seeds.
    """
    rng = bootstrap_generator(seed, "curves")
    out = []
    for (dataset, strategy, n), group in rows.groupby(["dataset", "strategy", "n_labeled"], sort=True):
        values = group[metric].to_numpy(dtype=float)
        low, high = bootstrap_mean_ci(values, rng=rng, n_boot=n_boot, level=level)
        out.append((dataset, strategy, n, values.mean(), low, high, len(values)))
    return pd.DataFrame(out, columns=["dataset", "strategy", "n_labeled", "mean", "ci_low",
                                      "ci_high", "n_seeds"])


def aubc(rows: pd.DataFrame, *, metric: str = TEST) -> pd.DataFrame:
    """AUBC of every campaign. Columns: dataset, strategy, seed, aubc, n_points."""
    out = [(*key, metrics.aubc(g["n_labeled"].to_numpy(), g[metric].to_numpy()), len(g))
           for key, g in rows.groupby(CAMPAIGN, sort=True)]
    return pd.DataFrame(out, columns=[*CAMPAIGN, "aubc", "n_points"])


def final_accuracy(rows: pd.DataFrame, *, metric: str = TEST) -> pd.DataFrame:
    """Score (accuracy or mIoU) of every campaign at its largest n_labeled. Columns: dataset, strategy, seed, n_labeled, final_acc."""
    last = rows.sort_values("n_labeled").groupby(CAMPAIGN, sort=True).tail(1)
    return (last[[*CAMPAIGN, "n_labeled", metric]].rename(columns={metric: "final_acc"})
            .sort_values(CAMPAIGN).reset_index(drop=True))


def summarize_over_seeds(per_campaign: pd.DataFrame, value: str, *, n_boot: int = 1000,
                         level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Mean and bootstrap CI over seeds of a per-campaign `value`, per dataset × strategy.

    Columns: dataset, strategy, mean, ci_low, ci_high, n_seeds.
    """
    rng = bootstrap_generator(seed, f"summary.{value}")
    out = []
    for (dataset, strategy), group in per_campaign.groupby(["dataset", "strategy"], sort=True):
        values = group[value].to_numpy(dtype=float)
        low, high = bootstrap_mean_ci(values, rng=rng, n_boot=n_boot, level=level)
        out.append((dataset, strategy, values.mean(), low, high, len(values)))
    return pd.DataFrame(out, columns=["dataset", "strategy", "mean", "ci_low", "ci_high", "n_seeds"])
