"""The one training loop (fit) and batched inference (infer, embed, evaluate)."""

from alstudy.training.fit import FitStats, fit, num_steps
from alstudy.training.infer import embed, evaluate, infer

__all__ = ["FitStats", "embed", "evaluate", "fit", "infer", "num_steps"]
