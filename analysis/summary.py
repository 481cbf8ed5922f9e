"""The answer in words (headline) and the machine-readable summary (summary.json)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis.analyze import (Analysis, beats_baseline, finite, has_baseline, loses_to_baseline, n_seeds,
                              stability_warning)
from analysis.load import BASELINE
from analysis.stability import mean_off_diagonal
from analysis.tuning import parity_holds


def _pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def _cells(table: pd.DataFrame, *, by_regime: bool = False, limit: int = 8) -> str:
    """The largest gains first: "badge on wine (+2.0 pts, CI [+1.6, +2.4])"."""
    table = table.reindex(table["mean"].abs().sort_values(ascending=False).index)
    parts = []
    for _, r in table.head(limit).iterrows():
        place = f"{r.dataset} ({r.regime} budget)" if by_regime else r.dataset
        parts.append(f"{r.strategy} on {place} ({_pts(r['mean'])} pts, CI [{_pts(r.ci_low)}, {_pts(r.ci_high)}])")
    more = len(table) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def agreement_word(tau: float) -> str:
    """A word for the mean pairwise τ-b; unlike W it does not grow with the number of datasets."""
    if not finite(tau):
        return "undefined"
    return "weak" if tau < 0.3 else "moderate" if tau < 0.6 else "strong"


def headline(a: Analysis) -> list[str]:
    """Three to five sentences answering: does any strategy beat tuned random, where, how stable are ranks."""
    alpha, lo, hi = a.settings.alpha, *n_seeds(a)
    seeds = f"{lo}" if lo == hi else f"{lo}–{hi}"
    lines = []
    if not has_baseline(a):
        lines.append(f"No '{BASELINE}' strategy in the evaluation rows, so no gain over random can be measured.")
    else:
        g = a.main.gain_aubc
        wins, losses = beats_baseline(g, alpha=alpha), loses_to_baseline(g, alpha=alpha)
        test = (f"paired t-test over {seeds} evaluation seeds, Holm-adjusted over {len(g)} "
                f"dataset × strategy tests, alpha = {alpha}")
        if len(wins):
            lines.append(f"**Yes** — AUBC significantly above tuned random in {len(wins)} of {len(g)} "
                         f"dataset × strategy cells ({test}): {_cells(wins)}.")
        else:
            line = f"**No** strategy has an AUBC significantly above tuned random on any dataset ({test})."
            if len(g):
                best = g.loc[g["mean"].idxmax()]
                line += (f" The largest point estimate is {best.strategy} on {best.dataset} "
                         f"({_pts(best['mean'])} pts AUBC, p = {best.p_value:.3g} before adjustment).")
            lines.append(line)
        if len(losses):
            lines.append(f"Significantly **below** tuned random: {_cells(losses)}.")
        r = a.gain_regime
        rw, rl = beats_baseline(r, alpha=alpha), loses_to_baseline(r, alpha=alpha)
        where = f"Where (low / middle / high thirds of the budget axis, Holm-adjusted over {len(r)} tests): "
        raw = int(((r["p_value"] < alpha) & (r["mean"] > 0)).sum()) if len(r) else 0
        where += (f"gains in {_cells(rw, by_regime=True)}" if len(rw) else
                  f"no budget regime shows a significant gain ({raw} of {len(r)} cells before adjustment)")
        where += f"; losses in {_cells(rl, by_regime=True)}." if len(rl) else "; no significant loss."
        lines.append(where)
    k = a.main.kendall
    if finite(k["w"]):
        w_low, w_high = a.bootstrap["w"]
        tau = mean_off_diagonal(a.main.tau)
        lines.append(
            f"Rank stability across {k['m']} datasets: Kendall's W = {k['w']:.2f} "
            f"({a.settings.level:.0%} CI [{w_low:.2f}, {w_high:.2f}] resampling "
            f"{a.bootstrap.get('method', 'seeds within datasets')}"
            + (f", {warning}" if (warning := stability_warning(a)) else "") + f"; p = {k['p_value']:.3g}"
            + ("" if k["p_value"] < alpha else f", not significant at alpha = {alpha}")
            + f"); mean pairwise τ-b = {tau:.2f}: {agreement_word(tau)} agreement between datasets. "
            f"Best mean rank: {a.mean_ranks.index[0]} ({a.mean_ranks.iloc[0]:.2f} of {k['n']})"
            + (f"; {BASELINE}: {a.mean_ranks[BASELINE]:.2f}." if BASELINE in a.mean_ranks else "."))
    else:
        lines.append(f"Rank stability is undefined with {k['m']} dataset(s) and {k['n']} strategies "
                     "(needs at least two of each).")
    for phase, tau in a.arm_agreement.items():
        if "mean ranks" in tau and finite(tau["mean ranks"]):
            lines.append(f"Tuning and ranks: the '{phase}' arm's mean ranking agrees with the tuned one at "
                         f"τ-b = {tau['mean ranks']:.2f} (per dataset: "
                         + ", ".join(f"{d} {v:.2f}" for d, v in tau.drop('mean ranks').items()) + ").")
    return lines


def jsonable(obj):
    """Plain JSON types; NaN and infinities become None so the file stays valid JSON."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (pd.Series, pd.DataFrame)):
        return jsonable(obj.to_dict())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _nested(table: pd.DataFrame, keys: list[str], fields: list[str]) -> dict:
    out: dict = {}
    for _, row in table.iterrows():
        node = out
        for key in keys[:-1]:
            node = node.setdefault(str(row[key]), {})
        node[str(row[keys[-1]])] = {f: row[f] for f in fields}
    return out


def _arm_summary(arm) -> dict:
    return {"kendall_w": arm.kendall["w"], "kendall_w_pvalue": arm.kendall["p_value"],
            "kendall_w_ci": list(arm.bootstrap["w"]),
            "mean_rank": arm.ranks.mean().sort_values().to_dict(),
            "ranks": arm.ranks.to_dict(orient="index"),
            "aubc": _nested(arm.aubc_summary, ["dataset", "strategy"], ["mean", "ci_low", "ci_high"]),
            "gain_over_random": _nested(arm.gain_aubc, ["dataset", "strategy"],
                                        ["mean", "ci_low", "ci_high", "p_value", "p_holm"])}


VERDICT_FIELDS = ["verdict", "gain", "ci_low", "ci_high", "p_superiority", "p_equivalence", "margin", "mde",
                  "seeds_needed"]
POOLED_FIELDS = ["mean", "ci_low", "ci_high", "tau2", "i2", "k"]


def _by(table: pd.DataFrame, *keys: str) -> list[str]:
    """`keys`, with a leading paradigm level when the table has one."""
    return (["paradigm"] if "paradigm" in table else []) + list(keys)


def summary(a: Analysis) -> dict:
    """The machine-readable summary; see report.md for what each entry means."""
    s, main = a.settings, a.main
    gain_fields = ["mean", "ci_low", "ci_high", "p_value", "p_holm", "n"]
    out = {
        "study": a.study,
        "settings": {"alpha": s.alpha, "level": s.level, "n_boot": s.n_boot, "seed": s.seed,
                     "posthoc": s.posthoc, "margin": s.margin, "score": "test AUBC (eval phase)"},
        "datasets": list(main.ranks.index), "metrics": a.metrics, "strategies": sorted(main.rows["strategy"].unique()),
        "incomplete_campaigns": len(main.incomplete),
        "code_versions": a.codes,
        "evaluation_seeds": {d: sorted(map(int, g["seed"].unique())) for d, g in main.rows.groupby("dataset")},
        "headline": headline(a),
        "kendall_w": main.kendall["w"], "kendall_w_pvalue": main.kendall["p_value"],
        "kendall_w_ci": list(a.bootstrap["w"]),
        "kendall_w_ci_method": a.bootstrap.get("method"), "kendall_w_ci_warning": stability_warning(a),
        "mean_rank": a.mean_ranks.to_dict(),
        "mean_rank_ci": a.bootstrap["mean_rank"].to_dict(orient="index"),
        "ranks": main.ranks.to_dict(orient="index"),
        "rank_spread": a.spread.to_dict(orient="index"),
        "pairwise_tau": main.tau.to_dict(orient="index"),
        "ppm": a.ppm.to_dict(orient="index"),
        "aubc": _nested(main.aubc_summary, ["dataset", "strategy"], ["mean", "ci_low", "ci_high"]),
        "final_accuracy": _nested(a.final, ["dataset", "strategy"], ["mean", "ci_low", "ci_high"]),
        "gain_over_random": _nested(main.gain_aubc, ["dataset", "strategy"], gain_fields),
        "verdicts": _nested(a.verdicts.astype({"seeds_needed": object}).where(a.verdicts.notna(), None),
                            _by(a.verdicts, "dataset", "strategy"), VERDICT_FIELDS),
        "pooled_gain": _nested(a.pooled, _by(a.pooled, "strategy"), POOLED_FIELDS),
        "gain_over_random_by_regime": _nested(a.gain_regime, ["dataset", "regime", "strategy"], gain_fields),
        "regimes": {r: {"kendall_w": a.regime_stability.loc[r, "kendall_w"],
                        "kendall_w_ci": a.regime_stability.loc[r, ["w_ci_low", "w_ci_high"]].tolist(),
                        "kendall_w_pvalue": a.regime_stability.loc[r, "p_value"],
                        "mean_pairwise_tau": a.regime_stability.loc[r, "mean_tau"],
                        "mean_rank": t.mean().sort_values().to_dict()} for r, t in a.regime_ranks.items()},
        "low_vs_high_budget_tau": a.regime_agreement.to_dict(),
        "friedman": a.friedman,
        "posthoc_pvalues": a.posthoc.to_dict(orient="index"),
        "critical_difference": a.critical_difference,
        "arms": {p: {**_arm_summary(arm), "tau_vs_eval": a.arm_agreement[p].to_dict()}
                 for p, arm in a.other_arms.items()},
        "tuning_parity": {"equal_trials_per_dataset": parity_holds(a.parity),
                          "cells": _nested(a.parity, ["dataset", "strategy"],
                                           ["trials", "campaigns", "epochs", "seconds", "best_val_aubc"])},
        "tuning_choice": _nested(a.diagnosis, ["dataset", "strategy"],
                                 ["kept_defaults", "lead", "lead_se", "lead_needed", "choice"]),
    }
    if a.paradigms is not None:
        from analysis.paradigm_report import paradigm_summary

        out |= paradigm_summary(a.paradigms)
    return jsonable(out)
