"""DerSimonian–Laird pooling against an independent computation and statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from analysis.pooled import dersimonian_laird, pooled_gain

Y = np.array([0.012, -0.004, 0.031, 0.006])
V = np.array([0.00002, 0.00005, 0.00003, 0.00001])


def dl_by_hand(y, v):
    """DerSimonian & Laird (1986), written out term by term."""
    k = len(y)
    w = [1 / vi for vi in v]
    fixed = sum(wi * yi for wi, yi in zip(w, y)) / sum(w)
    q = sum(wi * (yi - fixed) ** 2 for wi, yi in zip(w, y))
    c = sum(w) - sum(wi * wi for wi in w) / sum(w)
    tau2 = max(0.0, (q - (k - 1)) / c)
    ws = [1 / (vi + tau2) for vi in v]
    mean = sum(wi * yi for wi, yi in zip(ws, y)) / sum(ws)
    se = math.sqrt(1 / sum(ws))
    return mean, tau2, max(0.0, (q - (k - 1)) / q), mean - 1.959963984540054 * se, mean + 1.959963984540054 * se


def test_dersimonian_laird_equals_an_independent_computation_and_statsmodels():
    r = dersimonian_laird(Y, V)
    mean, tau2, i2, low, high = dl_by_hand(Y, V)
    assert (r["mean"], r["tau2"], r["i2"], r["ci_low"], r["ci_high"]) == pytest.approx((mean, tau2, i2, low, high))
    assert tau2 > 0 and r["k"] == 4
    sm = combine_effects(Y, V, method_re="dl", use_t=False)
    assert r["mean"] == pytest.approx(sm.mean_effect_re) and r["tau2"] == pytest.approx(sm.tau2)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(sm.conf_int(alpha=0.05)[1])


def test_homogeneous_gains_have_no_between_dataset_variance():
    r = dersimonian_laird(np.array([0.01, 0.0101, 0.0099]), np.array([1e-4, 1e-4, 1e-4]))
    assert r["tau2"] == 0 and r["i2"] == 0 and r["mean"] == pytest.approx(0.01)


def test_pooled_gain_per_strategy_uses_each_datasets_standard_error():
    table = pd.DataFrame({"dataset": ["a", "b", "c", "d"] * 2, "strategy": ["x"] * 4 + ["y"] * 4,
                          "gain": [*Y, *-Y], "sd": np.sqrt(V * 5).tolist() * 2, "n": [5] * 8})
    out = pooled_gain(table).set_index("strategy")
    assert out.loc["x", "mean"] == pytest.approx(dl_by_hand(Y, V)[0])
    assert out.loc["y", "mean"] == pytest.approx(-dl_by_hand(Y, V)[0])
    assert out.loc["x", "tau2"] == pytest.approx(dl_by_hand(Y, V)[1])
