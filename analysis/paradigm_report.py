"""The paradigm section of report.md, its figure and summary.json's `paradigms`,
`paradigm_effect` and `strategy_spread` (studies with more than one paradigm)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.paradigms import ParadigmStats


def _pts(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{100 * x:+.1f}"


def _ci(mean: float, low: float, high: float) -> str:
    return f"{_pts(mean)} [{_pts(low)}, {_pts(high)}]"


def paradigm_section(p: ParadigmStats, *, figure: str | None = None) -> list[str]:
    """Markdown lines answering the across-paradigm questions (AUBC points, paired by seed)."""
    md = ["## Training paradigms", "",
          f"Paradigms: {', '.join(p.paradigms)}; reference (plainest supervised): **{p.reference}**. "
          f"Every number is a difference in test AUBC ({p.metric} points), paired by seed, with its 95 % t interval. "
          "All other sections of this report are computed within each paradigm: a 'dataset' there reads "
          "`<dataset>/<paradigm>`, and gains are over that paradigm's tuned random.", "",
          *paradigm_answers(p), "",
          "### Does the paradigm add more than the strategy?", ""]
    if p.paradigm_effect.empty:
        md += ["No paired random campaigns across paradigms.", ""]
    else:
        rows = []
        for _, r in p.paradigm_effect.iterrows():
            rows.append(f"| {r['dataset']} | {r['paradigm']} | {_ci(r['mean'], r['ci_low'], r['ci_high'])} | "
                        f"{r['best_strategy'] or '-'}: {_ci(r['best_gain'], r['best_ci_low'], r['best_ci_high'])} |")
        md += [f"| dataset | paradigm | its random − {p.reference} random | best strategy − random in {p.reference} |",
               "|---|---|---|---|", *rows, ""]
    md += ["### Do augmentation or SSL blur the strategies? (spread per paradigm)", "",
           "| dataset | paradigm | largest gain over random | best strategy | SD of strategy AUBCs |", "|---|---|---|---|---|"]
    md += [f"| {r['dataset']} | {r['paradigm']} | {_pts(r['max_gain'])} | {r['best_strategy'] or '-'} | "
           f"{'n/a' if pd.isna(r['sd_aubc']) else f'{100 * r.sd_aubc:.2f}'} |" for _, r in p.strategy_spread.iterrows()]
    md += ["", "### Does AL add on top of each paradigm? (gain over that paradigm's random)", "",
           "| paradigm | dataset | strategy | gain | p |", "|---|---|---|---|---|"]
    md += [f"| {r['paradigm']} | {r['dataset']} | {r['strategy']} | {_ci(r['mean'], r['ci_low'], r['ci_high'])} | "
           f"{'n/a' if pd.isna(r['p_value']) else f'{r.p_value:.3g}'} |" for _, r in p.gains.iterrows()]
    md += ["", "### Is the strategy ranking stable across paradigms?", "",
           "| dataset | Kendall W | p | mean τ-b | paradigms |", "|---|---|---|---|---|"]
    md += [f"| {r['dataset']} | {r['kendall_w']:.2f} | {r['p_value']:.3g} | {r['mean_tau']:.2f} | {r['n_paradigms']} |"
           for _, r in p.stability.iterrows()]
    if figure:
        md += ["", f"![paradigm effect and strategy effect]({figure})"]
    return md + [""]


def paradigm_answers(p: ParadigmStats) -> list[str]:
    """The four questions answered in one line each, from the tables below (means and 95 % intervals)."""
    md = [f"**Answers** (test AUBC, {p.metric} points, paired by seed; an interval that excludes 0 is called clear):",
          ""]
    for dataset, group in p.paradigm_effect.groupby("dataset", sort=False):
        top = group.loc[group["mean"].idxmax()]
        more = top["mean"] > (top["best_gain"] if pd.notna(top["best_gain"]) else 0.0)
        clear = top["ci_low"] > 0 or top["ci_high"] < 0
        clear_best = top["best_ci_low"] > 0 or top["best_ci_high"] < 0
        verdict = (f"the {'paradigm' if more else 'strategy'} adds more" if clear or clear_best else
                   f"the {'paradigm' if more else 'strategy'} has the larger mean, but neither interval is "
                   "clear of 0: more seeds needed")
        md.append(f"* *Paradigm or strategy, {dataset}:* the best paradigm, {top['paradigm']}, moves random by "
                  f"{_ci(top['mean'], top['ci_low'], top['ci_high'])} ({'clear' if clear else 'not clear'}); "
                  f"the best strategy in {p.reference} gains "
                  f"{_ci(top['best_gain'], top['best_ci_low'], top['best_ci_high'])} "
                  f"({top['best_strategy'] or '-'}): {verdict}.")
    sd = p.strategy_spread.groupby("paradigm")["sd_aubc"].mean()
    if p.reference in sd and len(sd) > 1:
        ref = sd[p.reference]
        parts = [f"{name} {100 * v:.2f} ({'narrower' if v < ref else 'wider'})" for name, v in sd.items()
                 if name != p.reference]
        md.append(f"* *Blurring:* SD of the strategies' AUBCs, mean over datasets: {p.reference} "
                  f"{100 * ref:.2f}; " + ", ".join(parts) + " than the reference.")
    counts = []
    for paradigm, group in p.gains.groupby("paradigm", sort=False):
        if paradigm != p.reference:
            up, down = int((group["ci_low"] > 0).sum()), int((group["ci_high"] < 0).sum())
            counts.append(f"{paradigm} {up} above and {down} below of {len(group)}")
    if counts:
        md.append("* *AL on top of each paradigm:* (dataset, strategy) gains over that paradigm's random with "
                  "a clear interval: " + "; ".join(counts) + ".")
    if not p.stability.empty:
        w = p.stability["kendall_w"]
        md.append(f"* *Ranking across paradigms:* Kendall's W {w.min():.2f}-{w.max():.2f} over datasets "
                  f"(1 = the same order in every paradigm, 0 = none shared).")
    return md


def plot_paradigm_effect(p: ParadigmStats):
    """One column per dataset. Top: each paradigm's random over the reference random (blue) and
    the best strategy's gain within the reference (orange), with 95 % intervals. Bottom: every
    strategy's gain over random inside each paradigm: a narrow row is a blurred one."""
    import matplotlib.pyplot as plt

    e, g = p.paradigm_effect, p.gains
    datasets = list(dict.fromkeys(e["dataset"])) or list(dict.fromkeys(g["dataset"]))
    order = [p.reference] + [name for name in p.paradigms if name != p.reference]
    fig, axes = plt.subplots(2, len(datasets), figsize=(3.6 * len(datasets) + 1.2, 6.2), squeeze=False)
    for j, dataset in enumerate(datasets):
        ax = axes[0, j]
        rows = e[e["dataset"] == dataset].set_index("paradigm")
        labels, values, errs, colors = [], [], [], []
        for name in order[1:]:
            if name in rows.index:
                r = rows.loc[name]
                labels.append(f"{name} random")
                values.append(100 * r["mean"])
                errs.append(100 * (r["mean"] - r["ci_low"]) if pd.notna(r["ci_low"]) else 0)
                colors.append("tab:blue")
        if len(rows):
            r = rows.iloc[0]
            labels.append(f"best AL: {r['best_strategy'] or '-'}")
            values.append(100 * r["best_gain"] if pd.notna(r["best_gain"]) else 0)
            errs.append(100 * (r["best_gain"] - r["best_ci_low"]) if pd.notna(r["best_ci_low"]) else 0)
            colors.append("tab:orange")
        ax.barh(range(len(values)), values, xerr=errs, color=colors, capsize=3)
        ax.set_yticks(range(len(values)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.axvline(0, color="black", lw=0.8)
        ax.set_title(dataset)
        ax.set_xlabel(f"points over {p.reference} random", fontsize=8)
        ax = axes[1, j]
        mine = g[g["dataset"] == dataset]
        for i, name in enumerate(order):
            pts = mine[mine["paradigm"] == name].sort_values("mean")
            ax.scatter(100 * pts["mean"], [i] * len(pts), s=18, color="tab:blue" if name != p.reference else "tab:gray")
            for k, (_, r) in enumerate(pts.iterrows()):   # labels alternate above and below the dots
                ax.annotate(r["strategy"], (100 * r["mean"], i), fontsize=6, xytext=(0, 4 if k % 2 == 0 else -10),
                            textcoords="offset points", ha="center")
        ax.set_yticks(range(len(order)), order if j == 0 else [""] * len(order), fontsize=8)
        ax.set_ylim(len(order) - 0.5, -0.7)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel("each strategy over its paradigm's random (points)", fontsize=8)
    axes[0, 0].set_ylabel("paradigm effect vs best strategy", fontsize=8)
    axes[1, 0].set_ylabel("spread of strategies", fontsize=8)
    fig.suptitle("Does the paradigm add more than the strategy, and does it blur the strategies?", fontsize=10)
    fig.tight_layout()
    return fig


def paradigm_summary(p: ParadigmStats) -> dict:
    """summary.json entries: paradigms, paradigm_effect, strategy_spread (and the rest, nested)."""
    def records(frame: pd.DataFrame) -> list[dict]:
        return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")

    return {"paradigms": {"names": p.paradigms, "reference": p.reference},
            "paradigm_effect": records(p.paradigm_effect), "strategy_spread": records(p.strategy_spread),
            "gain_over_random_per_paradigm": records(p.gains),
            "rank_stability_across_paradigms": records(p.stability)}


def write_paradigm_figure(p: ParadigmStats, out: Path) -> str:
    from analysis import figures

    figures.save(plot_paradigm_effect(p), out / "paradigm_effect.png")
    return "paradigm_effect.png"
