"""k-center greedy and BADGE against dense reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alstudy.strategies import badge, kcenter_greedy, probcover, typiclust
from alstudy.strategies.badge import gradient_factors
from alstudy.strategies.greedy import EuclideanSpace, GradientSpace, traverse


def blobs(n, d, seed, *, classes=6):
    """ReLU'd Gaussian blobs: non-negative, clustered, like penultimate embeddings."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, d)) * 2
    return np.maximum(centers[rng.integers(classes, size=n)] + rng.normal(size=(n, d)), 0)


def naive_farthest_first(pool, labeled, k, first=None):
    """Dense float64 farthest-first traversal."""
    pool = np.asarray(pool, np.float64)
    centers = [np.asarray(c, np.float64) for c in labeled]
    picks = []
    if first is not None:
        picks.append(first)
        centers.append(pool[first])
    while len(picks) < k:
        d = np.array([[np.sum((p - c) ** 2) for c in centers] for p in pool]).min(1)
        d[picks] = -1
        i = int(np.argmax(d))
        picks.append(i)
        centers.append(pool[i])
    return picks


@pytest.mark.parametrize("dim,dtype", [(5, np.float64), (48, np.float32)])  # 48-d float32 screens
def test_kcenter_equals_naive_farthest_first(dim, dtype):
    x = blobs(160, dim, seed=dim).astype(dtype)
    pool, labeled = x[:140], x[140:]
    got = kcenter_greedy(pool, labeled, 25)
    assert isinstance(got, np.ndarray) and got.dtype == np.int64
    assert got.tolist() == naive_farthest_first(pool, labeled, 25)


def test_kcenter_without_labeled_points_starts_at_the_mean_or_a_drawn_point():
    x = blobs(80, 6, seed=2)
    mean_start = int(np.argmin(((x - x.mean(0)) ** 2).sum(1)))
    got = kcenter_greedy(torch.from_numpy(x), torch.empty(0, 6, dtype=torch.float64), 10)
    assert isinstance(got, torch.Tensor)
    assert got.tolist() == naive_farthest_first(x, [], 10, first=mean_start)
    drawn = kcenter_greedy(x, np.empty((0, 6)), 10, rng=7)
    assert drawn.tolist() == naive_farthest_first(x, [], 10, first=int(drawn[0]))
    assert drawn.tolist() == kcenter_greedy(x, np.empty((0, 6)), 10, rng=7).tolist()


def test_kcenter_takes_the_whole_pool_when_points_repeat():
    x = np.repeat(blobs(4, 3, seed=1), 5, axis=0)  # 20 rows, 4 distinct
    got = kcenter_greedy(x, x[:1], 50)
    assert sorted(got.tolist()) == list(range(20))


@pytest.mark.parametrize("space", ["euclidean", "gradient"])
def test_half_precision_screening_gives_the_exact_result(space):
    # Large enough that screening actually skips rows; the unscreened float32 run is the truth.
    x = torch.from_numpy(blobs(3000, 64, seed=5)).float()
    p = torch.softmax(torch.randn(3000, 7, generator=torch.Generator().manual_seed(0)) * 3, 1)

    def run(screen):
        sp = (EuclideanSpace(x - x.mean(0), screen=screen) if space == "euclidean"
              else GradientSpace(gradient_factors(p), x, screen=screen))
        min_d = torch.full((3000,), float("inf"))
        gen = None if space == "euclidean" else torch.Generator().manual_seed(3)
        picks = traverse(sp, min_d, 200, gen=gen, first=torch.tensor(17))
        return picks, min_d

    (fast, d_fast), (slow, d_slow) = run(True), run(False)
    assert torch.equal(fast, slow)
    torch.testing.assert_close(d_fast, d_slow)


def gradient_embeddings(p, e):
    """Explicit g_i = (onehot(argmax p_i) - p_i) (x) e_i, (N, C * D): the thing BADGE avoids."""
    a = np.eye(p.shape[1])[p.argmax(1)] - p
    return (a[:, :, None] * e[:, None, :]).reshape(len(p), -1)


def test_factorized_distances_equal_explicit_gradient_distances():
    rng = np.random.default_rng(0)
    p, e = rng.dirichlet(np.ones(4), size=30), rng.normal(size=(30, 6))
    g = gradient_embeddings(p, e)
    sp = GradientSpace(gradient_factors(torch.from_numpy(p)), torch.from_numpy(e))
    for i in (0, 7, 29):
        min_d = torch.full((30,), float("inf"), dtype=torch.float64)
        sp.lower_min_(min_d, torch.tensor(i))
        np.testing.assert_allclose(min_d.numpy(), ((g - g[i]) ** 2).sum(1), atol=1e-12)


def naive_kmeans_pp(g, k, gen):
    """k-means++ on explicit embeddings: first the largest norm, then D^2 draws, one uniform
    each from gen (the same draws badge makes)."""
    picks = [int(np.argmax((g ** 2).sum(1)))]
    d = ((g - g[picks[0]]) ** 2).sum(1)
    d[picks[0]] = 0
    while len(picks) < k:
        u = torch.rand((), generator=gen, dtype=torch.float64).item()
        cdf = np.cumsum(d)
        i = int(np.searchsorted(cdf, u * cdf[-1], side="right"))
        picks.append(i)
        d = np.minimum(d, ((g - g[i]) ** 2).sum(1))
        d[picks] = 0
    return picks


def test_badge_picks_equal_kmeans_pp_on_explicit_gradient_embeddings():
    rng = np.random.default_rng(1)
    p, e = rng.dirichlet(np.full(5, 0.4), size=120), blobs(120, 9, seed=3)
    want = naive_kmeans_pp(gradient_embeddings(p, e), 30, torch.Generator().manual_seed(21))
    got = badge(p, e, 30, torch.Generator().manual_seed(21))
    assert got.tolist() == want
    assert badge(p, e, 30, 21).tolist() == want  # an int seed means the same generator
    assert badge(torch.from_numpy(p), torch.from_numpy(e), 30, np.random.default_rng(0)).dtype == torch.int64


def test_badge_returns_distinct_rows_even_when_gradients_repeat():
    p = np.tile([[0.9, 0.1]], (12, 1))
    e = np.ones((12, 3))  # every gradient embedding is identical: all D^2 weights vanish
    assert sorted(badge(p, e, 12, 0).tolist()) == list(range(12))
    assert len(set(badge(p, e, 5, 0).tolist())) == 5


@pytest.mark.gpu
def test_kernels_on_cuda_match_cpu():
    x = torch.from_numpy(blobs(500, 32, seed=4))
    p = torch.softmax(torch.randn(500, 4, dtype=torch.float64), 1)
    cpu = kcenter_greedy(x[:450], x[450:], 40)
    gpu = kcenter_greedy(x[:450].cuda(), x[450:].cuda(), 40)
    assert gpu.device.type == "cuda" and torch.equal(gpu.cpu(), cpu)
    assert torch.equal(badge(p.cuda(), x.cuda(), 40, 5).cpu(), badge(p, x, 40, 5))
    for kernel in (typiclust, probcover):
        picks = kernel(x[:450].cuda(), x[450:].cuda(), 40, 5)
        assert picks.device.type == "cuda" and len(set(picks.tolist())) == 40
