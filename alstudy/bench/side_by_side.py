"""alstudy's campaign against the same campaign done the usual way (`reference.py`), in one run.

Both sides get identical work: dataset, budget, model, initial weights, number of optimizer
steps and recipe, strategy, seed. `speedup` = reference seconds / alstudy seconds.
"""

from __future__ import annotations

from time import perf_counter

import torch

from alstudy.bench.reference import run_reference
from alstudy.bench.report import Section, target
from alstudy.campaign import run_campaign
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.data import get_dataset

# Per mode: (dataset, strategies, budget, recipe) comparisons, all with seed 0. Images train
# with their crop augmentation (as image AL always does, per sample in the reference); MNIST-1D
# without augmentation shows a campaign bound by the model's own compute.
_SHORT = TrainConfig(epochs=2, min_steps=10)
PLANS = {
    "smoke": (("wine", ("bald", "badge"), Budget(5, 5, 1), _SHORT),),
    "quick": (("digits", ("bald", "badge"), Budget(50, 50, 4), TrainConfig(augment=1.0)),),
    "full": (("digits", ("bald", "badge", "coreset", "entropy"), Budget(50, 50, 8), TrainConfig(augment=1.0)),
             ("mnist1d", ("bald", "badge"), Budget(50, 50, 8), TrainConfig())),
}
SEED = 0
SPEEDUP_GOAL = 5.0
ACCURACY_SLACK = 0.02  # one seed: accuracies of equal recipes differ by about this much


def _side(records: list[dict], seconds: float) -> dict:
    return {"seconds": seconds, "final_acc": records[-1]["test_acc"],
            "mean_acc": sum(r["test_acc"] for r in records) / len(records),
            "train_s": sum(r["seconds_train"] for r in records)}


def compare(config: CampaignConfig, seed: int, *, device: str, reference_first: bool = False) -> dict:
    """Run both implementations of `config`; one row of seconds, accuracies and the speedup."""
    get_dataset(config.dataset, root=config.data_root)  # loading is not what is compared
    runs = {"alstudy": run_campaign, "reference": run_reference}
    sides = {}
    for name in (("reference", "alstudy") if reference_first else ("alstudy", "reference")):
        t0 = perf_counter()
        records = runs[name](config, seed, device=device)
        sides[name] = _side(records, perf_counter() - t0)
    ours, ref = sides["alstudy"], sides["reference"]
    return {"dataset": config.dataset, "strategy": config.strategy,
            "alstudy_s": ours["seconds"], "reference_s": ref["seconds"],
            "speedup": ref["seconds"] / ours["seconds"],
            "train_speedup": ref["train_s"] / ours["train_s"],
            "query_speedup": (ref["seconds"] - ref["train_s"]) / max(1e-9, ours["seconds"] - ours["train_s"]),
            "alstudy_acc": ours["final_acc"], "reference_acc": ref["final_acc"],
            "alstudy_mean_acc": ours["mean_acc"], "reference_mean_acc": ref["mean_acc"]}


def run(mode: str, *, device: str) -> Section:
    section = Section("reference", "Side by side: alstudy vs the usual toolkit pipeline")
    for dataset, strategies, budget, train in PLANS[mode]:
        for i, strategy in enumerate(strategies):
            config = CampaignConfig(dataset, strategy, budget=budget, train=train)
            # alternate which side runs first, so that a drifting machine favours neither
            section.rows.append(compare(config, SEED, device=device, reference_first=i % 2 == 1))
        section.notes.append(
            f"{dataset}: budget {budget.initial} + {budget.cycles} x {budget.per_cycle}, "
            f"{train.epochs} epochs (at least {train.min_steps} steps), augmentation strength "
            f"{train.augment:g}, the dataset's default model")
    rows = section.rows
    ours, ref = sum(r["alstudy_s"] for r in rows), sum(r["reference_s"] for r in rows)
    acc_ours = sum(r["alstudy_acc"] for r in rows) / len(rows)
    acc_ref = sum(r["reference_acc"] for r in rows) / len(rows)
    section.summary.update(speedup=ref / ours, alstudy_s=ours, reference_s=ref,
                           alstudy_acc=acc_ours, reference_acc=acc_ref)
    section.targets.append(target("campaign speedup over the reference", ref / ours,
                                  at_least=SPEEDUP_GOAL, unit="x"))
    section.targets.append(target("final accuracy, alstudy - reference (mean over strategies)",
                                  acc_ours - acc_ref, at_least=-ACCURACY_SLACK))
    section.notes += [
        f"seed {SEED}; same splits, initial weights, step counts, recipe and selection rules on both sides",
        "reference: per-sample Dataset + DataLoader (num_workers=0), fp32, MC dropout as "
        "T = 20 full forward passes, core-set on the full distance matrix, BADGE on "
        "materialized N x (C*D) gradient embeddings",
        f"accuracy target allows {ACCURACY_SLACK} for seed noise: the two sides shuffle "
        "batches and draw dropout masks from different streams",
        f"device {device}, torch threads {torch.get_num_threads()}",
    ]
    return section
