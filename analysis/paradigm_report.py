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
          "Every number is a difference in test AUBC (accuracy points), paired by seed, with its 95 % t interval. "
          "All other sections of this report are computed within each paradigm: a 'dataset' there reads "
          "`<dataset>/<paradigm>`, and gains are over that paradigm's tuned random.", "",
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


def plot_paradigm_effect(p: ParadigmStats):
    """Bars per dataset: each paradigm's random over the reference random, and the best strategy's gain."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.5))
    e = p.paradigm_effect
    labels, values, errs, colors = [], [], [], []
    for dataset, group in e.groupby("dataset", sort=True):
        for _, r in group.iterrows():
            labels.append(f"{dataset}\n{r['paradigm']}")
            values.append(100 * r["mean"])
            errs.append(100 * (r["mean"] - r["ci_low"]) if pd.notna(r["ci_low"]) else 0)
            colors.append("tab:blue")
        r = group.iloc[0]
        labels.append(f"{dataset}\nbest AL ({r['best_strategy']})")
        values.append(100 * r["best_gain"] if pd.notna(r["best_gain"]) else 0)
        errs.append(100 * (r["best_gain"] - r["best_ci_low"]) if pd.notna(r["best_ci_low"]) else 0)
        colors.append("tab:orange")
    ax.bar(range(len(values)), values, yerr=errs, color=colors, capsize=3)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(values)), labels, fontsize=7)
    ax.set_ylabel(f"AUBC gain over {p.reference} random (points)")
    ax.set_title("Paradigm effect (blue) beside the best strategy's effect (orange)")
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
