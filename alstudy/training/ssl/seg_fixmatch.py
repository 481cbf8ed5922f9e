"""FixMatch's unlabeled term for segmentation: per-pixel pseudo-labels, CutMix of images and labels."""

from __future__ import annotations

import copy
import math
from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from alstudy.training.ssl.seg_views import cutmix_boxes, mix, photometric
from alstudy.training.ssl.term import UnlabeledTerm

RATE_DECAY = 0.99   # moving average of each class's confident share (class thresholds)


def pixel_mask(conf: torch.Tensor, label: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """(B, H, W) float: 1 where a pixel's top probability `conf` reaches the threshold of its
    pseudo-label `label` (`thresholds` (C,), one per class), else 0."""
    return (conf >= thresholds[label]).float()


def class_thresholds(rates: torch.Tensor, threshold: float) -> torch.Tensor:
    """(C,) thresholds from each class's share of confident pixels `rates` (C,): FlexMatch's
    flexible threshold (Zhang et al. 2021, Eq. 6 and the convex mapping of Eq. 7),
    T_c = tau * beta_c / (2 - beta_c) with beta_c = rate_c / max_c' rate_c'. Here a class's
    learning effect is the share of the pixels predicted as the class that are confident (the
    paper counts confident rows; pixels of a large class such as background would swamp a
    count). The best learned class keeps `threshold`; classes learned less get lower ones."""
    beta = rates / rates.max().clamp_min(1e-12)
    return threshold * beta / (2.0 - beta)


class SegFixMatch(UnlabeledTerm):
    """FixMatch for segmentation, as UniMatch's FixMatch baseline (Yang et al. 2023, Sec. 3.1,
    following Sohn et al. 2020): per step, `mu * batch_size` unlabeled images get a weak view
    (the dataset's joint augmentation, image part) and a strong view derived from the weak one
    (`photometric` at strength `strong`, then CutMix: row i takes a box from row i + 1, French
    et al. 2020), so every strong pixel has a weak pixel. The weak views go through the model
    without gradient (`anchors()`); each pixel's argmax is its pseudo-label, mixed with the
    same boxes; a pixel counts where its confidence reaches its class's threshold:

        loss_u = lambda_u * sum_pixels( w[y] * 1[conf >= T[y]] * CE(strong logits, y) ) / pixels

    with y the mixed pseudo-labels and the mean taken over all pixels (UniMatch's rule).

    Confident background swamps the pseudo-labels when every class has the same threshold
    (a first pixel FixMatch with tau 0.95 fell to half the supervised mIoU on mnist5k_seg,
    issue 25), hence the knobs below. Their defaults lift the foreground's confident share
    well above zero, but no setting tried beat supervised training on mnist5k_seg (at 50 labels
    with AdamW they lowered the digits' thresholds to ~0.2-0.4 and the model then over-predicted
    digits on background: below supervised mIoU; README, "Segmentation"); self-training
    (`seg_self_training`) does:
    * `class_thresholds` (default on): T from `class_thresholds` over a moving average of each
      class's confident share; off: T_c = `threshold` for every class.
    * `ema_decay` > 0 (default 0.99): the pseudo-labels come from an exponential moving average
      of the student's weights (a mean teacher, Tarvainen & Valpola 2017), which is also the
      model evaluated after training (`ssl_model` "teacher"); 0: from the student, as FixMatch.
    * `balance` (default off): w_y = 1 / (K f_y), f the moving share of confident pixels
      labeled y and K the classes seen, so each class weighs alike; off: w = 1.

    Records `ssl_mask_rate` (confident share of all unlabeled pixels) and
    `ssl_mask_rate_by_class` (per pseudo-label class: confident share of the pixels given that
    label; NaN for a class never predicted).
    """

    masks = True

    def __init__(self, x_unlabeled: torch.Tensor, *, to_float: Callable[[torch.Tensor], torch.Tensor],
                 weak: Callable[..., torch.Tensor], options: Mapping[str, Any], batch_size: int,
                 num_classes: int, ignore_index: int | None = None, class_thresholds: bool = True,
                 ema_decay: float = 0.99, balance: bool = False):
        super().__init__(x_unlabeled, to_float=to_float, options=options, batch_size=batch_size)
        self.weak, self.num_classes = weak, num_classes
        self.adaptive, self.ema_decay, self.balance = class_thresholds, ema_decay, balance
        self.follows_model = ema_decay > 0
        device = x_unlabeled.device
        self._rates = torch.ones(num_classes, device=device)          # confident share per class
        self._shares = torch.full((num_classes,), 1.0 / num_classes, device=device)  # of confident pixels
        self._kept_by = torch.zeros(num_classes, device=device)
        self._seen_by = torch.zeros(num_classes, device=device)
        self._boxes: torch.Tensor | None = None
        self.student: nn.Module | None = None
        self.teacher: nn.Module | None = None

    def bind(self, model: nn.Module, *, total: int) -> None:
        super().bind(model, total=total)
        if self.ema_decay > 0:
            self.student, self.teacher = model, copy.deepcopy(model)
            for p in self.teacher.parameters():
                p.requires_grad_(False)

    def inputs(self, gen: torch.Generator, host: torch.Generator) -> torch.Tensor:
        """(rows, C, H, W): the mixed strong views; their weak views are the anchors (student)
        or wait for the teacher in `loss`."""
        weak = self.weak(self._sample(gen), gen, host=host)
        b, _, h, w = weak.shape
        self._boxes = cutmix_boxes(b, h, w, gen, device=weak.device)
        strong = mix(photometric(weak, gen, self.options["strong"]), self._boxes)
        self._anchors = weak.contiguous(memory_format=torch.channels_last)
        return strong

    def anchors(self) -> torch.Tensor | None:
        return None if self.teacher is not None else self._anchors

    def thresholds(self) -> torch.Tensor:
        """(C,) the per-class confidence thresholds of the next step."""
        if self.adaptive:
            return class_thresholds(self._rates, self.options["threshold"])
        return torch.full_like(self._rates, self.options["threshold"])

    def loss(self, logits: torch.Tensor, anchor_logits: torch.Tensor | None = None) -> torch.Tensor:
        if self.teacher is not None:
            with torch.no_grad():
                self.teacher.train()
                anchor_logits = self.teacher(self._anchors)
        probs = torch.softmax(anchor_logits.detach().float(), dim=1)    # (B, C, H, W)
        conf, label = probs.max(dim=1)                                  # (B, H, W)
        conf, label = mix(conf, self._boxes), mix(label, self._boxes)
        mask = pixel_mask(conf, label, self.thresholds())
        ce = F.cross_entropy(logits.float(), label, reduction="none")   # (B, H, W)
        weight = mask
        if self.balance:
            present = (self._shares > 0).sum()
            weight = mask / (present * self._shares.clamp_min(1e-6))[label]
        value = (ce * weight).sum() / ce.numel()
        self._count(label, mask)
        self._values.append(value.detach())
        return self.options["lambda_u"] * value

    def _count(self, label: torch.Tensor, mask: torch.Tensor) -> None:
        """Per-class confident and seen pixels of this step: the record's rates, the moving
        averages behind the class thresholds and the balance (no host sync)."""
        flat = label.flatten()
        kept = torch.zeros(self.num_classes, device=flat.device).index_add_(0, flat, mask.flatten())
        seen = torch.zeros(self.num_classes, device=flat.device).index_add_(
            0, flat, torch.ones_like(mask).flatten())
        self._kept_by += kept
        self._seen_by += seen
        self._kept += kept.sum()
        self._seen += int(flat.numel())
        rate = kept / seen.clamp_min(1.0)
        self._rates = torch.where(seen > 0, RATE_DECAY * self._rates + (1 - RATE_DECAY) * rate, self._rates)
        share = kept / kept.sum().clamp_min(1.0)
        self._shares = torch.where(kept.sum() > 0, RATE_DECAY * self._shares + (1 - RATE_DECAY) * share,
                                   self._shares)

    def after_step(self) -> None:
        super().after_step()
        if self.teacher is not None:
            a = min(1.0 - 1.0 / (self.step + 1), self.ema_decay)
            with torch.no_grad():
                torch._foreach_lerp_(list(self.teacher.parameters()), list(self.student.parameters()), 1.0 - a)

    def finish(self, model: nn.Module) -> None:
        if self.teacher is not None:
            model.load_state_dict(self.teacher.state_dict())

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        seen = self._seen_by.tolist()
        out["ssl_mask_rate_by_class"] = [k / s if s else math.nan for k, s in zip(self._kept_by.tolist(), seen)]
        if self.teacher is not None:
            out["ssl_model"] = "teacher"
        return out
