"""Budget parity of the tuning phase: trials, epochs, wall time and validation AUBC per cell."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alstudy import metrics
from analysis.load import TUNE_PHASE

SECONDS = ("seconds_train", "seconds_score", "seconds_select")
PARITY_COLUMNS = ["dataset", "strategy", "trials", "campaigns", "epochs", "seconds",
                  "best_val_aubc", "median_val_aubc"]


def tuning_parity(frame: pd.DataFrame, *, phase: str = TUNE_PHASE) -> pd.DataFrame:
    """One row per (dataset, strategy) of the tuning phase; empty when there are no tuning rows.

    trials: distinct Optuna trials (`optuna_trial`; without it, distinct `trial` ids);
    campaigns: distinct (trial, seed); epochs: sum of hp.epochs over every trained cycle;
    seconds: summed stage wall time; validation AUBC of each Optuna trial, its curve averaged
    over the tuning seeds. Columns that the results lack come out as NaN.
    """
    rows = frame.loc[frame["phase"] == phase]
    if rows.empty:
        return pd.DataFrame(columns=PARITY_COLUMNS)
    key = next((c for c in ("optuna_trial", "trial") if c in rows), "seed")
    rows = rows.assign(_trial=rows[key].astype(str))
    out = []
    for (dataset, strategy), cell in rows.groupby(["dataset", "strategy"], sort=True):
        seconds = [cell[c] for c in SECONDS if c in cell]
        wall = float(sum(s.sum() for s in seconds)) if seconds else float("nan")
        epochs = float(cell["hp.epochs"].sum()) if "hp.epochs" in cell else float("nan")
        val = []
        if "val_acc" in cell:
            for _, t in cell.groupby("_trial"):
                curve = t.groupby("n_labeled")["val_acc"].mean()
                if curve.notna().all():
                    val.append(metrics.aubc(curve.index.to_numpy(), curve.to_numpy()))
        out.append((str(dataset), str(strategy), cell["_trial"].nunique(),
                    len(cell[["_trial", "seed"]].drop_duplicates()), epochs, wall,
                    float(np.max(val)) if val else float("nan"),
                    float(np.median(val)) if val else float("nan")))
    return pd.DataFrame(out, columns=PARITY_COLUMNS)


def parity_holds(parity: pd.DataFrame) -> bool | None:
    """Whether every cell of each dataset got the same number of tuning trials (None without tuning rows)."""
    if parity.empty:
        return None
    return bool((parity.groupby("dataset")["trials"].nunique() == 1).all())
