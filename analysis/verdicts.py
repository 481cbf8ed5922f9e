"""Verdicts against tuned random: better, worse, equivalent within ±δ, or inconclusive.

Per (paradigm,) dataset and strategy, on test AUBC paired by seed with the setting's random:
* superiority — the paired t-test of the gain (as `gain.gain_in_aubc`), Holm-adjusted over
  every cell of the table;
* equivalence — TOST with margin δ (Schuirmann 1987): two one-sided paired t-tests of
  H0: gain ≤ −δ and H0: gain ≥ +δ; p = the larger of the two, Holm-adjusted over the table.
  Unadjusted, TOST at α rejects exactly when the (1 − 2α) t interval lies inside ±δ.

Verdict: `equivalent` when TOST rejects (the gain is within ±δ, whatever its sign); else
`better` / `worse` when superiority rejects; else `inconclusive`. With each cell: the minimum
detectable gain and the seeds TOST needs (`analysis.power`) from the observed SD of differences.

An adaptive evaluation (`[evaluation] max_seeds`, `Rounds`) adds per cell the seeds it used, the
anytime-valid verdict that stopped it (`alstudy.sequential`, Wang & Ramdas 2023; the one valid
under its optional stopping) and why it stopped: `decided`, `max_seeds`, or `running` (seeds left).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from alstudy.metrics import DEFAULT_MARGIN
from alstudy.sequential import ALPHA, decide, round_sizes
from analysis import curves, power
from analysis.gain import paired_gain
from analysis.load import BASELINE, EVAL_PHASE, drop_incomplete, phase_rows
from analysis.stats import holm

VERDICTS = ("better", "worse", "equivalent", "inconclusive")
COLUMNS = ["verdict", "gain", "ci_low", "ci_high", "p_superiority", "p_equivalence", "margin",
           "mde", "seeds_needed", "n", "sd", "p_t", "p_tost"]
ADAPTIVE_COLUMNS = ["seeds_used", "stopped", "sequential"]


@dataclass(frozen=True)
class Rounds:
    """An adaptive evaluation: every seed a cell may run, in the order they run, in rounds of `size`."""

    seeds: tuple[int, ...]
    size: int

    @classmethod
    def of_study(cls, study: Mapping[str, Any]) -> "Rounds | None":
        """From a resolved study (its study.json); None when its evaluation is not adaptive."""
        e = study.get("evaluation", {})
        if e.get("max_seeds") is None:
            return None
        return cls(tuple(e["seeds"]) + tuple(e.get("later", ())), len(e["seeds"]))

    def sizes(self, n: int) -> list[int]:
        return round_sizes(n, self.size)


def stops(per_campaign: pd.DataFrame, rounds: Rounds, *, margin: float, baseline: str = BASELINE) -> pd.DataFrame:
    """Per cell of an adaptive evaluation: seeds_used, stopped (decided / max_seeds / running) and
    sequential (the anytime-valid decision at alpha ALPHA split over the cells, as the study ran it)."""
    by = (["paradigm"] if "paradigm" in per_campaign else []) + ["dataset"]
    cells = []
    for key, group in per_campaign.groupby(by, sort=True, observed=True):
        table = group.pivot_table(index="seed", columns="strategy", values="aubc", aggfunc="mean")
        if baseline in table.columns:
            key = key if isinstance(key, tuple) else (key,)
            cells += [(key, strategy, table[strategy] - table[baseline]) for strategy in table.columns.drop(baseline)]
    rows = []
    for key, strategy, diff in cells:
        order = [s for s in rounds.seeds if s in diff.index and np.isfinite(diff[s])]
        d = diff[order].to_numpy()
        if d.size == 0:
            rows.append((*key, strategy, 0, "running", "undecided"))
            continue
        decision = decide(d, margin=margin, alpha=ALPHA / len(cells), rounds=rounds.sizes(d.size)).decision
        why = "decided" if decision != "undecided" else "max_seeds" if d.size >= len(rounds.seeds) else "running"
        rows.append((*key, strategy, int(d.size), why, decision))
    return pd.DataFrame(rows, columns=[*by, "strategy", *ADAPTIVE_COLUMNS])


def tost_p(diffs: np.ndarray, margin: float) -> float:
    """TOST p-value of paired differences for equivalence within ±margin (Schuirmann 1987):
    max(P(T ≥ t_low), P(T ≤ t_high)) with t_low = (d̄ + δ)/se, t_high = (d̄ − δ)/se, df = n − 1.
    Differences with zero spread: 0 when |d̄| < δ, else 1. NaN with fewer than two."""
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    if d.size < 2:
        return float("nan")
    mean, sd = d.mean(), d.std(ddof=1)
    if sd == 0:
        return 0.0 if abs(mean) < margin else 1.0
    se, df = sd / np.sqrt(d.size), d.size - 1
    return float(max(stats.t.sf((mean + margin) / se, df), stats.t.cdf((mean - margin) / se, df)))


def paradigm_levels(frame: pd.DataFrame) -> list[str] | None:
    """The study's paradigms when it names any (a `paradigm` column other than plain supervised)."""
    if "paradigm" not in frame or frame["paradigm"].isna().all():
        return None
    values = sorted(map(str, frame["paradigm"].dropna().unique()))
    return values if values != ["supervised"] else None


def campaign_aubc(frame: pd.DataFrame, *, phase: str = EVAL_PHASE) -> pd.DataFrame:
    """Test AUBC of every complete campaign of `phase`, with a `paradigm` column when the study has them."""
    levels = paradigm_levels(frame)
    if levels is None:
        return curves.aubc(drop_incomplete(phase_rows(frame, phase))[0])
    parts = [curves.aubc(drop_incomplete(phase_rows(frame.loc[frame["paradigm"].astype(str) == p], phase))[0])
             .assign(paradigm=p) for p in levels]
    return pd.concat(parts, ignore_index=True)


def verdicts(per_campaign: pd.DataFrame, *, margin: float = DEFAULT_MARGIN, alpha: float = 0.05,
             level: float = 0.95, baseline: str = BASELINE, rounds: Rounds | None = None) -> pd.DataFrame:
    """One row per (paradigm,) dataset × strategy other than the baseline; columns: by..., strategy, COLUMNS.

    `per_campaign`: dataset, strategy, seed, aubc (and paradigm). gain, ci_low/ci_high (the
    `level` Student-t interval), p_t (paired t) and p_tost are per cell; p_superiority and
    p_equivalence are their Holm adjustments over all cells; mde at `alpha` with 80 % power;
    seeds_needed for TOST at `alpha` with 80 % power when the true gain is 0. `rounds` (an
    adaptive evaluation) adds ADAPTIVE_COLUMNS (`stops`).
    """
    by = (["paradigm"] if "paradigm" in per_campaign else []) + ["dataset"]
    gains = paired_gain(per_campaign, "aubc", by=by, baseline=baseline, level=level)
    rows = []
    for key, group in per_campaign.groupby(by, sort=True, observed=True):
        table = group.pivot_table(index="seed", columns="strategy", values="aubc", aggfunc="mean")
        if baseline not in table.columns:
            continue
        key = key if isinstance(key, tuple) else (key,)
        for strategy in table.columns.drop(baseline):
            d = (table[strategy] - table[baseline]).dropna().to_numpy()
            sd = float(d.std(ddof=1)) if d.size >= 2 else float("nan")
            rows.append((*key, strategy, tost_p(d, margin), sd,
                         power.mde(sd, d.size, alpha=alpha), power.seeds_needed(margin, sd, alpha=alpha)))
    extra = pd.DataFrame(rows, columns=[*by, "strategy", "p_tost", "sd", "mde", "seeds_needed"])
    out = gains.merge(extra, on=[*by, "strategy"], how="left").rename(
        columns={"mean": "gain", "p_value": "p_t"})
    if out.empty:
        return pd.DataFrame(columns=[*by, "strategy", *COLUMNS])
    out["p_superiority"] = holm(out["p_t"].to_numpy())
    out["p_equivalence"] = holm(out["p_tost"].to_numpy())
    out["margin"] = margin
    out["seeds_needed"] = out["seeds_needed"].astype("Int64")
    out["verdict"] = [verdict(r.gain, r.p_superiority, r.p_equivalence, alpha=alpha) for r in out.itertuples()]
    if rounds is None:
        return out[[*by, "strategy", *COLUMNS]]
    out = out.merge(stops(per_campaign, rounds, margin=margin, baseline=baseline), on=[*by, "strategy"], how="left")
    return out[[*by, "strategy", *COLUMNS, *ADAPTIVE_COLUMNS]]


def verdict(gain: float, p_superiority: float, p_equivalence: float, *, alpha: float) -> str:
    """The verdict of one cell from its gain and adjusted p-values (see the module docstring)."""
    if p_equivalence < alpha:
        return "equivalent"
    if p_superiority < alpha:
        return "better" if gain > 0 else "worse"
    return "inconclusive"


def seeds_per_dataset(table: pd.DataFrame) -> pd.DataFrame:
    """Per (paradigm,) dataset: the largest MDE and seeds_needed of its strategies, and the seeds run."""
    by = [c for c in ("paradigm", "dataset") if c in table]
    if table.empty:
        return pd.DataFrame(columns=[*by, "n", "mde", "seeds_needed"])
    return (table.assign(seeds_needed=table["seeds_needed"].astype(float))
            .groupby(by, sort=True).agg(n=("n", "min"), mde=("mde", "max"), seeds_needed=("seeds_needed", "max"))
            .reset_index())


def margin_text(margin: float) -> str:
    """"±1 point", "±2.5 points": a margin in AUBC units said in points of the metric."""
    points = 100 * margin
    return f"±{points:.3g} point" + ("" if f"{points:.3g}" == "1" else "s")


def reading(dataset_rows: pd.DataFrame, *, margin: float) -> str:
    """One line per strategy group on a dataset, e.g. "badge, margin: equivalent to random within
    ±1 point; bald: inconclusive — 9 seeds would be needed"."""
    parts = []
    for v in VERDICTS:
        cells = dataset_rows.loc[dataset_rows["verdict"] == v]
        if cells.empty:
            continue
        who = ", ".join(cells["strategy"])
        text = {"better": f"better than {BASELINE}", "worse": f"worse than {BASELINE}",
                "equivalent": f"equivalent to {BASELINE} within {margin_text(margin)}",
                "inconclusive": "inconclusive"}[v]
        if v == "inconclusive":
            need = cells["seeds_needed"].dropna()
            if len(need):
                text += f" — {int(need.max())} seeds would be needed to tell {margin_text(margin)}"
        parts.append(f"{who}: {text}")
    return "; ".join(parts)
