"""k-center greedy and BADGE against the dense reference implementations (`naive`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alstudy.strategies import badge, kcenter_greedy, probcover, typiclust
from alstudy.strategies.badge import gradient_factors
from alstudy.strategies.greedy import EuclideanSpace, GradientSpace, traverse
from alstudy.strategies.naive import farthest_first, gradient_embeddings, kmeans_pp


def blobs(n, d, seed, *, classes=6):
    """ReLU'd Gaussian blobs: non-negative, clustered, like penultimate embeddings."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(classes, d)) * 2
    return np.maximum(centers[rng.integers(classes, size=n)] + rng.normal(size=(n, d)), 0)


def naive_farthest_first(pool, labeled, k, first=None):
    """Dense float64 farthest-first traversal (numpy in)."""
    labeled = np.asarray(labeled, np.float64).reshape(-1, np.shape(pool)[1])
    return farthest_first(torch.from_numpy(np.asarray(pool, np.float64)), torch.from_numpy(labeled),
                          k, first=first)


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
    drawn = kcenter_greedy(x, np.empty((0, 6)), 10, 7)
    assert drawn.tolist() == naive_farthest_first(x, [], 10, first=int(drawn[0]))
    assert drawn.tolist() == kcenter_greedy(x, np.empty((0, 6)), 10, 7).tolist()


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


def test_factorized_distances_equal_explicit_gradient_distances():
    rng = np.random.default_rng(0)
    p, e = rng.dirichlet(np.ones(4), size=30), rng.normal(size=(30, 6))
    g = gradient_embeddings(torch.from_numpy(p), torch.from_numpy(e)).numpy()
    sp = GradientSpace(gradient_factors(torch.from_numpy(p)), torch.from_numpy(e))
    for i in (0, 7, 29):
        min_d = torch.full((30,), float("inf"), dtype=torch.float64)
        sp.lower_min_(min_d, torch.tensor(i))
        np.testing.assert_allclose(min_d.numpy(), ((g - g[i]) ** 2).sum(1), atol=1e-12)


def test_badge_picks_equal_kmeans_pp_on_explicit_gradient_embeddings():
    rng = np.random.default_rng(1)
    p, e = rng.dirichlet(np.full(5, 0.4), size=120), blobs(120, 9, seed=3)
    g = gradient_embeddings(torch.from_numpy(p), torch.from_numpy(e))
    want = kmeans_pp(g, 30, torch.Generator().manual_seed(21))
    got = badge(e, p, 30, torch.Generator().manual_seed(21))
    assert got.tolist() == want
    assert badge(e, p, 30, 21).tolist() == want  # an int seed means the same generator
    assert badge(torch.from_numpy(e), torch.from_numpy(p), 30, np.random.default_rng(0)).dtype == torch.int64


def test_badge_returns_distinct_rows_even_when_gradients_repeat():
    p = np.tile([[0.9, 0.1]], (12, 1))
    e = np.ones((12, 3))  # every gradient embedding is identical: all D^2 weights vanish
    assert sorted(badge(e, p, 12, 0).tolist()) == list(range(12))
    assert len(set(badge(e, p, 5, 0).tolist())) == 5


@pytest.mark.gpu
def test_kernels_on_cuda_match_cpu():
    x = torch.from_numpy(blobs(500, 32, seed=4))
    p = torch.softmax(torch.randn(500, 4, dtype=torch.float64), 1)
    cpu = kcenter_greedy(x[:450], x[450:], 40)
    gpu = kcenter_greedy(x[:450].cuda(), x[450:].cuda(), 40)
    assert gpu.device.type == "cuda" and torch.equal(gpu.cpu(), cpu)
    assert torch.equal(badge(x.cuda(), p.cuda(), 40, 5).cpu(), badge(x, p, 40, 5))
    for kernel in (typiclust, probcover):
        picks = kernel(x[:450].cuda(), x[450:].cuda(), 40, 5)
        assert picks.device.type == "cuda" and len(set(picks.tolist())) == 40


@pytest.mark.parametrize("name", ["coreset", "badge"])
@pytest.mark.parametrize("n_labeled", [0, 15])
def test_dense_strategies_pick_what_the_product_picks(name, n_labeled):
    from alstudy.strategies import PoolView, make_strategy
    from alstudy.strategies.naive import make_dense

    x = torch.from_numpy(blobs(215, 12, seed=6))
    p = torch.softmax(torch.randn(200, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2, 1)
    view = PoolView(n=200, probs=p, embedding=x[:200], labeled_embedding=x[200:200 + n_labeled])
    dense, product = make_dense(name), make_strategy(name)
    assert type(dense) is not type(product) and dense.needs() == product.needs()
    picks = [s.select(view, 30, torch.Generator().manual_seed(9)).tolist() for s in (dense, product)]
    assert picks[0] == picks[1] and len(set(picks[0])) == 30
