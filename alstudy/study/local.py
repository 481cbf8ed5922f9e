"""Run a study's campaigns in this process, one after another, without Ray.

The same scheduler, store and per-cycle log lines as the Ray runner: for debugging, for tests,
and to measure what Ray adds. A rerun resumes unfinished campaigns from their last cycle.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable

import torch

from alstudy.campaign import run_campaign
from alstudy.errors import UsageError
from alstudy.metrics import records_aubc
from alstudy.study import plan, pretraining
from alstudy.study.progress import Progress
from alstudy.study.scheduler import Scheduler
from alstudy.study.store import Store
from alstudy.study.placement import placement
from alstudy.training import shared


def run_local(scheduler: Scheduler, store: Store, *, run: int, progress: Progress, device: str = "cpu",
              campaign: Callable | None = None) -> dict[str, Any]:
    """Run every campaign the scheduler hands out, in order; return facts for the manifest.

    Each campaign gets the CPU threads its Ray trial would get (resources.cpu), so both
    runners compute alike and a busy machine is not oversubscribed. `campaign` replaces
    run_campaign (the tests wrap it to inject faults)."""
    threads, wanted = torch.get_num_threads(), max(1, int(scheduler.study.resources.cpu))
    torch.set_num_threads(wanted)
    try:
        pre = pretraining.ensure(plan.pretraining_jobs(scheduler.study), store.path(pretraining.FOLDER),
                                 note=progress.note, device=device)
        _run_all(scheduler, store, run=run, progress=progress, device=device, campaign=campaign or run_campaign)
    finally:
        torch.set_num_threads(threads)
    return {"device": device, "threads": wanted} | ({"pretrained": pre} if pre else {})


def _run_all(scheduler: Scheduler, store: Store, *, run: int, progress: Progress, device: str,
             campaign: Callable) -> None:
    study, where = scheduler.study, placement(device)
    trainings = shared.SharedTrainings(store.path(shared.FOLDER))
    while (spec := scheduler.next()) is not None:
        config = pretraining.attach(plan.campaign_config(study, spec), study, spec, store.root)
        total = config.budget.cycles + 1
        resume, attempt = store.resume_point(spec, warm_start=config.train.warm_start)
        meta = where | {"attempt": attempt}

        def on_cycle(cycle, _weights, spec=spec, meta=meta, total=total) -> None:
            store.record(spec, cycle.to_dict(), meta, run=run, cycles_total=total)
            progress.update()

        try:
            records = campaign(config, spec.seed, device=device, on_cycle=on_cycle, resume=resume,
                               shared=trainings if plan.keeps_cycle0(spec) else None)
        except (UsageError, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - one failed campaign must not stop the study
            error = "".join(traceback.format_exception_only(err)).strip()
            store.record_failure(spec, error, attempt=attempt, run=run, cycles_total=total)
            retrying = scheduler.fail(spec.trial)
            progress.note(f"{spec.trial} failed: {type(err).__name__}: {err}"
                          + ("; retrying from its last cycle" if retrying else ""))
            continue
        scheduler.complete(spec.trial, records_aubc(records), test=records_aubc(records, "test"))
        progress.finished(spec.dataset, spec.strategy, spec.phase, paradigm=spec.paradigm, trial=spec.trial,
                          records=records)
