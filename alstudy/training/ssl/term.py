"""The unlabeled term's contract with `fit`, what every method shares, and the weight ramps.

`fit` drives a term through one training run:

    (term.teacher_first: fit(model) without the term first; supervised_steps = its steps)
    term.steps(supervised_steps) -> total       how many steps the run takes
    term.bind(model, total=total)               once, before the first step
    every step:  rows = term.inputs(gen, host)  extra input rows, joined to the labeled batch
                 anchors = term.anchors()       rows the model sees without gradient, or None
                 loss += term.loss(logits of rows, logits of anchors or None)
                 (backward, optimizer step)
                 term.after_step()
    term.finish(model)                          once, after the last step
    term.stats() -> record columns              once, after training (the only host sync)

A term draws only from the generators `fit` hands it and keeps its statistics on the device.
`anchor_logits` is the pass over the anchors: the model in train mode (its batch statistics,
dropout; BatchNorm's running statistics move in both passes) under `no_grad`, before the
gradient pass. A pseudo-label or a consistency target
needs no gradient, so its rows cost one forward pass instead of a forward and a backward one.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import torch
from torch import nn

from alstudy.data.augment import cutout
from alstudy.training.methods import ssl_steps

END_FRACTION = 0.1   # `ssl_consistency_end` averages the last tenth of the steps


class UnlabeledTerm:
    """Base of the semi-supervised methods: samples `mu * batch_size` unlabeled rows a step
    from the stored rows `x_unlabeled` (on the device), counts the step, keeps the record
    statistics. Subclasses define `inputs` and `loss` and call `_track`."""

    masks = False   # the method keeps only confident rows: it records `ssl_mask_rate`
    follows_model = False   # the term keeps state of the model it trains (`bind`, `finish`)
    teacher_first = False   # `fit` first trains the model on the labeled set alone (a teacher),
                            # then binds the term to it and trains on with the term (self-training)

    def __init__(self, x_unlabeled: torch.Tensor, *, to_float: Callable[[torch.Tensor], torch.Tensor],
                 options: Mapping[str, Any], batch_size: int):
        self.x, self.to_float = x_unlabeled, to_float
        self.options = dict(options)
        self.rows = self.options["mu"] * batch_size
        self.batch_size = batch_size
        self.step, self.total = 0, 0
        self._kept = torch.zeros((), device=x_unlabeled.device)   # confident rows, summed
        self._seen = 0
        self._values: list[torch.Tensor] = []   # each step's unweighted unlabeled loss, 0-dim
        self._anchors: torch.Tensor | None = None   # the last `inputs`' rows without gradient
        self._ahead: list[tuple[torch.Tensor, torch.Tensor]] = []   # views built for later steps

    def steps(self, supervised_steps: int) -> int:
        return ssl_steps(supervised_steps, int(self.x.shape[0]), self.batch_size, self.options)

    def bind(self, model: nn.Module, *, total: int) -> None:
        """Called once before the first step with the model being trained and the step count."""
        self.total = total

    def inputs(self, gen: torch.Generator, host: torch.Generator) -> torch.Tensor:
        raise NotImplementedError

    def anchors(self) -> torch.Tensor | None:
        """The rows the last `inputs` built for the pass without gradient (None: no such pass)."""
        return self._anchors

    def loss(self, logits: torch.Tensor, anchor_logits: torch.Tensor | None = None) -> torch.Tensor:
        """The weighted unlabeled loss from the logits of `inputs`' rows and of `anchors()`'."""
        raise NotImplementedError

    def after_step(self) -> None:
        """Called after every optimizer step."""
        self.step += 1

    def finish(self, model: nn.Module) -> None:
        """Called once after the last step; may set the weights `model` is evaluated with."""

    def stats(self) -> dict[str, Any]:
        """Record columns of the cycle: unlabeled rows available; the mean unweighted unlabeled
        loss over the cycle and over its last tenth (`ssl_consistency`, `_end`); for masking
        methods the share of unlabeled rows confident enough to count (`ssl_mask_rate`)."""
        out: dict[str, Any] = {"n_unlabeled": int(self.x.shape[0])}
        if self.masks:
            out["ssl_mask_rate"] = float(self._kept) / self._seen if self._seen else 0.0
        curve = self.curve()
        if curve:
            tail = curve[-max(1, math.ceil(END_FRACTION * len(curve))):]
            out["ssl_consistency"] = sum(curve) / len(curve)
            out["ssl_consistency_end"] = sum(tail) / len(tail)
        return out

    def curve(self) -> list[float]:
        """The unweighted unlabeled loss of every step so far (one host sync)."""
        return torch.stack(self._values).tolist() if self._values else []

    def _sample(self, gen: torch.Generator) -> torch.Tensor:
        """(rows, ...) float inputs: `rows` unlabeled rows drawn with replacement."""
        return self.to_float(self.x[self._draw(gen)])

    def _draw(self, gen: torch.Generator, rows: int | None = None) -> torch.Tensor:
        """(rows,) indices of `rows` (default `self.rows`) unlabeled rows drawn with replacement."""
        n = self.rows if rows is None else rows
        return torch.randint(0, int(self.x.shape[0]), (n,), generator=gen, device=self.x.device)

    def _anchored_strong(self, anchor: Callable[..., torch.Tensor], strong: Callable[..., torch.Tensor],
                         gen: torch.Generator, host: torch.Generator) -> torch.Tensor:
        """(rows, ...): the `strong` views (plus cutout for images, side `options["cutout"]`) of
        freshly drawn rows, the gradient pass's inputs of FixMatch and UDA; their `anchor` views
        wait in `anchors()`. The strong view draws from the generators first, so both methods'
        draws keep their order. With `options["ahead"]` = k > 1, one call every k steps draws
        and views k steps' rows at once (the same distribution: every draw is per row; the
        generators' values land in another order) and each step takes the next slice: on digits
        the ~100 small operations of a view then serve k steps instead of one."""
        ahead = int(self.options.get("ahead", 1))
        if ahead <= 1:
            strong_view, self._anchors = self._views(anchor, strong, gen, host, self.rows)
            return strong_view
        if not self._ahead:
            strong_view, anchors = self._views(anchor, strong, gen, host, self.rows * ahead)
            self._ahead = list(zip(strong_view.split(self.rows), anchors.split(self.rows)))[::-1]
        strong_view, self._anchors = self._ahead.pop()
        return strong_view

    def _views(self, anchor, strong, gen: torch.Generator, host: torch.Generator,
               rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(strong views, anchor views) of `rows` freshly drawn rows (`_anchored_strong`)."""
        u = self.to_float(self.x[self._draw(gen, rows)])
        strong_view = strong(u, gen, host=host)
        if strong_view.dim() == 4:
            strong_view = cutout(strong_view, gen, self.options["cutout"])
        return strong_view, anchor(u, gen, host=host)

    def _track(self, value: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        self._values.append(value.detach())
        if mask is not None:
            self._kept += mask.sum()
            self._seen += int(mask.shape[0])


def anchor_logits(rows: torch.Tensor | None, forward: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor | None:
    """`forward` over a term's `anchors()` without gradient (None for None): the model stays
    in train mode, so the rows are normalized by their own batch statistics."""
    if rows is None:
        return None
    if rows.dim() == 4:
        rows = rows.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        return forward(rows)


def confident(logits: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(probabilities, argmax, float mask of rows whose top probability >= `threshold`) of
    detached `logits` (B, C): the pseudo-labels no gradient flows through."""
    probs = torch.softmax(logits.detach().float(), dim=1)
    conf, label = probs.max(dim=1)
    return probs, label, (conf >= threshold).float()


def sigmoid_rampup(step: int, length: float) -> float:
    """exp(-5 (1 - t)^2) with t = step / length clipped to [0, 1] (Laine & Aila 2017, used by
    Tarvainen & Valpola 2017); 1 when `length` <= 0."""
    if length <= 0:
        return 1.0
    t = min(step, length) / length
    return math.exp(-5.0 * (1.0 - t) ** 2)


def linear_rampup(step: int, start: float, end: float) -> float:
    """Lee 2013, Eq. 16 without alpha_f: 0 before `start`, linear to 1 at `end`, 1 after."""
    if step < start:
        return 0.0
    if step >= end:
        return 1.0
    return (step - start) / (end - start)
