"""`alstudy campaign --paradigm`: a semi-supervised campaign from the command line."""

from __future__ import annotations

import pandas as pd

from alstudy.cli import main

STUDY = """
name = "one_cell"
datasets = ["wine"]
strategies = ["random"]
budget = { initial = 10, per_cycle = 5, cycles = 1, validation = 10 }
[paradigms]
fixmatch = { method = "fixmatch", epochs = 2, threshold = 0.6, max_steps = 25, unlabeled_epochs = 50.0, min_steps = 5 }
[tuning]
trials = 1
seeds = [0]
space = { lr = { low = 0.01, high = 0.1 } }
[evaluation]
seeds = [1]
"""


def test_a_fixmatch_campaign_runs_with_its_options_set_as_the_studys_cell_would(tmp_path, capsys):
    from alstudy.campaign import run_campaign
    from alstudy.study.plan import campaign_config, eval_spec
    from alstudy.study.schema import load_study

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
    # the flags make the config a study's [paradigms] table makes: the same cycles
    (tmp_path / "s.toml").write_text(STUDY)
    study = load_study(tmp_path / "s.toml")
    cell = run_campaign(campaign_config(study, eval_spec("eval", "wine", "random", 0, {}, paradigm="fixmatch")), 0)
    assert frame["test_acc"].tolist() == [r["test_acc"] for r in cell]
    assert frame["new_indices"].tolist() == [str(r["new_indices"]) for r in cell]
