"""A study whose models diverge says so, one line per campaign, and never labels a row twice."""

from __future__ import annotations

import pandas as pd

from alstudy.study.runner import RunOptions, run_study

STUDY = """
name = "diverged"
datasets = ["digits"]
strategies = ["badge"]

[budget]
initial = 20
per_cycle = 10
cycles = 2
validation = 10

[train]
lr = 1e6
epochs = 1
min_steps = 5

[tuning]
trials = 1
seeds = [0]

[tuning.space]
weight_decay = [0.0]

[evaluation]
seeds = [100]
"""


def test_a_diverged_campaign_is_said_once_and_labels_distinct_rows(tmp_path, capsys):
    path = tmp_path / "diverged.toml"
    path.write_text(STUDY)
    assert run_study(str(path), RunOptions(out=str(tmp_path / "out"), local=True, live=False)) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if "diverged at cycle" in line]
    assert len(notes) == 2 and all("(validation loss nan, test loss nan; a smaller lr?)" in n for n in notes)
    assert {n.split("warning: ")[1].split(":")[0] for n in notes} == {"tune-digits-badge-t000-s0",
                                                                     "eval-digits-badge-s100"}
    df = pd.read_parquet(tmp_path / "out" / "diverged" / "results.parquet")
    for _, rows in df.groupby("trial"):
        labels = [i for new in rows.new_indices for i in new]
        assert len(labels) == 40 and len(set(labels)) == 40
