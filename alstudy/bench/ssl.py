"""Semi-supervised step cost: what a step of each method costs against a supervised step at the
same labeled batch, and the share of it spent building the unlabeled views (augmentation).

Every case trains the dataset's default model with `fit` for the same fixed number of steps
(the fixed rule, so both sides take exactly that many), labeled batch `BATCH`, augmentation
strength 1; a semi-supervised step adds `mu * BATCH` unlabeled rows in two views (Mean Teacher:
one view in the student's pass, the other in the teacher's). `views_share` times the term's
`inputs` alone - the gather, `to_float` and both augmentations of the unlabeled rows - over as
many calls, divided by the method's step time."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from alstudy.bench.section import Section
from alstudy.bench.timing import seconds
from alstudy.config import TrainConfig

DATASETS = ("digits", "mnist1d", "mnist5k")
METHODS = ("supervised", "fixmatch", "uda", "mean_teacher", "pseudo_label")
BATCH = 32
STEPS = {"smoke": 2, "quick": 6, "full": 60}      # timed steps per (dataset, method)
MU = {"smoke": 1, "quick": 7, "full": 7}          # FixMatch's default mu outside smoke runs


def run(mode: str, *, device: str) -> Section:
    from alstudy.data import get_dataset
    from alstudy.models import make_model
    from alstudy.rng import torch_generator
    from alstudy.training import fit
    from alstudy.training.methods import option_defaults
    from alstudy.training.ssl import make_term

    section = Section("ssl", "Semi-supervised step cost against a supervised step (same labeled batch)")
    n, mu = STEPS[mode], MU[mode]
    dev = torch.device(device)
    for name in DATASETS:
        data = get_dataset(name).to(device)
        lab = torch.arange(BATCH * 4, device=dev)                 # a small labeled set
        pool = data.x_train[BATCH * 4:]
        x, y = data.x_train[lab], data.y_train[lab]
        train = TrainConfig(stop="fixed", epochs=1, min_steps=n, batch_size=BATCH, augment=1.0)
        base = None
        for method in METHODS:
            opts = {**option_defaults(method), "mu": mu, "unlabeled_epochs": 0.0} if method != "supervised" else {}

            def steps(k: int, *, method=method, opts=opts) -> None:
                torch.manual_seed(0)
                model = make_model(data.default_model, data.input_shape, data.num_classes).to(dev)
                term = make_term(method, pool, data=data, options=opts, batch_size=BATCH)
                fit(model, x, y, train=dataclasses.replace(train, min_steps=k), to_float=data.to_float,
                    augment=data.augmenter(1.0), gen=torch_generator(0, "bench-ssl", device=dev.type),
                    mix_rng=np.random.default_rng(0), unlabeled=term)

            steps(2)                                                   # lazy initialization
            per_step = seconds(lambda: steps(n), device=device) / n
            row = {"dataset": name, "method": method, "batch": BATCH, "mu": mu if method != "supervised" else 0,
                   "ms_per_step": 1e3 * per_step}
            if method == "supervised":
                base = per_step
                row |= {"x_supervised": 1.0, "views_share": None}
            else:
                term = make_term(method, pool, data=data, options=opts, batch_size=BATCH)
                gen, host = torch_generator(1, "bench-ssl-views", device=dev.type), torch.Generator().manual_seed(1)
                views = seconds(lambda: [term.inputs(gen, host) for _ in range(n)], device=device) / n
                row |= {"x_supervised": per_step / base, "views_share": views / per_step}
            section.rows.append(row)
    section.notes.append(f"{n} timed steps per case after 2 warm-up steps; labeled batch {BATCH}, "
                         f"{mu} unlabeled rows per labeled row; views_share: building the unlabeled views "
                         "(gather, to_float, both augmentations) over the method's whole step")
    return section
