"""Mean Teacher's unlabeled term: an EMA teacher and a consistency cost."""

from __future__ import annotations

import copy
from typing import Any, Callable, Mapping

import torch
from torch import nn

from alstudy.training.ssl.term import UnlabeledTerm, sigmoid_rampup


def consistency(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Mean over the B rows of || softmax(student) - softmax(teacher) ||^2 (squared distance
    summed over the C classes; Tarvainen & Valpola 2017, Sec. 2, J(theta)), no gradient
    through the teacher."""
    p = torch.softmax(student_logits.float(), dim=1)
    q = torch.softmax(teacher_logits.detach().float(), dim=1)
    return ((p - q) ** 2).sum(dim=1).mean()


class MeanTeacher(UnlabeledTerm):
    """Mean Teacher (Tarvainen & Valpola 2017, Sec. 2): the teacher's weights are an
    exponential moving average of the student's, theta'_t = a theta'_{t-1} + (1 - a) theta_t
    with a = min(1 - 1/(t + 1), `ema_decay`) (the authors' code: a plain average while t is
    short). Per step, `mu * batch_size` unlabeled rows get two independent views (the dataset's
    augmentation at strength `view`): the student sees one in the labeled batch's forward
    pass, the teacher the other, in train mode (its own dropout and batch statistics, as in
    the authors' code), without gradient. Loss:
    lambda_u * exp(-5 (1 - t)^2) * consistency(student's view, teacher's view), t the step
    over `rampup * steps` clipped to 1 (their sigmoid ramp-up). The default lambda_u = 10 on
    the class-summed distance is the authors' CIFAR-10 weight of 100 on their class-averaged
    MSE, for 10 classes.

    `teacher_scores` (default true): after training, the model takes the teacher's weights
    and buffers, so the teacher is evaluated and scores the pool (the paper reports the EMA
    model; it is the better of the two); false keeps the student. The record says which
    (`ssl_model`).

    Departures: the consistency covers the unlabeled rows only (the paper's covers the
    labeled ones too; `include_labeled` adds them as unlabeled rows); the teacher sees only
    its views, not the labeled batch.
    """

    follows_model = True   # its teacher is a moving average of one model

    def __init__(self, x_unlabeled: torch.Tensor, *, to_float: Callable[[torch.Tensor], torch.Tensor],
                 view: Callable[..., torch.Tensor], options: Mapping[str, Any], batch_size: int):
        super().__init__(x_unlabeled, to_float=to_float, options=options, batch_size=batch_size)
        self.view = view
        self.student: nn.Module | None = None
        self.teacher: nn.Module | None = None
        self._teacher_in: torch.Tensor | None = None

    def bind(self, model: nn.Module, *, total: int) -> None:
        super().bind(model, total=total)
        self.student = model
        self.teacher = copy.deepcopy(model)   # theta'_0 = theta_0
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    def inputs(self, gen: torch.Generator, host: torch.Generator) -> torch.Tensor:
        """(rows, ...): the student's views; the teacher's views of the same rows wait for `loss`."""
        u = self._sample(gen)
        student = self.view(u, gen, host=host)
        teacher = self.view(u, gen, host=host)
        if teacher.dim() == 4:
            teacher = teacher.contiguous(memory_format=torch.channels_last)
        self._teacher_in = teacher
        return student

    def loss(self, logits: torch.Tensor, anchor_logits: torch.Tensor | None = None) -> torch.Tensor:
        with torch.no_grad():
            self.teacher.train()
            teacher_logits = self.teacher(self._teacher_in)
        value = consistency(logits, teacher_logits)
        self._track(value)
        weight = self.options["lambda_u"] * sigmoid_rampup(self.step, self.options["rampup"] * self.total)
        return weight * value

    def after_step(self) -> None:
        super().after_step()
        a = min(1.0 - 1.0 / (self.step + 1), self.options["ema_decay"])
        with torch.no_grad():
            # theta' <- a theta' + (1 - a) theta, every tensor in one kernel (as torch's EMA helper
            # torch.optim.swa_utils.get_ema_multi_avg_fn does)
            torch._foreach_lerp_(list(self.teacher.parameters()), list(self.student.parameters()), 1.0 - a)

    def finish(self, model: nn.Module) -> None:
        if self.options["teacher_scores"]:
            model.load_state_dict(self.teacher.state_dict())

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "ssl_model": "teacher" if self.options["teacher_scores"] else "student"}
