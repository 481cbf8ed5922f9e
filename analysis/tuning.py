"""Budget parity of the tuning phase: trials, epochs, wall time and validation AUBC per cell."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alstudy import metrics
from alstudy.selection import choose
from analysis.load import TUNE_PHASE, VAL, with_scores

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
    rows = with_scores(frame.loc[frame["phase"] == phase])
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
        for _, t in cell.groupby("_trial"):
            curve = t.groupby("n_labeled")[VAL].mean()
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


DIAGNOSIS_COLUMNS = ["dataset", "strategy", "trials", "tuning_seeds", "best", "edge", "spread", "noise_sd",
                     "noise_source", "within_noise", "defaults", "lead", "lead_se", "lead_needed", "kept_defaults",
                     "choice"]


def trial_objectives(frame: pd.DataFrame, *, phase: str = TUNE_PHASE) -> pd.DataFrame:
    """Validation AUBC of every campaign of `phase`: dataset, strategy, trial, seed, val_aubc."""
    frame = with_scores(frame)
    rows = frame.loc[(frame["phase"] == phase) & frame[VAL].notna()]
    key = next((c for c in ("optuna_trial", "trial") if c in rows), "seed")
    out = [(d, s, str(t), seed, metrics.aubc(g["n_labeled"].to_numpy(), g[VAL].to_numpy()))
           for (d, s, t, seed), g in rows.groupby(["dataset", "strategy", key, "seed"], sort=True)]
    return pd.DataFrame(out, columns=["dataset", "strategy", "trial", "seed", "val_aubc"])


def tuning_diagnosis(frame: pd.DataFrame, *, z: float = 1.96) -> pd.DataFrame:
    """Can the tuning tell its configurations apart? One row per tuned (dataset, strategy) cell.

    best: the chosen trial's objective (validation AUBC averaged over tuning seeds); edge: its
    lead over the runner-up; spread: SD of the objective across trials; noise_sd: SD of one
    configuration's validation AUBC across seeds — within trials when there are two or more
    tuning seeds (pooled within-trial SD), else across the evaluation seeds of the chosen
    configuration (noise_source says which; an upper bound, as trials share their tuning seed's
    initial and validation sets). within_noise: the edge is below z·√2·noise_sd/√seeds,
    the half-width of a difference of two trials' objectives (a two-sample z comparison).

    The choice the scheduler made (`alstudy.selection.choose` on the per-seed objectives, trial 0
    being the defaults): defaults, their objective; lead, the best challenger's lead over them;
    lead_se, its paired standard error; lead_needed, the lead that would have replaced them;
    kept_defaults; choice, the decision in words ("kept the defaults ..." / "challenger clear by ...").
    """
    per = trial_objectives(frame)
    evals = trial_objectives(frame, phase="eval")
    out = []
    for (dataset, strategy), cell in per.groupby(["dataset", "strategy"], sort=True):
        objective = cell.groupby("trial")["val_aubc"].mean().sort_values(ascending=False)
        seeds = int(cell["seed"].nunique())
        if seeds >= 2:
            within = cell.groupby("trial")["val_aubc"].var(ddof=1).dropna()
            noise, source = float(np.sqrt(within.mean())) if len(within) else float("nan"), "tuning seeds"
        else:
            chosen = evals.loc[(evals["dataset"] == dataset) & (evals["strategy"] == strategy), "val_aubc"]
            noise = float(chosen.std(ddof=1)) if len(chosen) >= 2 else float("nan")
            source = "evaluation seeds"
        edge = float(objective.iloc[0] - objective.iloc[1]) if len(objective) >= 2 else float("nan")
        limit = z * np.sqrt(2) * noise / np.sqrt(seeds)
        table = cell.pivot_table(index="trial", columns="seed", values="val_aubc", aggfunc="mean")
        table = table.loc[sorted(table.index, key=_trial_order)]
        choice = choose(table.to_numpy())
        out.append((dataset, strategy, len(objective), seeds, float(objective.iloc[0]), edge,
                    float(objective.std(ddof=1)) if len(objective) >= 2 else float("nan"), noise, source,
                    bool(np.isfinite(edge) and np.isfinite(limit) and edge < limit),
                    float(table.iloc[0].mean()), choice.lead, choice.se, choice.threshold, choice.kept_defaults,
                    choice.describe()))
    return pd.DataFrame(out, columns=DIAGNOSIS_COLUMNS)


def _trial_order(trial: str) -> tuple[int, float | str]:
    """Trials in proposal order (Optuna numbers compare as numbers): the defaults, trial 0, first."""
    try:
        return 0, float(trial)
    except ValueError:
        return 1, trial


def tuning_advice(diagnosis: pd.DataFrame, *, z: float = 1.96) -> list[str]:
    """One warning per dataset where most cells' chosen configuration leads within noise, with what to change:
    the tuning seeds that would bring the noise of a comparison below the cells' median spread."""
    lines = []
    for dataset, cells in diagnosis.groupby("dataset", sort=True):
        noisy = cells.loc[cells["within_noise"]]
        if len(noisy) * 2 < len(cells):
            continue
        noise, spread, seeds = cells["noise_sd"].median(), cells["spread"].median(), int(cells["tuning_seeds"].max())
        need = int(np.ceil((z * np.sqrt(2) * noise / spread) ** 2)) if spread > 0 and np.isfinite(noise) else None
        advice = (f"use about {need} tuning seeds (now {seeds}) or a larger budget.validation" if need and need > seeds
                  else "use a larger budget.validation or more trials")
        lines.append(f"{dataset}: in {len(noisy)} of {len(cells)} cells the chosen configuration leads the runner-up "
                     f"by less than the objective's noise (one configuration's validation AUBC varies by "
                     f"{100 * noise:.1f} points SD across seeds; trials spread by {100 * spread:.1f}): the choice "
                     f"is mostly noise — {advice}.")
    return lines


def tuned_vs_untuned(tuned: pd.DataFrame, untuned: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """Test AUBC of the tuned arm minus the untuned arm per (dataset, strategy), paired by seed.

    Inputs: per-campaign AUBC (dataset, strategy, seed, aubc). Columns: dataset, strategy,
    mean, ci_low, ci_high (Student-t), p_value (paired t), n.
    """
    from analysis.stats import paired_summary

    both = tuned.merge(untuned, on=["dataset", "strategy", "seed"], suffixes=("", "_untuned"))
    out = []
    for (dataset, strategy), g in both.groupby(["dataset", "strategy"], sort=True):
        s = paired_summary((g["aubc"] - g["aubc_untuned"]).to_numpy(), level=level)
        out.append((dataset, strategy, s["mean"], s["ci_low"], s["ci_high"], s["p_value"], s["n"]))
    return pd.DataFrame(out, columns=["dataset", "strategy", "mean", "ci_low", "ci_high", "p_value", "n"])
