"""Finished campaign files -> one long `results.parquet` (one row per trial and cycle).

Columns: the records of run_campaign, then the runner's: study, phase, trial, optuna_trial
(the Optuna trial number; for evaluation rows the number of the best trial they reuse),
objective (this campaign's validation AUBC), optuna_value (mean objective of that Optuna
trial over the tuning seeds), attempt (0 = first try; > 0: resumed from a checkpoint),
run (which invocation of `alstudy run` produced the row), code (the alstudy version, and git
revision, of the process that ran the campaign), host, device, gpu_ids.
"""

from __future__ import annotations

import io
from collections import defaultdict
from statistics import fmean
from typing import Any

from alstudy.study.plan import PHASES
from alstudy.study.store import Store, write_atomic

_FIRST = ("study", "phase", "dataset", "strategy", "model", "trial", "seed", "cycle", "n_labeled",
          "n_validation", "val_acc", "test_acc")


def optuna_values(trials: list[dict[str, Any]]) -> dict[tuple[str, str, int], float]:
    """Mean objective per (dataset, strategy, Optuna number) over finished tuning campaigns."""
    values: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for t in trials:
        s = t["spec"]
        if s["phase"] == "tune":
            values[(s["dataset"], s["strategy"], s["number"])].append(t["objective"])
    return {k: fmean(v) for k, v in values.items()}


def rows(study_name: str, trials: list[dict[str, Any]],
         codes: dict[int, str] | None = None) -> list[dict[str, Any]]:
    """Rows of every finished campaign in `trials` (trial files), in a stable order. A cycle
    recorded without its code takes its run's from `codes` (manifest.run_codes)."""
    codes = codes or {}
    done = [t for t in trials if t.get("status") == "done"]
    means = optuna_values(done)
    order = {p: i for i, p in enumerate(PHASES)}
    done.sort(key=lambda t: (order.get(t["spec"]["phase"], 99), t["spec"]["trial"]))
    out = []
    for t in done:
        s = t["spec"]
        for record in t["state"]["records"]:
            meta = t["cycles"].get(str(record["cycle"]), {})
            out.append({
                "study": study_name, "phase": s["phase"], "trial": s["trial"], **record,
                "optuna_trial": s["number"], "objective": t["objective"],
                "optuna_value": means.get((s["dataset"], s["strategy"], s["number"]), float("nan")),
                "attempt": meta.get("attempt", 0), "run": meta.get("run", 0),
                "code": meta.get("code") or codes.get(int(meta.get("run", 0)), ""),
                "host": meta.get("host", ""), "device": meta.get("device", ""),
                "gpu_ids": meta.get("gpu_ids", ""),
            })
    return out


def write_results(store: Store, study_name: str) -> tuple[str, int]:
    """Write `results.parquet` from the finished trial files; return its path and row count."""
    import pandas as pd

    from alstudy.study.manifest import run_codes

    codes = run_codes(store.read_json("manifest.json"))
    frame = pd.DataFrame(rows(study_name, list(store.trials()), codes))
    if len(frame):
        first = [c for c in _FIRST if c in frame.columns]
        frame = frame[first + [c for c in frame.columns if c not in first]]
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    path = store.path("results.parquet")
    write_atomic(path, buffer.getvalue())
    return path, len(frame)
