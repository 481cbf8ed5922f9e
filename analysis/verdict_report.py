"""The report's opening: verdicts against tuned random, readings per dataset, seeds needed, pooled gains."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alstudy.sequential import ALPHA
from analysis.analyze import Analysis
from analysis.load import BASELINE
from analysis.markdown import fmt_value, markdown_table
from analysis.verdicts import margin_text, reading, seeds_per_dataset

MARK = {"better": "**better**", "worse": "**worse**", "equivalent": "equivalent", "inconclusive": "inconclusive"}


def _place(row) -> str:
    return f"{row['paradigm']} / {row['dataset']}" if "paradigm" in row.index else str(row["dataset"])


def _cell(row) -> str:
    """"equivalent +0.3 [−0.4, +1.0]": the verdict, then the gain and its CI in points; an adaptive
    evaluation adds the seeds used and why it stopped, "(6 seeds, decided: better)"."""
    text = f"{MARK[row['verdict']]} {100 * row['gain']:+.1f}"
    if np.isfinite(row["ci_low"]):
        text += f" [{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}]"
    if "stopped" in row.index:
        text += f" ({int(row['seeds_used'])} seeds, {row['stopped']}"
        text += f": {row['sequential']})" if row["stopped"] == "decided" else ")"
    return text


def verdict_table(a: Analysis, strategies: list[str]) -> pd.DataFrame:
    """(Paradigm /) dataset × strategy cells of the verdict table."""
    v = a.verdicts
    table = pd.DataFrame({"place": [_place(r) for _, r in v.iterrows()], "strategy": v["strategy"],
                          "cell": [_cell(r) for _, r in v.iterrows()]})
    out = table.pivot(index="place", columns="strategy", values="cell")
    out.index.name = "paradigm / dataset" if "paradigm" in v else "dataset"
    return out.reindex(columns=[s for s in strategies if s in out.columns]).fillna("–")


def readings(a: Analysis) -> list[str]:
    """One line per (paradigm,) dataset: what each group of strategies was found to be."""
    v = a.verdicts
    return [f"{_place(g.iloc[0])}: {reading(g, margin=a.settings.margin)}."
            for _, g in v.groupby([c for c in ("paradigm", "dataset") if c in v], sort=True)]


def seeds_lines(a: Analysis) -> list[str]:
    """Per dataset: the largest minimum detectable gain and seeds needed over its strategies."""
    s = a.settings
    out = []
    for _, r in seeds_per_dataset(a.verdicts).iterrows():
        need = "–" if not np.isfinite(r["seeds_needed"]) else f"{int(r['seeds_needed'])}"
        out.append(f"{_place(r)}: with {int(r['n'])} seeds, gains below {fmt_value(100 * r['mde'], '.1f')} "
                   f"points go undetected (alpha = {s.alpha}, 80 % power); telling {margin_text(s.margin)} "
                   f"apart needs {need} seeds")
    return out


def verdict_section(a: Analysis, strategies: list[str]) -> list[str]:
    """Markdown lines: the verdict table, a reading per dataset, seeds needed."""
    s = a.settings
    if a.verdicts.empty:
        return ["## Verdicts", "", f"No '{BASELINE}' strategy in the evaluation rows: no verdict can be given.", ""]
    return ["## Verdicts against tuned random", "",
            f"Test AUBC gain over tuned {BASELINE} in {a.metric} points, paired by seed, with its {s.level:.0%} "
            f"Student-t CI. **better** / **worse**: paired t-test significant at alpha = {s.alpha} after Holm "
            f"adjustment over the table; equivalent: TOST with margin {margin_text(s.margin)} significant "
            "after Holm (the gain lies within the margin; this takes precedence); inconclusive: neither — "
            "more seeds are needed. Full numbers: `verdicts.csv`.", "",
            *_adaptive_note(a),
            markdown_table(verdict_table(a, [x for x in strategies if x != BASELINE])), "",
            *[f"* {line}" for line in readings(a)], "",
            "Power (from the observed SD of paired differences; the largest over the dataset's strategies):", "",
            *[f"* {line}." for line in seeds_lines(a)], ""]


def _adaptive_note(a: Analysis) -> list[str]:
    """The paragraph on an adaptive evaluation's stopping, when the study's was adaptive."""
    v = a.verdicts
    if "stopped" not in v:
        return []
    decided = int((v["stopped"] == "decided").sum())
    return [f"The evaluation was adaptive: seeds ran in rounds of {a.settings.rounds.size}, and a cell stopped "
            f"once the anytime-valid t confidence sequence of its paired differences (Wang & Ramdas 2023, "
            f"`alstudy.sequential`; alpha {ALPHA} split over the {len(v)} cells) decided it better, worse or "
            f"equivalent within {margin_text(a.settings.margin)} (`decided`, with that decision), else at "
            f"{len(a.settings.rounds.seeds)} seeds (`max_seeds`). {decided} of {len(v)} cells decided. Under "
            "this optional stopping the decision in parentheses is the valid one; the t-test and TOST beside "
            "it assume the seeds were fixed in advance.", ""]


def pooled_section(a: Analysis, forest: str | None) -> list[str]:
    """Markdown lines: the DerSimonian–Laird pooled gains per strategy and the forest plot."""
    p = a.pooled
    if p.empty:
        return []
    table = p.assign(gain=[f"{100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]" if np.isfinite(lo) else "–"
                           for m, lo, hi in p[["mean", "ci_low", "ci_high"]].to_numpy()],
                     tau=np.sqrt(p["tau2"]) * 100, i2=p["i2"] * 100)
    index = [c for c in ("paradigm", "strategy") if c in p]
    table = table.set_index(index)[["gain", "tau", "i2", "k"]].rename(columns={
        "gain": "pooled gain [CI]", "tau": "τ (points)", "i2": "I² (%)", "k": "datasets"})
    md = ["## Gains pooled across datasets", "",
          "Random-effects meta-analysis (DerSimonian–Laird) of each strategy's per-dataset AUBC gain over "
          f"tuned {BASELINE}, in points, with its {a.settings.level:.0%} normal CI. τ: the between-dataset SD "
          "of the true gain; I²: the share of the spread of gains across datasets that is not seed noise "
          "(large I² = the gain, and so the ranking, changes across datasets). With few datasets τ² is "
          "poorly estimated, and with few seeds each dataset's weight is itself uncertain, which this normal "
          "CI ignores.", "", markdown_table(table, fmt=".1f"), ""]
    if forest:
        md += [f"![Forest plot]({forest})", ""]
    return md


def pilot_check(pilot: str, *, datasets: tuple[str, ...], seeds: int, margin: float, alpha: float = 0.05) -> list[str]:
    """Whether `seeds` evaluation seeds suffice, judged on a previous results directory `pilot`:
    per dataset, the seeds TOST needs at the pilot's largest SD of paired differences, and the
    minimum detectable gain with the planned seeds. Datasets the pilot lacks are said to be so."""
    from analysis import power
    from analysis.load import read_results
    from analysis.verdicts import campaign_aubc, verdicts

    table = verdicts(campaign_aubc(read_results(pilot)), margin=margin, alpha=alpha)
    lines = [f"pilot {pilot}: {seeds} evaluation seeds planned, margin {margin_text(margin)}, alpha = {alpha}"]
    for dataset in datasets:
        rows = table.loc[table["dataset"] == dataset] if len(table) else table
        sd = rows["sd"].max() if len(rows) else float("nan")
        if not np.isfinite(sd):
            lines.append(f"  {dataset}: no paired seeds against {BASELINE} in the pilot")
            continue
        need = power.seeds_needed(margin, sd, alpha=alpha)
        verdict = "enough" if need <= seeds else f"not enough (use {need})"
        lines.append(f"  {dataset}: {need} seeds needed to tell {margin_text(margin)} apart (largest SD of "
                     f"paired differences {100 * sd:.2f} points); {seeds} planned: {verdict}; they detect "
                     f"gains of {fmt_value(100 * power.mde(sd, seeds, alpha=alpha), '.1f')} points")
    return lines


def tuning_section(a: Analysis) -> list[str]:
    """Markdown lines: can the tuning be trusted? Tuned against untuned on test, the edge of each
    chosen configuration against the noise of its objective, and what to change."""
    from analysis.tuning import tuning_advice

    d = a.diagnosis
    if d.empty:
        return []
    md = ["## Can the tuning be trusted?", ""]
    t = a.tuned_vs_untuned
    if len(t):
        cells = t.assign(cell=[f"{100 * m:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]" if np.isfinite(lo) else
                               fmt_value(100 * m, "+.1f") for m, lo, hi in t[["mean", "ci_low", "ci_high"]].to_numpy()])
        table = cells.pivot(index="dataset", columns="strategy", values="cell").fillna("–")
        worse = t.loc[t["ci_high"] < 0]
        md += [f"Tuned minus untuned test AUBC (points, paired by seed, {a.settings.level:.0%} CI); a negative "
               "value means tuning chose worse than the defaults:", "", markdown_table(table), ""]
        if len(worse):
            md += [f"**Warning:** tuning made {len(worse)} cell(s) significantly worse than the defaults on test: "
                   + ", ".join(f"{r.strategy} on {r.dataset}" for r in worse.itertuples()) + ".", ""]
    else:
        md += ["The untuned arm did not run (`evaluation.untuned = true` shows what tuning changed on test).", ""]
    choices = d.pivot(index="dataset", columns="strategy", values="choice")
    md += ["What each cell evaluates: its defaults (the first tuning trial) unless the best challenger leads them "
           "on the tuning objective by more than one standard error of the paired difference over the tuning "
           "seeds (the one-standard-error rule, `alstudy.selection`). Leads in points of validation AUBC:", "",
           markdown_table(choices), ""]
    view = d.assign(edge=100 * d["edge"], spread=100 * d["spread"], noise=100 * d["noise_sd"],
                    lead=np.select([d["trials"] < 2, ~(np.isfinite(d["edge"]) & np.isfinite(d["noise_sd"])), d["within_noise"]],
                                   ["1 trial: nothing chosen", "noise unknown", "within noise"], "clear"))
    table = view.pivot(index="dataset", columns="strategy", values="lead")
    noise = view.groupby("dataset").agg(noise=("noise", "median"), spread=("spread", "median"),
                                        edge=("edge", "median"), source=("noise_source", "first"))
    md += ["Each cell's chosen configuration against the runner-up on the tuning objective (validation AUBC): "
           "'within noise' when its lead is smaller than two configurations' objectives differ by chance "
           "(noise: one configuration's validation AUBC SD across seeds). Full numbers: `tuning_diagnosis.csv`.", "",
           markdown_table(table), "",
           markdown_table(noise.rename(columns={"noise": "noise SD (points)", "spread": "SD across trials (points)",
                                                "edge": "lead of the best (points)", "source": "noise from"}), fmt=".1f"),
           ""]
    md += [f"* **Warning** — {line}" for line in tuning_advice(d)]
    return md + [""]
