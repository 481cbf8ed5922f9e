"""Results tables `alstudy report` cannot trust: each is one line naming the problem (exit 2),
never a traceback and never a silently shifted mean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alstudy.cli import main


def report_error(frame, save_results, tmp_path, capsys) -> str:
    root = save_results(frame, tmp_path / "bad")
    assert main(["report", str(root), "--bootstrap", "50"]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("case, expected", [
    ("text accuracy", "column test_acc holds str values, expected numbers"),
    ("nan accuracy", "row(s) have a test_acc that is not an accuracy in [0, 1]"),
    ("inf accuracy", "row(s) have a test_acc that is not an accuracy in [0, 1]"),
    ("duplicated rows", "rows repeat the same trial and cycle ("),
    ("missing column", "missing column(s) n_labeled"),
    ("text seed", "column seed holds str values"),
])
def test_a_results_table_that_cannot_be_trusted_is_named_in_one_line(case, expected, make_frame, save_results,
                                                                     tmp_path, capsys):
    frame = make_frame(datasets=("digits",), strategies=("random", "entropy"), untuned=False)
    if case == "text accuracy":
        frame["test_acc"] = frame["test_acc"].map(lambda v: f"{v:.3f}")
    elif case == "nan accuracy":
        frame.loc[5, "test_acc"] = np.nan
    elif case == "inf accuracy":
        frame.loc[5, "test_acc"] = np.inf
    elif case == "duplicated rows":
        frame = pd.concat([frame, frame.iloc[:3]], ignore_index=True)
    elif case == "missing column":
        frame = frame.drop(columns=["n_labeled"])
    elif case == "text seed":
        frame["seed"] = frame["seed"].astype(str)
    assert expected in report_error(frame, save_results, tmp_path, capsys)


def test_report_out_naming_a_file_is_one_line(results_dir, tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    assert main(["report", str(results_dir), "--out", str(tmp_path / "taken")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
