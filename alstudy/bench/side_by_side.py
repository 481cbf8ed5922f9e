"""alstudy's campaign against the same campaign done the usual way (`reference.py`), in one run.

Every side gets identical work: dataset, budget, model, initial weights, number of optimizer
steps and recipe, strategy, seed. `speedup` = reference seconds / alstudy seconds, where the
reference is the usual toolkit pipeline (PIL transforms per image). `speedup_tensor` is the same
ratio against a kinder reference that converts and augments each sample with tensor ops; it
separates what the data pipeline costs from what the rest of the engine saves.
"""

from __future__ import annotations

from time import perf_counter

import torch

from alstudy.bench.reference import run_reference
from alstudy.bench.section import Section, target
from alstudy.campaign import run_campaign
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.data import get_dataset

# Per mode: (dataset, strategies, budget, recipe) comparisons, all with seed 0. Images train
# with their crop augmentation (as image AL always does, per sample in the reference); MNIST-1D
# without augmentation shows a campaign bound by the model's own compute.
_SHORT = TrainConfig(epochs=2, min_steps=10)
PLANS = {
    "smoke": (("wine", ("bald",), Budget(5, 5, 1), _SHORT),
              ("digits", ("badge",), Budget(10, 10, 1), TrainConfig(epochs=2, min_steps=10, augment=1.0))),
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


def warm_up(device: str) -> None:
    """Pay the one-time costs of a process before anything is timed: the first optimizer
    imports torch._dynamo (~1 s here), the reference imports PIL and torchvision's transforms."""
    from PIL import Image  # noqa: F401
    from torchvision import transforms  # noqa: F401

    layer = torch.nn.Linear(2, 2).to(device)
    torch.optim.SGD(layer.parameters(), lr=0.1)


def compare(config: CampaignConfig, seed: int, *, device: str, reference_first: bool = False,
            tensor_reference: bool = True) -> dict:
    """Run the implementations of `config`; one row of seconds, accuracies and speedups.
    The kinder tensor-pipeline reference runs only for images (otherwise it is the same
    pipeline) and when `tensor_reference`."""
    data = get_dataset(config.dataset, root=config.data_root)  # loading is not what is compared
    runs = {"alstudy": run_campaign, "reference": run_reference,
            "reference_tensor": lambda c, s, device: run_reference(c, s, device=device, pipeline="tensor")}
    order = ["reference", "alstudy"] if reference_first else ["alstudy", "reference"]
    images = data.x_train.dtype == torch.uint8
    if tensor_reference and images:
        order.append("reference_tensor")
    sides = {}
    for name in order:
        t0 = perf_counter()
        records = runs[name](config, seed, device=device)
        sides[name] = _side(records, perf_counter() - t0)
    ours, ref = sides["alstudy"], sides["reference"]
    tensor = sides.get("reference_tensor", ref if not images else None)
    return {"dataset": config.dataset, "strategy": config.strategy,
            "alstudy_s": ours["seconds"], "reference_s": ref["seconds"],
            "speedup": ref["seconds"] / ours["seconds"],
            "reference_tensor_s": tensor["seconds"] if tensor else None,
            "speedup_tensor": tensor["seconds"] / ours["seconds"] if tensor else None,
            "reference_tensor_acc": tensor["final_acc"] if tensor else None,
            "train_speedup": ref["train_s"] / ours["train_s"],
            "query_speedup": (ref["seconds"] - ref["train_s"]) / max(1e-9, ours["seconds"] - ours["train_s"]),
            "alstudy_acc": ours["final_acc"], "reference_acc": ref["final_acc"],
            "alstudy_mean_acc": ours["mean_acc"], "reference_mean_acc": ref["mean_acc"]}


def run(mode: str, *, device: str) -> Section:
    section = Section("reference", "Side by side: alstudy vs the usual toolkit pipeline",
                      wide=("reference_tensor_acc", "alstudy_mean_acc", "reference_mean_acc"))
    warm_up(device)
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
    tensor_rows = [r for r in rows if r["reference_tensor_s"] is not None]
    tensor = sum(r["reference_tensor_s"] for r in tensor_rows)
    tensor_ours = sum(r["alstudy_s"] for r in tensor_rows)
    section.summary.update(speedup=ref / ours, alstudy_s=ours, reference_s=ref,
                           speedup_tensor=tensor / tensor_ours if tensor_rows else None,
                           alstudy_acc=acc_ours, reference_acc=acc_ref)
    section.targets.append(target("campaign speedup over the reference", ref / ours,
                                  at_least=SPEEDUP_GOAL, unit="x"))
    section.targets.append(target("final accuracy, alstudy - reference (mean over strategies)",
                                  acc_ours - acc_ref, at_least=-ACCURACY_SLACK))
    section.notes += [
        f"seed {SEED}; same splits, initial weights, step counts, recipe and selection rules on both sides",
        "reference: per-sample Dataset + DataLoader (num_workers=0) with torchvision's PIL "
        "transforms for images, fp32, torch's stock optimizer and dropout, MC dropout as "
        "T full forward passes, core-set on the full distance matrix, BADGE on "
        "materialized N x (C*D) gradient embeddings (alstudy.strategies.naive); every other "
        "strategy, the model, the splits and the selection generator are the product's",
        "speedup_tensor: against the same reference with per-sample tensor ops instead of PIL "
        "(images only); the gap between the two speedups is the PIL pipeline's share",
        f"accuracy target allows {ACCURACY_SLACK} for seed noise: the two sides shuffle "
        "batches and draw dropout masks from different streams",
        f"device {device}, torch threads {torch.get_num_threads()}",
    ]
    return section
