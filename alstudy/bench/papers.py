"""The papers' costly strategies: an ensemble of 5 trained together against 5 sequential fits,
and the cycle time of VAAL and learning loss relative to a plain (entropy) cycle."""

from __future__ import annotations

import statistics

import numpy as np
import torch

from alstudy.bench.campaigns import campaign_row
from alstudy.bench.section import Section, target
from alstudy.bench.timing import seconds
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.data import get_dataset
from alstudy.models import make_model
from alstudy.rng import torch_generator
from alstudy.training import fit
from alstudy.training.ensemble import fit_members

MEMBERS = 5
STEPS = {"smoke": 5, "quick": 60, "full": 400}
CASES = (("mlp", "digits"), ("cnn1d", "mnist1d"))


def ensemble_row(model_name: str, dataset: str, steps: int, *, device: str, repeats: int = 3) -> dict:
    """Seconds of one member's `fit`, of 5 sequential fits and of `fit_members` over 5, on
    500 labels of `dataset` (the recipe's batch 64, `steps` steps each): the median of
    `repeats` rounds, each round timing the three back to back, so that load from other
    processes falls alike on the numbers a ratio compares."""
    data = get_dataset(dataset).to(torch.device(device))
    x, y = data.x_train[:500], data.y_train[:500]
    train = TrainConfig(epochs=0, min_steps=steps)
    kw = dict(train=train, to_float=data.to_float, augment=data.augmenter(0.0),
              mix_rng=np.random.default_rng(0))
    gen = lambda: torch_generator(0, "bench-ens", device=torch.device(device).type)  # noqa: E731
    models = lambda k: [make_model(model_name, data.input_shape, data.num_classes, dropout=0.3).to(device)  # noqa: E731
                        for _ in range(k)]
    warm = kw | {"train": TrainConfig(epochs=0, min_steps=2)}
    fit(models(1)[0], x, y, **warm, gen=gen()), fit_members(models(2), x, y, **warm, gen=gen())  # lazy init
    rounds = [(seconds(lambda: fit(models(1)[0], x, y, **kw, gen=gen()), device=device),
               seconds(lambda: [fit(m, x, y, **kw, gen=gen()) for m in models(MEMBERS)], device=device),
               seconds(lambda: fit_members(models(MEMBERS), x, y, **kw, gen=gen()), device=device))
              for _ in range(repeats)]
    one, sequential, together = (statistics.median(r[i] for r in rounds) for i in range(3))
    return {"case": f"ensemble x{MEMBERS}", "model": model_name, "dataset": dataset, "steps": steps,
            "one_s": one, "sequential_s": sequential, "together_s": together,
            "together_over_one": together / one, "sequential_over_together": sequential / together}


def overhead_rows(mode: str, *, device: str) -> list[dict]:
    """Per-cycle seconds (train + score + select) of entropy, vaal and learning_loss on digits,
    and each one's ratio to entropy's."""
    cycles = {"smoke": 1, "quick": 2, "full": 3}[mode]
    train = TrainConfig(epochs=2, min_steps=10) if mode == "smoke" else TrainConfig()
    options = {"vaal": {"steps": 20}} if mode == "smoke" else {}
    campaign_row(CampaignConfig("digits", "entropy", budget=Budget(50, 50, 1), train=TrainConfig(epochs=1, min_steps=5)),
                 0, device=device)  # warm-up: the first campaign of a process pays its lazy initialization
    rows = []
    for name in ("entropy", "vaal", "learning_loss"):
        config = CampaignConfig("digits", name, budget=Budget(50, 50, cycles), train=train,
                                strategy_options=options.get(name, {}))
        r = campaign_row(config, 0, device=device)
        per_cycle = (r["train_s"] + r["query_s"]) / (cycles + 1)
        rows.append({"case": "cycle time", "strategy": name, "dataset": "digits", "cycle_s": per_cycle,
                     "over_entropy": per_cycle / rows[0]["cycle_s"] if rows else 1.0})
    return rows


def run(mode: str, *, device: str) -> Section:
    section = Section("papers", "The papers' strategies: ensembles trained together, VAAL and learning-loss cycles")
    for model_name, dataset in CASES:
        section.rows.append(ensemble_row(model_name, dataset, STEPS[mode], device=device,
                                         repeats=1 if mode == "smoke" else 3))
    section.rows += overhead_rows(mode, device=device)
    if mode != "smoke":
        for row in section.rows[:len(CASES)]:
            section.targets.append(target(f"ensemble of {MEMBERS} {row['model']} / one member", row["together_over_one"],
                                          at_most=2.5, unit="x"))
    section.summary = {f"{r['strategy']}_over_entropy": r["over_entropy"] for r in section.rows if "strategy" in r}
    section.notes.append(f"ensemble: {MEMBERS} members of one model on 500 labels, trained together "
                         "(GroupedNet: one batched product or grouped convolution per layer) against one "
                         "after another, medians of 3 rounds in one run. Each member does its own "
                         "arithmetic, so on a CPU the ratio is bounded by the share of a single fit's step "
                         "that is per-call overhead rather than arithmetic; cycle time: "
                         "(train + score + select) / cycles on digits, default recipe")
    return section
