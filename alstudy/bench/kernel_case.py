"""One selection-kernel measurement, meant to run in a fresh process (`python -m
alstudy.bench.kernel_case SPEC`), so that its peak memory is its own.

Memory method: on CPU, the growth of the process's peak resident set (VmHWM, reset through
/proc/self/clear_refs just before the call) over the resident set before it; where that reset
is unavailable, the lifetime peak from getrusage (an upper bound that includes the inputs).
On CUDA, torch.cuda.max_memory_allocated over the memory allocated before the call. Python's
tracemalloc would not see torch's allocations, so it is not used.
"""

from __future__ import annotations

import json
import re
import sys
from time import perf_counter
from typing import Any

NUM_CLASSES = 10
LABELED = 500  # labeled rows given to the kernels that take the labeled set


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            match = re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.M)
        return int(match.group(1)) if match else None
    except OSError:
        return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # 5 = reset the peak resident set size (Linux >= 4.0)
        return True
    except OSError:
        return False


class PeakMemory:
    """Context manager: `.mib` = peak memory growth inside the block, `.method` = how measured."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.mib: float | None = None
        self.method = ""

    def __enter__(self) -> "PeakMemory":
        import torch

        if torch.device(self.device).type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            self.method = "cuda max_memory_allocated"
        elif _reset_peak() and _status_kib("VmRSS") is not None:
            self._base = _status_kib("VmRSS") * 1024
            self.method = "peak RSS growth (VmHWM after clear_refs)"
        else:
            self._base = 0
            self.method = "process peak RSS (getrusage; includes inputs)"
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        if torch.device(self.device).type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device)
        elif self.method.startswith("peak RSS growth"):
            peak = _status_kib("VmHWM") * 1024
        else:
            import resource

            scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
        self.mib = max(0, peak - self._base) / 2**20


def call_kernel(kernel: str, emb, probs, labeled, k: int, seed: int):
    """Run one public kernel of alstudy.strategies with the arguments it takes."""
    from alstudy import strategies

    if kernel == "coreset":
        return strategies.kcenter_greedy(emb, labeled, k)
    if kernel == "badge":
        return strategies.badge(emb, probs, k, seed)
    if kernel == "typiclust":
        return strategies.typiclust(emb, labeled, k, seed)
    if kernel == "probcover":
        return strategies.probcover(emb, labeled, k, seed)
    raise ValueError(f"unknown kernel {kernel!r}")


def measure(kernel: str, n: int, d: int, k: int, *, device: str = "cpu", threads: int | None = None,
            seed: int = 0) -> dict[str, Any]:
    """Time and peak memory of `kernel` on a synthetic pool of n rows of d features."""
    import torch

    from alstudy.bench.synthetic import pool_outputs

    if threads:
        torch.set_num_threads(threads)
    small_emb, small_probs = pool_outputs(256, d, NUM_CLASSES, seed=seed + 1)
    call_kernel(kernel, small_emb[:200].to(device), small_probs[:200].to(device),
                small_emb[200:].to(device), 10, seed)  # first call: lazy initialization
    emb, probs = pool_outputs(n + LABELED, d, NUM_CLASSES, seed=seed)
    emb, probs = emb.to(device), probs.to(device)
    pool, labeled, pool_probs = emb[:n], emb[n:], probs[:n]
    inputs = sum(t.numel() * t.element_size() for t in (pool, labeled, pool_probs))
    with PeakMemory(device) as mem:
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        t0 = perf_counter()
        picks = call_kernel(kernel, pool, pool_probs, labeled, k, seed)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        took = perf_counter() - t0
    assert len(set(picks.tolist())) == min(k, n), "kernel returned duplicates"
    return {"kernel": kernel, "n": n, "d": d, "k": k, "seconds": took, "peak_mib": mem.mib,
            "input_mib": inputs / 2**20, "memory_method": mem.method}


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    print(json.dumps(measure(**spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
