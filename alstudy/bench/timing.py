"""Wall-clock timing that waits for the device."""

from __future__ import annotations

import statistics
from time import perf_counter
from typing import Callable

import torch


def sync(device: str | torch.device) -> None:
    """Wait for queued device work: CUDA runs asynchronously, a timer must not stop early."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], object], *, device: str | torch.device, repeats: int = 1) -> float:
    """Median wall time of `repeats` calls of `fn`."""
    times = []
    for _ in range(max(1, repeats)):
        sync(device)
        t0 = perf_counter()
        fn()
        sync(device)
        times.append(perf_counter() - t0)
    return statistics.median(times)
