"""Query strategies: pure selection kernels and the registry of named strategies.

The kernels exported here take numpy arrays or torch tensors in one argument order (pool
embedding, labeled embedding, k, rng; BADGE takes the pool's probabilities second) and return
the caller's kind (see `arrays`); inside, every kernel is torch-only. Strategies turn a
PoolView into pool positions.
"""

from alstudy.strategies.arrays import (badge, bald, entropy, kcenter_greedy, least_confidence,
                                       margin, probcover, typiclust, variation_ratio)
from alstudy.strategies.contract import LossModule, Needs, PoolView, Strategy
from alstudy.strategies.probcover import probcover_delta
from alstudy.strategies.registry import STRATEGIES, make_strategy, strategy_names, strategy_options

__all__ = [
    "LossModule", "Needs", "PoolView", "Strategy", "STRATEGIES", "make_strategy", "strategy_names",
    "strategy_options", "entropy", "margin", "least_confidence", "bald", "variation_ratio",
    "kcenter_greedy", "badge", "typiclust", "probcover", "probcover_delta",
]
