"""Selection kernels (coreset, badge, typiclust, probcover): time and peak memory per pool size.

Each case runs in a fresh Python process (`alstudy.bench.kernel_case`), so its peak memory is
its own and not hidden by what earlier cases left behind.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import torch

from alstudy.bench.kernel_case import NUM_CLASSES
from alstudy.bench.report import Section, target

KERNELS = ("coreset", "badge", "typiclust", "probcover")
FULL_GRID = tuple(itertools.product(KERNELS, (5_000, 20_000, 50_000), (128, 512), (100, 1_000)))
CASES = {
    "smoke": (("coreset", 300, 16, 10), ("badge", 300, 16, 10)),
    # The targets' pool (20 000 x 512, k = 1 000) for the two greedy kernels; the clustering
    # kernels at a smaller size to keep the quick run within minutes.
    "quick": (("coreset", 20_000, 512, 1_000), ("badge", 20_000, 512, 1_000),
              ("typiclust", 5_000, 512, 100), ("probcover", 5_000, 512, 100)),
    "full": FULL_GRID,
}
TARGET_CASE = (20_000, 512, 1_000)
SECONDS_GOAL = 2.0
MEMORY_FACTOR = 4.0  # allowed peak, in multiples of the pool's embeddings and probabilities


def naive_mib(kernel: str, n: int, d: int) -> float:
    """Size of the array the usual implementation builds: N x N distances, or for BADGE the
    N x (C * D) gradient embeddings (float32)."""
    elems = n * NUM_CLASSES * d if kernel == "badge" else n * n
    return elems * 4 / 2**20


def run_case(kernel: str, n: int, d: int, k: int, *, device: str, timeout: float = 1800.0) -> dict:
    """One case in a fresh interpreter; a failure becomes a row with an `error`."""
    spec = {"kernel": kernel, "n": n, "d": d, "k": k, "device": device,
            "threads": torch.get_num_threads()}
    row = {"kernel": kernel, "n": n, "d": d, "k": k, "seconds": None, "peak_mib": None,
           "pool_mib": n * (d + NUM_CLASSES) * 4 / 2**20, "naive_mib": naive_mib(kernel, n, d),
           "memory_method": None, "error": None}
    try:
        done = subprocess.run([sys.executable, "-m", "alstudy.bench.kernel_case", json.dumps(spec)],
                              capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        row["error"] = f"timed out after {timeout:.0f} s"
        return row
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        row["error"] = lines[-1] if lines else f"exit code {done.returncode}"
        return row
    result = json.loads(done.stdout.strip().splitlines()[-1])
    row.update(seconds=result["seconds"], peak_mib=result["peak_mib"],
               memory_method=result["memory_method"])
    return row


def run(mode: str, *, device: str) -> Section:
    section = Section("kernels", "Selection kernels (seconds, peak memory in MiB)",
                      wide=("memory_method",))
    for case in CASES[mode]:
        section.rows.append(run_case(*case, device=device))
    for kernel in ("coreset", "badge"):
        row = next((r for r in section.rows if r["kernel"] == kernel
                    and (r["n"], r["d"], r["k"]) == TARGET_CASE), None)
        if row is None:
            continue
        section.targets.append(target(f"{kernel} 20000x512 k=1000 seconds", row["seconds"],
                                      at_most=SECONDS_GOAL, unit=" s"))
        ratio = row["peak_mib"] / row["pool_mib"] if row["peak_mib"] is not None else None
        section.targets.append(target(f"{kernel} 20000x512 peak memory / pool arrays", ratio,
                                      at_most=MEMORY_FACTOR, unit="x"))
    methods = sorted({r["memory_method"] for r in section.rows if r["memory_method"]})
    section.summary["memory_method"] = "; ".join(methods) or None
    for r in section.rows:
        if r["error"]:
            section.notes.append(f"{r['kernel']} {r['n']}x{r['d']} k={r['k']} failed: {r['error']}")
    section.notes += [
        f"synthetic pool: clustered ReLU embeddings (N x D) and softmax outputs (N x {NUM_CLASSES}); "
        "coreset, typiclust and probcover also get 500 labeled embeddings",
        "pool_mib = N x (D + C) float32 (the O(N(D+C)) scale); naive_mib = the N x N distance "
        "matrix (N x C*D gradient embeddings for badge) that the usual implementations build",
        "each case in a fresh process; time of one call after a warm-up call on a tiny pool",
    ]
    if mode != "full":
        section.notes.append(f"{mode} mode: a subset of the grid N in (5000, 20000, 50000) x "
                             "D in (128, 512) x k in (100, 1000); run without --quick for all of it")
    return section
