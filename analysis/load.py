"""Read a results store and check it holds what the analysis needs.

Every row is scored in its dataset's metric, named by its `metric` column ("acc": val_acc /
test_acc; "miou": val_miou / test_miou; stores written before the column existed are "acc").
`with_scores` copies each row's pair into VAL and TEST, so every statistic downstream reads one
pair of columns whatever the dataset's task; a study mixing tasks ranks within each dataset.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alstudy.errors import UsageError
from alstudy.metrics import DEFAULT_METRIC, METRIC_LABELS, metric_columns
from alstudy.sequential import BASELINE   # the arm every verdict pairs against, one name for study and analysis

RESULTS_FILE = "results.parquet"

# The columns every statistic here relies on (see the results table in the design), besides the
# test column of each row's metric (test_acc, test_miou).
REQUIRED_COLUMNS = ("phase", "dataset", "strategy", "seed", "cycle", "n_labeled")
VAL, TEST = "val_score", "test_score"   # each row's validation and test value of its dataset's metric

EVAL_PHASE = "eval"
TUNE_PHASE = "tune"


class ResultsError(UsageError, ValueError):
    """A results store the analysis cannot use; printed as one line, exit code 2."""


def read_results(path: str | Path) -> pd.DataFrame:
    """Load `path/results.parquet` (or `path` itself when it is a file) and validate it."""
    path = Path(path)
    file = path / RESULTS_FILE if path.is_dir() else path
    if not file.is_file():
        raise ResultsError(f"{file}: no such results file (expected a directory holding {RESULTS_FILE})")
    try:
        frame = pd.read_parquet(file)
    except Exception as err:  # pyarrow raises several types for a torn or foreign file
        raise ResultsError(f"{file}: not a readable Parquet file ({type(err).__name__})") from None
    return validate(frame, source=str(file))


def validate(frame: pd.DataFrame, *, source: str = "results") -> pd.DataFrame:
    """Return `frame` if it has the required columns and evaluation rows; else ResultsError."""
    metric = metrics_of(frame)
    unknown = ~metric.isin(list(METRIC_LABELS))
    if unknown.any():
        raise ResultsError(f"{source}: column metric holds {metric[unknown].iloc[0]!r} ({_first(frame, unknown)}); "
                           f"known metrics: {', '.join(METRIC_LABELS)}")
    tests = [metric_columns(m)[1] for m in METRIC_LABELS if (metric == m).any()]
    required = [*REQUIRED_COLUMNS, *tests]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ResultsError(f"{source}: missing column(s) {', '.join(missing)}; required: {', '.join(required)}")
    scores = [c for m in METRIC_LABELS for c in metric_columns(m)]
    for column in (*scores, "n_labeled", "cycle", "seed"):
        if column in frame.columns and not pd.api.types.is_numeric_dtype(frame[column]):
            raise ResultsError(f"{source}: column {column} holds {frame[column].dtype} values, expected numbers")
    for m, test in zip([m for m in METRIC_LABELS if (metric == m).any()], tests):
        value = frame[test].astype(float)
        bad = (metric == m) & ~value.between(0.0, 1.0)     # NaN, inf and anything outside [0, 1]
        if bad.any():
            raise ResultsError(f"{source}: {int(bad.sum())} row(s) have a {test} that is not an {METRIC_LABELS[m]} "
                               f"in [0, 1] ({_first(frame, bad)}: {value[bad].iloc[0]!r})")
    keys = ["trial", "cycle"] if "trial" in frame.columns else ["phase", "dataset", "strategy", "seed", "cycle"]
    keys += ["paradigm"] if "paradigm" in frame.columns else []
    twice = frame.duplicated(keys, keep=False)
    if twice.any():
        raise ResultsError(f"{source}: {int(twice.sum())} rows repeat the same {' and '.join(keys)} "
                           f"({_first(frame, twice)}): a table merged twice? rerun `alstudy run` on the "
                           "study to rewrite results.parquet from its logs")
    if not (frame["phase"] == EVAL_PHASE).any():
        phases = sorted(map(str, frame["phase"].dropna().unique()))
        raise ResultsError(f"{source}: no evaluation rows (phase == '{EVAL_PHASE}'); "
                           f"phases present: {', '.join(phases) or 'none'}")
    return frame


def _first(frame: pd.DataFrame, mask: pd.Series) -> str:
    """Where the first masked row is, in words a reader can find it by."""
    row = frame.loc[mask].iloc[0]
    where = [f"{k} {row[k]}" for k in ("trial", "phase", "dataset", "strategy", "seed", "cycle") if k in row]
    return "first: " + ", ".join(where[:3] if "trial" in row else where)


def metrics_of(frame: pd.DataFrame) -> pd.Series:
    """Each row's metric: its `metric` column, DEFAULT_METRIC where absent (older stores) or empty."""
    if "metric" not in frame:
        return pd.Series(DEFAULT_METRIC, index=frame.index, dtype=object)
    return frame["metric"].where(frame["metric"].notna() & (frame["metric"].astype(str) != ""),
                                 DEFAULT_METRIC).astype(str)


def with_scores(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with `metric` filled in and each row's val_<metric> / test_<metric> copied into VAL and
    TEST (NaN where the store lacks the column); a frame that has them already is returned as is."""
    if TEST in frame:
        return frame
    metric = metrics_of(frame)
    out = frame.assign(metric=metric)
    for split, name in enumerate((VAL, TEST)):
        values = pd.Series(np.nan, index=frame.index)
        for m in metric.unique():
            column = metric_columns(m)[split]
            if column in frame:
                values = values.mask(metric == m, frame[column].astype(float))
        out[name] = values
    return out


def dataset_metrics(frame: pd.DataFrame) -> dict[str, str]:
    """{dataset: metric} of the rows, datasets in sorted order."""
    pairs = pd.DataFrame({"dataset": frame["dataset"].astype(str), "metric": metrics_of(frame)})
    return dict(pairs.drop_duplicates("dataset").sort_values("dataset").itertuples(index=False, name=None))


def metric_words(metrics: dict[str, str]) -> str:
    """The metric of a study's datasets in words: "accuracy", "mIoU", or "score" when they mix
    (the report then says which dataset uses which, `metric_legend`)."""
    names = set(metrics.values())
    return METRIC_LABELS[names.pop()] if len(names) == 1 else "score"


def metric_legend(metrics: dict[str, str]) -> str | None:
    """"Metric per dataset: digits accuracy, mnist5k_seg mIoU." for a study mixing metrics, else None."""
    if len(set(metrics.values())) < 2:
        return None
    return "Metric per dataset: " + ", ".join(f"{d} {METRIC_LABELS[m]}" for d, m in metrics.items()) + "."


def phase_rows(frame: pd.DataFrame, phase: str = EVAL_PHASE) -> pd.DataFrame:
    """The rows of one phase with a usable test score, one row per (dataset, strategy, seed, n_labeled):
    columns dataset, strategy, seed, n_labeled, cycle, metric, TEST.

    Repeated campaigns of the same cell and seed (should a runner ever store two) are averaged,
    so that seed pairing between strategies stays one-to-one.
    """
    frame = with_scores(frame)
    rows = frame.loc[(frame["phase"] == phase) & frame[TEST].notna()]
    keys = ["dataset", "strategy", "seed", "n_labeled"]
    out = (rows.groupby(keys, as_index=False, sort=True)
           .agg(cycle=("cycle", "min"), metric=("metric", "first"), **{TEST: (TEST, "mean")}))
    out["dataset"] = out["dataset"].astype(str)
    out["strategy"] = out["strategy"].astype(str)
    return out


def arms(frame: pd.DataFrame) -> list[str]:
    """Phases that hold test results of final campaigns: "eval" first, then other arms such as "untuned"."""
    present = [str(p) for p in frame["phase"].dropna().unique() if str(p) != TUNE_PHASE]
    return sorted(present, key=lambda p: (p != EVAL_PHASE, p))


def drop_incomplete(rows: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split off campaigns that lack some of their dataset's budget points (a crashed or running trial).

    An AUBC over a shorter budget axis is not comparable, so every statistic uses complete
    campaigns only. Returns (rows of complete campaigns, dataset/strategy/seed/n_points of the others).
    """
    keys = ["dataset", "strategy", "seed"]
    points = rows.groupby(keys)["n_labeled"].nunique().rename("n_points").reset_index()
    expected = rows.groupby("dataset")["n_labeled"].nunique().rename("expected")
    points = points.join(expected, on="dataset")
    short = points.loc[points["n_points"] < points["expected"], [*keys, "n_points"]].reset_index(drop=True)
    if short.empty:
        return rows, short
    flagged = rows.merge(short[keys], on=keys, how="left", indicator=True)["_merge"] == "both"
    return rows.loc[~flagged.to_numpy()].reset_index(drop=True), short
