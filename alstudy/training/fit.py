"""fit: train a model from its current weights on labeled tensors that live on the device."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alstudy.config import TrainConfig
from alstudy.rng import derive_seed
from alstudy.training.ssl.term import anchor_logits
from alstudy.training.stopping import Plateau, warmup_decay
from alstudy.training.task import CLASSIFICATION, Task

# aug(x, gen, *, host) -> x: `gen` on x's device, `host` a CPU generator (alstudy.data.augment);
# a segmentation dataset's aug(x, y, gen, *, host) -> (x, y) moves the masks too (`Task.augmented`)
Augment = Callable[..., torch.Tensor]


@dataclass(frozen=True)
class FitStats:
    steps: int                   # optimizer steps taken
    stop_reason: str = "fixed"   # "fixed" (a count set in advance), "plateau" or "cap" (alstudy.training.stopping)
    # the learning-rate multiplier of each step taken (None: `lr_factor`'s over `steps`), so
    # that ensemble members train member 0's schedule as well as its step count
    schedule: Callable[[int], float] | None = field(default=None, repr=False, compare=False)


def num_steps(n: int, train: TrainConfig) -> int:
    """Optimizer steps for `n` labels: `epochs` passes, but never fewer than `min_steps`."""
    return max(train.epochs * math.ceil(n / train.batch_size), train.min_steps)


def make_optimizer(model: nn.Module, train: TrainConfig, *, fused: bool = True) -> torch.optim.Optimizer:
    """SGD (Nesterov when momentum > 0) or AdamW over two groups: no weight decay on biases and
    normalization parameters, since decaying them only hurts. `fused` updates every parameter
    in one kernel (CPU and CUDA): 3.5x cheaper than the per-tensor loop on a small model
    (45 against 166 us per step), the same update up to float rounding."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return optimizer_for(decay, no_decay, train, fused=fused)


def optimizer_for(decay: list[torch.Tensor], no_decay: list[torch.Tensor], train: TrainConfig, *,
                  fused: bool = True) -> torch.optim.Optimizer:
    """`make_optimizer` over explicit groups: weight decay on `decay` only."""
    groups = [{"params": decay, "weight_decay": train.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    device = (decay + no_decay)[0].device
    kw = {"fused": True} if fused and device.type in ("cpu", "cuda") else {}
    if train.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=train.lr, **kw)
    return torch.optim.SGD(groups, lr=train.lr, momentum=train.momentum,
                           nesterov=train.momentum > 0, **kw)


def lr_factor(step: int, total: int, train: TrainConfig) -> float:
    """Multiplier of the base learning rate at `step` (linear warmup, then the schedule)."""
    warm = int(train.warmup * total)
    if train.schedule == "onecycle" and step >= warm:  # triangular: up to 1 at 30 %, down to 0
        t = (step - warm) / max(1, total - warm)
        return t / 0.3 if t < 0.3 else (1 - t) / 0.7
    return warmup_decay(step, warm, warm, total, train.schedule)


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, train: TrainConfig,
        to_float: Callable[[torch.Tensor], torch.Tensor], augment: Augment,
        gen: torch.Generator, mix_rng: np.random.Generator, aux: nn.Module | None = None,
        unlabeled=None, task: Task = CLASSIFICATION, teacher_steps: int | None = None) -> FitStats:
    """Train `model` in place on (x, y) with the recipe `train` and the loss of `task`.

    `x` are stored inputs (uint8 images or floats) on the model's device; batches are index
    gathers and `augment` runs on whole batches. `gen` (on the device) drives shuffling and
    augmentation, `mix_rng` the host-side mixup coefficients: no host sync per step (one per
    fit, for the seeds below). `aux`: a module trained jointly by the same optimizer; each
    step adds `aux(levels, row_losses, step=, total=)` to the task loss, with the model's
    intermediate features (`forward_levels`) and per-row task losses (learning loss).
    `unlabeled`: a semi-supervised method's term (alstudy.training.ssl.term states the
    contract): its rows join every step's forward pass, its anchors (targets) get a pass of
    their own without gradient before it, its loss joins the labeled loss, it sets the
    number of steps, sees every optimizer step, and may set the final weights (after SWA).
    `train.stop`: "fixed" runs `num_steps`; "plateau" stops when the training loss has
    plateaued (`stop_rule`), with `num_steps` as the cap; a semi-supervised term's count is fixed.
    A term with `teacher_first` (self-training) has `fit` train the model without it first, by
    the same recipe and rule; the term's steps follow, and the stats count both. With
    `teacher_steps`, the model already holds that teacher (loaded, `gen` and `mix_rng` in their
    states after it: alstudy.training.shared) and only the term's steps run.
    A segmentation `task`: y are uint8 masks (N, H, W), `augment` moves them with the images.
    """
    problem = task.refusal(mixup=train.mixup)
    if problem:
        raise ValueError(problem)
    device = x.device
    n = int(y.shape[0])
    if unlabeled is None or not unlabeled.teacher_first:
        teacher_steps = 0
    elif teacher_steps is None:   # self-training: the supervised run is the teacher
        teacher_steps = fit(model, x, y, train=train, to_float=to_float, augment=augment, gen=gen,
                            mix_rng=mix_rng, aux=aux, task=task).steps
    total = num_steps(n, train) if unlabeled is None else unlabeled.steps(teacher_steps or num_steps(n, train))
    stopper = stop_rule(total, train, device=device) if unlabeled is None else None
    bs = min(train.batch_size, n)
    cuda = device.type == "cuda"
    model = in_layout(model, x)
    opt = make_optimizer(model if aux is None else nn.ModuleList([model, aux]), train)
    schedule = (lambda s: lr_factor(s, total, train)) if stopper is None else stopper.factor
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    swa_start = total - int(train.swa * total) if train.swa > 0 else total
    swa_model = torch.optim.swa_utils.AveragedModel(model) if train.swa > 0 else None
    lambdas = mix_rng.beta(train.mixup, train.mixup, size=total) if train.mixup > 0 else None
    if unlabeled is not None:
        unlabeled.bind(model, total=total)

    # Dropout layers draw from torch's global generator: seed it from `gen` inside a fork so
    # training is reproducible and leaves the caller's global state untouched.
    global_seed = int(torch.randint(0, 2**62, (1,), device=device, generator=gen))
    # Augmentation's choices made in Python (RandAugment's ops) draw from a CPU generator: on
    # the CPU `gen` itself, elsewhere one seeded from the draw above, so no step reads the device.
    host = gen if device.type == "cpu" else torch.Generator().manual_seed(
        derive_seed(global_seed, "augment-host"))
    with torch.random.fork_rng(devices=[device] if cuda else []):
        torch.manual_seed(global_seed)
        _train_steps(model, x, y, train=train, to_float=to_float, augment=augment, gen=gen,
                     host=host, lambdas=lambdas, opt=opt, sched=sched, total=total, bs=bs,
                     swa_model=swa_model, swa_start=swa_start, aux=aux, unlabeled=unlabeled,
                     stopper=stopper, task=task)

    if swa_model is not None and (stopper is None or int(swa_model.n_averaged) > 0):
        model.load_state_dict(swa_model.module.state_dict())
        _recompute_batchnorm(model, x, to_float=to_float, batch_size=max(bs, 256))
    if unlabeled is not None:
        unlabeled.finish(model)
    model.eval()
    if stopper is None:
        return FitStats(steps=teacher_steps + total)
    return FitStats(steps=stopper.steps, stop_reason=stopper.reason, schedule=stopper.factor)


def in_layout(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """`model`, in place, in the memory layout `fit` trains it in for inputs like `x`:
    channels-last for image batches (oneDNN and cuDNN's fast layout; small CNN on CPU: 1.3x a step)."""
    if x.dim() == 4:
        model.to(memory_format=torch.channels_last)
    return model


def stop_rule(cap: int, train: TrainConfig, *, device: torch.device) -> Plateau | None:
    """The state of `train.stop` for a run of at most `cap` steps: None for the fixed rule
    (exactly `cap` steps, `lr_factor`'s schedule), else a `Plateau` that sets the schedule
    and says when to stop."""
    return Plateau(cap, train, device=device) if train.stop == "plateau" else None


def _train_steps(model, x, y, *, train, to_float, augment, gen, host, lambdas, opt, sched, total,
                 bs, swa_model, swa_start, aux=None, unlabeled=None, stopper=None, task=CLASSIFICATION) -> None:
    device, n, cuda = x.device, int(y.shape[0]), x.device.type == "cuda"
    model.train()
    if aux is not None:
        aux.train()
    perm = torch.randperm(n, device=device, generator=gen)
    pos = 0
    for step in range(total):
        if pos + bs > n:  # new epoch; drop the ragged tail so every batch has bs rows
            perm, pos = torch.randperm(n, device=device, generator=gen), 0
        idx = perm[pos:pos + bs]
        pos += bs
        xb, yb = task.augmented(augment, to_float(x[idx]), y[idx], gen, host=host)
        if xb.dim() == 4:
            xb = xb.contiguous(memory_format=torch.channels_last)
        xu = None if unlabeled is None else unlabeled.inputs(gen, host)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            anchors = None if unlabeled is None else anchor_logits(unlabeled.anchors(), model)
            if lambdas is not None:
                lam = float(lambdas[step])
                mate = torch.randperm(bs, device=device, generator=gen)
                out, out_u, levels = _forward(model, lam * xb + (1 - lam) * xb[mate], xu, levels=aux is not None)
                loss = (lam * task.loss(out, yb, label_smoothing=train.label_smoothing)
                        + (1 - lam) * task.loss(out, yb[mate], label_smoothing=train.label_smoothing))
            else:
                out, out_u, levels = _forward(model, xb, xu, levels=aux is not None)
                loss = task.loss(out, yb, label_smoothing=train.label_smoothing)
            if aux is not None:
                mix = (lam, mate) if lambdas is not None else None
                loss = loss + aux(levels, _row_losses(out, yb, train, mix, task), step=step, total=total)
            if out_u is not None:
                loss = loss + unlabeled.loss(out_u, anchors)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if unlabeled is not None:
            unlabeled.after_step()
        if stopper is not None:  # the plateau rule: SWA averages its decay phase
            if swa_model is not None and stopper.decaying(step):
                swa_model.update_parameters(model)
            if stopper.observe(step, loss):
                break
        elif swa_model is not None and step >= swa_start:
            swa_model.update_parameters(model)


def _row_losses(out: torch.Tensor, yb: torch.Tensor, train: TrainConfig, mix,
                task: Task = CLASSIFICATION) -> torch.Tensor:
    """The task loss of each row, (B,): what the step's mean loss averages (an image's: the
    mean over its labeled pixels)."""
    ce = lambda t: task.loss(out, t, label_smoothing=train.label_smoothing, reduction="none")  # noqa: E731
    if mix is None:
        return ce(yb)
    lam, mate = mix
    return lam * ce(yb) + (1 - lam) * ce(yb[mate])


def _forward(model: nn.Module, xb: torch.Tensor, xu: torch.Tensor | None, *, levels: bool = False):
    """(labeled logits, unlabeled logits or None, the labeled rows' intermediate features when
    `levels`, else None): one pass over both, so BatchNorm normalizes the labeled and
    unlabeled rows together."""
    both = xb if xu is None else torch.cat([xb, xu])
    if xu is not None and both.dim() == 4:
        both = both.contiguous(memory_format=torch.channels_last)
    out, feats = model.forward_levels(both) if levels else (model(both), None)
    b = xb.shape[0]
    if xu is None:
        return out, None, feats
    return out[:b], out[b:], None if feats is None else [f[:b] for f in feats]


@torch.no_grad()
def _recompute_batchnorm(model: nn.Module, x: torch.Tensor, *,
                         to_float: Callable[[torch.Tensor], torch.Tensor], batch_size: int) -> None:
    """Averaged weights need fresh BatchNorm statistics: one pass over the labeled inputs."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the pass
    model.train()
    for i in range(0, x.shape[0], batch_size):
        model(to_float(x[i:i + batch_size]))
