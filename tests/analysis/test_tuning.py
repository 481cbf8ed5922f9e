"""Budget parity of the tuning phase is visible from the results alone."""

from __future__ import annotations

import numpy as np
import pytest

from alstudy.metrics import aubc as area_under_curve
from analysis.tuning import parity_holds, tuning_parity


def test_equal_budgets_show_as_equal_counts(make_frame):
    frame = make_frame(datasets=("digits", "wine"), strategies=("random", "entropy"), tune_trials=3,
                       tune_seeds=(0, 1), untuned=False)
    parity = tuning_parity(frame)
    assert len(parity) == 4
    assert (parity["trials"] == 3).all() and (parity["campaigns"] == 6).all()
    assert (parity["epochs"] == 30 * 6 * 6).all()            # 6 campaigns x 6 cycles x 30 epochs
    assert parity["seconds"].to_numpy() == pytest.approx(6 * 6 * 0.65)
    assert parity_holds(parity) is True
    # Best validation AUBC of a cell = best Optuna trial's curve averaged over the tuning seeds.
    cell = frame.loc[(frame["phase"] == "tune") & (frame["dataset"] == "wine") & (frame["strategy"] == "random")]
    best = max(area_under_curve(c.index.to_numpy(), c.to_numpy())
               for _, t in cell.groupby("optuna_trial") for c in [t.groupby("n_labeled")["val_acc"].mean()])
    row = parity.set_index(["dataset", "strategy"]).loc[("wine", "random")]
    assert row["best_val_aubc"] == pytest.approx(best)


def test_a_cell_with_fewer_trials_breaks_parity(make_frame):
    frame = make_frame(datasets=("digits",), strategies=("random", "entropy"), tune_trials=2, untuned=False)
    short = frame.drop(frame.index[(frame["phase"] == "tune") & (frame["strategy"] == "entropy")
                                   & (frame["optuna_trial"] == 1)])
    parity = tuning_parity(short).set_index("strategy")
    assert parity.loc["entropy", "trials"] == 1 and parity.loc["random", "trials"] == 2
    assert parity_holds(parity.reset_index()) is False


def test_no_tuning_rows_means_no_parity_table(make_frame):
    frame = make_frame(datasets=("digits",), strategies=("random",), tune_trials=0, untuned=False)
    assert tuning_parity(frame).empty and parity_holds(tuning_parity(frame)) is None
    assert np.isnan(tuning_parity(make_frame(datasets=("digits",), strategies=("random",), tune_trials=1,
                                             untuned=False).drop(columns=["hp.epochs"]))["epochs"]).all()


def test_tuning_diagnosis_measures_the_objective_noise_and_flags_a_lead_within_it(make_frame):
    from alstudy import metrics
    from analysis.tuning import tuning_advice, tuning_diagnosis

    frame = make_frame(datasets=("digits", "wine"), strategies=("random", "entropy"), tune_trials=3, untuned=False)
    # On wine, trial 0 leads by 10 points on validation: a clear choice. On digits, trials differ by 1 point.
    clear = (frame["dataset"] == "wine") & (frame["phase"] == "tune") & (frame["optuna_trial"] == 0)
    frame.loc[clear, "val_acc"] += 0.1
    d = tuning_diagnosis(frame).set_index(["dataset", "strategy"])
    cell = frame.loc[(frame["phase"] == "tune") & (frame["dataset"] == "digits") & (frame["strategy"] == "entropy")]
    val = {(t, s): metrics.aubc(g["n_labeled"].to_numpy(), g["val_acc"].to_numpy())
           for (t, s), g in cell.groupby(["optuna_trial", "seed"])}
    within_trial_var = [np.var([val[(t, 0)], val[(t, 1)]], ddof=1) for t in range(3)]
    assert d.loc[("digits", "entropy"), "noise_sd"] == pytest.approx(np.sqrt(np.mean(within_trial_var)))
    assert d.loc[("digits", "entropy"), "noise_source"] == "tuning seeds"
    objectives = sorted((np.mean([val[(t, 0)], val[(t, 1)]]) for t in range(3)), reverse=True)
    assert d.loc[("digits", "entropy"), "edge"] == pytest.approx(objectives[0] - objectives[1])
    assert d.loc["digits", "within_noise"].all() and not d.loc["wine", "within_noise"].any()
    advice = tuning_advice(tuning_diagnosis(frame))
    assert len(advice) == 1 and advice[0].startswith("digits: in 2 of 2 cells") and "tuning seeds (now 2)" in advice[0]


def test_tuned_against_untuned_on_test_is_paired_by_seed(make_frame):
    from analysis.analyze import Settings, analyze

    a = analyze(make_frame(strategies=("random", "entropy"), noise=0.0), settings=Settings(n_boot=20))
    t = a.tuned_vs_untuned.set_index(["dataset", "strategy"])
    # The synthetic untuned arm is 3 points below for random, 1 point for the others, on every seed.
    assert t.xs("random", level="strategy")["mean"].to_numpy() == pytest.approx(0.03, abs=1e-9)
    assert t.xs("entropy", level="strategy")["mean"].to_numpy() == pytest.approx(0.01, abs=1e-9)
    assert (t["n"] == 4).all()


def test_tuning_diagnosis_says_which_cells_kept_their_defaults(make_frame):
    from alstudy.selection import choose
    from analysis.tuning import trial_objectives, tuning_diagnosis

    frame = make_frame(datasets=("digits", "wine"), strategies=("random", "entropy"), tune_trials=3, untuned=False)
    # The synthetic trial 0 (the defaults) leads; on wine trial 2 gets 10 points of validation accuracy.
    ahead = (frame["dataset"] == "wine") & (frame["phase"] == "tune") & (frame["optuna_trial"] == 2)
    frame.loc[ahead, "val_acc"] += 0.10
    d = tuning_diagnosis(frame).set_index(["dataset", "strategy"])
    assert d.loc["digits", "kept_defaults"].all() and not d.loc["wine", "kept_defaults"].any()
    assert all(c.startswith("kept the defaults (no challenger ahead: best -") for c in d.loc["digits", "choice"])
    assert all(c.startswith("challenger clear by +") for c in d.loc["wine", "choice"])
    # The same numbers the scheduler sees give the same decision.
    per = trial_objectives(frame)
    cell = per.loc[(per["dataset"] == "wine") & (per["strategy"] == "entropy")]
    table = cell.pivot(index="trial", columns="seed", values="val_aubc").to_numpy()
    expected = choose(table)
    assert expected.chosen == 2
    assert d.loc[("wine", "entropy"), "lead"] == pytest.approx(expected.lead)
    assert d.loc[("wine", "entropy"), "lead_needed"] == pytest.approx(expected.threshold)
