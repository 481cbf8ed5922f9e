"""Finished campaign logs -> one long `results.parquet` (one row per trial and cycle).

Columns: the records of run_campaign, then the runner's: study, phase, trial, optuna_trial
(the Optuna trial number; for evaluation rows the number of the best trial they reuse),
objective (this campaign's validation AUBC), optuna_value (mean objective of that Optuna
trial over the tuning seeds), attempt (0 = first try; > 0: resumed from its log after a crash or a stop),
run (which invocation of `alstudy run` produced the row), code (the alstudy version and a
hash of its source files, of the process that ran the campaign), host, device, gpu_ids, node_id and node_ip
(the Ray node that ran the cycle; "" for the local runner and for rows logged before rows named it).
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from alstudy.metrics import objective, records_aubc
from alstudy.study.plan import PHASES
from alstudy.files import write_atomic
from alstudy.study.store import Store, TrialLog

_FIRST = ("study", "phase", "paradigm", "dataset", "strategy", "model", "trial", "seed", "cycle", "n_labeled",
          "n_validation", "metric", "val_acc", "test_acc", "val_miou", "test_miou")


def rows(study_name: str, logs: dict[str, TrialLog]) -> list[dict[str, Any]]:
    """Rows of every finished campaign in `logs` (the store's campaign logs), in a stable order."""
    done = [log for log in logs.values() if log.done]
    value = {log.spec.trial: records_aubc(log.records) for log in done}   # each campaign's objective
    per_seed: dict[tuple, list[float]] = defaultdict(list)
    for log in done:
        if log.spec.phase == "tune":
            per_seed[(*log.spec.cell, log.spec.number)].append(value[log.spec.trial])
    order = {p: i for i, p in enumerate(PHASES)}
    done.sort(key=lambda log: (order.get(log.spec.phase, 99), log.spec.trial))
    out = []
    for log in done:
        s = log.spec
        trial_value = per_seed.get((*s.cell, s.number))
        for line in log.lines:
            meta = line["meta"]
            out.append({
                # logs written before paradigms existed have no paradigm in their records
                "study": study_name, "phase": s.phase, "trial": s.trial, "paradigm": s.paradigm_name,
                **line["record"],
                "optuna_trial": s.number, "objective": value[s.trial],
                "optuna_value": objective(trial_value) if trial_value else float("nan"),
                "attempt": meta["attempt"], "run": line["run"], "code": meta["code"],
                "host": meta["host"], "device": meta["device"], "gpu_ids": meta["gpu_ids"],
                "node_id": meta.get("node_id", ""), "node_ip": meta.get("node_ip", ""),
            })
    return out


def write_results(store: Store, study_name: str, logs: dict[str, TrialLog]) -> tuple[str, int]:
    """Write `results.parquet` from the finished campaign logs (`store.logs()`); return its path
    and row count.
    Without a finished campaign nothing is written (an empty table would say nothing)."""
    import pandas as pd   # pandas: only the driver writes results; a Ray worker never loads it

    path = store.path("results.parquet")
    frame = pd.DataFrame(rows(study_name, logs))
    if not len(frame):
        return path, 0
    first = [c for c in _FIRST if c in frame.columns]
    frame = frame[first + [c for c in frame.columns if c not in first]]
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    write_atomic(path, buffer.getvalue())
    return path, len(frame)


