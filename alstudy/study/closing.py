"""The closing table of `alstudy run`: per dataset, each strategy's evaluation AUBC and rank.

Read from results.parquet (the same file `analysis` reads): test AUBC of the evaluation
phase, averaged over the evaluation seeds; rank 1 = best within the dataset (tied strategies
share their average rank, as in `alstudy report`). The untuned arm's test AUBC is shown beside it when the study has one.
"""

from __future__ import annotations

from statistics import fmean, pstdev

from alstudy.metrics import rank_desc, records_aubc as aubc


def eval_table(path: str) -> list[dict]:
    """One dict per (dataset, strategy) with mean/sd test AUBC, seeds, rank, untuned AUBC."""
    import pandas as pd

    frame = pd.read_parquet(path, columns=["phase", "dataset", "strategy", "trial", "n_labeled", "test_acc"])
    per_trial = {}
    for (phase, dataset, strategy, trial), rows in frame.groupby(["phase", "dataset", "strategy", "trial"]):
        per_trial.setdefault((phase, dataset, strategy), []).append(aubc(rows.to_dict("records"), "test_acc"))
    out = []
    for (phase, dataset, strategy), values in sorted(per_trial.items()):
        if phase != "eval":
            continue
        untuned = per_trial.get(("untuned", dataset, strategy))
        out.append({"dataset": dataset, "strategy": strategy, "aubc": fmean(values), "sd": pstdev(values),
                    "seeds": len(values), "untuned": fmean(untuned) if untuned else None})
    for dataset in {r["dataset"] for r in out}:
        rows = [r for r in out if r["dataset"] == dataset]
        for r, rank in zip(rows, rank_desc([r["aubc"] for r in rows])):
            r["rank"] = float(rank)
    return out


def render(rows: list[dict], *, order: dict[str, int] | None = None) -> str:
    """Text table of `eval_table` rows, datasets in study order, strategies by rank."""
    if not rows:
        return "no evaluation results yet"
    order = order or {}
    rows = sorted(rows, key=lambda r: (order.get(r["dataset"], 0), r["dataset"], r["rank"], r["strategy"]))
    untuned = any(r["untuned"] is not None for r in rows)
    width = max(len(r["strategy"]) for r in rows)
    head = f"{'dataset':<14} {'strategy':<{width}}  {'test AUBC':>15}  rank" + ("  untuned" if untuned else "")
    lines = [f"evaluation: test AUBC, mean +- sd over {rows[0]['seeds']} seeds; rank 1 = best", head]
    for r in rows:
        line = f"{r['dataset']:<14} {r['strategy']:<{width}}  {r['aubc']:>7.4f} +- {r['sd']:.4f}  {r['rank']:>4g}"
        if untuned:
            line += f"  {r['untuned']:.4f}" if r["untuned"] is not None else "        -"
        lines.append(line)
    return "\n".join(lines)
