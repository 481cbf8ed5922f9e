"""Read a results store and check it holds what the analysis needs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alstudy.errors import UsageError
from alstudy.sequential import BASELINE   # the arm every verdict pairs against, one name for study and analysis

RESULTS_FILE = "results.parquet"

# The columns every statistic here relies on (see the results table in the design).
REQUIRED_COLUMNS = ("phase", "dataset", "strategy", "seed", "cycle", "n_labeled", "test_acc")

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
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ResultsError(f"{source}: missing column(s) {', '.join(missing)}; "
                           f"required: {', '.join(REQUIRED_COLUMNS)}")
    for column in ("test_acc", "val_acc", "n_labeled", "cycle", "seed"):
        if column in frame.columns and not pd.api.types.is_numeric_dtype(frame[column]):
            raise ResultsError(f"{source}: column {column} holds {frame[column].dtype} values, expected numbers")
    accuracy = frame["test_acc"].astype(float)
    bad = ~accuracy.between(0.0, 1.0)          # NaN, inf and anything outside [0, 1]
    if bad.any():
        raise ResultsError(f"{source}: {int(bad.sum())} row(s) have a test_acc that is not an accuracy in [0, 1] "
                           f"({_first(frame, bad)}: {accuracy[bad].iloc[0]!r})")
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
