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
