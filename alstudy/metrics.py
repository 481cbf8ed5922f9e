"""The study's metrics, defined once: which columns hold a row's score (its dataset's metric:
accuracy or mIoU), area under the budget curve, the tuning objective, ranks, and the margin
within which two AUBCs count as equal.

numpy only, so a Ray worker, the runner and the `analysis` package all compute them alike
without loading pandas or scipy. `alstudy run`'s summary table and `alstudy report` rank with
the same function, so they agree on ties.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

DEFAULT_MARGIN = 0.01   # equivalence margin of the report's verdicts: one point of the metric, in AUBC units

# A row's `metric` column names the score its dataset is measured by (the dataset's task decides:
# accuracy for classification, mIoU for segmentation); rows written before the column existed are "acc".
METRIC_LABELS = {"acc": "accuracy", "miou": "mIoU"}
DEFAULT_METRIC = "acc"
SPLITS = ("val", "test")


def metric_columns(metric: str) -> tuple[str, str]:
    """The (validation, test) columns of `metric`: ("val_acc", "test_acc"), ("val_miou", "test_miou")."""
    if metric not in METRIC_LABELS:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRIC_LABELS)}")
    return f"val_{metric}", f"test_{metric}"


def metric_of(record: Mapping[str, Any]) -> str:
    """The metric a record (one cycle, one results row) is scored in: its `metric` field, or
    DEFAULT_METRIC when it has none (records and stores written before the field existed)."""
    value = record.get("metric")
    return value if isinstance(value, str) and value else DEFAULT_METRIC


def aubc(n_labeled: Any, values: Any) -> float:
    """Trapezoid area of `values` over `n_labeled`, divided by the labeled range: an average
    accuracy (or mIoU) in [0, 1]. Points may come in any order. A single budget point (or a zero range)
    has no area; its mean value is returned, so the number stays comparable."""
    x = np.asarray(n_labeled, dtype=float)
    y = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("aubc of no points")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    if x.size == 1 or x[-1] == x[0]:
        return float(y.mean())
    return float(np.trapezoid(y, x) / (x[-1] - x[0]))


def records_aubc(records: Iterable[Mapping[str, Any]], split: str = "val") -> float:
    """AUBC over a campaign's per-cycle records of the `split` ("val" or "test") score in each
    record's metric: val_acc / test_acc, val_miou / test_miou. The tuning objective is "val"."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    column = SPLITS.index(split)
    rows = [(int(r["n_labeled"]), float(r[metric_columns(metric_of(r))[column]])) for r in records]
    if not rows:
        raise ValueError("aubc of no records")
    n_labeled, values = zip(*rows)
    return aubc(n_labeled, values)


def objective(per_seed: Iterable[float]) -> float:
    """The tuning objective of one Optuna trial: its campaigns' validation AUBC averaged over
    the tuning seeds."""
    values = [float(v) for v in per_seed]
    if not values:
        raise ValueError("objective of no campaigns")
    return float(np.mean(values))


def rank_desc(scores: Any) -> np.ndarray:
    """Ranks along the last axis, 1 = highest score; tied scores share their average rank
    (two strategies tied for first both get 1.5). A slice holding NaN ranks as all NaN."""
    s = np.asarray(scores, dtype=float)
    greater = (s[..., None, :] > s[..., :, None]).sum(axis=-1)   # (..., n): how many beat each
    equal = (s[..., None, :] == s[..., :, None]).sum(axis=-1)    # (..., n): itself included
    ranks = 1.0 + greater + (equal - 1) / 2.0
    if np.isnan(s).any():
        ranks = np.where(np.isnan(s).any(axis=-1, keepdims=True), np.nan, ranks)
    return ranks


def diverged(record: Mapping[str, Any]) -> bool:
    """Whether the cycle's model diverged: its validation or test loss is not finite (its
    metric is then chance, and its scores of the pool mean nothing)."""
    return any(isinstance(record.get(key), float) and not np.isfinite(record[key])
               for key in ("val_loss", "test_loss"))


def divergence_line(record: Mapping[str, Any]) -> str:
    """What a diverged cycle (`diverged(record)`) means, in one line."""
    return (f"the model diverged at cycle {record['cycle']} (validation loss {record.get('val_loss')}, test loss "
            f"{record.get('test_loss')}; a smaller lr?): its {METRIC_LABELS[metric_of(record)]} is chance and "
            "its picks are not informed by it")
