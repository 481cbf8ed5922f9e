"""Lloyd's k-means with k-means++ seeding, in torch, seeded by an explicit generator."""

from __future__ import annotations

import torch

from alstudy.strategies.draws import index, permutation
from alstudy.strategies.distances import nearest, row_chunks
from alstudy.strategies.greedy import EuclideanSpace, traverse


def kmeans(x: torch.Tensor, n_clusters: int, gen: torch.Generator, *, iters: int = 10
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels (N,) int64, centers (K, D)) for x (N, D), K = min(n_clusters, N).

    k-means++ seeding (first center uniform, then D^2 draws from gen) on at most
    max(3 K, 4096) rows drawn from gen, as mini-batch k-means does, then at most `iters` Lloyd
    steps on all rows, stopping early when no label changes. An emptied cluster keeps its center.
    """
    n = x.shape[0]
    k = max(1, min(int(n_clusters), n))
    mean = x.mean(0)
    x = x - mean  # distances unchanged; less cancellation (see greedy.py)
    seed_rows = max(3 * k, 4096)
    sub = x[permutation(n, gen, x.device)[:seed_rows]] if n > seed_rows else x
    first = index(sub.shape[0], gen, x.device)
    min_d = torch.full((sub.shape[0],), float("inf"), dtype=x.dtype, device=x.device)
    centers = sub[traverse(EuclideanSpace(sub), min_d, k, gen=gen, first=first)]
    del sub
    labels = nearest(x, centers)[1]
    for _ in range(iters):
        sums = cluster_sums(x, labels, k)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)
        filled = counts > 0
        centers = torch.where(filled.unsqueeze(1), sums / counts.clamp_min(1).unsqueeze(1), centers)
        new = nearest(x, centers)[1]
        if torch.equal(new, labels):
            break
        labels = new
    return labels, centers + mean


def cluster_sums(x: torch.Tensor, labels: torch.Tensor, k: int, *, by_matmul: bool | None = None
                 ) -> torch.Tensor:
    """(k, D) per-cluster sums of the rows of x, the same on every run. On CUDA index_add_ adds
    floats atomically in any order, so there (by_matmul None) the sums are one-hot products."""
    if by_matmul is None:
        by_matmul = x.device.type != "cpu"
    if not by_matmul:
        return torch.zeros(k, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, labels, x)
    sums = torch.zeros(k, x.shape[1], dtype=x.dtype, device=x.device)
    for rows in row_chunks(x.shape[0], k):
        onehot = torch.nn.functional.one_hot(labels[rows], k).to(x.dtype)
        sums += onehot.T @ x[rows]
    return sums
