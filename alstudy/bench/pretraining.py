"""SimCLR pretraining time per embedded dataset: what a study pays once per (dataset, seed).

Each case pretrains the dataset's default model on its real train split (embedded: no files
needed) for a few timed steps of the default recipe, after two warm-up steps, and extrapolates
to the recipe's full length. Shared work like this runs once per study, not per campaign, so
its cost is read beside a campaign's, not multiplied by the strategies."""

from __future__ import annotations

import dataclasses

import torch

from alstudy.bench.section import Section
from alstudy.bench.timing import seconds
from alstudy.training.simclr_recipe import Recipe

DATASETS = ("digits", "mnist1d", "mnist5k")
STEPS = {"smoke": 1, "quick": 5, "full": 20}      # timed steps per dataset
SMOKE_BATCH = 8


def run(mode: str, *, device: str) -> Section:
    from alstudy.data import get_dataset
    from alstudy.models import make_model
    from alstudy.rng import torch_generator
    from alstudy.training.simclr import pretrain

    section = Section("pretraining", "SimCLR pretraining per dataset (once per dataset and seed)")
    full = Recipe()
    batch = SMOKE_BATCH if mode == "smoke" else full.batch_size
    for name in DATASETS:
        data = get_dataset(name).to(device)
        torch.manual_seed(0)
        model = make_model(data.default_model, data.input_shape, data.num_classes).to(device)
        aug = data.augmenter(full.strength)

        def steps(n: int) -> None:
            pretrain(model, data.x_train, to_float=data.to_float, augment=aug,
                     recipe=dataclasses.replace(full, steps=n, batch_size=batch),
                     gen=torch_generator(0, "bench-simclr", device=torch.device(device).type))

        steps(2)   # lazy initialization: kernels, the allocator
        n = STEPS[mode]
        took = seconds(lambda: steps(n), device=device)
        per_step = took / n
        section.rows.append({"dataset": name, "model": data.default_model, "train_rows": data.n_train,
                             "batch": batch, "steps": n, "seconds": took, "s_per_step": per_step,
                             "recipe_steps": full.steps, "recipe_s": per_step * full.steps * full.batch_size / batch})
    section.notes.append(f"default recipe: {full.steps} steps of {full.batch_size} rows x 2 views, augmentation "
                         f"strength {full.strength}; recipe_s extrapolates the timed steps (scaled by batch in smoke mode)")
    return section
