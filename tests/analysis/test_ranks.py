"""Ranks within datasets, their averages, and the budget regimes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.ranks import mean_ranks, rank_table, regime_rank_tables, score_table
from analysis.regimes import regime_of_points, regime_scores


def test_rank_one_is_the_best_and_ties_share_their_average():
    scores = pd.DataFrame({"a": [0.9, 0.5], "b": [0.8, 0.7], "c": [0.8, 0.6]}, index=["d1", "d2"])
    ranks = rank_table(scores)
    assert ranks.loc["d1"].tolist() == [1.0, 2.5, 2.5]
    assert ranks.loc["d2"].tolist() == [3.0, 1.0, 2.0]
    assert mean_ranks(ranks).to_dict() == pytest.approx({"b": 1.75, "a": 2.0, "c": 2.25})
    assert list(mean_ranks(ranks).index) == ["b", "a", "c"]


def test_score_table_drops_strategies_missing_on_a_dataset():
    per = pd.DataFrame({"dataset": ["d1", "d1", "d2", "d2", "d2"], "strategy": ["a", "b", "a", "b", "c"],
                        "seed": 0, "aubc": [0.5, 0.6, 0.7, 0.8, 0.9]})
    assert list(score_table(per, "aubc").columns) == ["a", "b"]


def test_regimes_are_thirds_of_the_budget_points():
    mapping = regime_of_points(np.array([100, 20, 40, 60, 80, 120, 140, 20]))
    assert [mapping[p] for p in (20, 40, 60, 80, 100, 120, 140)] == \
        ["low", "low", "low", "middle", "middle", "high", "high"]
    assert regime_of_points(np.array([10, 30])) == {10: "low", 30: "high"}


def test_regime_ranks_follow_a_crossing_of_curves():
    # "early" is better at low budgets, "late" at high budgets: their ranks swap between regimes.
    n = np.arange(10, 100, 10)
    rows = pd.DataFrame([{"dataset": d, "strategy": s, "seed": seed, "n_labeled": int(x),
                          "test_score": 0.5 + (0.1 if (s == "early") == (x < 50) else 0.0) + 0.01 * seed}
                         for d in ("d1", "d2") for s in ("early", "late") for seed in range(3) for x in n])
    tables = regime_rank_tables(regime_scores(rows))
    assert list(tables) == ["low", "middle", "high"]
    assert (tables["low"]["early"] == 1).all() and (tables["high"]["late"] == 1).all()


def test_alstudy_run_and_alstudy_report_print_the_same_ranks_ties_included(make_frame, save_results, tmp_path):
    import json

    from alstudy.cli import main
    from alstudy.study.summary_table import eval_table

    # noise-free curves: entropy and margin tie exactly on every dataset, bald ties them on wine
    effects = {(d, s): e for d in ("digits", "wine") for s, e in
               (("random", 0.0), ("entropy", 0.01), ("margin", 0.01), ("bald", 0.02 if d == "digits" else 0.01))}
    frame = make_frame(datasets=("digits", "wine"), strategies=("random", "entropy", "margin", "bald"),
                       effects=effects, noise=0.0, untuned=False)
    root = save_results(frame, tmp_path / "ties")
    assert main(["report", str(root)]) == 0
    report = json.load(open(root / "report" / "summary.json"))["ranks"]
    closing = {(r["dataset"], r["strategy"]): r["rank"] for r in eval_table(str(root / "results.parquet"))}
    assert closing == {(d, s): rank for d, ranks in report.items() for s, rank in ranks.items()}
    assert closing[("digits", "entropy")] == closing[("digits", "margin")] == 2.5
    assert closing[("wine", "bald")] == 2.0 and closing[("wine", "random")] == 4.0
