"""Mittal et al. 2019's claims, each decided on this study's data or said to be open.

"Parting with Illusions about Deep Active Learning" (arXiv:1912.05361), abstract: active-learning
methods "are quite sensitive w.r.t. changes in the training procedure like data augmentation",
"improve by a large-margin when integrated with semi-supervised learning, but barely perform
better than the random baseline". Per dataset, on test AUBC paired by seed:

* `ssl_lifts`: a semi-supervised paradigm's random minus the reference paradigm's random;
* `barely_beats_random`: each strategy minus random inside one paradigm (a claim holds on a
  paradigm when no strategy is decided better than random by more than the margin);
* `random_ssl_beats_all`: a semi-supervised paradigm's random minus every strategy (random
  included) of every supervised paradigm — "random with SSL beats every strategy without SSL";
  on a segmentation dataset (metric mIoU) also minus every other cell of every semi-supervised
  paradigm, as their segmentation result reads "random selection with semi-supervised learning
  performs best": random with SSL beats every strategy with and without SSL;
* `augmentation_lifts`: random with augmentation minus random without (the two supervised
  paradigms with the least and the most `hp.augment`) — "sensitive to data augmentation";
* `augmentation_moves_gains`: per strategy, its gain over random with augmentation minus its
  gain without (the two supervised paradigms with the least and the most `hp.augment`).

AUBC is of each dataset's metric (accuracy or mIoU). Each comparison is an interval for the mean
of the paired differences over the seeds both arms ran (`interval` says which):

* `sequence`, after an adaptive evaluation: the anytime-valid confidence sequence of
  `alstudy.sequential` (Wang & Ramdas 2023), which stays valid though the evaluation chose how
  many seeds each cell got;
* `t`, after a fixed evaluation (its seeds set in advance, no `max_seeds`): the Student-t
  interval, as the verdicts' tables use. Nothing chose the number of seeds from the data, so the
  sequence's price for optional stopping buys nothing: at 3 seeds and the α of a 10-row table it
  is the whole line, where the t interval can settle a lift of a few points.

α is split over every comparison of this table (Bonferroni), so "decided" is a claim about the
whole table at 95 %. Decisions (`alstudy.sequential.decisions`, one rule for both): `better` /
`worse` (0 excluded), `equivalent` (inside ±margin), `undecided` (more seeds needed). Both
intervals assume Gaussian differences.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alstudy.sequential import ALPHA, BASELINE, DECISIONS, decide, decisions
from analysis.load import dataset_metrics
from analysis.stats import paired_summary

COLUMNS = ["claim", "dataset", "paradigm", "versus", "strategy", "mean", "low", "high", "n", "decision",
           "interval"]


def mittal_claims(aubc: pd.DataFrame, rows: pd.DataFrame, *, margin: float, adaptive: bool = True) -> pd.DataFrame:
    """One row per comparison (COLUMNS) from per-campaign test AUBCs (`ParadigmStats.aubc`:
    paradigm, dataset, strategy, seed, aubc) and the evaluation rows (for each paradigm's
    `method` and `hp.augment`). A claim whose arms the study lacks has no rows (no
    semi-supervised paradigm: no `ssl_lifts`); a comparison with fewer than 2 common seeds none.
    `adaptive`: the evaluation chose its seeds as it went (confidence sequences); False for a
    fixed one (Student-t intervals)."""
    method = rows.groupby("paradigm")["method"].first().astype(str).to_dict() if "method" in rows else {}
    augment = (rows.groupby("paradigm")["hp.augment"].mean().to_dict() if "hp.augment" in rows else {})
    ssl = sorted(p for p, m in method.items() if m != "supervised")
    sup = sorted((p for p, m in method.items() if m == "supervised"), key=lambda p: (augment.get(p, 0.0), p))
    ref = sup[0] if sup else None
    metric = dataset_metrics(rows) if len(rows) else {}
    table = aubc.set_index(["paradigm", "dataset", "strategy", "seed"])["aubc"]
    pairs: list[tuple] = []    # (claim, dataset, paradigm, versus, strategy, arm a, arm b[, arm c, arm d])
    for dataset in sorted(aubc["dataset"].unique()):
        strategies = sorted(aubc.loc[aubc["dataset"] == dataset, "strategy"].unique())
        for p in ssl:
            if ref is not None:
                pairs.append(("ssl_lifts", dataset, p, ref, BASELINE, (p, BASELINE), (ref, BASELINE)))
            rivals = sup + (ssl if metric.get(dataset) == "miou" else [])
            for q in rivals:
                for s in strategies:
                    if (q, s) != (p, BASELINE):
                        pairs.append(("random_ssl_beats_all", dataset, p, q, s, (p, BASELINE), (q, s)))
        for p in ssl + sup:
            for s in strategies:
                if s != BASELINE:
                    pairs.append(("barely_beats_random", dataset, p, p, s, (p, s), (p, BASELINE)))
        if len(sup) > 1 and augment.get(sup[-1], 0.0) > augment.get(sup[0], 0.0):
            plain, aug = sup[0], sup[-1]
            pairs.append(("augmentation_lifts", dataset, aug, plain, BASELINE, (aug, BASELINE), (plain, BASELINE)))
            for s in strategies:
                if s != BASELINE:
                    pairs.append(("augmentation_moves_gains", dataset, aug, plain, s,
                                  (aug, s), (aug, BASELINE), (plain, s), (plain, BASELINE)))
    alpha = ALPHA / max(1, len(pairs))
    out = []
    for claim, dataset, paradigm, versus, strategy, *arms in pairs:
        series = [table.xs((p, dataset, s), level=["paradigm", "dataset", "strategy"])
                  if (p, dataset, s) in table.index.droplevel("seed") else pd.Series(dtype=float)
                  for p, s in arms]
        both = pd.concat(series, axis=1, join="inner").dropna().sort_index()
        if len(both) < 2:
            continue
        v = both.to_numpy()
        diffs = v[:, 0] - v[:, 1] if v.shape[1] == 2 else (v[:, 0] - v[:, 1]) - (v[:, 2] - v[:, 3])
        if adaptive:
            seq = decide(diffs, margin=margin, alpha=alpha, rounds=[len(diffs)])
            low, high, decision = seq.low, seq.high, seq.decision
        else:
            t = paired_summary(diffs, level=1 - alpha)
            low, high = t["ci_low"], t["ci_high"]
            decision = DECISIONS[int(decisions(np.array(low), np.array(high), margin))]
        out.append((claim, dataset, paradigm, versus, strategy, float(np.mean(diffs)), low, high,
                    len(diffs), decision, "sequence" if adaptive else "t"))
    return pd.DataFrame(out, columns=COLUMNS)


def _pts(x: float) -> str:
    return "-inf" if x == -np.inf else "+inf" if x == np.inf else f"{100 * x:+.1f}"


def _interval(r) -> str:
    return f"{_pts(r['mean'])} [{_pts(r['low'])}, {_pts(r['high'])}] over {r['n']} seeds"


_LIFT_WORDS = {"better": "decided: yes", "worse": "decided: no, it lowers random",
               "equivalent": "decided: no, within the margin"}


def _lift_lines(group: pd.DataFrame, claim: str, title: str) -> list[str]:
    """One line per row of a lift claim (a paradigm's random against the reference's random)."""
    return [f"* *{title}* ({r['paradigm']} over {r['versus']}): {_interval(r)}: "
            f"{_LIFT_WORDS.get(r['decision'], 'open')}." for _, r in group.loc[group["claim"] == claim].iterrows()]


def claims_section(claims: pd.DataFrame, *, margin: float, metric: str = "accuracy") -> list[str]:
    """The claims as answers: per claim and dataset, decided (which way) or open, with the numbers
    (`metric`: what the AUBC's points are points of, in words)."""
    if claims.empty:
        return []
    kind = ("anytime-valid 95 % confidence sequences (the evaluation chose its seeds as it went)"
            if (claims["interval"] == "sequence").all() else
            "Student-t 95 % intervals (the evaluation's seeds were fixed in advance)")
    md = ["## Mittal et al. 2019's claims on this data", "",
          f"Test AUBC points ({metric}) paired by seed; {kind}, Bonferroni over the "
          f"{len(claims)} comparisons of this section (`claims.csv`), equivalence margin ±{100 * margin:g} points. "
          "*Decided* means the interval settles it; *open* means more seeds are needed.", ""]
    for dataset, group in claims.groupby("dataset", sort=True):
        md.append(f"**{dataset}**")
        md.append("")
        md += _lift_lines(group, "ssl_lifts", "SSL lifts random")
        for paradigm, g in group.loc[group["claim"] == "random_ssl_beats_all"].groupby("paradigm"):
            beaten = int((g["decision"] == "better").sum())
            against = g.loc[g["decision"].isin(["worse", "equivalent"])]
            word = ("decided: yes" if beaten == len(g) else
                    f"decided: no ({', '.join(f'{a.versus}/{a.strategy} {a.decision}' for a in against.itertuples())})"
                    if len(against) else "open")
            worst = g.loc[g["mean"].idxmin()]
            with_ssl = bool(g["versus"].isin(group.loc[group["claim"] == "ssl_lifts", "paradigm"]).any()
                            or (g["versus"] == paradigm).any())
            claim, cells = (("with and without SSL", "cells") if with_ssl else ("without SSL", "supervised cells"))
            md.append(f"* *Random with {paradigm} beats every strategy {claim}*: better than {beaten} of "
                      f"{len(g)} {cells}; the closest, {worst['versus']}/{worst['strategy']}: "
                      f"{_interval(worst)}: {word}.")
        for paradigm, g in group.loc[group["claim"] == "barely_beats_random"].groupby("paradigm"):
            clear = g.loc[(g["decision"] == "better") & (g["low"] > margin)]
            better = g.loc[g["decision"] == "better"]
            equal = g.loc[g["decision"].isin(["equivalent", "worse"])]
            word = ("decided: no, " + ", ".join(clear["strategy"]) + " beat random by more than the margin"
                    if len(clear) else "decided: yes" if len(equal) == len(g) else "open")
            best = g.loc[g["mean"].idxmax()]
            md.append(f"* *Strategies barely beat random* in {paradigm}: {len(better)} better, {len(equal)} "
                      f"equivalent or worse, {len(g) - len(better) - len(equal)} undecided of {len(g)}; the best, "
                      f"{best['strategy']}: {_interval(best)}: {word}.")
        md += _lift_lines(group, "augmentation_lifts", "Augmentation lifts random")
        moved = group.loc[group["claim"] == "augmentation_moves_gains"]
        if len(moved):
            changed = moved.loc[moved["decision"].isin(["better", "worse"])]
            same = moved.loc[moved["decision"] == "equivalent"]
            word = ("decided: yes, for " + ", ".join(changed["strategy"]) if len(changed) else
                    "decided: no, every gain within the margin" if len(same) == len(moved) else "open")
            top = moved.loc[moved["mean"].abs().idxmax()]
            md.append(f"* *Augmentation moves the strategies' gains* ({top['paradigm']} against {top['versus']}): "
                      f"the largest change, {top['strategy']}: {_interval(top)}: {word}.")
        md.append("")
    return md
