"""The array-like boundary: the public kernels of `alstudy.strategies`.

The kernels themselves are torch-only (`scores`, `kcenter`, `badge`, `typiclust`, `probcover`:
pool, labeled or probs, k with 1 <= k <= N, generator). The functions here convert once:
numpy arrays or tensors in (float64 is kept, other dtypes compute in float32), an int seed or a
numpy Generator for randomness, k clamped to the pool; the result comes back as the caller's
kind (numpy in -> numpy out; torch in -> a tensor on the input's device).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np
import torch

from alstudy.strategies import scores
from alstudy.strategies.badge import badge as _badge
from alstudy.strategies.kcenter import kcenter_greedy as _kcenter_greedy
from alstudy.strategies.probcover import probcover as _probcover
from alstudy.strategies.typiclust import typiclust as _typiclust

Rng = torch.Generator | np.random.Generator | int


def as_float(x: Any, *, name: str) -> tuple[torch.Tensor, bool]:
    """(float tensor, came_from_numpy). float64 is kept; other dtypes become float32."""
    from_numpy = isinstance(x, np.ndarray)
    t = torch.from_numpy(np.ascontiguousarray(x)) if from_numpy else x
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a numpy array or a torch tensor, got {type(x).__name__}")
    return (t if t.dtype == torch.float64 else t.float()), from_numpy


def as_generator(rng: Rng) -> torch.Generator:
    """A CPU torch.Generator from a torch.Generator (used as is), a numpy Generator (one draw
    seeds a new one) or an int seed. None is refused: randomness must be explicit."""
    if isinstance(rng, torch.Generator):
        return rng
    if isinstance(rng, np.random.Generator):
        seed = int(rng.integers(0, 2**63 - 1))
    elif isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        seed = int(rng)
    else:
        raise TypeError(f"rng: expected a torch.Generator, numpy Generator or int, got {rng!r}")
    return torch.Generator().manual_seed(seed)


def _scorer(kernel: Callable[[torch.Tensor], torch.Tensor], name: str, shape: str) -> Callable:
    @functools.wraps(kernel)
    def front(x: Any) -> Any:
        t, from_numpy = as_float(x, name=name)
        if t.ndim != shape.count(",") + 1:
            raise ValueError(f"{name}: expected shape {shape}, got {tuple(t.shape)}")
        out = kernel(t)
        return out.cpu().numpy() if from_numpy else out
    return front


def _selector(kernel: Callable[..., torch.Tensor], *, rng_optional: bool = False) -> Callable:
    @functools.wraps(kernel)
    def front(pool: Any, other: Any, k: int, rng: Rng | None = None, **options: Any) -> Any:
        x, from_numpy = as_float(pool, name="pool")
        if x.ndim != 2:
            raise ValueError(f"pool: expected a 2-D array (N, D), got shape {tuple(x.shape)}")
        y = as_float(other, name="second argument")[0].to(device=x.device, dtype=x.dtype)
        k = min(int(k), x.shape[0])
        if k <= 0:
            picks = torch.empty(0, dtype=torch.long, device=x.device)
        else:
            gen = None if rng is None and rng_optional else as_generator(rng)
            picks = kernel(x, y, k, gen, **options)
        return picks.cpu().numpy() if from_numpy else picks
    return front


entropy = _scorer(scores.entropy, "probs", "(N, C)")
least_confidence = _scorer(scores.least_confidence, "probs", "(N, C)")
margin = _scorer(scores.margin, "probs", "(N, C)")
bald = _scorer(scores.bald, "mc_probs", "(T, N, C)")
variation_ratio = _scorer(scores.variation_ratio, "mc_probs", "(T, N, C)")
kcenter_greedy = _selector(_kcenter_greedy, rng_optional=True)
badge = _selector(_badge)
typiclust = _selector(_typiclust)
probcover = _selector(_probcover)
