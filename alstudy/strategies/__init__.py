"""Query strategies: pure selection kernels and the registry of named strategies.

Kernels take numpy arrays or torch tensors and return the caller's kind (numpy in, numpy out;
torch in, torch out on the same device). Strategies turn a PoolView into pool positions.
"""

from alstudy.strategies.badge import badge
from alstudy.strategies.base import Needs, PoolView, Strategy
from alstudy.strategies.kcenter import kcenter_greedy
from alstudy.strategies.probcover import probcover, probcover_delta
from alstudy.strategies.registry import STRATEGIES, make_strategy, strategy_names, strategy_options
from alstudy.strategies.scores import bald, entropy, least_confidence, margin, variation_ratio
from alstudy.strategies.typiclust import typiclust

__all__ = [
    "Needs", "PoolView", "Strategy", "STRATEGIES", "make_strategy", "strategy_names",
    "strategy_options", "entropy", "margin", "least_confidence", "bald", "variation_ratio",
    "kcenter_greedy", "badge", "typiclust", "probcover", "probcover_delta",
]
