"""fit_members / member_probs: K models of one architecture trained and scored together.

Small models (mlp, cnn1d, cnn2d) train as one `GroupedNet` (alstudy.models.grouped): each
layer runs the K members in one kernel - batched matrix products, grouped convolutions,
BatchNorm over the members' channels at once. Other models stack their weights
(`torch.func.stack_module_state`) and run one `vmap`ped backbone call. Either way every member
follows the recipe of `fit` (steps, optimizer, schedule, weight decay groups, label smoothing,
mixup, augmentation, head dropout) and draws its own batches; a step gathers the K members'
rows and augments them in one call. In a semi-supervised method every member has its own
unlabeled term, as member 0 does in `fit`: its rows join the member's batch in the same
forward pass (its anchors get one pass without gradient before it), its loss the member's
loss. The members train one after another with `fit` under SWA (`train.swa > 0`), with a term
that follows its model (Mean Teacher's teacher), and when they are segmentation models
(`dense`), each then under its own stop rule rather than member 0's.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state

from alstudy.config import TrainConfig
from alstudy.models.almodel import ALModel
from alstudy.models.grouped import GroupedNet, supports
from alstudy.training.fit import Augment, FitStats, fit, lr_factor, num_steps, optimizer_for
from alstudy.training.infer import infer
from alstudy.training.ssl.term import anchor_logits
from alstudy.training.task import CLASSIFICATION, Task

ToFloat = Callable[[torch.Tensor], torch.Tensor]
Forward = Callable[[torch.Tensor], torch.Tensor]   # the members' batches (K, B, ...) -> logits (K, B, C)


def fit_members(models: list[ALModel], x: torch.Tensor, y: torch.Tensor, *, train: TrainConfig,
                to_float: ToFloat, augment: Augment, gen: torch.Generator,
                mix_rng: np.random.Generator, like: FitStats | None = None,
                terms: list | None = None, task: Task = CLASSIFICATION) -> FitStats:
    """Train `models` (same architecture, own initial weights) in place on (x, y), together,
    for `num_steps` under `lr_factor`'s schedule -- or, with `like` (member 0's `fit`), for the
    steps it took under the learning-rate schedule it followed: a training-watching stop rule
    is member 0's, and every member trains the same recipe.

    Like `fit`, all randomness comes from `gen` (on x's device: batches, augmentation, dropout)
    and `mix_rng` (mixup coefficients); each member gets its own batch order. `terms`: one
    unlabeled term per member (a semi-supervised method): the terms set the step count (a
    fixed one, as in `fit`), not `like`.
    """
    if not models:
        return FitStats(steps=0)
    teacher = terms is not None and any(t.follows_model or t.teacher_first for t in terms)
    if train.swa > 0 or task.dense or models[0].dense or teacher:
        # plain fits: averaged weights need per-member BatchNorm passes, a teacher one model
        # (an EMA teacher, or self-training's supervised run before the term),
        # segmentation models per-pixel heads that neither GroupedNet nor `_vmapped` has
        stats = [fit(m, x, y, train=train, to_float=to_float, augment=augment, gen=gen, mix_rng=mix_rng,
                     unlabeled=term, task=task) for m, term in zip(models, terms or [None] * len(models))]
        return stats[0]
    for m in models:
        m.train()
    if supports(models[0]):
        net = GroupedNet(models)
        named, forward = list(net.params.items()), net
        shapes = net.member_shapes
    else:
        params, buffers = stack_module_state(models)  # {name: (K, ...)}; params are new leaves
        named, forward = list(params.items()), _vmapped(models[0], params, buffers)
        shapes = {k: p.shape for k, p in models[0].named_parameters()}
    decay = [p for k, p in named if len(shapes[k]) > 1]
    no_decay = [p for k, p in named if len(shapes[k]) <= 1]
    opt = optimizer_for(decay, no_decay, train)
    n = int(y.shape[0])
    if terms is not None:
        like = None
        total = terms[0].steps(num_steps(n, train))
        for m, term in zip(models, terms):
            term.bind(m, total=total)
    else:
        total = num_steps(n, train) if like is None else like.steps
    schedule = like.schedule if like is not None and like.schedule is not None else (
        lambda s: lr_factor(s, total, train))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    lambdas = mix_rng.beta(train.mixup, train.mixup, size=total) if train.mixup > 0 else None
    global_seed = int(torch.randint(0, 2**62, (1,), device=x.device, generator=gen))
    host = gen if x.device.type == "cpu" else torch.Generator().manual_seed(global_seed)
    with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
        torch.manual_seed(global_seed)  # head dropout draws from the global generator, as in fit
        _steps(forward, x, y, n=n, total=total, train=train, to_float=to_float, augment=augment, gen=gen,
               host=host, lambdas=lambdas, opt=opt, sched=sched, k=len(models), terms=terms)
    with torch.no_grad():
        if isinstance(forward, GroupedNet):
            forward.write_back(models)
        else:
            for i, m in enumerate(models):
                m.load_state_dict({name: t[i] for name, t in (params | buffers).items()})
    for m, term in zip(models, terms or [None] * len(models)):
        if term is not None:
            term.finish(m)
        m.eval()
    return FitStats(steps=total, stop_reason=like.stop_reason if like is not None else "fixed",
                    schedule=like.schedule if like is not None else None)


def _vmapped(skeleton: ALModel, params: dict, buffers: dict) -> Forward:
    """The members' forward pass by `vmap` over their stacked weights (any architecture)."""
    bb = {name[len("backbone."):]: t for name, t in (params | buffers).items() if name.startswith("backbone.")}
    w, b = params["classifier.weight"], params["classifier.bias"]  # (K, C, D), (K, C)

    def features(state: dict, xb: torch.Tensor) -> torch.Tensor:
        return functional_call(skeleton.backbone, state, (xb,))

    batched = torch.vmap(features, in_dims=(0, 0))

    def forward(xb: torch.Tensor) -> torch.Tensor:
        h = skeleton.dropout(batched(bb, xb))                                   # (K, bs, D)
        return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))
    return forward


def _steps(forward: Forward, x, y, *, n, total, train, to_float, augment, gen, host, lambdas, opt, sched,
           k, terms=None) -> None:
    device, cuda = x.device, x.device.type == "cuda"
    bs = min(train.batch_size, n)
    perms = _perms(k, n, device, gen)
    pos = 0
    for step in range(total):
        if pos + bs > n:  # new epoch for every member; drop the ragged tail, as fit does
            perms, pos = _perms(k, n, device, gen), 0
        idx = perms[:, pos:pos + bs]  # (K, bs)
        pos += bs
        xb = augment(to_float(x[idx.reshape(-1)]), gen, host=host)   # one gather, one augmentation call
        xb = xb.reshape(k, bs, *xb.shape[1:])
        yb = y[idx]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            if lambdas is not None:
                lam = float(lambdas[step])
                mate = torch.randperm(bs, device=device, generator=gen)
                xb = lam * xb + (1 - lam) * xb[:, mate]
            if terms is None:
                logits = forward(xb).flatten(0, 1)
            else:   # each member's unlabeled rows beside its labeled ones: (K, bs + rows, ...)
                xu = torch.stack([term.inputs(gen, host) for term in terms])
                rows = [term.anchors() for term in terms]
                anchors = anchor_logits(None if rows[0] is None else torch.stack(rows), forward)  # (K, rows, C)
                both = forward(torch.cat([xb, xu.to(xb.dtype)], dim=1))
                logits, unlabeled = both[:, :bs].flatten(0, 1), both[:, bs:]
        # the sum of the members' mean losses: each member's gradient is its own
        loss = _ce(logits.float(), yb.reshape(-1), train) * k if lambdas is None else k * (
            lam * _ce(logits.float(), yb.reshape(-1), train)
            + (1 - lam) * _ce(logits.float(), yb[:, mate].reshape(-1), train))
        if terms is not None:
            loss = loss + sum(term.loss(out, None if anchors is None else anchors[i])
                              for i, (term, out) in enumerate(zip(terms, unlabeled)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        for term in terms or ():
            term.after_step()


def _ce(logits: torch.Tensor, y: torch.Tensor, train: TrainConfig) -> torch.Tensor:
    return F.cross_entropy(logits, y, label_smoothing=train.label_smoothing)


def _perms(k: int, n: int, device: torch.device, gen: torch.Generator) -> torch.Tensor:
    return torch.stack([torch.randperm(n, device=device, generator=gen) for _ in range(k)])


def member_probs(models: list[ALModel], x: torch.Tensor, *, to_float: ToFloat) -> torch.Tensor:
    """Softmax probabilities of every model on x: (K, N, C), float32."""
    return torch.stack([infer(m, x, to_float=to_float, probs=True)["probs"] for m in models])


def ensemble_accuracy(models: list[ALModel], x: torch.Tensor, y: torch.Tensor, *,
                      to_float: ToFloat) -> float:
    """Accuracy of the members' mean prediction on (x, y)."""
    if y.shape[0] == 0:
        return 0.0
    pred = member_probs(models, x, to_float=to_float).mean(0).argmax(1)
    return float((pred == y).float().mean())
