"""The Ray Tune trainable: one trial runs one campaign and reports each cycle to the driver.

Each report carries the running validation AUBC (the objective Tune sees) and the cycle as the
results store keeps it (`line`: the record, the labels chosen after it, where it ran); the
driver appends that line to the campaign's log. A campaign that resumes gets the cycles done so
far from the driver (`resume`, read from its log), so Tune checkpoints hold only what the log
cannot: a warm-started campaign's weights.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any, Callable

import torch

from alstudy.campaign import Cycle, run_campaign
from alstudy.metrics import records_aubc
from alstudy.study.pretraining import local_copy
from alstudy.study.placement import pick_device, placement
from alstudy.training.shared import SharedTrainings

METRIC = "val_aubc"


def run_trial(config: dict[str, Any], *, campaign: Callable | None = None,
              encoders: dict[str, bytes] | None = None) -> None:
    """Tune function trainable. `config`: trial, seed, config (the frozen CampaignConfig), cpu,
    gpu, resume (list of Cycle dicts), attempt, weights (a tune.Checkpoint or None), shared (the
    folder of the study's shared trainings: alstudy.training.shared).
    `campaign` replaces run_campaign (the tests wrap it to inject faults); `encoders`: the
    study's SimCLR encoders as the driver shipped them ({key: bytes}), read from a local copy."""
    from ray import tune   # ray.tune loads pandas: only a running trial pays for it

    campaign = campaign or run_campaign
    torch.set_num_threads(max(1, int(config["cpu"])))
    device, gpu_ids = pick_device(float(config["gpu"]))
    meta = placement(device, gpu_ids, on_ray=True) | {"attempt": int(config["attempt"])}
    resume = [Cycle(c["record"], c["chosen"]) for c in config["resume"]]
    weights = None
    if config.get("weights") is not None:
        with config["weights"].as_directory() as folder:
            weights = torch.load(os.path.join(folder, "model.pt"), map_location="cpu")
    records = [c.record for c in resume]

    def on_cycle(cycle: Cycle, new_weights: dict | None) -> None:
        records.append(cycle.record)
        metrics = {METRIC: records_aubc(records), "cycle": int(cycle.record["cycle"]),
                   "line": cycle.to_dict() | {"meta": meta}}
        if new_weights is None:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="alstudy-weights-") as folder:
            torch.save(new_weights, os.path.join(folder, "model.pt"))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))

    with local_copy(config["config"], encoders) as campaign_config:
        campaign(campaign_config, int(config["seed"]), device=device, on_cycle=on_cycle, resume=resume,
                 weights=weights, shared=SharedTrainings(config["shared"]) if config.get("shared") else None)
    if resume and len(records) == len(resume):   # nothing was left to run: Tune still wants its metric
        tune.report({METRIC: records_aubc(records), "cycle": int(records[-1]["cycle"]), "line": None})
