"""Gain over the tuned random baseline, paired by seed (same initial set and validation set)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.load import BASELINE, TEST
from analysis.regimes import REGIMES
from analysis.stats import holm, paired_summary

GAIN_COLUMNS = ["strategy", "mean", "ci_low", "ci_high", "p_value", "n"]


def paired_gain(values: pd.DataFrame, value: str, *, by: list[str], baseline: str = BASELINE,
                level: float = 0.95) -> pd.DataFrame:
    """Per group of `by` and strategy: mean of (strategy − baseline) over seeds both have run.

    `values` has one row per (by..., strategy, seed). Columns out: by..., strategy, mean,
    ci_low, ci_high (Student-t), p_value (paired t-test), n (paired seeds). The baseline
    itself and groups without it are left out.
    """
    out = []
    for key, group in values.groupby(by, sort=True, observed=True):
        table = group.pivot_table(index="seed", columns="strategy", values=value, aggfunc="mean")
        if baseline not in table.columns:
            continue
        for strategy in table.columns:
            if strategy == baseline:
                continue
            diffs = (table[strategy] - table[baseline]).dropna().to_numpy()
            s = paired_summary(diffs, level=level)
            key = key if isinstance(key, tuple) else (key,)
            out.append((*key, strategy, s["mean"], s["ci_low"], s["ci_high"], s["p_value"], s["n"]))
    return pd.DataFrame(out, columns=[*by, *GAIN_COLUMNS])


def gain_curves(rows: pd.DataFrame, *, baseline: str = BASELINE, level: float = 0.95) -> pd.DataFrame:
    """Gain in the test score (the dataset's metric) over the baseline at every budget point of every dataset."""
    return paired_gain(rows, TEST, by=["dataset", "n_labeled"], baseline=baseline, level=level)


def gain_in_aubc(per_campaign_aubc: pd.DataFrame, *, baseline: str = BASELINE,
                 level: float = 0.95) -> pd.DataFrame:
    """Gain in AUBC per dataset × strategy, with Holm-adjusted p-values over all those tests (p_holm)."""
    out = paired_gain(per_campaign_aubc, "aubc", by=["dataset"], baseline=baseline, level=level)
    out["p_holm"] = holm(out["p_value"].to_numpy()) if len(out) else np.array([])
    return out


def gain_by_regime(regime_scores: pd.DataFrame, *, baseline: str = BASELINE,
                   level: float = 0.95) -> pd.DataFrame:
    """Gain in mean score within each budget regime, per dataset × strategy, with p_holm."""
    out = paired_gain(regime_scores, "score", by=["dataset", "regime"], baseline=baseline, level=level)
    out["regime"] = pd.Categorical(out["regime"], categories=REGIMES, ordered=True)
    out["p_holm"] = holm(out["p_value"].to_numpy()) if len(out) else np.array([])
    return out
