"""Chunked squared-Euclidean distance helpers: nothing here ever holds an N x N matrix."""

from __future__ import annotations

from typing import Iterator

import torch

# Elements of one distance block (16 MiB in float32): big enough for BLAS to run at full
# speed, small enough to stay far below the O(N * D) inputs.
BLOCK_ELEMS = 1 << 22


def row_chunks(n: int, width: int, *, block_elems: int = BLOCK_ELEMS) -> Iterator[slice]:
    """Slices of range(n) such that a (rows, width) block has about block_elems elements."""
    step = max(64, block_elems // max(1, width))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def sq_norms(x: torch.Tensor) -> torch.Tensor:
    return (x * x).sum(-1)


def sq_dists(x: torch.Tensor, y: torch.Tensor, x_sq: torch.Tensor | None = None,
             y_sq: torch.Tensor | None = None, *, buffer: torch.Tensor | None = None) -> torch.Tensor:
    """(n, m) squared distances between rows of x (n, D) and y (m, D), clamped at 0.

    With `buffer` (a block returned by an earlier call, with at least n rows) the result is
    written into its first n rows. Loops over blocks should pass it: a fresh 16 MiB block per
    iteration made glibc grow the heap instead of reusing it (RSS +8 MiB a block, ProbCover's
    delta graph peaked at 1.1 GiB for a 40 MiB pool)."""
    x_sq = sq_norms(x) if x_sq is None else x_sq
    y_sq = sq_norms(y) if y_sq is None else y_sq
    out = None if buffer is None else buffer[:x.shape[0]]
    d = torch.addmm(y_sq.unsqueeze(0), x, y.T, beta=1.0, alpha=-2.0, out=out)
    return d.add_(x_sq.unsqueeze(1)).clamp_min_(0.0)


def nearest(x: torch.Tensor, y: torch.Tensor, *, block_elems: int = BLOCK_ELEMS
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of x, the squared distance to its nearest row of y and that row's index.
    y must be non-empty; ties go to the lowest index."""
    y_sq = sq_norms(y)
    vals = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    idx = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    buf = None
    for rows in row_chunks(x.shape[0], y.shape[0], block_elems=block_elems):
        d = sq_dists(x[rows], y, y_sq=y_sq, buffer=buf)
        buf = d if buf is None else buf
        vals[rows], idx[rows] = d.min(1)
    return vals, idx


def knn_mean_dist(x: torch.Tensor, k: int, *, block_elems: int = BLOCK_ELEMS) -> torch.Tensor:
    """Mean Euclidean distance of each row of x (n, D) to its k nearest other rows (k < n)."""
    n = x.shape[0]
    x_sq = sq_norms(x)
    out = torch.empty(n, dtype=x.dtype, device=x.device)
    buf = None
    for rows in row_chunks(n, n, block_elems=block_elems):
        d = sq_dists(x[rows], x, x_sq[rows], x_sq, buffer=buf)
        buf = d if buf is None else buf
        # k + 1 smallest include the row itself (distance 0 up to rounding); drop the smallest.
        near = d.topk(k + 1, dim=1, largest=False).values[:, 1:]
        out[rows] = near.sqrt().mean(1)
    return out
