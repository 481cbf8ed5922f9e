"""The side-by-side reference selects with alstudy's semantics, only the naive way."""

from __future__ import annotations

import torch

from alstudy.bench.reference import gradient_embeddings, naive_badge, naive_kcenter, run_reference
from alstudy.bench.synthetic import pool_outputs
from alstudy.campaign import initial_split, run_campaign
from alstudy.config import Budget, CampaignConfig
from alstudy.strategies import badge, kcenter_greedy
from alstudy.strategies.badge import gradient_factors
from alstudy.strategies.greedy import GradientSpace


def test_naive_coreset_picks_what_kcenter_greedy_picks():
    emb, _ = pool_outputs(700, 24, 10, seed=1)
    pool, labeled = emb[:600], emb[600:]
    assert naive_kcenter(pool, labeled, 60) == kcenter_greedy(pool, labeled, 60).tolist()
    assert naive_kcenter(pool, labeled[:0], 30) == kcenter_greedy(pool, labeled[:0], 30).tolist()


def test_materialized_gradient_distances_equal_the_factorized_ones():
    emb, probs = pool_outputs(300, 32, 10, seed=2)
    for dtype, tol in ((torch.float64, 1e-9), (torch.float32, 1e-3)):
        e, p = emb.to(dtype), probs.to(dtype)
        g = gradient_embeddings(p, e)  # (N, C * D)
        assert g.shape == (300, 320)
        space = GradientSpace(gradient_factors(p), e)
        for i in (0, 17, 299):
            factorized = torch.full((300,), float("inf"), dtype=dtype)
            space.lower_min_(factorized, torch.tensor(i))
            naive = ((g - g[i]) ** 2).sum(1)
            assert torch.allclose(factorized, naive, rtol=tol, atol=tol * float(naive.max()))


def test_naive_badge_picks_what_badge_picks_from_the_same_generator():
    emb, probs = pool_outputs(400, 16, 10, seed=3)
    e, p = emb.double(), probs.double()
    ours = badge(p, e, 40, torch.Generator().manual_seed(7)).tolist()
    theirs = naive_badge(p, e, 40, torch.Generator().manual_seed(7))
    assert theirs == ours and len(set(ours)) == 40


def test_reference_campaign_trains_as_well_on_the_same_initial_labels():
    config = CampaignConfig("wine", "badge", budget=Budget(10, 10, 2, 6))
    ours, ref = run_campaign(config, 0), run_reference(config, 0)
    initial = initial_split(118, config.budget.resolve(118), 0)[1].tolist()
    assert ours[0]["new_indices"] == initial
    assert [r["n_labeled"] for r in ref] == [r["n_labeled"] for r in ours] == [10, 20, 30]
    assert [r["steps"] for r in ref] == [r["steps"] for r in ours]
    assert ref[-1]["test_acc"] > 0.8 and ours[-1]["test_acc"] > 0.8  # chance is 1/3
