"""Area under the budget curve (AUBC): the tuning objective and the summary metric."""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def aubc(records: Iterable[Mapping[str, Any]], metric: str = "val_acc") -> float:
    """Trapezoid of `metric` over n_labeled, divided by the labeled range (so it lies in [0, 1]
    for accuracies). One record: its value. Records may come in any order."""
    points = sorted((int(r["n_labeled"]), float(r[metric])) for r in records)
    if not points:
        raise ValueError("aubc of no records")
    if len(points) == 1 or points[-1][0] == points[0][0]:
        return sum(v for _, v in points) / len(points)
    area = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:]))
    return area / (points[-1][0] - points[0][0])
