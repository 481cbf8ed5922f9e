"""Which tuning trial a cell keeps: the defaults, unless a challenger's lead is clear of the noise.

One rule, numbers in and decision out, shared by the scheduler (which configuration the
evaluation runs) and `analysis` (what the report says about each cell). numpy only; no torch, no
Optuna.

The tuning objective of a trial is its validation AUBC averaged over the tuning seeds, and every
trial runs every tuning seed, so the per-seed objectives form a trials × seeds table: a randomized
complete block design with the seeds as blocks (the seed fixes the initial and validation sets that
every trial shares). The noise of a paired difference between two trials is the trial × seed
interaction, estimated from the whole table (Montgomery, *Design and Analysis of Experiments*,
9th ed. 2017, §4.1: the RCBD error mean square MS_E with (T − 1)(k − 1) degrees of freedom, and
the standard error √(2 · MS_E / k) of a difference of two treatment means over k blocks).

The challenger is the best other trial by mean objective. It replaces the defaults only when its
lead exceeds `z` standard errors; z = 1 is the one-standard-error rule (Breiman et al. 1984,
*Classification and Regression Trees*, §3.4.3; Hastie, Tibshirani & Friedman, *The Elements of
Statistical Learning*, 2nd ed. 2009, §7.10): prefer the simple choice — here the defaults —
unless the best is ahead by more than the noise of the comparison. A challenger that is truly
worse than the defaults by one SE or more then replaces them only when noise lifts it by two SE
or more. With one tuning seed the noise cannot be measured: the best trial by its objective is
kept, as the papers' one-split tuning does (a study that wants the rule lists two tuning seeds or
more; `alstudy validate` says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ONE_SE = 1.0


@dataclass(frozen=True)
class Choice:
    """The decision of `choose`. Trials are rows of the objective table; row 0 holds the defaults.

    chosen: the row whose configuration the evaluation runs; challenger: the best other complete
    row by mean (None without one); lead: its mean minus the defaults' mean; se: the standard
    error of that paired difference; threshold: the lead it needed (z · se); reason: `clear`,
    `within noise`, `no challenger`, `noise unmeasured` or `defaults incomplete`."""

    chosen: int
    challenger: int | None
    lead: float
    se: float
    threshold: float
    reason: str

    @property
    def kept_defaults(self) -> bool:
        return self.chosen == 0

    def describe(self) -> str:
        """One line for a report, leads in points of the objective."""
        if self.reason == "clear":
            return f"challenger clear by {100 * self.lead:+.1f} (needed {100 * self.threshold:.1f})"
        if self.reason == "within noise":
            if self.lead <= 0:
                return f"kept the defaults (no challenger ahead: best {100 * self.lead:+.1f})"
            return f"kept the defaults (lead {100 * self.lead:+.1f} within {100 * self.threshold:.1f})"
        if self.reason == "defaults incomplete":
            return "defaults incomplete: best by mean"
        if self.reason == "noise unmeasured":
            return (f"best by objective, noise unmeasured (one tuning seed): lead {100 * self.lead:+.1f}"
                    if self.chosen else "kept the defaults (one tuning seed: no challenger ahead)")
        return f"kept the defaults ({self.reason})"


def choose(objectives: Any, *, z: float = ONE_SE) -> Choice:
    """Keep the defaults (row 0 of `objectives`, shape (trials, tuning seeds)) unless the best
    other trial leads them by more than `z` standard errors of the paired difference (the
    module's rule). Rows with a NaN (a trial whose seeds did not all finish) are left out; ties
    go to the lower row."""
    y = np.asarray(objectives, dtype=float)
    if y.ndim != 2 or y.shape[0] == 0:
        raise ValueError(f"objectives must be a (trials, seeds) table with at least one trial, got shape {y.shape}")
    rows = np.flatnonzero(~np.isnan(y).any(axis=1))
    means = y[rows].mean(axis=1)
    if 0 not in rows:   # no defaults to defend: the best complete trial, as a plain maximum
        best = int(rows[np.argmax(means)]) if rows.size else 0
        return Choice(best, None, float("nan"), float("nan"), float("nan"), "defaults incomplete")
    others = rows[rows != 0]
    if others.size == 0:
        return Choice(0, None, float("nan"), float("nan"), float("nan"), "no challenger")
    challenger = int(others[np.argmax(means[1:])])   # rows are sorted, row 0 first; argmax takes the lowest tie
    lead = float(y[challenger].mean() - y[0].mean())
    trials, seeds = len(rows), y.shape[1]
    df = (trials - 1) * (seeds - 1)
    if df == 0:   # one seed: no noise to hold the lead against, so the best by objective
        return Choice(challenger if lead > 0 else 0, challenger, lead, float("nan"), float("nan"),
                      "noise unmeasured")
    table = y[rows]
    residual = table - table.mean(axis=1, keepdims=True) - table.mean(axis=0, keepdims=True) + table.mean()
    se = float(np.sqrt(2 * (residual ** 2).sum() / df / seeds))
    threshold = z * se
    if lead > threshold:
        return Choice(challenger, challenger, lead, se, threshold, "clear")
    return Choice(0, challenger, lead, se, threshold, "within noise")

