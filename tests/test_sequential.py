"""The anytime-valid verdict: its formula against the mixture it comes from, a boundary worked out
by hand, and its error rate under optional stopping in simulated adaptive evaluations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from alstudy.sequential import DECISIONS, decide, decisions, e_value, intervals, stopping


def test_the_closed_form_is_the_mixture_it_is_derived_from():
    # E_n(mu) = ∫∫ N(d | mu + sqrt(g) s z, s²) φ(z) dz ds/s  /  ∫ N(d | mu, s²) ds/s (the effect's Gaussian
    # mixture and the right-Haar mixture over the scale), summed on a grid over z and log s.
    d, mu, g = np.array([0.5, 1.2, -0.3, 0.9]), 0.1, 3.0
    z = np.linspace(-9, 9, 721)[:, None, None]
    log_s = np.linspace(-6, 4, 1001)[None, :, None]
    s = np.exp(log_s)
    numerator = np.prod(stats.norm.pdf(d, mu + math.sqrt(g) * s * z, s), axis=-1) * stats.norm.pdf(z[..., 0])
    numerator = np.trapezoid(np.trapezoid(numerator, z[:, 0, 0], axis=0), log_s[0, :, 0])
    denominator = np.trapezoid(np.prod(stats.norm.pdf(d, mu, s[0]), axis=-1), log_s[0, :, 0])
    assert e_value(d, mu, g=g) == pytest.approx(numerator / denominator, rel=1e-4)
    assert e_value([0.7], 0.0) == pytest.approx(1.0)   # one seed is no evidence


def test_a_boundary_worked_by_hand():
    # d = 0..5 points, n = 6, alpha = 0.05, g = 3: rho = (1 - (0.0025 / 19)^(1/6)) * 19/18
    # = (1 - 0.225540) * 1.055556 = 0.817486; sqrt(rho / (1 - rho)) = 2.116470; SS = 17.5,
    # sqrt(SS / 6) = 1.707825, half-width 3.614560: the interval is 2.5 ± 3.6146.
    d = np.arange(6.0)
    mean, low, high = intervals(d, [6])
    assert (mean[0], low[0], high[0]) == pytest.approx((2.5, 2.5 - 3.614560, 2.5 + 3.614560), abs=1e-5)
    assert e_value(d, low[0]) == pytest.approx(20.0) and e_value(d, high[0]) == pytest.approx(20.0)
    # A fixed-sample t interval (2.5 ± 1.963) would call this "better"; the sequence does not yet.
    assert decide(d, margin=1.0, rounds=[3, 3]).decision == "undecided"
    shifted = decide(d + 10, margin=1.0, rounds=[3, 3])
    assert (shifted.decision, shifted.look, shifted.n) == ("better", 2, 6)
    assert decide(-(d + 10), margin=1.0, rounds=[3, 3]).decision == "worse"
    tight = decide(np.array([0.1, -0.1, 0.05, -0.05, 0.0, 0.02] * 2), margin=1.0, rounds=[6, 6])
    assert tight.decision == "equivalent" and tight.look == 1   # decided after the first round: it stops there


def test_the_first_decided_round_is_the_verdict():
    d = np.array([3.0, 3.2, 2.9, 3.1, 3.0, 2.8, -40.0, -41.0, -39.0])
    v = decide(d, margin=0.5, rounds=[3, 3, 3])
    assert (v.decision, v.look, v.n) == ("better", 2, 6)   # later seeds do not undo a stopped study
    with pytest.raises(ValueError, match="add up"):
        decide(d, margin=0.5, rounds=[3, 3])
    with pytest.raises(ValueError, match="margin"):
        decide(d, margin=0.0)


def simulate(gain: float, *, studies: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Decisions and stopping looks of simulated adaptive evaluations: rounds of 3 seeds up to 15,
    paired differences with SD 2 points of AUBC and mean `gain` SDs, margin 1 point, alpha 0.05."""
    sd, looks = 0.02, [3, 6, 9, 12, 15]
    diffs = np.random.default_rng(seed).normal(gain * sd, sd, size=(studies, looks[-1]))
    _, low, high = intervals(diffs, looks)
    codes = decisions(low, high, 0.01)
    stop = stopping(codes)
    final = np.where(stop < len(looks), codes[np.arange(studies), np.minimum(stop, len(looks) - 1)], 0)
    return final, stop


def test_under_the_null_better_stays_below_alpha_despite_optional_stopping():
    final, _ = simulate(0.0)
    better = np.mean(final == DECISIONS.index("better"))
    monte_carlo = 3 * math.sqrt(0.05 * 0.95 / final.size)
    assert better <= 0.05 + monte_carlo
    # The naive alternative, a fixed-sample t-test at every look, is what optional stopping breaks:
    sd, rng = 0.02, np.random.default_rng(0)
    diffs = rng.normal(0.0, sd, size=(final.size, 15))
    naive = np.zeros(final.size, dtype=bool)
    for n in (3, 6, 9, 12, 15):
        naive |= stats.ttest_1samp(diffs[:, :n], 0.0, axis=1).pvalue < 0.05
    assert naive.mean() > 0.05 + monte_carlo


def test_a_gain_of_three_sds_is_decided_within_two_rounds_in_most_studies():
    final, stop = simulate(3.0)
    assert np.mean(stop <= 1) > 0.8
    assert np.mean(final == DECISIONS.index("better")) > 0.95
    assert not np.any(final == DECISIONS.index("worse"))


def test_analysis_reads_the_same_kernel():
    import analysis.sequential
    assert analysis.sequential.decide is decide and analysis.sequential.intervals is intervals
