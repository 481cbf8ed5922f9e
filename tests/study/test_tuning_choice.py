"""A real tiny study run in-process: the evaluation runs the configuration the shared rule picks from
the tuning rows, and the analysis reads the same decision back from the results."""

from __future__ import annotations

import os

import pandas as pd

from alstudy.cli import main
from alstudy.selection import choose
from alstudy.study.plan import untuned_values
from alstudy.study.schema import load_study
from alstudy.study.space import start_point
from analysis.load import read_results
from analysis.tuning import trial_objectives, tuning_diagnosis


def test_evaluation_runs_the_choice_of_the_rule_and_the_analysis_agrees(make_study, tmp_path, capsys):
    path = make_study(name="keep", strategies=("random",), trials=3, eval_seeds=(100,))
    with open(path) as f:
        text = f.read().replace("seeds = [0]\n", "seeds = [0, 1]\n", 1)   # two tuning seeds: noise is measurable
    with open(path, "w") as f:
        f.write(text)
    out = str(tmp_path / "out")
    assert main(["run", path, "--out", out, "--local", "--plain"]) == 0
    capsys.readouterr()
    frame = read_results(os.path.join(out, "keep"))
    per = trial_objectives(frame)
    diagnosis = tuning_diagnosis(frame).set_index("strategy")
    study = load_study(path)
    for strategy, cell in per.groupby("strategy"):
        table = cell.pivot(index="trial", columns="seed", values="val_aubc")
        table = table.loc[sorted(table.index, key=int)]
        assert list(table.index) == ["0", "1", "2"] and list(table.columns) == [0, 1]
        choice = choose(table.to_numpy())
        evals = frame.loc[(frame["phase"] == "eval") & (frame["strategy"] == strategy)]
        assert set(evals["optuna_trial"]) == {choice.chosen}, strategy
        if choice.kept_defaults:
            defaults = start_point(study.tuning.space, untuned_values(study, frame["dataset"].iloc[0], None))
            assert evals["hp.lr"].iloc[0] == defaults["lr"] and evals["hp.weight_decay"].iloc[0] == defaults["weight_decay"]
        assert bool(diagnosis.loc[strategy, "kept_defaults"]) == choice.kept_defaults
        assert diagnosis.loc[strategy, "choice"] == choice.describe()
        assert pd.notna(diagnosis.loc[strategy, "lead_se"])   # two tuning seeds measure the noise
