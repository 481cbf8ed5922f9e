"""Area under the budget curve (AUBC): the tuning objective and the summary metric."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np


def aubc(records: Iterable[Mapping[str, Any]], metric: str = "val_acc") -> float:
    """Trapezoid of `metric` over n_labeled, divided by the labeled range (so it lies in [0, 1]
    for accuracies). One record: its value. Records may come in any order."""
    from analysis.curves import area_under_curve  # the report's definition, so the two agree

    rows = [(int(r["n_labeled"]), float(r[metric])) for r in records]
    if not rows:
        raise ValueError("aubc of no records")
    n_labeled, values = zip(*rows)
    return area_under_curve(np.asarray(n_labeled), np.asarray(values))
