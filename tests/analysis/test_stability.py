"""Kendall's W, Kendall's τ-b and the bootstrap, checked against scipy and against known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.curves import aubc
from analysis.load import phase_rows
from analysis.ranks import rank_table, score_table
from analysis.stability import (agreement, bootstrap_stability, kendall_w, pairwise_tau, rank_spread,
                                tau_b)


def _scores(m: int, k: int, *, seed: int, decimals: int | None = None) -> pd.DataFrame:
    values = np.random.default_rng(seed).random((m, k))
    if decimals is not None:
        values = values.round(decimals)  # coarse scores: ties within datasets
    return pd.DataFrame(values, index=[f"d{i}" for i in range(m)], columns=[f"s{j}" for j in range(k)])


@pytest.mark.parametrize("m, k, decimals", [(5, 6, None), (4, 7, 1), (3, 3, None), (6, 10, 1)])
def test_w_equals_the_friedman_statistic_scaled(m, k, decimals):
    scores = _scores(m, k, seed=m * k, decimals=decimals)
    w = kendall_w(rank_table(scores))
    friedman = stats.friedmanchisquare(*(scores[c] for c in scores.columns))
    assert w["w"] == pytest.approx(friedman.statistic / (m * (k - 1)))
    assert w["p_value"] == pytest.approx(friedman.pvalue)


def test_identical_rankings_give_w_and_tau_one():
    scores = pd.DataFrame([[0.9, 0.7, 0.8, 0.5]] * 4, index=list("abcd"), columns=list("wxyz"))
    scores = scores.mul([1.0, 0.9, 1.1, 0.95], axis=0)  # different accuracies, same order
    ranks = rank_table(scores)
    assert kendall_w(ranks)["w"] == pytest.approx(1.0)
    assert np.allclose(pairwise_tau(ranks).to_numpy(), 1.0)
    assert (rank_spread(ranks)["range"] == 0).all()


def test_opposite_rankings_give_w_zero_and_tau_minus_one():
    ranks = rank_table(pd.DataFrame([[1, 2, 3], [3, 2, 1]], index=["a", "b"], columns=list("xyz")))
    assert kendall_w(ranks)["w"] == pytest.approx(0.0)
    assert pairwise_tau(ranks).loc["a", "b"] == pytest.approx(-1.0)


@pytest.mark.parametrize("seed", range(4))
def test_tau_b_equals_scipy_with_ties(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.integers(0, 4, 9), rng.integers(0, 5, 9)
    assert tau_b(x, y) == pytest.approx(stats.kendalltau(x, y, variant="b").statistic)


def test_pairwise_tau_matrix_matches_scipy():
    ranks = rank_table(_scores(4, 6, seed=3, decimals=1))
    tau = pairwise_tau(ranks)
    for a in ranks.index:
        for b in ranks.index:
            assert tau.loc[a, b] == pytest.approx(stats.kendalltau(ranks.loc[a], ranks.loc[b]).statistic)


def test_undefined_cases_are_nan_not_errors():
    assert np.isnan(kendall_w(rank_table(_scores(1, 5, seed=0)))["w"])
    assert np.isnan(kendall_w(rank_table(pd.DataFrame([[0.5, 0.5], [0.7, 0.7]], columns=["a", "b"])))["w"])
    assert np.isnan(tau_b([1, 1, 1], [1, 2, 3]))


def test_bootstrap_ci_collapses_without_seed_noise_and_brackets_noisy_estimates(make_frame):
    # Without noise every resample gives the same ranking: W's interval is the point W.
    quiet = aubc(phase_rows(make_frame(noise=0.0, untuned=False)))
    quiet = quiet.assign(aubc=quiet["aubc"] - quiet["seed"].map(lambda s: 0.01 * np.sin(s)))
    boot = bootstrap_stability(quiet, "aubc", n_boot=200)
    w = kendall_w(rank_table(score_table(quiet, "aubc")))["w"]
    assert boot["w"] == pytest.approx((w, w))
    # With noise: a real interval, reproducible for a given seed.
    noisy = aubc(phase_rows(make_frame(noise=0.02, untuned=False)))
    boot = bootstrap_stability(noisy, "aubc", n_boot=300, seed=1)
    low, high = boot["w"]
    assert 0 <= low < high <= 1
    ci = boot["mean_rank"]
    assert (ci["ci_low"] <= ci["ci_high"]).all() and ((ci["ci_low"] >= 1) & (ci["ci_high"] <= 6)).all()
    assert bootstrap_stability(noisy, "aubc", n_boot=300, seed=1)["w"] == boot["w"]


def test_agreement_between_two_rank_tables():
    a = rank_table(pd.DataFrame([[3, 2, 1], [1, 2, 3]], index=["d1", "d2"], columns=list("xyz")))
    b = rank_table(pd.DataFrame([[3, 2, 1], [3, 2, 1], [1, 1, 1]], index=["d1", "d2", "d3"], columns=list("xyz")))
    out = agreement(a, b)
    assert out["d1"] == pytest.approx(1.0) and out["d2"] == pytest.approx(-1.0) and "d3" not in out


def test_two_level_bootstrap_also_covers_which_datasets_were_picked(make_frame):
    # No seed noise at all: a seeds-only interval collapses onto W, but datasets that rank the
    # strategies differently still leave W uncertain when datasets are resampled too.
    frame = make_frame(datasets=("digits", "mnist1d", "wine", "iris"), noise=0.0, untuned=False, tune_trials=0)
    quiet = aubc(phase_rows(frame))
    quiet = quiet.assign(aubc=quiet["aubc"] - quiet["seed"].map(lambda s: 0.01 * np.sin(s)))
    seeds_only = bootstrap_stability(quiet, "aubc", n_boot=300)
    both = bootstrap_stability(quiet, "aubc", n_boot=300, two_level=True)
    w = kendall_w(rank_table(score_table(quiet, "aubc")))["w"]
    assert seeds_only["w"] == pytest.approx((w, w))
    assert both["w"][0] < w - 0.05 and both["w"][0] <= w <= both["w"][1]
    assert both["method"] == "datasets and seeds within them"
    assert bootstrap_stability(quiet, "aubc", n_boot=300, two_level=True)["w"] == both["w"]
