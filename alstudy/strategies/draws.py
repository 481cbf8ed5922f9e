"""Random draws from an explicit generator, delivered on the data's device.

The generator may live on another device than the data (strategies get a CPU generator even
when the pool is on a GPU), so draws happen on the generator's device and then move.
"""

from __future__ import annotations

import torch


def uniform(gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """One U[0, 1) draw from `gen` as a float64 scalar tensor on `device` (no host sync)."""
    return torch.rand((), generator=gen, device=gen.device, dtype=torch.float64).to(device)


def permutation(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """A random permutation of range(n) drawn from `gen`, on `device`."""
    return torch.randperm(n, generator=gen, device=gen.device).to(device)


def index(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """One uniform draw from range(n) as an int64 scalar tensor on `device`."""
    return torch.randint(n, (), generator=gen, device=gen.device).to(device)
