"""Pseudo-Label's unlabeled term."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from alstudy.training.ssl.term import UnlabeledTerm, confident, linear_rampup


def pseudo_label_loss(logits: torch.Tensor, *, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, mask) on (B, C) logits: the mean over the B rows of
    1[max softmax >= threshold] * CE(logits, argmax logits), no gradient through the label."""
    _, label, mask = confident(logits, threshold)
    return (F.cross_entropy(logits.float(), label, reduction="none") * mask).mean(), mask


class PseudoLabel(UnlabeledTerm):
    """Pseudo-Label (Lee 2013, Eq. 1 and 15-16): per step, `mu * batch_size` unlabeled rows get
    one view (the dataset's augmentation at strength `view`); the class the model gives the
    highest probability, recomputed every step from the same forward pass, is the row's label:
    loss_u = alpha(t) * mean_b( 1[max p_b >= threshold] * CE(logits_b, argmax p_b) ),
    alpha(t) = 0 before T1 = `rampup_start` * steps, linear to alpha_f = `lambda_u` at
    T2 = `rampup_end` * steps, alpha_f after (Eq. 16, in steps instead of epochs).

    Departure: Lee labels every unlabeled row; the confidence threshold (default 0.95) is the
    variant of later evaluations (Oliver et al. 2018); `threshold = 0` is Lee's original.
    """

    masks = True

    def __init__(self, x_unlabeled: torch.Tensor, *, to_float: Callable[[torch.Tensor], torch.Tensor],
                 view: Callable[..., torch.Tensor], options: Mapping[str, Any], batch_size: int):
        super().__init__(x_unlabeled, to_float=to_float, options=options, batch_size=batch_size)
        self.view = view

    def inputs(self, gen: torch.Generator, host: torch.Generator) -> torch.Tensor:
        return self.view(self._sample(gen), gen, host=host)

    def loss(self, logits: torch.Tensor, anchor_logits: torch.Tensor | None = None) -> torch.Tensor:
        value, mask = pseudo_label_loss(logits, threshold=self.options["threshold"])
        self._track(value, mask)
        return self.options["lambda_u"] * self.weight() * value

    def weight(self) -> float:
        """alpha(t) / alpha_f at the current step."""
        o = self.options
        return linear_rampup(self.step, o["rampup_start"] * self.total, o["rampup_end"] * self.total)
