"""Read a results store and check it holds what the analysis needs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alstudy.errors import UsageError

RESULTS_FILE = "results.parquet"

# The columns every statistic here relies on (see the results table in the design).
REQUIRED_COLUMNS = ("phase", "dataset", "strategy", "seed", "cycle", "n_labeled", "test_acc")

EVAL_PHASE = "eval"
TUNE_PHASE = "tune"
BASELINE = "random"


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
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ResultsError(f"{source}: missing column(s) {', '.join(missing)}; "
                           f"required: {', '.join(REQUIRED_COLUMNS)}")
    if not (frame["phase"] == EVAL_PHASE).any():
        phases = sorted(map(str, frame["phase"].dropna().unique()))
        raise ResultsError(f"{source}: no evaluation rows (phase == '{EVAL_PHASE}'); "
                           f"phases present: {', '.join(phases) or 'none'}")
    return frame


def phase_rows(frame: pd.DataFrame, phase: str = EVAL_PHASE) -> pd.DataFrame:
    """The rows of one phase with a usable test accuracy, one row per (dataset, strategy, seed, n_labeled).

    Repeated campaigns of the same cell and seed (should a runner ever store two) are averaged,
    so that seed pairing between strategies stays one-to-one.
    """
    rows = frame.loc[(frame["phase"] == phase) & frame["test_acc"].notna()]
    keys = ["dataset", "strategy", "seed", "n_labeled"]
    out = (rows.groupby(keys, as_index=False, sort=True)
           .agg(cycle=("cycle", "min"), test_acc=("test_acc", "mean")))
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
