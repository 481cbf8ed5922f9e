"""The pairwise penalty matrix on a hand-built frame whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.penalty import penalty_matrix

SEEDS = np.arange(4)
BASE = np.array([0.60, 0.70, 0.65, 0.80])      # seed effects much larger than the strategy effects
JITTER = {"x": np.array([1, -1, 0, 0]) * 1e-3, "y": np.zeros(4), "z": np.array([0, 0, 1, -1]) * 1e-3}


def _frame(offsets: dict[tuple[str, int], dict[str, float]]) -> pd.DataFrame:
    rows = []
    for (dataset, n), shift in offsets.items():
        for s in ("x", "y", "z"):
            acc = BASE + shift.get(s, 0.0) + JITTER[s]
            rows += [{"dataset": dataset, "strategy": s, "seed": int(seed), "n_labeled": n, "test_score": a}
                     for seed, a in zip(SEEDS, acc)]
    return pd.DataFrame(rows)


def test_known_penalty_matrix():
    frame = _frame({
        # Dataset A, L = 2: x wins against both at the first point; nothing at the second.
        ("A", 10): {"x": 0.05}, ("A", 20): {},
        # Dataset B, L = 4: z wins against both, then y loses to both; two points without a difference.
        ("B", 10): {"z": 0.05}, ("B", 20): {"y": -0.05}, ("B", 30): {}, ("B", 40): {},
    })
    expected = pd.DataFrame([[0, 0.5 + 0.25, 0.5],
                             [0, 0, 0],
                             [0.25, 0.25 + 0.25, 0]], index=list("xyz"), columns=list("xyz"))
    got = penalty_matrix(frame)
    assert np.allclose(got.to_numpy(), expected.to_numpy())
    assert list(got.index) == list("xyz") and list(got.columns) == list("xyz")
    # Each dataset contributes at most 1 per entry.
    assert got.to_numpy().max() <= frame["dataset"].nunique()


def test_seed_matching_matters():
    # A 0.05 gain under 0.10 seed-to-seed spread: significant only because seeds are paired.
    frame = _frame({("A", 10): {"x": 0.05}})
    assert penalty_matrix(frame).loc["x", "y"] == pytest.approx(1.0)
    shuffled = frame.copy()
    mask = shuffled["strategy"] == "x"
    shuffled.loc[mask, "seed"] = (shuffled.loc[mask, "seed"] + 1) % 4  # breaks the pairing
    assert penalty_matrix(shuffled).loc["x", "y"] == 0.0


def test_a_stricter_alpha_never_adds_wins():
    frame = _frame({("A", 10): {"x": 0.05}, ("A", 20): {"z": 0.004}})
    assert (penalty_matrix(frame, alpha=0.001).to_numpy() <= penalty_matrix(frame, alpha=0.2).to_numpy()).all()
