"""Mean Teacher's unlabeled term for segmentation: CutMix-Seg (French et al. 2020)."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from alstudy.training.ssl.mean_teacher import MeanTeacher, consistency
from alstudy.training.ssl.seg_views import cutmix_boxes, mix
from alstudy.training.ssl.term import sigmoid_rampup


def pixel_rows(logits: torch.Tensor) -> torch.Tensor:
    """(B * H * W, C) from per-pixel logits (B, C, H, W): each pixel a row."""
    return logits.permute(0, 2, 3, 1).reshape(-1, logits.shape[1])


class SegMeanTeacher(MeanTeacher):
    """Mean Teacher with CutMix for segmentation (French et al. 2020, Sec. 3.2 and Fig. 2;
    the teacher as Tarvainen & Valpola 2017, see `MeanTeacher`): per step, `mu * batch_size`
    unlabeled images get one view (the dataset's joint augmentation at strength `view`, image
    part). The teacher, in train mode and without gradient, predicts the unmixed views; the
    student sees them mixed by CutMix boxes (row i takes a box from row i + 1), and its target
    is the teacher's probabilities mixed by the same boxes, so every pixel's target is the
    teacher's prediction of that very pixel. Loss: lambda_u * exp(-5 (1 - t)^2) times the
    mean over pixels of || softmax(student) - mix(softmax(teacher)) ||^2 (summed over
    classes; `consistency` with each pixel a row). The EMA rule, ramp-up and `teacher_scores`
    are `MeanTeacher`'s; no confidence mask (the paper's is optional), so no mask rate.
    """

    def __init__(self, x_unlabeled: torch.Tensor, *, to_float: Callable[[torch.Tensor], torch.Tensor],
                 view: Callable[..., torch.Tensor], options: Mapping[str, Any], batch_size: int):
        super().__init__(x_unlabeled, to_float=to_float, view=view, options=options, batch_size=batch_size)
        self._boxes: torch.Tensor | None = None

    def inputs(self, gen: torch.Generator, host: torch.Generator) -> torch.Tensor:
        """(rows, C, H, W): the mixed views the student sees; the unmixed ones wait for the teacher."""
        u = self.view(self._sample(gen), gen, host=host)
        b, _, h, w = u.shape
        self._boxes = cutmix_boxes(b, h, w, gen, device=u.device)
        self._teacher_in = u.contiguous(memory_format=torch.channels_last)
        return mix(u, self._boxes)

    def loss(self, logits: torch.Tensor, anchor_logits: torch.Tensor | None = None) -> torch.Tensor:
        with torch.no_grad():
            self.teacher.train()
            target = mix(self.teacher(self._teacher_in).float(), self._boxes)
        # mixing logits then taking softmax equals mixing the probabilities: each pixel comes
        # whole from one image
        value = consistency(pixel_rows(logits), pixel_rows(target))
        self._track(value)
        weight = self.options["lambda_u"] * sigmoid_rampup(self.step, self.options["rampup"] * self.total)
        return weight * value
