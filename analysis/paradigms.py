"""Across training paradigms: does the paradigm add more than the strategy, and does it blur them?

Input: the evaluation rows of a study with a `paradigm` column naming more than one paradigm.
Every comparison is paired by seed (the same seed gives every cell the same initial labeled set,
validation set and initial weights), on test AUBC:

* `paradigm_effect`: each paradigm's random over the reference paradigm's random, next to the
  best strategy's gain over random inside the reference paradigm;
* `strategy_spread`: per (dataset, paradigm), the largest gain over that paradigm's random and
  the SD of the strategies' mean AUBCs (does augmentation or SSL blur the differences?);
* `gains`: every strategy over random inside each paradigm (does AL add on top of SSL?);
* `stability`: per dataset, Kendall's W and mean τ-b of the strategy ranking across paradigms.

AUBC is of each dataset's metric (accuracy or mIoU, `load.with_scores`); `metric` says which in words.

The reference paradigm is the plainest supervised one: method `supervised` with the least
augmentation (`hp.augment`), else the first name in sorted order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from alstudy import metrics
from analysis import ranks, stability
from analysis.gain import paired_gain
from analysis.load import BASELINE, EVAL_PHASE, TEST, dataset_metrics, metric_words, with_scores
from analysis.stats import paired_summary

CAMPAIGN = ["paradigm", "dataset", "strategy", "seed"]


@dataclass(frozen=True)
class ParadigmStats:
    paradigms: list[str]
    reference: str
    aubc: pd.DataFrame              # per campaign: paradigm, dataset, strategy, seed, aubc
    paradigm_effect: pd.DataFrame   # dataset, paradigm, mean, ci_low, ci_high, p_value, n, best_strategy, best_gain ...
    strategy_spread: pd.DataFrame   # dataset, paradigm, max_gain, best_strategy, sd_aubc, n_strategies
    gains: pd.DataFrame             # paradigm, dataset, strategy, mean, ci_low, ci_high, p_value, n
    stability: pd.DataFrame         # dataset, kendall_w, p_value, mean_tau, n_paradigms
    metric: str = "accuracy"        # the metric of the AUBCs in words ("score" when datasets mix them)


def has_paradigms(frame: pd.DataFrame) -> bool:
    return "paradigm" in frame and frame["paradigm"].dropna().nunique() > 1


def fold_paradigms(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with `dataset` read as `<dataset>/<paradigm>` when it has several paradigms, so
    that every per-dataset statistic (gains over random, ranks) is computed within one paradigm."""
    if not has_paradigms(frame):
        return frame
    return frame.assign(dataset=frame["dataset"].astype(str) + "/" + frame["paradigm"].astype(str))


def reference_paradigm(frame: pd.DataFrame) -> str:
    names = sorted(map(str, frame["paradigm"].dropna().unique()))
    if "method" in frame and "hp.augment" in frame:
        plain = frame.loc[frame["method"] == "supervised"].groupby("paradigm")["hp.augment"].mean()
        if len(plain):
            return str(plain.sort_values(kind="stable").index[0])
    return names[0]


def campaign_aubc(frame: pd.DataFrame) -> pd.DataFrame:
    frame = with_scores(frame)
    rows = frame.loc[(frame["phase"] == EVAL_PHASE) & frame[TEST].notna()]
    out = [(*key, metrics.aubc(g["n_labeled"].to_numpy(), g[TEST].to_numpy()))
           for key, g in rows.groupby(CAMPAIGN, sort=True)]
    return pd.DataFrame(out, columns=[*CAMPAIGN, "aubc"]).astype({"paradigm": str, "dataset": str, "strategy": str})


def paradigm_analysis(frame: pd.DataFrame, *, level: float = 0.95) -> ParadigmStats:
    """Every across-paradigm statistic of the module docstring."""
    per = campaign_aubc(frame)
    ref = reference_paradigm(frame)
    gains = paired_gain(per, "aubc", by=["paradigm", "dataset"], level=level)
    return ParadigmStats(paradigms=sorted(per["paradigm"].unique()), reference=ref, aubc=per,
                         paradigm_effect=_effect(per, gains, ref, level), strategy_spread=_spread(per, gains),
                         gains=gains, stability=_stability(per),
                         metric=metric_words(dataset_metrics(frame.loc[frame["phase"] == EVAL_PHASE])))


def _effect(per: pd.DataFrame, gains: pd.DataFrame, ref: str, level: float) -> pd.DataFrame:
    random = per.loc[per["strategy"] == BASELINE].pivot_table(index=["dataset", "seed"], columns="paradigm",
                                                              values="aubc")
    out = []
    for dataset, table in random.groupby(level="dataset"):
        inside = gains.loc[(gains["paradigm"] == ref) & (gains["dataset"] == dataset)]
        best = inside.sort_values("mean", ascending=False).head(1)
        b = best.iloc[0] if len(best) else None
        for paradigm in table.columns:
            if paradigm == ref or ref not in table.columns:
                continue
            s = paired_summary((table[paradigm] - table[ref]).to_numpy(), level=level)
            out.append((dataset, paradigm, s["mean"], s["ci_low"], s["ci_high"], s["p_value"], s["n"],
                        None if b is None else b["strategy"], np.nan if b is None else b["mean"],
                        np.nan if b is None else b["ci_low"], np.nan if b is None else b["ci_high"]))
    return pd.DataFrame(out, columns=["dataset", "paradigm", "mean", "ci_low", "ci_high", "p_value", "n",
                                      "best_strategy", "best_gain", "best_ci_low", "best_ci_high"])


def _spread(per: pd.DataFrame, gains: pd.DataFrame) -> pd.DataFrame:
    out = []
    for (paradigm, dataset), group in per.groupby(["paradigm", "dataset"], sort=True):
        means = group.groupby("strategy")["aubc"].mean()
        g = gains.loc[(gains["paradigm"] == paradigm) & (gains["dataset"] == dataset)]
        top = g.sort_values("mean", ascending=False).head(1)
        out.append((dataset, paradigm, float(top["mean"].iloc[0]) if len(top) else np.nan,
                    str(top["strategy"].iloc[0]) if len(top) else None,
                    float(means.std(ddof=1)) if len(means) > 1 else np.nan, len(means)))
    return pd.DataFrame(out, columns=["dataset", "paradigm", "max_gain", "best_strategy", "sd_aubc", "n_strategies"])


def _stability(per: pd.DataFrame) -> pd.DataFrame:
    out = []
    for dataset, group in per.groupby("dataset", sort=True):
        scores = group.pivot_table(index="paradigm", columns="strategy", values="aubc", aggfunc="mean").dropna(axis=1)
        table = ranks.rank_table(scores)
        w = stability.kendall_w(table)
        out.append((dataset, w["w"], w["p_value"], stability.mean_off_diagonal(stability.pairwise_tau(table)),
                    len(table)))
    return pd.DataFrame(out, columns=["dataset", "kendall_w", "p_value", "mean_tau", "n_paradigms"])
