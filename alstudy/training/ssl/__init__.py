"""Unlabeled terms: what a semi-supervised method adds to a step of the one training loop.

`fit` asks a term for extra input rows (`inputs`), runs them through the model in the same
forward pass as the labeled batch (so BatchNorm sees both, as in the papers), and adds
`loss(logits of those rows)` to the supervised loss; `term.py` states the whole contract.
One module per method: FixMatch, UDA, Mean Teacher, Pseudo-Label; FixMatch and Mean Teacher
also have a per-pixel term for segmentation (`seg_fixmatch`, `seg_mean_teacher`, their views
and CutMix in `seg_views`), and self-training has one for segmentation only
(`seg_self_training`: `fit` trains its teacher first). Which method builds which term is the method table's
(alstudy.training.methods.METHODS, SEGMENTATION_TERMS).
"""

from __future__ import annotations

from alstudy.training.methods import make_term
from alstudy.training.ssl.fixmatch import FixMatch
from alstudy.training.ssl.mean_teacher import MeanTeacher
from alstudy.training.ssl.pseudo_label import PseudoLabel
from alstudy.training.ssl.seg_fixmatch import SegFixMatch
from alstudy.training.ssl.seg_mean_teacher import SegMeanTeacher
from alstudy.training.ssl.seg_self_training import SegSelfTraining
from alstudy.training.ssl.term import UnlabeledTerm
from alstudy.training.ssl.uda import UDA

__all__ = ["FixMatch", "MeanTeacher", "PseudoLabel", "SegFixMatch", "SegMeanTeacher", "SegSelfTraining", "UDA",
           "UnlabeledTerm", "make_term"]
