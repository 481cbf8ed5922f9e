"""Input/output conventions shared by the selection kernels.

Kernels accept numpy arrays or torch tensors and compute in torch on the input's device. Floats
keep their precision (float64 stays float64, lower precisions compute in float32). Results come
back as the kind the caller gave: numpy in -> numpy out, torch in -> torch out on that device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

Rng = torch.Generator | np.random.Generator | int | None


def as_float(x: Any, *, name: str = "input") -> tuple[torch.Tensor, bool]:
    """(float tensor, came_from_numpy). float64 is kept; other dtypes become float32."""
    from_numpy = isinstance(x, np.ndarray)
    t = torch.from_numpy(np.ascontiguousarray(x)) if from_numpy else x
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a numpy array or a torch tensor, got {type(x).__name__}")
    if t.dtype != torch.float64:
        t = t.float()
    return t, from_numpy


def give_back(t: torch.Tensor, from_numpy: bool) -> torch.Tensor | np.ndarray:
    """Return `t` in the caller's kind: a numpy array if the input was numpy."""
    return t.cpu().numpy() if from_numpy else t


def as_generator(rng: Rng, *, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch.Generator from a torch.Generator (used as is), a numpy Generator (one draw seeds
    a new one) or an int seed. None is refused: randomness must be explicit."""
    if isinstance(rng, torch.Generator):
        return rng
    if isinstance(rng, np.random.Generator):
        seed = int(rng.integers(0, 2**63 - 1))
    elif isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        seed = int(rng)
    else:
        raise TypeError(f"rng: expected a torch.Generator, numpy Generator or int, got {rng!r}")
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


def uniform(gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """One U[0, 1) draw from `gen` as a float64 scalar tensor on `device` (no host sync)."""
    return torch.rand((), generator=gen, device=gen.device, dtype=torch.float64).to(device)


def permutation(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """A random permutation of range(n) drawn from `gen`, on `device`."""
    return torch.randperm(n, generator=gen, device=gen.device).to(device)


def split_labeled(emb: Any, labeled: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, bool]:
    """Normalize the two ways of naming the labeled set.

    `labeled` is either a boolean mask over the rows of `emb` or the labeled embeddings
    themselves (L, D), possibly empty. Returns (pool (N, D), labeled (L, D), rows of `emb` that
    form the pool or None when every row is pool, came_from_numpy).
    """
    x, from_numpy = as_float(emb, name="emb")
    if x.ndim != 2:
        raise ValueError(f"emb: expected a 2-D array (N, D), got shape {tuple(x.shape)}")
    lab = torch.from_numpy(np.asarray(labeled)) if isinstance(labeled, np.ndarray) else labeled
    if lab is None:
        return x, x.new_zeros((0, x.shape[1])), None, from_numpy
    if not isinstance(lab, torch.Tensor):
        raise TypeError("labeled: expected a boolean mask or an (L, D) array")
    if lab.dtype == torch.bool:
        if lab.shape != (x.shape[0],):
            raise ValueError(f"labeled mask: expected shape ({x.shape[0]},), got {tuple(lab.shape)}")
        lab = lab.to(x.device)
        rows = torch.nonzero(~lab).squeeze(1)
        return x[rows], x[lab], rows, from_numpy
    lab = lab.to(device=x.device, dtype=x.dtype).reshape(-1, x.shape[1])
    return x, lab, None, from_numpy


def to_rows(picks: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """Map positions in the pool back to rows of the caller's `emb`."""
    return picks if rows is None else rows[picks]
