"""TypiClust (Hacohen et al. 2022): label the most typical point of each large uncovered cluster."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from alstudy.strategies.arrays import Rng, as_generator, give_back, split_labeled, to_rows
from alstudy.strategies.distances import knn_mean_dist
from alstudy.strategies.kmeans import kmeans


def typiclust(emb: Any, labeled: Any, k: int, rng: Rng, *, max_clusters: int = 500,
              min_cluster_size: int = 5, knn: int = 20, iters: int = 10) -> Any:
    """min(k, N) distinct unlabeled row indices of emb, in pick order.

    `labeled` is a boolean mask over emb's rows, or the labeled embeddings (L, D) when emb
    holds only the pool. All points are clustered by k-means (seeded from rng) into
    min(L + k, max_clusters) clusters; each pick takes the cluster with the fewest labeled
    (or picked) points, ties to the larger cluster, then the lower cluster id, among clusters of
    at least `min_cluster_size` points while any has unlabeled points left. Within it the pick
    is the most typical unlabeled point: typicality = 1 / mean distance to its min(knn, m-1)
    nearest neighbours in its cluster of m points (ties to the lowest row). The defaults
    (500, 5, 20) are those of the authors' reference implementation. Returns numpy if emb is
    numpy, else a tensor on emb's device.
    """
    pool, lab, rows, from_numpy = split_labeled(emb, labeled)
    n, n_lab = pool.shape[0], lab.shape[0]
    k = min(int(k), n)
    if k <= 0:
        return give_back(torch.empty(0, dtype=torch.long, device=pool.device), from_numpy)
    points = torch.cat([pool, lab])  # pool rows first: position p < n is pool position p
    labels, _ = kmeans(points, min(n_lab + k, max_clusters), as_generator(rng), iters=iters)
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
    out = to_rows(torch.from_numpy(picks).to(pool.device), rows)
    return give_back(out, from_numpy)


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
