"""ProbCover (Yehuda et al. 2022): greedy maximum coverage of delta-balls around the picks.

The ball of point i is {i} plus every point j with ||x_i - x_j|| < delta. The delta-graph is
built block by block (never N x N) and stored as edge lists; to bound its memory a ball keeps
at most `max_degree` nearest members.
"""

from __future__ import annotations

import torch

from alstudy.strategies.distances import nearest, row_chunks, sq_dists, sq_norms
from alstudy.strategies.draws import permutation
from alstudy.strategies.kmeans import kmeans


def probcover_delta(points: torch.Tensor, gen: torch.Generator, *, purity: float = 0.95,
                    n_clusters: int = 10, sample: int = 2000) -> float:
    """The purity rule of the paper: the largest delta such that at least `purity` of the balls
    hold a single k-means pseudo-class (n_clusters clusters, seeded from gen). A ball around x
    is pure iff delta <= the distance from x to the nearest point of another class, so delta
    is the (1 - purity) quantile of that distance, estimated on `sample` points drawn from gen.
    """
    labels = kmeans(points, n_clusters, gen)[0]
    n = points.shape[0]
    rows = permutation(n, gen, points.device)[:sample] if n > sample else torch.arange(n, device=points.device)
    p_sq = sq_norms(points)
    other = torch.empty(rows.shape[0], dtype=points.dtype, device=points.device)
    buf = None
    for part in row_chunks(rows.shape[0], n):
        r = rows[part]
        d = sq_dists(points[r], points, p_sq[r], p_sq, buffer=buf)
        buf = d if buf is None else buf
        d.masked_fill_(labels[r].unsqueeze(1) == labels.unsqueeze(0), float("inf"))
        other[part] = d.amin(1)
    other = other[torch.isfinite(other)]  # a single pseudo-class has no "other" point
    if other.numel() == 0:
        return float("inf")
    return float(torch.quantile(other.sqrt().double(), 1.0 - purity, interpolation="lower"))


def delta_graph(x: torch.Tensor, delta: float, *, max_degree: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges (i, j), i != j, with ||x_i - x_j|| < delta; each i keeps its max_degree - 1 nearest
    (the ball's own centre takes the last place). Returns (src, dst), int64, sorted by src."""
    n = x.shape[0]
    x_sq = sq_norms(x)
    keep = min(max(0, max_degree - 1), n - 1)
    srcs, dsts = [], []
    buf = None
    for part in row_chunks(n, n):
        d = sq_dists(x[part], x, x_sq[part], x_sq, buffer=buf)
        buf = d if buf is None else buf
        local = torch.arange(part.stop - part.start, device=x.device)
        d[local, local + part.start] = float("inf")  # no self edges
        # The `keep` nearest of each row, then only those inside the ball: one partial sort
        # bounds the ball's size and avoids a scan of the whole (rows, N) mask.
        near_d, near = d.topk(keep, dim=1, largest=False)
        inside = near_d < delta * delta
        srcs.append((local + part.start).unsqueeze(1).expand_as(near)[inside])
        dsts.append(near[inside])
    return torch.cat(srcs), torch.cat(dsts)


def _segments(ptr: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Positions of the CSR segments of `items` (concatenated, in order)."""
    starts, ends = ptr[items], ptr[items + 1]
    lens = ends - starts
    total = int(lens.sum())
    offsets = torch.repeat_interleave(starts - (torch.cumsum(lens, 0) - lens), lens)
    return offsets + torch.arange(total, device=ptr.device)


def probcover(pool: torch.Tensor, labeled: torch.Tensor, k: int, gen: torch.Generator, *,
              delta: float | None = None, purity: float = 0.95, n_clusters: int = 10,
              normalize: bool = True, max_degree: int = 100, sample: int = 2000) -> torch.Tensor:
    """k distinct row indices (int64, 1 <= k <= N) into pool (N, D), in pick order.

    labeled (L, D) are the labeled embeddings. Embeddings are L2-normalized first when
    `normalize`. Points within delta of a labeled point start
    covered; each pick is the point whose ball holds the most uncovered points (ties to the
    lowest row); once everything is covered the rest are drawn uniformly from gen. delta None:
    the purity rule of `probcover_delta` on all points.
    """
    lab = labeled
    if normalize:
        pool = torch.nn.functional.normalize(pool, dim=1)
        lab = torch.nn.functional.normalize(lab, dim=1)
    if delta is None:
        delta = probcover_delta(torch.cat([pool, lab]), gen, purity=purity,
                                n_clusters=n_clusters, sample=sample)
    return _greedy_cover(pool, lab, k, float(delta), gen, max_degree=max_degree)


def _greedy_cover(pool: torch.Tensor, lab: torch.Tensor, k: int, delta: float,
                  gen: torch.Generator, *, max_degree: int) -> torch.Tensor:
    n, dev = pool.shape[0], pool.device
    src, dst = delta_graph(pool, delta, max_degree=max_degree)
    # Out-lists (ball members of i) by src; in-lists (balls holding j) by dst.
    out_ptr = torch.zeros(n + 1, dtype=torch.long, device=dev)
    out_ptr[1:] = torch.cumsum(torch.bincount(src, minlength=n), 0)
    by_dst = torch.argsort(dst, stable=True)
    in_src, in_ptr = src[by_dst], torch.zeros(n + 1, dtype=torch.long, device=dev)
    in_ptr[1:] = torch.cumsum(torch.bincount(dst, minlength=n), 0)
    del by_dst

    covered = torch.zeros(n, dtype=torch.bool, device=dev)
    if lab.shape[0] > 0:
        covered = nearest(pool, lab)[0] < delta * delta
    # degree[i] = uncovered members of ball(i), itself included
    degree = (~covered).long().index_add_(0, src, (~covered[dst]).long())
    picked = torch.zeros(n, dtype=torch.bool, device=dev)
    picks = []
    for _ in range(k):
        i = int(torch.argmax(degree))
        if int(degree[i]) <= 0:
            break  # everything is covered
        picks.append(i)
        picked[i] = True
        members = torch.cat([torch.tensor([i], device=dev), dst[out_ptr[i]:out_ptr[i + 1]]])
        fresh = members[~covered[members]]
        covered[fresh] = True
        # each newly covered point leaves the count of every ball it belongs to
        degree.index_add_(0, fresh, torch.full_like(fresh, -1))
        holders = in_src[_segments(in_ptr, fresh)]
        degree.index_add_(0, holders, torch.full_like(holders, -1))
        degree[i] = -1
    chosen = torch.tensor(picks, dtype=torch.long, device=dev)
    if len(picks) < k:  # all covered: fill uniformly at random from the rest
        rest = torch.nonzero(~picked).squeeze(1)
        rest = rest[permutation(rest.shape[0], gen, dev)[: k - len(picks)]]
        chosen = torch.cat([chosen, rest])
    return chosen
