"""Gain over tuned random, paired by seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.curves import aubc
from analysis.gain import gain_by_regime, gain_curves, gain_in_aubc, paired_gain
from analysis.load import phase_rows
from analysis.regimes import regime_scores
from analysis.stats import holm


def _paired_frame() -> pd.DataFrame:
    # Seeds differ a lot (0.10 apart) but "good" is 0.02 above random on every seed, "bad" 0.02 below.
    seeds = np.arange(5)
    base = 0.6 + 0.1 * seeds
    wiggle = np.array([0.002, -0.002, 0.001, -0.001, 0.0])
    rows = []
    for strategy, shift in (("random", 0.0), ("good", 0.02), ("bad", -0.02)):
        rows += [{"dataset": "d", "strategy": strategy, "seed": int(s), "score": b + shift + (w if shift else 0)}
                 for s, b, w in zip(seeds, base, wiggle)]
    return pd.DataFrame(rows)


def test_paired_gain_has_the_right_sign_and_matches_a_paired_t_test():
    frame = _paired_frame()
    gain = paired_gain(frame, "score", by=["dataset"]).set_index("strategy")
    assert set(gain.index) == {"good", "bad"}
    assert gain.loc["good", "mean"] == pytest.approx(0.02) and gain.loc["bad", "mean"] == pytest.approx(-0.02)
    assert gain.loc["good", "ci_low"] > 0 and gain.loc["bad", "ci_high"] < 0
    table = frame.pivot(index="seed", columns="strategy", values="score")
    assert gain.loc["good", "p_value"] == pytest.approx(stats.ttest_rel(table["good"], table["random"]).pvalue)
    # Pairing is what makes this visible: unpaired, the seed spread hides the difference.
    assert stats.ttest_ind(table["good"], table["random"]).pvalue > 0.5
    assert gain.loc["good", "n"] == 5


def test_t_interval_matches_scipy():
    frame = _paired_frame()
    gain = paired_gain(frame, "score", by=["dataset"], level=0.9).set_index("strategy")
    table = frame.pivot(index="seed", columns="strategy", values="score")
    d = table["good"] - table["random"]
    low, high = stats.t.interval(0.9, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert gain.loc["good", ["ci_low", "ci_high"]].to_numpy() == pytest.approx([low, high])


def test_only_seeds_run_by_both_are_paired():
    frame = _paired_frame()
    frame = frame.loc[~((frame["strategy"] == "good") & (frame["seed"] == 0))]
    gain = paired_gain(frame, "score", by=["dataset"]).set_index("strategy")
    assert gain.loc["good", "n"] == 4 and gain.loc["bad", "n"] == 5


def test_no_baseline_gives_an_empty_table():
    frame = _paired_frame()
    assert paired_gain(frame.loc[frame["strategy"] != "random"], "score", by=["dataset"]).empty


def test_gain_tables_over_budget_points_regimes_and_aubc(make_frame):
    effects = {("digits", "entropy"): 0.03, ("digits", "margin"): -0.03}
    rows = phase_rows(make_frame(datasets=("digits",), strategies=("random", "entropy", "margin"),
                                 effects=effects, untuned=False))
    curves = gain_curves(rows)
    assert len(curves) == 2 * rows["n_labeled"].nunique()
    assert (curves.loc[curves["strategy"] == "entropy", "mean"] > 0).all()
    regimes = gain_by_regime(regime_scores(rows))
    assert list(regimes["regime"].unique()) == ["low", "middle", "high"]
    assert np.allclose(regimes["p_holm"], holm(regimes["p_value"].to_numpy()))
    total = gain_in_aubc(aubc(rows)).set_index("strategy")
    assert total.loc["entropy", "mean"] == pytest.approx(0.03, abs=0.01) and total.loc["entropy", "p_holm"] < 0.05
    assert total.loc["margin", "mean"] < 0


def test_holm_by_hand():
    # Sorted p: 0.01*3, 0.02*2, 0.04*1 -> 0.03, 0.04, 0.04 (monotone), NaN stays out.
    assert np.allclose(holm(np.array([0.04, 0.01, np.nan, 0.02])), [0.04, 0.03, np.nan, 0.04], equal_nan=True)
