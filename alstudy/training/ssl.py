"""Unlabeled terms: what a semi-supervised method adds to a step of the one training loop.

`fit` asks a term for extra input rows (`inputs`), runs them through the model in the same
forward pass as the labeled batch (so BatchNorm sees both, as in the papers), and adds
`loss(logits of those rows)` to the supervised loss. A term draws only from the generators
`fit` hands it, and keeps its statistics on the device (no host sync per step).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import torch
import torch.nn.functional as F

from alstudy.data.augment import cutout
from alstudy.training.methods import ssl_steps


class FixMatch:
    """FixMatch (Sohn et al. 2020, Eq. 2-4): per step, `mu * batch_size` unlabeled rows get a
    weak view (the dataset's augmentation at strength 1) and a strong one (strength `strong`,
    RandAugment above 1 for images, plus cutout). Where the model's weak-view confidence is
    >= `threshold`, its argmax is the hard pseudo-label of the strong view:
    loss_u = lambda_u * mean_b( 1[max p_weak >= tau] * CE(strong logits, argmax p_weak) ).

    `x_unlabeled`: stored rows (uint8 images or floats) on the device.
    """

    def __init__(self, x_unlabeled: torch.Tensor, *, to_float: Callable[[torch.Tensor], torch.Tensor],
                 weak: Callable[..., torch.Tensor], strong: Callable[..., torch.Tensor],
                 options: Mapping[str, Any], batch_size: int):
        self.x, self.to_float, self.weak, self.strong = x_unlabeled, to_float, weak, strong
        self.options = dict(options)
        self.rows = self.options["mu"] * batch_size
        self.batch_size = batch_size
        self._masked = torch.zeros((), device=x_unlabeled.device)   # pseudo-labels kept, summed
        self._seen = 0

    def steps(self, supervised_steps: int) -> int:
        return ssl_steps(supervised_steps, int(self.x.shape[0]), self.batch_size, self.options)

    def inputs(self, gen: torch.Generator, host: torch.Generator) -> torch.Tensor:
        """(2 * rows, ...): the weak views, then the strong views of the same rows."""
        idx = torch.randint(0, int(self.x.shape[0]), (self.rows,), generator=gen, device=self.x.device)
        u = self.to_float(self.x[idx])
        strong = self.strong(u, gen, host=host)
        if strong.dim() == 4:
            strong = cutout(strong, gen, self.options["cutout"])
        return torch.cat([self.weak(u, gen, host=host), strong])

    def loss(self, logits: torch.Tensor) -> torch.Tensor:
        weak, strong = logits.float().chunk(2)
        conf, pseudo = torch.softmax(weak.detach(), dim=1).max(dim=1)
        mask = (conf >= self.options["threshold"]).float()
        self._masked += mask.sum()
        self._seen += int(mask.shape[0])
        return self.options["lambda_u"] * (F.cross_entropy(strong, pseudo, reduction="none") * mask).mean()

    def stats(self) -> dict[str, Any]:
        """Record columns of the cycle: unlabeled rows available, share of pseudo-labels kept."""
        rate = float(self._masked) / self._seen if self._seen else 0.0   # one sync, after training
        return {"n_unlabeled": int(self.x.shape[0]), "ssl_mask_rate": rate}


def make_term(method: str, x_unlabeled: torch.Tensor, *, data, options: Mapping[str, Any],
              batch_size: int):
    """The unlabeled term of `method` on the stored rows `x_unlabeled` of dataset `data`
    (None for supervised training)."""
    if method == "supervised":
        return None
    if method == "fixmatch":
        return FixMatch(x_unlabeled, to_float=data.to_float, weak=data.augmenter(1.0),
                        strong=data.augmenter(options["strong"]), options=options, batch_size=batch_size)
    raise ValueError(f"no unlabeled term for method {method!r}")
