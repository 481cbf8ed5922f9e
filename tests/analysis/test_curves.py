"""Learning curves, AUBC and final accuracy against hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alstudy.metrics import aubc as area_under_curve
from analysis.curves import aubc, final_accuracy, learning_curves, summarize_over_seeds
from analysis.load import phase_rows


def _rows(curves: dict) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": "d", "strategy": s, "seed": seed, "n_labeled": n, "test_score": acc}
                         for (s, seed), points in curves.items() for n, acc in points])


def test_aubc_of_a_linear_curve_is_its_mean_height():
    # Accuracy rises linearly from 0.5 at 10 labels to 0.9 at 50: the normalized area is 0.7.
    n = np.array([10, 20, 30, 40, 50])
    assert area_under_curve(n, 0.5 + 0.4 * (n - 10) / 40) == pytest.approx(0.7)


def test_aubc_uses_trapezoids_on_uneven_budgets_in_any_order():
    # Points (0, 0.2), (10, 0.6), (40, 0.6): area = 10*0.4 + 30*0.6 = 22, range 40 -> 0.55.
    assert area_under_curve(np.array([40, 0, 10]), np.array([0.6, 0.2, 0.6])) == pytest.approx(0.55)
    assert area_under_curve(np.array([25]), np.array([0.8])) == pytest.approx(0.8)


def test_aubc_and_final_accuracy_per_campaign():
    rows = _rows({("a", 0): [(10, 0.5), (20, 0.7), (30, 0.9)], ("a", 1): [(10, 0.6), (20, 0.6), (30, 0.6)],
                  ("b", 0): [(30, 0.4), (10, 0.4), (20, 0.4)]})
    per = aubc(rows).set_index(["strategy", "seed"])["aubc"]
    assert per[("a", 0)] == pytest.approx(0.7) and per[("a", 1)] == pytest.approx(0.6)
    final = final_accuracy(rows).set_index(["strategy", "seed"])
    assert final.loc[("a", 0), "final_acc"] == pytest.approx(0.9)
    assert (final["n_labeled"] == 30).all()


def test_learning_curves_mean_and_ci_over_seeds(make_frame):
    rows = phase_rows(make_frame(datasets=("digits",), strategies=("random", "entropy"), untuned=False))
    curves = learning_curves(rows, n_boot=300)
    expected = rows.groupby(["dataset", "strategy", "n_labeled"])["test_score"].mean().to_numpy()
    assert np.allclose(curves["mean"].to_numpy(), expected)
    assert (curves["n_seeds"] == 4).all()
    assert (curves["ci_low"] <= curves["mean"]).all() and (curves["mean"] <= curves["ci_high"]).all()
    assert (curves["ci_high"] > curves["ci_low"]).all()
    # The same seed gives the same intervals (explicit generators, no global state).
    assert curves.equals(learning_curves(rows, n_boot=300))


def test_a_single_seed_has_no_interval():
    rows = _rows({("a", 0): [(10, 0.5), (20, 0.7)]})
    assert learning_curves(rows)["ci_low"].isna().all()
    summary = summarize_over_seeds(aubc(rows), "aubc")
    assert summary["mean"].iloc[0] == pytest.approx(0.6) and np.isnan(summary["ci_high"].iloc[0])
