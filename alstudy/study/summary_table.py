"""The summary table `alstudy run` prints when it ends: per dataset and paradigm, each
strategy's evaluation AUBC and rank.

Read from results.parquet (the same file `analysis` reads): test AUBC of the evaluation
phase in each dataset's metric (accuracy or mIoU: the rows' `metric` column, named in the
table's first line), averaged over the evaluation seeds; rank 1 = best within the (dataset,
paradigm) (tied strategies share their average rank, as in `alstudy report`). The untuned
arm's test AUBC is shown beside it when the study has one.
"""

from __future__ import annotations

from statistics import fmean, pstdev

import pandas as pd
import pyarrow.parquet as pq

from alstudy.metrics import METRIC_LABELS, metric_columns, metric_of, rank_desc, records_aubc as aubc


def eval_table(path: str) -> list[dict]:
    """One dict per (dataset, paradigm, strategy) with mean/sd test AUBC, seeds, rank, untuned AUBC."""
    keys = ["phase", "dataset", "paradigm", "strategy", "trial"]
    columns = set(pq.read_schema(path).names)
    tests = [metric_columns(m)[1] for m in METRIC_LABELS]
    frame = pd.read_parquet(path, columns=[k for k in keys if k in columns] + ["n_labeled"]
                            + [c for c in ["metric", *tests] if c in columns])
    if "paradigm" not in frame:   # a store written before paradigms existed: the implicit one
        frame["paradigm"] = "supervised"
    per_trial, metric = {}, {}
    for (phase, dataset, paradigm, strategy, trial), rows in frame.groupby(keys):
        records = rows.to_dict("records")
        per_trial.setdefault((phase, dataset, paradigm, strategy), []).append(aubc(records, "test"))
        metric[dataset] = metric_of(records[0])
    out = []
    for (phase, dataset, paradigm, strategy), values in sorted(per_trial.items()):
        if phase != "eval":
            continue
        untuned = per_trial.get(("untuned", dataset, paradigm, strategy))
        out.append({"dataset": dataset, "paradigm": paradigm, "strategy": strategy, "metric": metric[dataset],
                    "aubc": fmean(values), "sd": pstdev(values), "seeds": len(values),
                    "untuned": fmean(untuned) if untuned else None})
    for cell in {(r["dataset"], r["paradigm"]) for r in out}:
        rows = [r for r in out if (r["dataset"], r["paradigm"]) == cell]
        for r, rank in zip(rows, rank_desc([r["aubc"] for r in rows])):
            r["rank"] = float(rank)
    return out


def render(rows: list[dict], *, order: dict[str, int] | None = None,
           paradigm_order: dict[str, int] | None = None) -> str:
    """Text table of `eval_table` rows, datasets and paradigms in study order, strategies by
    rank; a paradigm column when there is more than one."""
    if not rows:
        return "no evaluation results yet"
    order, paradigm_order = order or {}, paradigm_order or {}
    rows = sorted(rows, key=lambda r: (order.get(r["dataset"], 0), r["dataset"],
                                       paradigm_order.get(r["paradigm"], 0), r["paradigm"], r["rank"], r["strategy"]))
    untuned = any(r["untuned"] is not None for r in rows)
    width = max(len(r["strategy"]) for r in rows)
    paradigms = len({r["paradigm"] for r in rows}) > 1
    pw = max(len(r["paradigm"]) for r in rows)
    par = (lambda name: f"{name:<{pw}} ") if paradigms else (lambda name: "")
    fewest, most = min(r["seeds"] for r in rows), max(r["seeds"] for r in rows)
    head = (f"{'dataset':<14} {par('paradigm')}{'strategy':<{width}}  {'test AUBC':>15}  rank"
            + ("  untuned" if untuned else ""))
    within = "within its dataset and paradigm" if paradigms else "within its dataset"
    count = f"{fewest}" if fewest == most else f"{fewest}-{most}"
    lines = [f"evaluation: AUBC of {_metric_words(rows)}, mean +- sd over {count} seeds; rank 1 = best {within}",
             head]
    for r in rows:
        line = (f"{r['dataset']:<14} {par(r['paradigm'])}{r['strategy']:<{width}}  "
                f"{r['aubc']:>7.4f} +- {r['sd']:.4f}  {r['rank']:>4g}")
        if untuned:
            line += f"  {r['untuned']:.4f}" if r["untuned"] is not None else "        -"
        lines.append(line)
    return "\n".join(lines)


def _metric_words(rows: list[dict]) -> str:
    """"test accuracy", "test mIoU", or per dataset when a study mixes them."""
    metrics = {r["dataset"]: r["metric"] for r in rows}
    if len(set(metrics.values())) == 1:
        return f"test {METRIC_LABELS[next(iter(metrics.values()))]}"
    return "each dataset's test metric (" + ", ".join(f"{d}: {METRIC_LABELS[m]}" for d, m in metrics.items()) + ")"
