"""`alstudy campaign --paradigm`: a semi-supervised campaign from the command line."""

from __future__ import annotations

import pandas as pd

from alstudy.cli import main


def test_a_fixmatch_campaign_runs_with_its_options_set(tmp_path, capsys):
    out = tmp_path / "fm.csv"
    code = main(["campaign", "--dataset", "wine", "--strategy", "random", "--paradigm", "fixmatch",
                 "--initial", "10", "--per-cycle", "5", "--cycles", "1", "--validation", "10",
                 "--set", "epochs=2", "--set", "threshold=0.6", "--set", "max_steps=25",
                 "--set", "unlabeled_epochs=50.0", "--set", "min_steps=5", "--out", str(out)])
    assert code == 0
    assert "steps" in capsys.readouterr().out
    frame = pd.read_csv(out)
    assert (frame["paradigm"] == "fixmatch").all() and (frame["hp.threshold"] == 0.6).all()
    # 50 passes over the pool at 7 x 10 rows a step would take 70 steps: the cap holds them at 25
    assert (frame["hp.epochs"] == 2).all() and (frame["steps"] == 25).all()
    # wine: 118 train rows less 10 validation and the labeled ones
    assert frame["n_unlabeled"].tolist() == [98, 93]
