"""Trainings that left a class unlearned: a row's per-class test IoU below a floor.

A cell's AUBC mixes what its strategy labeled with how well its trainings went, and a training
too short for its labeled set can leave a class unlearned whatever the labels: on mnist5k_seg
at batch 4 x 2400 steps, 26 of 60 evaluation rows of a study had a digit at test IoU under 0.05,
against none at the dataset's recipe (studies/segmentation.toml's header). Rows that carry a
per-class IoU (`test_iou`: one value per class, NaN where a class is in neither truth nor
prediction) say which classes each training left below `FLOOR`; the report counts them per cell,
so a gain or a loss that is a failed training's shows as one. Rows without `test_iou`
(classification) are not judged.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from analysis.load import EVAL_PHASE

FLOOR = 0.05   # below it a class counts as unlearned: a floor, not a natural gap (both segmentation
#               studies' evaluation rows hold digits at 0 and at 0.001-0.008, but also at 0.038-0.057)


def class_scores(value: Any) -> list[float] | None:
    """The per-class IoU of one row (a list or array, as results.parquet holds it) as floats;
    None when the row has none (a classification row in a mixed study)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return [float(v) for v in value]


def unlearned_classes(frame: pd.DataFrame, *, floor: float = FLOOR, phase: str = EVAL_PHASE) -> pd.DataFrame:
    """Per (dataset, strategy), over the `phase` rows holding a per-class test IoU: `rows`,
    `rows_unlearned` (rows with a class below `floor`), `classes_unlearned` (those classes, summed
    over rows), `fewest_learned` (the fewest classes at or above `floor` in one row) and `classes`
    (the most classes a row was scored on). Empty when no row holds a per-class IoU."""
    columns = ["dataset", "strategy", "rows", "rows_unlearned", "classes_unlearned", "fewest_learned", "classes"]
    if "test_iou" not in frame:
        return pd.DataFrame(columns=columns)
    records = []
    for row in frame.loc[frame["phase"] == phase, ["dataset", "strategy", "test_iou"]].itertuples(index=False):
        scores = class_scores(row.test_iou)
        if scores is None:
            continue
        scored = [s for s in scores if not math.isnan(s)]
        low = sum(s < floor for s in scored)
        records.append((str(row.dataset), str(row.strategy), low, len(scored) - low, len(scored)))
    if not records:
        return pd.DataFrame(columns=columns)
    rows = pd.DataFrame(records, columns=["dataset", "strategy", "low", "learned", "scored"])
    out = (rows.assign(unlearned=rows["low"] > 0)
           .groupby(["dataset", "strategy"], sort=True)
           .agg(rows=("low", "size"), rows_unlearned=("unlearned", "sum"), classes_unlearned=("low", "sum"),
                fewest_learned=("learned", "min"), classes=("scored", "max"))
           .reset_index())
    return out[columns].astype({c: int for c in columns[2:]})


def health_lines(table: pd.DataFrame, *, floor: float = FLOOR) -> list[str]:
    """The report's paragraph on `unlearned_classes`: nothing when every training learned every
    class it was scored on."""
    if table.empty or int(table["rows_unlearned"].sum()) == 0:
        return []
    worst = table.sort_values(["rows_unlearned", "classes_unlearned"], ascending=False).iloc[0]
    return [f"**Unlearned classes:** {int(table['rows_unlearned'].sum())} of {int(table['rows'].sum())} "
            f"evaluation rows left a class at test IoU below {floor:g} ({int(table['classes_unlearned'].sum())} "
            f"classes in all; most in {worst['dataset']} / {worst['strategy']}: {int(worst['rows_unlearned'])} of "
            f"{int(worst['rows'])} rows). Such a training failed whatever its labels, so a cell's AUBC measures "
            "its trainings as much as its strategy, and more seeds do not repair it: the training must. "
            "Per cell in `unlearned_classes.csv`.", ""]
