"""Explicit random generators derived from (seed, purpose, cycle).

Every random choice in a campaign draws from a generator made here, never from global state and
never from a strategy's name, so one seed gives every strategy the same initial labeled set,
validation set and initial weights (paired comparisons), and a campaign resumed at cycle c
draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import zlib

import numpy as np


def derive_seed(seed: int, purpose: str, cycle: int = 0) -> int:
    """A 63-bit integer seed that depends only on (seed, purpose, cycle)."""
    entropy = [int(seed) & 0xFFFFFFFF, zlib.crc32(purpose.encode()), int(cycle) & 0xFFFFFFFF]
    return int(np.random.SeedSequence(entropy).generate_state(2, np.uint64)[0] >> np.uint64(1))


def numpy_generator(seed: int, purpose: str, cycle: int = 0) -> np.random.Generator:
    return np.random.default_rng(derive_seed(seed, purpose, cycle))


def torch_generator(seed: int, purpose: str, cycle: int = 0, *, device: str = "cpu"):
    """A torch.Generator on `device` seeded from (seed, purpose, cycle)."""
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed, purpose, cycle))
    return gen
