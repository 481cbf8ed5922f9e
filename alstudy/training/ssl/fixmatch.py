"""FixMatch's unlabeled term."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from alstudy.training.ssl.term import UnlabeledTerm, confident


class FixMatch(UnlabeledTerm):
    """FixMatch (Sohn et al. 2020, Eq. 2-4): per step, `mu * batch_size` unlabeled rows get a
    weak view (the dataset's augmentation at strength 1) and a strong one (strength `strong`,
    RandAugment above 1 for images, plus cutout). Where the model's weak-view confidence is
    >= `threshold`, its argmax is the hard pseudo-label of the strong view:
    loss_u = lambda_u * mean_b( 1[max p_weak >= tau] * CE(strong logits, argmax p_weak) ).

    The weak views go through the model without gradient (`anchor_logits`: train mode, their
    own batch statistics), the labeled batch and the strong views through one forward and
    backward pass, so BatchNorm normalizes labeled and unlabeled rows together as in the paper.
    Departure: the paper's single pass also holds the weak views (its BatchNorm statistics
    cover all three groups, and its backward pass runs over the weak rows for nothing); here
    they are normalized among themselves, and a step costs a forward pass less per weak row
    plus its backward pass (`alstudy bench --only ssl`).

    `x_unlabeled`: stored rows (uint8 images or floats) on the device.
    """

    masks = True

    def __init__(self, x_unlabeled: torch.Tensor, *, to_float: Callable[[torch.Tensor], torch.Tensor],
                 weak: Callable[..., torch.Tensor], strong: Callable[..., torch.Tensor],
                 options: Mapping[str, Any], batch_size: int):
        super().__init__(x_unlabeled, to_float=to_float, options=options, batch_size=batch_size)
        self.weak, self.strong = weak, strong

    def inputs(self, gen: torch.Generator, host: torch.Generator) -> torch.Tensor:
        """(rows, ...): the strong views; the weak views of the same rows are the anchors."""
        return self._anchored_strong(self.weak, self.strong, gen, host)

    def loss(self, logits: torch.Tensor, anchor_logits: torch.Tensor | None = None) -> torch.Tensor:
        _, pseudo, mask = confident(anchor_logits, self.options["threshold"])
        value = (F.cross_entropy(logits.float(), pseudo, reduction="none") * mask).mean()
        self._track(value, mask)
        return self.options["lambda_u"] * value
