"""Unlabeled terms: what a semi-supervised method adds to a step of the one training loop.

`fit` asks a term for extra input rows (`inputs`), runs them through the model in the same
forward pass as the labeled batch (so BatchNorm sees both, as in the papers), and adds
`loss(logits of those rows)` to the supervised loss; `term.py` states the whole contract.
One module per method: FixMatch, UDA, Mean Teacher, Pseudo-Label.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from alstudy.training.ssl.fixmatch import FixMatch
from alstudy.training.ssl.mean_teacher import MeanTeacher
from alstudy.training.ssl.pseudo_label import PseudoLabel
from alstudy.training.ssl.term import UnlabeledTerm
from alstudy.training.ssl.uda import UDA

__all__ = ["FixMatch", "MeanTeacher", "PseudoLabel", "UDA", "UnlabeledTerm", "make_term"]


def make_term(method: str, x_unlabeled: torch.Tensor, *, data, options: Mapping[str, Any],
              batch_size: int) -> UnlabeledTerm | None:
    """The unlabeled term of `method` on the stored rows `x_unlabeled` of dataset `data`
    (None for supervised training); views are `data`'s augmentation at the options' strengths."""
    if method == "supervised":
        return None
    common = {"to_float": data.to_float, "options": options, "batch_size": batch_size}
    if method == "fixmatch":
        return FixMatch(x_unlabeled, weak=data.augmenter(1.0), strong=data.augmenter(options["strong"]), **common)
    if method == "uda":
        return UDA(x_unlabeled, target=data.augmenter(options["target_strength"]),
                   strong=data.augmenter(options["strong"]), **common)
    if method == "mean_teacher":
        return MeanTeacher(x_unlabeled, view=data.augmenter(options["view"]), **common)
    if method == "pseudo_label":
        return PseudoLabel(x_unlabeled, view=data.augmenter(options["view"]), **common)
    raise ValueError(f"no unlabeled term for method {method!r}")
