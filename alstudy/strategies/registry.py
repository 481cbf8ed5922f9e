"""The one place where strategy names from files and command lines turn into objects."""

from __future__ import annotations

import inspect
from typing import Any

from alstudy.errors import UsageError
from alstudy.strategies import builtin, committee, equal, learning_loss, vaal
from alstudy.strategies.contract import Strategy

STRATEGIES: dict[str, type[Strategy]] = {cls.name: cls for cls in (
    builtin.RandomSampling, builtin.LeastConfidence, builtin.Margin, builtin.Entropy,
    builtin.Bald, builtin.VariationRatio, builtin.Coreset, builtin.Badge,
    builtin.TypiClust, builtin.ProbCover, committee.Dbal, committee.Qbc, committee.EnsembleEntropy,
    committee.EnsembleBald, vaal.Vaal, learning_loss.LearningLoss, equal.Equal,
)}


def strategy_names() -> list[str]:
    """Registered names, in registration order (the random baseline first)."""
    return list(STRATEGIES)


def strategy_options(name: str) -> dict[str, Any]:
    """The options of strategy `name` and their defaults."""
    params = inspect.signature(_lookup(name).__init__).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}


def make_strategy(name: str, **options: Any) -> Strategy:
    """A new strategy `name` with `options`; UsageError naming the choices for an unknown name
    or option, or a bad option value."""
    allowed = strategy_options(name)
    for key in options:
        if key not in allowed:
            choices = ", ".join(allowed) if allowed else "none"
            raise UsageError(f"strategy {name!r} has no option {key!r}; its options: {choices}")
    return STRATEGIES[name](**options)


def _lookup(name: str) -> type[Strategy]:
    if name not in STRATEGIES:
        raise UsageError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
    return STRATEGIES[name]
