"""The Ray Tune trainable: one trial runs one campaign, reporting and checkpointing per cycle.

Each report carries the running validation AUBC (the objective, present in every report) and
the campaign state as JSON; each checkpoint holds that state, so a retried trial resumes at
its next cycle and, randomness being derived from (seed, purpose, cycle), its records equal
an uninterrupted run's.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from typing import Any

# Test-only fault hook: the driver copies this variable into each trial's config; a trial
# then raises once (a marker file records it) when it reaches that cycle.
FAULT_ENV = "ALSTUDY_TEST_FAIL_AT_CYCLE"


def pick_device(gpu_fraction: float) -> tuple[str, str]:
    """(device, GPU ids Ray assigned): cuda only when Ray gave this trial a GPU and torch sees one.

    A fractional GPU is a scheduling promise only, so the trial also caps its memory share.
    """
    import ray
    import torch

    ids = ",".join(str(i) for i in ray.get_gpu_ids())
    if ids and torch.cuda.is_available():
        if 0 < gpu_fraction < 1:
            torch.cuda.set_per_process_memory_fraction(gpu_fraction, device=0)
        return "cuda", ids
    return "cpu", ids


def run_trial(config: dict[str, Any]) -> None:
    """Tune function trainable. `config`: trial, seed, campaign (dict), cycles, cpu, gpu,
    resume (state dict or None), attempt, fault (cycle and marker path, or None)."""
    import torch
    from ray import tune

    from alstudy.campaign import CampaignState, run_campaign
    from alstudy.study.manifest import current_code
    from alstudy.metrics import records_aubc as aubc
    from alstudy.study.plan import config_from_dict

    campaign = config_from_dict(config["campaign"])
    torch.set_num_threads(max(1, int(config["cpu"])))
    device, gpu_ids = pick_device(float(config["gpu"]))
    device_name = torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or "cpu"

    state, attempt = None, int(config.get("attempt", 0))
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            with open(os.path.join(folder, "state.json")) as f:
                saved = json.load(f)
            model_path = os.path.join(folder, "model.pt")
            model_state = torch.load(model_path, map_location="cpu") if os.path.exists(model_path) else None
        state = CampaignState.from_dict(saved["state"], model_state=model_state)
        attempt = saved["attempt"] + 1
    elif config.get("resume"):
        state = CampaignState.from_dict(config["resume"])

    code = current_code()

    def on_cycle(record: dict, st: CampaignState) -> None:
        _maybe_fail(config.get("fault"), config["trial"], int(record["cycle"]))
        data = st.to_dict()
        with tempfile.TemporaryDirectory(prefix="alstudy-ckpt-") as folder:
            with open(os.path.join(folder, "state.json"), "w") as f:
                f.write(_dumps({"state": data, "attempt": attempt}))
            if st.model_state is not None:
                torch.save(st.model_state, os.path.join(folder, "model.pt"))
            tune.report({"val_aubc": aubc(data["records"]), "cycle": int(record["cycle"]),
                         "attempt": attempt, "host": platform.node(), "code": code, "device": device,
                         "device_name": device_name, "gpu_ids": gpu_ids, "state": _dumps(data)},
                        checkpoint=tune.Checkpoint.from_directory(folder))

    run_campaign(campaign, int(config["seed"]), device=device, on_cycle=on_cycle, state=state)


def _maybe_fail(fault: dict | None, trial: str, cycle: int) -> None:
    if not fault or cycle != int(fault["cycle"]):
        return
    marker = os.path.join(fault["folder"], f"{trial}.failed")
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    raise RuntimeError(f"{FAULT_ENV}: injected failure of {trial} at cycle {cycle}")


def _dumps(obj: Any) -> str:
    from alstudy.study.store import dumps

    return dumps(obj)
