"""Selection kernels (coreset, badge, typiclust, probcover): time and peak memory per pool size.

Each case runs the registry's strategy on a `PoolView` (what a campaign calls) in a fresh
process (`python -m alstudy.bench.kernels SPEC`), so that its peak memory is its own: on CPU the
growth of the peak resident set (VmHWM, reset through /proc/self/clear_refs), on CUDA
torch.cuda.max_memory_allocated over what was allocated before (tracemalloc misses torch's).
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from time import perf_counter
from typing import Any

import torch

from alstudy.bench.section import Section, target
from alstudy.bench.synthetic import pool_outputs
from alstudy.bench.timing import sync
from alstudy.strategies import PoolView, make_strategy

KERNELS = ("coreset", "badge", "typiclust", "probcover")
FULL_GRID = tuple(itertools.product(KERNELS, (5_000, 20_000, 50_000), (128, 512), (100, 1_000)))
CASES = {
    "smoke": (("coreset", 300, 16, 10), ("badge", 300, 16, 10)),
    # The targets' pool for the greedy kernels; the clustering ones smaller, to take minutes.
    "quick": (("coreset", 20_000, 512, 1_000), ("badge", 20_000, 512, 1_000),
              ("typiclust", 5_000, 512, 100), ("probcover", 5_000, 512, 100)),
    "full": FULL_GRID,
}
NUM_CLASSES = 10
LABELED = 500  # labeled rows in the view of the strategies that take the labeled set
TARGET_CASE = (20_000, 512, 1_000)
SECONDS_GOAL = 2.0
MEMORY_FACTOR = 4.0  # allowed peak, in multiples of the pool's embeddings and probabilities


def _kib(key: str) -> int:
    with open("/proc/self/status") as f:
        return int(re.search(rf"^{key}:\s+(\d+) kB", f.read(), re.M).group(1))


def _view(n: int, d: int, *, seed: int, device: str) -> PoolView:
    emb, probs = pool_outputs(n + LABELED, d, NUM_CLASSES, seed=seed)
    emb, probs = emb.to(device), probs.to(device)
    return PoolView(n=n, probs=probs[:n], embedding=emb[:n], labeled_embedding=emb[n:])


def measure(kernel: str, n: int, d: int, k: int, *, device: str = "cpu", threads: int | None = None,
            seed: int = 0) -> dict[str, Any]:
    """Seconds and peak memory of strategy `kernel` selecting k from a synthetic pool (n, d)."""
    if threads:
        torch.set_num_threads(threads)
    strategy = make_strategy(kernel)
    strategy.select(_view(200, d, seed=seed + 1, device=device), 10, torch.Generator().manual_seed(seed))
    view = _view(n, d, seed=seed, device=device)  # the first call above paid lazy initialization
    cuda = torch.device(device).type == "cuda"
    if cuda:
        sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base, method = torch.cuda.memory_allocated(device), "cuda max_memory_allocated"
    else:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # 5 = reset the peak resident set size (Linux >= 4.0)
        base, method = _kib("VmRSS") * 1024, "peak RSS growth (VmHWM after clear_refs)"
    t0 = perf_counter()
    picks = strategy.select(view, k, torch.Generator().manual_seed(seed))
    sync(device)
    took = perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) if cuda else _kib("VmHWM") * 1024
    assert len(set(picks.tolist())) == min(k, n), "the strategy returned duplicates"
    return {"seconds": took, "peak_mib": max(0, peak - base) / 2**20, "memory_method": method}


def run_case(kernel: str, n: int, d: int, k: int, *, device: str, timeout: float = 1800.0) -> dict:
    """One case in a fresh interpreter; a failure becomes a row with an `error`."""
    spec = {"kernel": kernel, "n": n, "d": d, "k": k, "device": device,
            "threads": torch.get_num_threads()}
    naive = n * NUM_CLASSES * d if kernel == "badge" else n * n  # N x C*D gradients or N x N distances
    row = {"kernel": kernel, "n": n, "d": d, "k": k, "seconds": None, "peak_mib": None,
           "pool_mib": n * (d + NUM_CLASSES) * 4 / 2**20, "naive_mib": naive * 4 / 2**20,
           "memory_method": None, "error": None}
    try:
        done = subprocess.run([sys.executable, "-m", "alstudy.bench.kernels", json.dumps(spec)],
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return row | {"error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return row | {"error": lines[-1] if lines else f"exit code {done.returncode}"}
    return row | json.loads(done.stdout.strip().splitlines()[-1])


def run(mode: str, *, device: str) -> Section:
    section = Section("kernels", "Selection kernels (seconds, peak memory in MiB)", wide=("memory_method",))
    section.rows = [run_case(*case, device=device) for case in CASES[mode]]
    for row in section.rows:
        if (row["n"], row["d"], row["k"]) == TARGET_CASE and row["kernel"] in ("coreset", "badge"):
            ratio = row["peak_mib"] / row["pool_mib"] if row["peak_mib"] is not None else None
            section.targets += [
                target(f"{row['kernel']} 20000x512 k=1000 seconds", row["seconds"], at_most=SECONDS_GOAL, unit=" s"),
                target(f"{row['kernel']} 20000x512 peak memory / pool arrays", ratio, at_most=MEMORY_FACTOR, unit="x")]
    section.summary["memory_method"] = "; ".join(sorted({r["memory_method"] for r in section.rows
                                                         if r["memory_method"]})) or None
    section.notes += [f"{r['kernel']} {r['n']}x{r['d']} k={r['k']} failed: {r['error']}"
                      for r in section.rows if r["error"]]
    section.notes.append(
        f"registry strategies on a PoolView of clustered ReLU embeddings (N x D), softmax outputs (N x "
        f"{NUM_CLASSES}) and {LABELED} labeled embeddings, one call after a warm-up call, each case in a fresh "
        "process; pool_mib = N x (D + C) float32; naive_mib = the N x N distances (N x C*D gradients for "
        "badge) usual implementations build" + ("" if mode == "full" else f"; {mode} mode: a subset of the grid"))
    return section


if __name__ == "__main__":
    print(json.dumps(measure(**json.loads(sys.argv[1]))))
