"""Friedman test, post-hoc tests and the critical difference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.cd import critical_difference, friedman, posthoc


def _scores(m=6, k=4, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # s0 is clearly worst on every dataset; the last two strategies differ only by noise.
    offsets = np.minimum(np.arange(k), k - 2) * 0.05
    values = rng.random((m, k)) * 0.01 + offsets
    return pd.DataFrame(values, index=[f"d{i}" for i in range(m)], columns=[f"s{j}" for j in range(k)])


def test_friedman_matches_scipy():
    scores = _scores()
    out = friedman(scores)
    ref = stats.friedmanchisquare(*(scores[c] for c in scores.columns))
    assert out["statistic"] == pytest.approx(ref.statistic) and out["p_value"] == pytest.approx(ref.pvalue)
    assert np.isnan(friedman(scores[["s0", "s1"]])["p_value"])  # fewer than three strategies


def test_critical_difference_matches_demsar_table():
    # Demšar (2006), Table 5: q_0.05 = 2.569 for k = 4 and 2.850 for k = 6.
    assert critical_difference(4, 6) == pytest.approx(2.569 * np.sqrt(4 * 5 / 36), rel=1e-3)
    assert critical_difference(6, 4) == pytest.approx(2.850 * np.sqrt(6 * 7 / 24), rel=1e-3)


@pytest.mark.parametrize("method", ["nemenyi", "wilcoxon-holm"])
def test_posthoc_is_a_symmetric_pvalue_matrix(method):
    scores = _scores(m=8)
    p = posthoc(scores, method=method)
    assert list(p.index) == list(scores.columns) == list(p.columns)
    assert np.allclose(p.to_numpy(), p.to_numpy().T) and ((p >= 0) & (p <= 1)).all().all()
    # A consistent difference over 8 datasets is detected; a difference made of noise is not.
    assert p.loc["s0", "s3"] < 0.05 and p.loc["s2", "s3"] > 0.05


def test_unknown_posthoc_method_is_rejected():
    with pytest.raises(ValueError, match="allowed: nemenyi, wilcoxon-holm"):
        posthoc(_scores(), method="tukey")
