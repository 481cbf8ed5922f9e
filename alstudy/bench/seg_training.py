"""Segmentation training steps: U-Net steps/s and images/s on `mnist5k_seg` (32x32 scenes), for
supervised training and for the per-pixel semi-supervised terms, each against the supervised step.

Every case trains mnist5k_seg's default model (the U-Net) with `fit` for the same fixed number of
steps on the dataset's recipe (`DatasetSpec.recipe`: AdamW, labeled batch 16), joint augmentation
at strength 1; a semi-supervised step adds `mu * 16` unlabeled scenes at the method's defaults
(FixMatch: a weak view through the EMA teacher, a strong CutMix view through the student; Mean
Teacher: two views; self-training: the student's step, `mu * 16` pseudo-labeled scenes with
strong CutMix views, after the pool was labeled once by the teacher, which the summary times
as `self_training_label_images_per_s`). `floor` is the supervised step's model arithmetic alone: a forward and
backward pass over fixed float tensors and the optimizer step, no sampling, augmentation or loss
bookkeeping."""

from __future__ import annotations

import torch

from alstudy.bench.section import Section
from alstudy.bench.ssl import _interleaved, method_steps

DATASET = "mnist5k_seg"
METHODS = ("supervised", "fixmatch", "mean_teacher", "self_training")
STEPS = {"smoke": 2, "quick": 5, "full": 30}
REPEATS = {"smoke": 1, "quick": 3, "full": 5}


def run(mode: str, *, device: str) -> Section:
    from alstudy.config import TrainConfig
    from alstudy.data import dataset_spec, get_dataset
    from alstudy.training.methods import option_defaults

    dev = torch.device(device)
    data = get_dataset(DATASET).to(device)
    recipe = dict(dataset_spec(DATASET).recipe)
    batch = recipe["batch_size"]
    n, repeats = STEPS[mode], REPEATS[mode]
    section = Section("seg_training", f"Segmentation training steps ({DATASET}, U-Net, "
                                      f"{'x'.join(map(str, data.input_shape[1:]))} scenes, labeled batch {batch})")
    lab = torch.arange(batch * 4, device=dev)
    x, y, pool = data.x_train[lab], data.y_train[lab], data.x_train[batch * 4:]
    train = TrainConfig.from_mapping({**recipe, "stop": "fixed", "epochs": 0, "min_steps": n, "augment": 1.0})
    cases, mus = {"floor": _floor(data, train, batch, dev)}, {}
    for method in METHODS:
        opts = {**option_defaults(method), "steps": 1} if method != "supervised" else {}
        mus[method] = opts.get("mu", 0)

        if method == "self_training":
            cases[method], label_s = _student_steps(data, opts, x, y, pool, train, batch, dev)
            section.summary["self_training_label_images_per_s"] = int(pool.shape[0]) / label_s
        else:
            cases[method] = method_steps(data, method, opts, x, y, pool, train, batch, dev, stream="bench-seg")
    per_step = _interleaved(cases, n, repeats, device)
    base = per_step["supervised"]
    for method in METHODS:
        t = per_step[method]
        section.rows.append({"method": method, "batch": batch, "mu": mus[method], "ms_per_step": 1e3 * t,
                             "steps_per_s": 1 / t, "labeled_images_per_s": batch / t,
                             "x_supervised": t / base, "x_floor": t / per_step["floor"]})
    section.summary["floor_ms"] = 1e3 * per_step["floor"]
    section.notes.append(f"median of {repeats} rounds of {n} timed steps per case (a run of n + 1 steps less a "
                         "run of 1, so a fit's set-up is not counted), the cases taking turns "
                         f"within each round; x_floor: over a forward and backward pass over {batch} fixed "
                         "scenes and the optimizer step")
    return section


def _floor(data, train, batch: int, dev: torch.device):
    """run(k): k supervised steps of bare model arithmetic (the module docstring)."""
    import torch.nn.functional as F

    from alstudy.models import make_model
    from alstudy.training.fit import make_optimizer

    torch.manual_seed(0)
    model = make_model(data.default_model, data.input_shape, data.num_classes).to(dev)
    model = model.to(memory_format=torch.channels_last)
    x = data.to_float(data.x_train[:batch].to(dev)).contiguous(memory_format=torch.channels_last)
    y = data.y_train[:batch].to(dev).long()
    opt = make_optimizer(model, train)
    model.train()

    def steps(k: int) -> None:
        for _ in range(k):
            loss = F.cross_entropy(model(x).float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    return steps


def _student_steps(data, opts: dict, x, y, pool, train, batch: int, dev: torch.device):
    """(run(k): k student steps of self-training through `fit`, seconds the teacher took to label
    `pool`): the pool is labeled once, by a fresh default model standing in for the teacher,
    and every run trains from the same start on those pseudo-masks; the teacher's own training
    is a supervised run (the `supervised` row)."""
    import dataclasses

    import numpy as np

    from alstudy.bench.timing import seconds
    from alstudy.models import make_model
    from alstudy.rng import torch_generator
    from alstudy.training import fit
    from alstudy.training.ssl import make_term
    from alstudy.training.task import task_for

    torch.manual_seed(0)
    teacher = make_model(data.default_model, data.input_shape, data.num_classes).to(dev)
    teacher = teacher.to(memory_format=torch.channels_last)
    term = make_term("self_training", pool, data=data, options=opts, batch_size=batch)
    label_s = seconds(lambda: term.bind(teacher, total=0), device=dev.type)
    term.teacher_first = False                             # labeled above: the student's steps alone
    term.bind = lambda model, *, total: setattr(term, "total", total)

    def steps(k: int) -> None:
        torch.manual_seed(0)
        model = make_model(data.default_model, data.input_shape, data.num_classes).to(dev)
        fit(model, x, y, train=dataclasses.replace(train, min_steps=k), to_float=data.to_float,
            augment=data.augmenter(1.0), gen=torch_generator(0, "bench-seg", device=dev.type),
            mix_rng=np.random.default_rng(0), unlabeled=term, task=task_for(data))

    return steps, label_s
