"""Write a report directory: report.md (the answer first), PNG figures, CSV tables, summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import figures
from analysis.analyze import Analysis, has_baseline, n_seeds, stability_warning
from analysis.claims import claims_section
from analysis.health import health_lines
from analysis.load import BASELINE
from analysis.markdown import fmt_value as _fmt
from analysis.markdown import markdown_table
from analysis.summary import headline, summary
from analysis.verdict_report import pooled_section, tuning_section, verdict_section


def _plural(metric: str) -> str:
    return {"accuracy": "accuracies"}.get(metric, f"{metric}s")


def _ci_cell(mean: float, low: float, high: float) -> str:
    """Accuracy-like values as percentages: "76.5 [76.0, 77.1]"."""
    if not np.isfinite(low):
        return _fmt(100 * mean, ".1f")
    return f"{100 * mean:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def _ci_table(summary_frame: pd.DataFrame, strategies) -> pd.DataFrame:
    cells = summary_frame.assign(cell=[_ci_cell(m, lo, hi) for m, lo, hi in
                                       summary_frame[["mean", "ci_low", "ci_high"]].to_numpy()])
    table = cells.pivot(index="dataset", columns="strategy", values="cell").reindex(columns=strategies)
    return table.fillna("–")


def _gain_cell(row, alpha: float, *, with_ci: bool) -> str:
    text = f"{100 * row['mean']:+.1f}"
    if row["p_holm"] < alpha:
        text = f"**{text}**"
    elif row["p_value"] < alpha:
        text = f"*{text}*"
    if with_ci and np.isfinite(row["ci_low"]):
        text += f" [{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}]"
    return text


def _gain_table(gain: pd.DataFrame, index: list[str], strategies, alpha: float, *, with_ci: bool) -> pd.DataFrame:
    """Gains in points, strategies as columns; bold: significant after Holm, italic: only before."""
    cells = gain.assign(cell=[_gain_cell(r, alpha, with_ci=with_ci) for _, r in gain.iterrows()])
    table = cells.pivot_table(index=index, columns="strategy", values="cell", aggfunc="first", observed=True)
    table.index = [" / ".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in table.index]
    table.index.name = " / ".join(index)
    return table.reindex(columns=[s for s in strategies if s in table.columns]).fillna("–")


def rank_text(a: Analysis) -> str:
    """The rank table (datasets × strategies, best mean rank first) as plain text for a terminal."""
    order = list(a.mean_ranks.index)
    table = pd.concat([a.main.ranks[order], a.mean_ranks.to_frame("mean rank").T])
    return table.to_string(float_format=lambda v: f"{v:.2f}")


def write_figures(a: Analysis, out: Path) -> dict[str, Path]:
    """Render every figure to `out` as PNG; returns {title: path}."""
    alpha = a.settings.alpha
    made = {
        "Learning curves": (figures.plot_learning_curves(a.curves, metric_label=f"test {a.metric}"),
                            "learning_curves.png"),
        "Gain over tuned random": (figures.plot_gain_curves(a.gain_curves, alpha=alpha, metric=a.metric),
                                   "gain_over_random.png"),
        "Ranks per dataset": (figures.plot_rank_heatmap(a.main.ranks, title="Rank of each strategy per dataset "
                                                        "(test AUBC, tuned)"), "rank_heatmap.png"),
        "Rank agreement between datasets": (figures.plot_tau_matrix(a.main.tau), "tau_matrix.png"),
        "Pairwise penalty matrix": (figures.plot_penalty_matrix(a.ppm, n_settings=a.main.ranks.shape[0] or
                                                                a.main.rows["dataset"].nunique(), alpha=alpha),
                                    "penalty_matrix.png"),
        "Critical difference diagram": (figures.plot_cd_diagram(
            a.mean_ranks, a.posthoc, cd=a.critical_difference if a.settings.posthoc == "nemenyi" else None,
            alpha=alpha, title=f"Mean ranks over {a.main.ranks.shape[0]} datasets; bars join strategies not "
                               f"significantly different ({a.settings.posthoc}, alpha = {alpha})"),
                                        "cd_diagram.png"),
    }
    if not a.pooled.empty:
        made["Forest plot"] = (figures.plot_forest(a.verdicts, a.pooled, margin=a.settings.margin, metric=a.metric),
                               "forest.png")
    if a.regime_ranks:
        regime_means = pd.DataFrame({r: t.mean() for r, t in a.regime_ranks.items()})
        made["Ranks by budget regime"] = (figures.plot_regime_ranks(regime_means), "regime_ranks.png")
    for phase, arm in a.other_arms.items():
        made[f"Ranks per dataset ({phase} arm)"] = (figures.plot_rank_heatmap(
            arm.ranks, title=f"Rank of each strategy per dataset (test AUBC, {phase})"), f"rank_heatmap_{phase}.png")
    return {title: figures.save(fig, out / name) for title, (fig, name) in made.items()}


def write_tables(a: Analysis, out: Path) -> dict[str, Path]:
    """Every table as CSV in `out`; returns {name: path}."""
    tables = {
        "learning_curves": a.curves, "aubc": a.main.aubc_summary, "aubc_per_campaign": a.main.aubc,
        "final_accuracy": a.final, "gain_curves": a.gain_curves, "gain_aubc": a.main.gain_aubc,
        "gain_regime": a.gain_regime, "ranks": a.main.ranks, "rank_spread": a.spread,
        "pairwise_tau": a.main.tau, "penalty_matrix": a.ppm, "posthoc_pvalues": a.posthoc,
        "tuning_parity": a.parity, "incomplete_campaigns": a.main.incomplete,
        "verdicts": a.verdicts, "pooled_gain": a.pooled, "tuning_diagnosis": a.diagnosis,
    }
    if a.tuning_effect is not None:
        tables["tuning_effect"] = a.tuning_effect
    if len(a.claims):
        tables["claims"] = a.claims
    if len(a.tuned_vs_untuned):
        tables["tuned_vs_untuned"] = a.tuned_vs_untuned
    if len(a.unlearned):
        tables["unlearned_classes"] = a.unlearned
    paths = {}
    for name, table in tables.items():
        keep_index = not isinstance(table.index, pd.RangeIndex)
        table.to_csv(out / f"{name}.csv", index=keep_index)
        paths[name] = out / f"{name}.csv"
    return paths


def render_markdown(a: Analysis, figure_paths: dict[str, Path], out: Path) -> str:
    s, main, metric = a.settings, a.main, a.metric
    lo, hi = n_seeds(a)
    strategies = list(a.mean_ranks.index) + sorted(set(main.rows["strategy"]) - set(a.mean_ranks.index))
    budget = main.rows.groupby("dataset")["n_labeled"].agg(["min", "max", "nunique"])
    md = [f"# Active-learning study report: {a.study}", "", *health_lines(a.unlearned)]
    if a.paradigms is not None:   # the paradigm axis answers first: it may matter more than the strategy
        from analysis.paradigm_report import paradigm_section, write_paradigm_figure

        md += paradigm_section(a.paradigms, figure=write_paradigm_figure(a.paradigms, out))
        md += claims_section(a.claims, margin=s.margin, metric=metric)
    md += [*verdict_section(a, strategies), "## Answer", ""]
    md += [f"* {line}" for line in headline(a)]
    md += ["", "Scores are test AUBC of the evaluation phase (each cell's tuned hyperparameters on seeds "
           f"disjoint from the tuning seeds): the area under the test-{metric} curve over labeled examples, "
           f"divided by the labeled range (an average {metric}, in %). Gains are paired by seed, so every "
           "comparison uses the same initial labeled set." + (f" {a.legend}" if a.legend else ""), "",
           "## What was analysed", "",
           f"{main.rows['dataset'].nunique()} datasets, {main.rows['strategy'].nunique()} strategies, "
           f"{lo if lo == hi else f'{lo}–{hi}'} evaluation seeds per cell.", "",
           markdown_table(budget.rename(columns={"min": "first n_labeled", "max": "last n_labeled",
                                                 "nunique": "budget points"})), ""]
    if len(main.incomplete):
        md += [f"Left out: {len(main.incomplete)} evaluation campaign(s) missing some budget points "
               "(a crashed or unfinished trial), listed in `incomplete_campaigns.csv`.", ""]
    if len(a.codes) > 1:
        md += [f"**Mixed code:** these results come from {len(a.codes)} versions of alstudy ("
               + ", ".join(f"{code}: {n} rows" for code, n in a.codes.items())
               + "); the study was resumed with other alstudy source (an upgrade or a local edit: the code id "
               "hashes the package's files). Column `code` of the results says which produced each row.", ""]
    md += ["## Budget parity of the tuning phase", ""]
    if a.parity.empty:
        md += ["No tuning rows (phase 'tune') in the results.", ""]
    else:
        md += ["Every strategy, random included, should have the same number of tuning trials per dataset.", "",
               markdown_table(a.parity, fmt=".3g", index=False), ""]
    md += tuning_section(a)
    md += ["## Test AUBC (mean over seeds, %, bootstrap CI)", "", markdown_table(_ci_table(main.aubc_summary,
                                                                                       strategies)), "",
           f"## Final {metric} (largest budget, %, bootstrap CI)", "",
           markdown_table(_ci_table(a.final, strategies)), ""]
    md += [f"## Gain over tuned {BASELINE}", ""]
    if has_baseline(a):
        others = [x for x in strategies if x != BASELINE]
        md += [f"AUBC gain in {metric} points with its {s.level:.0%} Student-t CI (paired by seed). **Bold**: "
               f"significant at alpha = {s.alpha} after Holm adjustment over the whole table (paired t-test); "
               "*italic*: significant only before adjustment. Full numbers: `gain_aubc.csv`.", "",
               markdown_table(_gain_table(main.gain_aubc, ["dataset"], others, s.alpha, with_ci=True)), "",
               f"By budget regime (gain in mean {metric} over the regime's budget points; same marks, Holm over "
               "this table; CIs in `gain_regime.csv`):", "",
               markdown_table(_gain_table(a.gain_regime, ["dataset", "regime"], others, s.alpha, with_ci=False)),
               ""]
    else:
        md += [f"No '{BASELINE}' strategy in the evaluation rows.", ""]
    forest = figure_paths.get("Forest plot")
    md += pooled_section(a, forest.relative_to(out).as_posix() if forest else None)
    md += ["## Ranks (1 = best, by test AUBC)", "", markdown_table(
        pd.concat([main.ranks[list(a.mean_ranks.index)], a.mean_ranks.to_frame("mean rank").T]), fmt=".2f"), ""]
    md += ["## Rank stability", "",
           f"Kendall's W = {_fmt(main.kendall['w'], '.3f')} (tie-corrected; chi2 = {_fmt(main.kendall['chi2'], '.2f')}, "
           f"p = {_fmt(main.kendall['p_value'], '.3g')}); {s.level:.0%} two-level bootstrap CI (resampling "
           f"{a.bootstrap.get('method', 'seeds within datasets')}): "
           f"[{_fmt(a.bootstrap['w'][0], '.3f')}, {_fmt(a.bootstrap['w'][1], '.3f')}]. "
           "W = 1: every dataset ranks the strategies identically; W = 0: no agreement."
           + (f" **This interval is {warning}.**" if (warning := stability_warning(a)) else ""), "",
           "Rank spread per strategy, with the bootstrap CI of its mean rank:", "",
           markdown_table(a.spread.join(a.bootstrap["mean_rank"].add_prefix("mean_rank_")), fmt=".2f"), "",
           "Kendall τ-b between datasets' rankings:", "", markdown_table(main.tau, fmt=".2f"), ""]
    if len(a.regime_stability):
        md += [f"Within each budget regime (ranks by mean {metric} over the regime's budget points):", "",
               markdown_table(a.regime_stability, fmt=".3f"), ""]
        if len(a.regime_agreement):
            md += ["τ-b between the low- and high-budget rankings:", "",
                   markdown_table(a.regime_agreement.to_frame(), fmt=".2f"), ""]
    for phase, arm in a.other_arms.items():
        md += [f"### The '{phase}' arm", "",
               f"Kendall's W within the arm = {_fmt(arm.kendall['w'], '.3f')} (bootstrap CI "
               f"[{_fmt(arm.bootstrap['w'][0], '.3f')}, {_fmt(arm.bootstrap['w'][1], '.3f')}], "
               f"p = {_fmt(arm.kendall['p_value'], '.3g')}); "
               "τ-b between its ranking and the tuned ranking:", "",
               markdown_table(a.arm_agreement[phase].to_frame(), fmt=".2f"), "",
               "Tuning effect on AUBC (tuned − this arm, points):", "",
               markdown_table(a.tuning_effect.loc[a.tuning_effect["arm"] == phase]
                              .pivot(index="dataset", columns="strategy", values="effect")
                              .reindex(columns=strategies).mul(100), fmt="+.1f"),
               ""]
    n_set = main.rows["dataset"].nunique()
    md += ["## Pairwise penalty matrix", "",
           f"Entry [row, column]: at each budget point of each dataset a paired t-test (p < {s.alpha}) between "
           f"seed-matched {_plural(metric)}; a significant win of row over column adds 1/L (L = budget points of the "
           f"dataset). Summed over {n_set} datasets, so an entry is at most {n_set}.", "",
           markdown_table(a.ppm.mask(np.eye(len(a.ppm), dtype=bool)), fmt=".2f"), ""]
    f = a.friedman
    md += ["## Friedman test and critical difference", "",
           f"Friedman over {f['datasets']} datasets (blocks) and {f['strategies']} strategies: "
           f"chi2 = {_fmt(f['statistic'], '.2f')}, p = {_fmt(f['p_value'], '.3g')}. Post-hoc: {s.posthoc}; "
           f"Nemenyi critical difference of mean ranks at alpha = {s.alpha}: {_fmt(a.critical_difference, '.2f')}. "
           "With few datasets these tests have little power: a non-significant result is not evidence of equality.",
           "", "Post-hoc p-values:", "", markdown_table(a.posthoc, fmt=".3f"), ""]
    md += ["## Figures", ""]
    for title, path in figure_paths.items():
        if title == "Forest plot":
            continue   # shown with the pooled gains
        md += [f"### {title}", "", f"![{title}]({path.relative_to(out).as_posix()})", ""]
    md += ["## Files", "", "CSV tables (`*.csv`) hold every table above at full precision; `summary.json` holds the "
           "headline numbers for machines.", ""]
    return "\n".join(md)


def write_report(a: Analysis, out: str | Path) -> Path:
    """Write report.md, figures, CSV tables and summary.json into `out`; returns report.md's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figure_paths = write_figures(a, out)
    write_tables(a, out)
    (out / "summary.json").write_text(json.dumps(summary(a), indent=2, allow_nan=False) + "\n")
    path = out / "report.md"
    path.write_text(render_markdown(a, figure_paths, out))
    return path
