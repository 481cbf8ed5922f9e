"""Minimum detectable gain and seeds needed, against statsmodels and a simulation of TOST."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import TTestPower

from analysis.power import mde, seeds_needed, t_power, tost_power


@pytest.mark.parametrize("n", [2, 3, 5, 10, 30])
def test_mde_matches_statsmodels(n):
    d = TTestPower().solve_power(nobs=n, alpha=0.05, power=0.8, alternative="two-sided")
    assert mde(0.02, n, alpha=0.05) == pytest.approx(0.02 * d, rel=1e-5)
    assert t_power(0.3, n, alpha=0.05) == pytest.approx(TTestPower().power(0.3, n, 0.05), rel=1e-9)


@pytest.mark.parametrize("sd", [0.004, 0.01, 0.03])
def test_seeds_needed_matches_a_statsmodels_power_calculation(sd):
    # TOST at true gain 0 reaches power 0.8 when each one-sided test has power 0.9.
    n = TTestPower().solve_power(effect_size=0.01 / sd, alpha=0.05, power=0.9, alternative="larger")
    assert seeds_needed(0.01, sd, alpha=0.05) == max(2, math.ceil(n))


def test_tost_power_agrees_with_a_simulation():
    rng = np.random.default_rng(0)
    sd, margin = 0.01, 0.01
    n = seeds_needed(margin, sd, alpha=0.05)
    for size in (n - 1, n):
        d = rng.normal(0.0, sd, size=(20000, size))
        se = d.std(axis=1, ddof=1) / np.sqrt(size)
        crit = stats.t.ppf(0.95, size - 1)
        rejected = ((d.mean(axis=1) + margin) / se > crit) & ((d.mean(axis=1) - margin) / se < -crit)
        assert rejected.mean() == pytest.approx(tost_power(margin, sd, size, alpha=0.05), abs=0.02)
    assert tost_power(margin, sd, n - 1, alpha=0.05) < 0.8 <= tost_power(margin, sd, n, alpha=0.05)


def test_degenerate_spreads():
    assert seeds_needed(0.01, 0.0, alpha=0.05) == 2 and mde(0.0, 4, alpha=0.05) == 0.0
    assert seeds_needed(0.01, float("nan"), alpha=0.05) is None and math.isnan(mde(0.01, 1, alpha=0.05))
