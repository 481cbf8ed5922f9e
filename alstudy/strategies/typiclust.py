"""TypiClust (Hacohen et al. 2022): label the most typical point of each large uncovered cluster."""

from __future__ import annotations

import numpy as np
import torch

from alstudy.strategies.distances import knn_mean_dist
from alstudy.strategies.kmeans import kmeans


def typiclust(pool: torch.Tensor, labeled: torch.Tensor, k: int, gen: torch.Generator, *,
              max_clusters: int = 500, min_cluster_size: int = 5, knn: int = 20,
              iters: int = 10) -> torch.Tensor:
    """k distinct row indices (int64, 1 <= k <= N) into pool (N, D), in pick order.

    Pool and labeled (L, D) points are clustered by k-means (seeded from gen) into
    min(L + k, max_clusters) clusters; each pick takes the cluster with the fewest labeled
    (or picked) points, ties to the larger cluster, then the lower cluster id, among clusters of
    at least `min_cluster_size` points while any has unlabeled points left. Within it the pick
    is the most typical unlabeled point: typicality = 1 / mean distance to its min(knn, m-1)
    nearest neighbours in its cluster of m points (ties to the lowest row). The defaults
    (500, 5, 20) are those of the authors' reference implementation.
    """
    n, n_lab = pool.shape[0], labeled.shape[0]
    points = torch.cat([pool, labeled])  # pool rows first: position p < n is pool position p
    labels, _ = kmeans(points, min(n_lab + k, max_clusters), gen, iters=iters)
    labels = labels.cpu().numpy()
    n_clusters = int(labels.max()) + 1
    size = np.bincount(labels, minlength=n_clusters)
    covered = np.bincount(labels[n:], minlength=n_clusters)
    left = np.bincount(labels[:n], minlength=n_clusters)  # unlabeled, not yet picked
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(size)])
    ranked: dict[int, np.ndarray] = {}  # cluster -> its pool positions, most typical first
    ids = np.arange(n_clusters)
    taken = np.zeros(n_clusters, dtype=np.int64)
    picks = np.empty(k, dtype=np.int64)
    for s in range(k):
        open_ = left > 0
        big = open_ & (size >= min_cluster_size)
        eligible = big if big.any() else open_
        cand = ids[eligible]
        c = cand[np.lexsort((cand, -size[cand], covered[cand]))[0]]
        if c not in ranked:
            ranked[c] = _rank_by_typicality(points, order[starts[c]:starts[c + 1]], n, knn)
        picks[s] = ranked[c][taken[c]]
        taken[c] += 1
        covered[c] += 1
        left[c] -= 1
    return torch.from_numpy(picks).to(pool.device)


def _rank_by_typicality(points: torch.Tensor, members: np.ndarray, n_pool: int, knn: int) -> np.ndarray:
    """Pool positions among `members` (sorted ascending), most typical first."""
    m = len(members)
    idx = torch.from_numpy(members).to(points.device)
    if m > 1:
        spread = knn_mean_dist(points[idx], min(knn, m - 1)).cpu().numpy()
    else:
        spread = np.zeros(1)
    is_pool = members < n_pool
    pos, spread = members[is_pool], spread[is_pool]
    return pos[np.argsort(spread, kind="stable")]
