"""k-means, TypiClust and ProbCover against dense reference computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alstudy.strategies import probcover, probcover_delta, typiclust
from alstudy.strategies.kmeans import cluster_sums, kmeans
from alstudy.strategies.probcover import delta_graph


def separated_blobs(sizes, d=8, seed=0, spread=0.3):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(len(sizes), d)) * 10
    y = np.repeat(np.arange(len(sizes)), sizes)
    return centers[y] + rng.normal(size=(len(y), d)) * spread, y


def test_kmeans_recovers_well_separated_blobs_and_repeats_itself():
    x, y = separated_blobs([40, 30, 20, 10])
    labels, centers = kmeans(torch.from_numpy(x), 4, torch.Generator().manual_seed(0))
    pairs = set(zip(labels.tolist(), y.tolist()))
    assert len(pairs) == 4  # a one-to-one map between clusters and blobs
    again, _ = kmeans(torch.from_numpy(x), 4, torch.Generator().manual_seed(0))
    assert torch.equal(labels, again)
    for c, b in pairs:
        np.testing.assert_allclose(centers[c].numpy(), x[y == b].mean(0), atol=1e-9)


@pytest.mark.parametrize("by_matmul", [False, True])  # True is the CUDA path
def test_cluster_sums_add_the_rows_of_each_cluster(by_matmul):
    x = torch.randn(300, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(5, (300,), generator=torch.Generator().manual_seed(1))
    sums = cluster_sums(x, labels, 6, by_matmul=by_matmul)
    want = torch.stack([x[labels == c].sum(0) for c in range(6)])
    torch.testing.assert_close(sums, want)


def naive_typicality(points, knn):
    d = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    return 1.0 / np.sort(d, axis=1)[:, 1:knn + 1].mean(1)


def test_typiclust_takes_the_most_typical_point_of_each_uncovered_cluster():
    x, y = separated_blobs([60, 50, 40, 30])
    labeled = np.zeros(len(y), bool)
    labeled[np.flatnonzero(y == 0)[:3]] = True  # blob 0 is covered
    rows = np.flatnonzero(~labeled)  # the pool: every unlabeled row of x
    picks = typiclust(x[rows], x[labeled], 3, 0, knn=10)
    assert isinstance(picks, np.ndarray)
    picks = rows[picks]
    # largest uncovered first: blobs 1, 2, 3; each pick the naive typicality argmax of its blob
    assert y[picks].tolist() == [1, 2, 3]
    for blob, pick in zip((1, 2, 3), picks):
        members = np.flatnonzero(y == blob)
        assert pick == members[np.argmax(naive_typicality(x[members], 10))]


def test_typiclust_accepts_labeled_embeddings_and_wraps_around_clusters():
    x, y = separated_blobs([30, 30])
    picks = typiclust(x, np.empty((0, x.shape[1])), 6, 1, max_clusters=2)
    assert len(set(picks.tolist())) == 6
    assert sorted(np.bincount(y[picks]).tolist()) == [3, 3]  # alternate between the clusters


def naive_cover(x, labeled, delta, k):
    """Dense greedy max coverage of the balls {j : ||x_i - x_j|| < delta} plus i itself."""
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    ball = (d < delta) | np.eye(len(x), dtype=bool)
    covered = np.zeros(len(x), bool)
    for c in labeled:
        covered |= np.sqrt(((x - c) ** 2).sum(1)) < delta
    picks = []
    for _ in range(k):
        gain = (ball & ~covered[None]).sum(1)
        gain[picks] = -1
        if gain.max() <= 0:
            break
        i = int(np.argmax(gain))
        picks.append(i)
        covered |= ball[i]
    return picks, covered


@pytest.mark.parametrize("with_labeled", [False, True])
def test_probcover_greedy_equals_naive_coverage(with_labeled):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(150, 3))
    labeled = rng.normal(size=(6, 3)) if with_labeled else np.empty((0, 3))
    want, covered = naive_cover(x, labeled, 0.9, 12)
    got = probcover(x, labeled, 12, 0, delta=0.9, normalize=False, max_degree=10_000)
    assert got.tolist() == want
    assert not covered.all()  # the budget ran out before coverage did: every pick was greedy


def test_probcover_fills_at_random_once_everything_is_covered():
    x, _ = separated_blobs([20, 20], seed=1)
    got = probcover(x, np.empty((0, x.shape[1])), 7, 5, delta=3.0, normalize=False)
    want, covered = naive_cover(x, np.empty((0, x.shape[1])), 3.0, 7)
    assert covered.all() and len(want) == 2
    assert got[:2].tolist() == want and len(set(got.tolist())) == 7
    assert got.tolist() == probcover(x, np.empty((0, x.shape[1])), 7, 5, delta=3.0, normalize=False).tolist()


def test_delta_graph_keeps_the_nearest_members_of_crowded_balls():
    x = np.random.default_rng(0).normal(size=(90, 4))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    src, dst = delta_graph(torch.from_numpy(x), 1.5, max_degree=6)
    got = {(i, j) for i, j in zip(src.tolist(), dst.tolist())}
    want = {(i, int(j)) for i in range(90) for j in np.argsort(d[i])[:5] if d[i, j] < 1.5}
    assert got == want
    assert src.tolist() == sorted(src.tolist())


def test_purity_rule_matches_a_dense_computation():
    x, _ = separated_blobs([50, 40, 30], d=5, spread=2.0)
    points = torch.nn.functional.normalize(torch.from_numpy(x), dim=1)
    delta = probcover_delta(points, torch.Generator().manual_seed(2), purity=0.9, n_clusters=3, sample=10_000)
    labels = kmeans(points, 3, torch.Generator().manual_seed(2))[0].numpy()
    p = points.numpy()
    d = np.sqrt(((p[:, None] - p[None]) ** 2).sum(-1))
    other = np.where(labels[:, None] != labels[None], d, np.inf).min(1)
    assert delta == pytest.approx(np.sort(other)[int(np.floor(0.1 * (len(other) - 1)))])
    pure = np.mean([(labels[d[i] < delta] == labels[i]).all() for i in range(len(p))])
    assert pure >= 0.9


def test_distance_blocks_reuse_one_buffer_and_match_cdist():
    """Block loops write every block into the first block's memory (a fresh block per
    iteration grew the heap by ~8 MiB each), and the results stay exact."""
    from alstudy.strategies.distances import knn_mean_dist, nearest, sq_dists

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(300, 8, generator=g), torch.randn(50, 8, generator=g)
    first = sq_dists(x[:100], y)
    again = sq_dists(x[100:160], y, buffer=first)
    assert again.data_ptr() == first.data_ptr()
    assert torch.allclose(again, torch.cdist(x[100:160], y) ** 2, atol=1e-4)
    vals, idx = nearest(x, y, block_elems=64 * 50)  # several blocks, the last one short
    full = torch.cdist(x, y) ** 2
    assert torch.allclose(vals, full.min(1).values, atol=1e-4) and torch.equal(idx, full.argmin(1))
    own = torch.cdist(x, x).fill_diagonal_(float("inf")).topk(3, dim=1, largest=False).values
    assert torch.allclose(knn_mean_dist(x, 3, block_elems=64 * 300), own.mean(1), atol=1e-4)
