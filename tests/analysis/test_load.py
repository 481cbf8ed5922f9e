"""Reading a results store: what is accepted, and the one-line errors for what is not."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.load import REQUIRED_COLUMNS, ResultsError, arms, drop_incomplete, phase_rows, read_results
from alstudy.errors import UsageError


def test_reads_a_results_directory_with_list_columns(results_dir, results_frame):
    frame = read_results(results_dir)
    assert len(frame) == len(results_frame)
    assert list(frame["new_indices"].iloc[1]) == list(results_frame["new_indices"].iloc[1])
    assert read_results(results_dir / "results.parquet").shape == frame.shape


def test_missing_file_is_one_line(tmp_path):
    with pytest.raises(ResultsError, match="no such results file") as err:
        read_results(tmp_path / "nowhere")
    assert "\n" not in str(err.value)


def test_unreadable_file_is_a_results_error(tmp_path):
    (tmp_path / "results.parquet").write_text("not parquet")
    with pytest.raises(ResultsError, match="not a readable Parquet file"):
        read_results(tmp_path)


def test_missing_columns_are_named(tmp_path, make_frame, save_results):
    frame = make_frame(datasets=("digits",), untuned=False).drop(columns=["test_acc", "seed"])
    with pytest.raises(ResultsError) as err:
        read_results(save_results(frame, tmp_path))
    message = str(err.value)
    assert "missing column(s) seed, test_acc" in message and "\n" not in message


def test_only_tuning_rows_means_no_evaluation_rows(tmp_path, make_frame, save_results):
    frame = make_frame(datasets=("digits",), untuned=False)
    with pytest.raises(ResultsError, match="no evaluation rows.*phases present: tune"):
        read_results(save_results(frame.loc[frame["phase"] == "tune"], tmp_path))


def test_results_error_is_a_usage_error_and_a_value_error():
    assert issubclass(ResultsError, UsageError) and issubclass(ResultsError, ValueError)


def test_phase_rows_keep_one_row_per_seed_and_budget_point(make_frame):
    frame = make_frame(datasets=("digits",), strategies=("random", "entropy"), untuned=False)
    rows = phase_rows(frame)
    assert set(REQUIRED_COLUMNS) - {"phase"} <= set(rows.columns)
    assert not rows.duplicated(["dataset", "strategy", "seed", "n_labeled"]).any()
    # A duplicated campaign (same cell and seed) is averaged, not counted twice.
    first = frame.loc[(frame["phase"] == "eval") & (frame["trial"] == frame["trial"].iloc[-1])]
    twice = pd.concat([frame, first.assign(test_acc=first["test_acc"] + 0.1, trial="again")])
    again = phase_rows(twice)
    assert len(again) == len(rows)
    merged = again.merge(rows, on=["dataset", "strategy", "seed", "n_labeled"])
    changed = merged.loc[(merged["test_score_x"] - merged["test_score_y"]).abs() > 1e-12]
    assert len(changed) == len(first) and (changed["test_score_x"] - changed["test_score_y"]).round(6).eq(0.05).all()


def test_arms_put_eval_first_and_leave_out_tuning(results_frame):
    assert arms(results_frame) == ["eval", "untuned"]


def test_campaigns_missing_budget_points_are_left_out(make_frame):
    rows = phase_rows(make_frame(datasets=("digits", "wine"), strategies=("random", "entropy"), untuned=False))
    crashed = (rows["dataset"] == "wine") & (rows["strategy"] == "entropy") & (rows["seed"] == 101)
    cut = rows.loc[~(crashed & (rows["n_labeled"] > 60))]
    kept, short = drop_incomplete(cut)
    assert short[["dataset", "strategy", "seed"]].values.tolist() == [["wine", "entropy", 101]]
    assert len(kept) == len(rows) - crashed.sum()
    assert drop_incomplete(rows)[1].empty
