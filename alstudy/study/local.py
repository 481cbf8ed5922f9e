"""Run a study's campaigns in this process, one after another, without Ray.

The same scheduler, store and per-cycle records as the Ray runner: for debugging, for tests,
and to measure what Ray adds. A rerun resumes unfinished campaigns from their last cycle.
"""

from __future__ import annotations

import platform
import traceback
from typing import Any

from alstudy.errors import UsageError
from alstudy.study import plan
from alstudy.study.manifest import current_code, now
from alstudy.metrics import records_aubc as aubc
from alstudy.study.progress import Progress
from alstudy.study.scheduler import DONE, Scheduler


def run_local(scheduler: Scheduler, *, run: int, progress: Progress, device: str = "cpu") -> dict[str, Any]:
    """Run every campaign the scheduler hands out, in order; return facts for the manifest.

    Each campaign gets the CPU threads its Ray trial would get (resources.cpu), so both
    runners compute alike and a busy machine is not oversubscribed."""
    import torch

    threads, wanted = torch.get_num_threads(), max(1, int(scheduler.study.resources.cpu))
    torch.set_num_threads(wanted)
    try:
        _run_all(scheduler, run=run, progress=progress, device=device)
    finally:
        torch.set_num_threads(threads)
    return {"device": device, "threads": wanted}


def _run_all(scheduler: Scheduler, *, run: int, progress: Progress, device: str) -> None:
    from alstudy.campaign import CampaignState, run_campaign

    study, store = scheduler.study, scheduler.store
    while (spec := scheduler.next()) != DONE:
        assert spec is not None, "a sequential run never waits on running campaigns"
        config = plan.campaign_config(study, spec)
        saved, attempt = store.resume_state(spec.trial, warm_start=config.train.warm_start)
        state = CampaignState.from_dict(saved) if saved else None
        meta = {"attempt": attempt, "host": platform.node(), "code": current_code(), "device": device,
                "device_name": _device_name(device), "gpu_ids": ""}

        def on_cycle(record: dict, st: CampaignState, spec=spec, meta=meta) -> None:
            d = st.to_dict()
            store.record_cycle(spec, d, meta, cycles=config.budget.cycles, objective=aubc(d["records"]),
                               run=run, now=now())
            progress.update()

        try:
            records = run_campaign(config, spec.seed, device=device, on_cycle=on_cycle, state=state)
        except (UsageError, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - one failed campaign must not stop the study
            store.mark_failed(spec, "".join(traceback.format_exception_only(err)).strip(), now=now())
            scheduler.fail(spec.trial)
            progress.note(f"{spec.trial} failed: {type(err).__name__}: {err}")
            continue
        scheduler.complete(spec.trial, aubc(records))
        progress.finished(spec.dataset, spec.strategy, spec.phase)


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(0)
    return platform.processor() or "cpu"
