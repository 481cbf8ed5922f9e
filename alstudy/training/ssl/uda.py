"""UDA's unlabeled term."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch

from alstudy.training.ssl.term import UnlabeledTerm, confident


def uda_loss(target_logits: torch.Tensor, strong_logits: torch.Tensor, *, temperature: float,
             threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, mask) of UDA on (B, C) logits: the mean over the B rows of
    1[max softmax(target) >= threshold] * KL( softmax(target / T) || softmax(strong) ),
    no gradient through the target (Xie et al. 2020, Eq. 1 with the sharpening of Sec. 3.2)."""
    _, _, mask = confident(target_logits, threshold)
    log_q = torch.log_softmax(target_logits.detach().float() / temperature, dim=1)
    log_p = torch.log_softmax(strong_logits.float(), dim=1)
    kl = (log_q.exp() * (log_q - log_p)).sum(dim=1)                    # (B,)
    return (kl * mask).mean(), mask


class UDA(UnlabeledTerm):
    """UDA (Xie et al. 2020, "Unsupervised Data Augmentation for Consistency Training",
    Eq. 1-3 and the "training signal" sharpening of Sec. 3.2): per step, `mu * batch_size`
    unlabeled rows get a target view (augmentation strength `target_strength`; 0, the default,
    is the original row, as in the paper) and a strong view (strength `strong`, RandAugment
    above 1 for images, plus cutout). The strong view's prediction is pulled towards the
    target view's, sharpened by `temperature`, on rows whose target confidence is >=
    `threshold` (confidence-based masking):
    loss_u = lambda_u * mean_b( mask_b * KL(softmax(z_target / T) || softmax(z_strong)) ).

    The target views go through the model without gradient (`anchor_logits`), the strong ones
    beside the labeled batch in the gradient pass (the paper's code runs all three in one pass).

    Not done here: training signal annealing (TSA) of the labeled loss, and the paper's much
    larger unlabeled batch (`mu` sets it, as for FixMatch, so budgets match).
    """

    masks = True

    def __init__(self, x_unlabeled: torch.Tensor, *, to_float: Callable[[torch.Tensor], torch.Tensor],
                 target: Callable[..., torch.Tensor], strong: Callable[..., torch.Tensor],
                 options: Mapping[str, Any], batch_size: int):
        super().__init__(x_unlabeled, to_float=to_float, options=options, batch_size=batch_size)
        self.target, self.strong = target, strong

    def inputs(self, gen: torch.Generator, host: torch.Generator) -> torch.Tensor:
        """(rows, ...): the strong views; the target views of the same rows are the anchors."""
        return self._anchored_strong(self.target, self.strong, gen, host)

    def loss(self, logits: torch.Tensor, anchor_logits: torch.Tensor | None = None) -> torch.Tensor:
        value, mask = uda_loss(anchor_logits, logits, temperature=self.options["temperature"],
                               threshold=self.options["threshold"])
        self._track(value, mask)
        return self.options["lambda_u"] * value
