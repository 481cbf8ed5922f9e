"""Semi-supervised step cost: what a step of each method costs against a supervised step at the
same labeled batch, and the share of it spent building the unlabeled views (augmentation).

Every case trains the dataset's default model with `fit` for the same fixed number of steps
(the fixed rule, so both sides take exactly that many), labeled batch `BATCH`, augmentation
strength 1; a semi-supervised step adds `mu * BATCH` unlabeled rows in two views (Mean Teacher:
one view in the student's pass, the other in the teacher's). `views_share` times the term's
`inputs` alone - the gather, `to_float` and both augmentations of the unlabeled rows - over as
many calls, divided by the method's step time.

`x_floor` divides a step by the arithmetic floor of FixMatch's step: what its model arithmetic
costs with nothing else around it. A hand-written loop over fixed float tensors (no sampling,
no augmentation, no loss bookkeeping) runs, per step, one forward pass without gradient over
`mu * BATCH` rows (the weak views) and one forward and backward pass over `BATCH + mu * BATCH`
rows (labeled and strong views), then the optimizer step of `fit` (same model, layout,
optimizer, autocast). Mean Teacher's step has the same arithmetic; Pseudo-Label's lacks the
pass without gradient, UDA's is FixMatch's."""

from __future__ import annotations

import dataclasses
import statistics

import numpy as np
import torch

from alstudy.bench.section import Section, target
from alstudy.bench.timing import seconds
from alstudy.config import TrainConfig

DATASETS = ("digits", "mnist1d", "mnist5k")
METHODS = ("supervised", "fixmatch", "uda", "mean_teacher", "pseudo_label")
BATCH = 32
STEPS = {"smoke": 2, "quick": 10, "full": 30}     # timed steps per (dataset, method) and round
REPEATS = {"smoke": 1, "quick": 3, "full": 5}     # rounds; a case's time is its median round
MU = {"smoke": 1, "quick": 7, "full": 7}          # the paper's mu (7) outside smoke runs
AHEAD = 1    # the "fixmatch ahead 1" row: FixMatch building each step's views in its own call (before ahead 10 was the default)
FLOOR_GOAL = 1.5                                  # FixMatch's step within 1.5x of its floor


def run(mode: str, *, device: str) -> Section:
    from alstudy.data import get_dataset
    from alstudy.rng import torch_generator
    from alstudy.training.methods import option_defaults
    from alstudy.training.ssl import make_term

    section = Section("ssl", "Semi-supervised step cost against a supervised step (same labeled batch)")
    n, mu, repeats = STEPS[mode], MU[mode], REPEATS[mode]
    dev = torch.device(device)
    for name in DATASETS:
        data = get_dataset(name).to(device)
        lab = torch.arange(BATCH * 4, device=dev)                 # a small labeled set
        pool = data.x_train[BATCH * 4:]
        x, y = data.x_train[lab], data.y_train[lab]
        # epochs 0: a run of k steps is k steps (one pass over the 4 batches would be 4 at least)
        train = TrainConfig(stop="fixed", epochs=0, min_steps=n, batch_size=BATCH, augment=1.0)
        cases = {"floor": _floor_steps(data, mu, train, dev)}     # name -> run(k steps)
        for method in (*METHODS, "fixmatch ahead 1"):
            base_method = method.split()[0]
            opts = {**option_defaults(base_method), "mu": mu, "steps": 1} if method != "supervised" else {}
            if method == "fixmatch ahead 1":
                opts["ahead"] = AHEAD

            cases[method] = method_steps(data, base_method, opts, x, y, pool, train, BATCH, dev, stream="bench-ssl")
            if method != "supervised":
                term = make_term(base_method, pool, data=data, options=opts, batch_size=BATCH)
                gen, host = torch_generator(1, "bench-ssl-views", device=dev.type), torch.Generator().manual_seed(1)
                cases[f"views {method}"] = lambda k, term=term, gen=gen, host=host: [
                    term.inputs(gen, host) for _ in range(k)]
        per_step = _interleaved(cases, n, repeats, device)
        floor, base = per_step["floor"], per_step["supervised"]
        for method in (*METHODS, "fixmatch ahead 1"):
            t = per_step[method]
            row = {"dataset": name, "method": method, "batch": BATCH, "mu": mu if method != "supervised" else 0,
                   "ms_per_step": 1e3 * t, "floor_ms": 1e3 * floor, "x_floor": t / floor,
                   "x_supervised": t / base,
                   "views_share": per_step[f"views {method}"] / t if method != "supervised" else None}
            section.rows.append(row)
        section.summary[f"{name}: floor / supervised"] = floor / base
        section.targets.append(target(f"{name}: FixMatch step / floor", per_step["fixmatch"] / floor,
                                      at_most=FLOOR_GOAL))
    section.notes.append(f"median of {repeats} rounds of {n} timed steps per case (a run of n + 1 steps less a "
                         "run of 1, so a fit's set-up is not counted), the cases of a dataset "
                         f"taking turns within each round (a busy machine slows them alike); labeled batch {BATCH}, "
                         f"{mu} unlabeled rows per labeled row; views_share: building the unlabeled views "
                         "(gather, to_float, both augmentations) over the method's whole step; floor: "
                         f"FixMatch's model arithmetic alone (a pass without gradient over {mu * BATCH} rows, "
                         f"a forward and backward pass over {BATCH + mu * BATCH}, the optimizer step); "
                         f"fixmatch ahead 1: FixMatch with ahead = {AHEAD} (each step builds its own views; the default, "
                         f"{option_defaults('fixmatch')['ahead']}, builds that many steps' views in one call)")
    return section


def method_steps(data, method: str, opts: dict, x: torch.Tensor, y: torch.Tensor, pool: torch.Tensor,
                 train: TrainConfig, batch: int, dev: torch.device, *, stream: str):
    """run(k): k steps of `fit` for `method` (options `opts`) from a fresh default model of `data`,
    labeled rows x, y at augmentation strength 1, unlabeled rows `pool`, the dataset's task;
    seeded alike on every call (generator stream `stream`)."""
    from alstudy.models import make_model
    from alstudy.rng import torch_generator
    from alstudy.training import fit
    from alstudy.training.ssl import make_term
    from alstudy.training.task import task_for

    task = task_for(data)

    def steps(k: int) -> None:
        torch.manual_seed(0)
        model = make_model(data.default_model, data.input_shape, data.num_classes).to(dev)
        term = make_term(method, pool, data=data, options=opts, batch_size=batch)
        fit(model, x, y, train=dataclasses.replace(train, min_steps=k), to_float=data.to_float,
            augment=data.augmenter(1.0), gen=torch_generator(0, stream, device=dev.type),
            mix_rng=np.random.default_rng(0), unlabeled=term, task=task)

    return steps


def _interleaved(cases: dict, n: int, repeats: int, device: str) -> dict[str, float]:
    """Seconds per step of each case: `repeats` rounds in which every case runs 1 step, then
    `n` + 1, in turn, after 2 warm-up steps each (lazy initialization); a step is the difference
    over `n`, so what a run sets up once (a `fit`'s model, term, optimizer and generators: ~10 ms
    on digits, where a FixMatch step is ~6 ms) is not counted as steps. The median round per case."""
    for run_steps in cases.values():
        run_steps(2)
    rounds = {name: [] for name in cases}
    for _ in range(repeats):
        for name, run_steps in cases.items():
            one = seconds(lambda run_steps=run_steps: run_steps(1), device=device)
            more = seconds(lambda run_steps=run_steps: run_steps(n + 1), device=device)
            rounds[name].append((more - one) / n)
    # a smoke run's few steps can drown in the set-up's jitter: never report a step as free
    return {name: max(statistics.median(times), 1e-9) for name, times in rounds.items()}


def _floor_steps(data, mu: int, train: TrainConfig, dev: torch.device):
    """run(k): k floor steps (the module docstring): fixed float inputs, the model and
    optimizer `fit` would build, nothing else."""
    import torch.nn.functional as F

    from alstudy.models import make_model
    from alstudy.training.fit import make_optimizer

    torch.manual_seed(0)
    model = make_model(data.default_model, data.input_shape, data.num_classes).to(dev)
    rows = data.to_float(data.x_train[:BATCH + 2 * mu * BATCH].to(dev))
    if rows.dim() == 4:
        model = model.to(memory_format=torch.channels_last)
        rows = rows.contiguous(memory_format=torch.channels_last)
    weak, both = rows[BATCH + mu * BATCH:], rows[:BATCH + mu * BATCH]
    y = data.y_train[:BATCH + mu * BATCH].to(dev)
    opt = make_optimizer(model, train)
    model.train()

    def steps(k: int) -> None:
        for _ in range(k):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                with torch.no_grad():
                    model(weak)
                loss = F.cross_entropy(model(both).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return steps
