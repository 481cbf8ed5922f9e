"""Verdicts on synthetic results with a known truth, TOST checked against statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.weightstats import ttost_paired

from analysis.analyze import Settings, analyze
from analysis.summary import summary
from analysis.verdicts import campaign_aubc, tost_p, verdicts

STRATEGIES = ("random", "entropy", "margin")


def verdicts_of(make_frame, *, effects, noise, seeds, margin=0.01, **kwargs):
    frame = make_frame(datasets=("digits", "wine"), strategies=STRATEGIES, eval_seeds=tuple(range(100, 100 + seeds)),
                       tune_trials=1, untuned=False, effects=effects, noise=noise, **kwargs)
    return verdicts(campaign_aubc(frame), margin=margin).set_index(["dataset", "strategy"])


def test_no_gain_with_small_noise_over_ten_seeds_is_equivalent(make_frame):
    table = verdicts_of(make_frame, effects={}, noise=0.005, seeds=10)
    assert (table["verdict"] == "equivalent").all(), table
    assert (table["ci_high"] < 0.01).all() and (table["ci_low"] > -0.01).all()


def test_a_three_point_gain_is_better_and_a_three_point_loss_worse(make_frame):
    effects = {(d, "entropy"): 0.03 for d in ("digits", "wine")} | {(d, "margin"): -0.03 for d in ("digits", "wine")}
    table = verdicts_of(make_frame, effects=effects, noise=0.005, seeds=10)
    assert (table.xs("entropy", level="strategy")["verdict"] == "better").all(), table
    assert (table.xs("margin", level="strategy")["verdict"] == "worse").all(), table
    assert table["gain"].xs("entropy", level="strategy").between(0.025, 0.035).all()


def test_large_noise_with_three_seeds_is_inconclusive_and_says_how_many_seeds(make_frame):
    table = verdicts_of(make_frame, effects={}, noise=0.15, seeds=3)
    assert (table["verdict"] == "inconclusive").all(), table
    assert (table["seeds_needed"] > 3).all() and (table["mde"] > 0.01).all()


def test_tost_p_matches_statsmodels_and_the_90_percent_interval():
    rng = np.random.default_rng(3)
    for mean, sd, n in ((0.002, 0.01, 8), (0.02, 0.01, 5), (-0.004, 0.004, 12)):
        a = rng.normal(0.8, 0.02, n)
        b = a - rng.normal(mean, sd, n)
        d = a - b
        p_ours = tost_p(d, 0.01)
        p_sm = ttost_paired(a, b, -0.01, 0.01)[0]
        assert p_ours == pytest.approx(p_sm, rel=1e-9)
        half = stats.t.ppf(0.95, n - 1) * d.std(ddof=1) / np.sqrt(n)
        inside = -0.01 < d.mean() - half and d.mean() + half < 0.01
        assert (p_ours < 0.05) == inside


def test_summary_json_has_verdicts_and_pooled_gain_as_specified(make_frame):
    frame = make_frame(datasets=("digits", "wine", "mnist1d"), strategies=STRATEGIES, tune_trials=1, untuned=False)
    out = summary(analyze(frame, settings=Settings(n_boot=20, margin=0.02)))
    cell = out["verdicts"]["digits"]["entropy"]
    assert set(cell) == {"verdict", "gain", "ci_low", "ci_high", "p_superiority", "p_equivalence", "margin",
                         "mde", "seeds_needed"}
    assert cell["margin"] == 0.02 and isinstance(cell["seeds_needed"], int)
    assert cell["gain"] == pytest.approx(out["gain_over_random"]["digits"]["entropy"]["mean"])
    assert set(out["pooled_gain"]["entropy"]) == {"mean", "ci_low", "ci_high", "tau2", "i2", "k"}
    assert out["pooled_gain"]["entropy"]["k"] == 3 and "random" not in out["pooled_gain"]


def test_paradigms_get_their_own_verdicts(make_frame):
    base = make_frame(datasets=("digits",), strategies=STRATEGIES, tune_trials=1, untuned=False, noise=0.005)
    shifted = base.assign(paradigm="fixmatch", test_acc=base["test_acc"]
                          + np.where(base["strategy"] == "entropy", 0.05, 0.0))
    frame = pd.concat([base.assign(paradigm="supervised"), shifted], ignore_index=True)
    table = verdicts(campaign_aubc(frame)).set_index(["paradigm", "dataset", "strategy"])
    assert table.loc[("fixmatch", "digits", "entropy"), "verdict"] == "better"
    assert table.loc[("supervised", "digits", "entropy"), "gain"] == pytest.approx(
        table.loc[("fixmatch", "digits", "entropy"), "gain"] - 0.05)
    out = summary(analyze(frame, settings=Settings(n_boot=20)))
    assert out["verdicts"]["fixmatch"]["digits"]["entropy"]["verdict"] == "better"


def test_an_adaptive_evaluation_says_the_seeds_used_and_why_each_cell_stopped():
    from analysis.verdicts import Rounds, verdicts

    # random varies by seed; "gain" beats it by 10 points on 6 seeds, "tie" swings ±2 points on all 9
    rounds = Rounds.of_study({"evaluation": {"seeds": [100, 101, 102], "max_seeds": 9,
                                             "later": [103, 104, 105, 106, 107, 108]}})
    assert rounds.seeds == tuple(range(100, 109)) and rounds.sizes(8) == [3, 3, 2]
    assert Rounds.of_study({"evaluation": {"seeds": [100], "margin": 0.01}}) is None
    rows = [("wine", "random", s, 0.7 + 0.01 * (s % 5)) for s in range(100, 109)]
    rows += [("wine", "gain", s, 0.8 + 0.01 * (s % 5) + 0.002 * (s % 2)) for s in range(100, 106)]
    rows += [("wine", "tie", s, 0.7 + 0.01 * (s % 5) + 0.02 * (-1) ** s) for s in range(100, 109)]
    per_campaign = pd.DataFrame(rows, columns=["dataset", "strategy", "seed", "aubc"])
    table = verdicts(per_campaign, margin=0.01, rounds=rounds).set_index("strategy")
    assert table.loc["gain", ["seeds_used", "stopped", "sequential"]].tolist() == [6, "decided", "better"]
    assert table.loc["tie", ["seeds_used", "stopped", "sequential"]].tolist() == [9, "max_seeds", "undecided"]
    assert "stopped" not in verdicts(per_campaign, margin=0.01)   # a fixed evaluation: as before
