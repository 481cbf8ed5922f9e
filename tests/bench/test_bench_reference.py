"""The side-by-side reference selects with alstudy's semantics, only the naive way."""

from __future__ import annotations

import torch

from alstudy.bench.reference import run_reference
from alstudy.bench.synthetic import pool_outputs
from alstudy.campaign import initial_split, run_campaign
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.strategies import badge, kcenter_greedy
from alstudy.strategies.badge import gradient_factors
from alstudy.strategies.greedy import GradientSpace
from alstudy.strategies.naive import farthest_first, gradient_embeddings, kmeans_pp


def test_naive_coreset_picks_what_kcenter_greedy_picks():
    emb, _ = pool_outputs(700, 24, 10, seed=1)
    pool, labeled = emb[:600], emb[600:]
    assert farthest_first(pool, labeled, 60) == kcenter_greedy(pool, labeled, 60).tolist()
    assert farthest_first(pool, labeled[:0], 30) == kcenter_greedy(pool, labeled[:0], 30).tolist()


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
    ours = badge(e, p, 40, torch.Generator().manual_seed(7)).tolist()
    theirs = kmeans_pp(gradient_embeddings(p, e), 40, torch.Generator().manual_seed(7))
    assert theirs == ours and len(set(ours)) == 40


def test_reference_campaign_trains_as_well_on_the_same_initial_labels():
    config = CampaignConfig("wine", "badge", budget=Budget(10, 10, 2, 6))
    ours, ref = run_campaign(config, 0), run_reference(config, 0)
    initial = initial_split(118, config.budget.resolve(118), 0)[1].tolist()
    assert ours[0]["new_indices"] == initial
    assert [r["n_labeled"] for r in ref] == [r["n_labeled"] for r in ours] == [10, 20, 30]
    assert [r["steps"] for r in ref] == [r["steps"] for r in ours]
    assert ref[-1]["test_acc"] > 0.8 and ours[-1]["test_acc"] > 0.8  # chance is 1/3


def test_reference_pil_pipeline_matches_the_tensor_pipeline_and_trains():
    """The usual PIL transforms convert images exactly as the tensor pipeline does, and a
    campaign through them takes the same steps and learns (digits, crop augmentation)."""
    from alstudy.bench.reference import SampleDataset
    from alstudy.data import get_dataset

    data = get_dataset("digits")
    x, y = data.x_train.numpy()[:20], data.y_train.numpy()[:20]
    pil = SampleDataset(x, y, data.mean, data.std, pipeline="pil")
    ten = SampleDataset(x, y, data.mean, data.std, pipeline="tensor")
    for i in range(20):
        assert torch.allclose(pil[i][0], ten[i][0], atol=1e-5) and pil[i][1] == ten[i][1]
    cropped = SampleDataset(x, y, data.mean, data.std, pad=1, pipeline="pil")
    assert cropped[0][0].shape == (1, 8, 8)

    config = CampaignConfig("digits", "entropy", budget=Budget(30, 30, 1),
                            train=TrainConfig(epochs=20, min_steps=30, augment=1.0))
    runs = [run_reference(config, 0, pipeline=p) for p in ("pil", "pil", "tensor")]
    assert runs[0] == [dict(r, **{k: runs[0][i][k] for k in r if k.startswith("seconds")})
                       for i, r in enumerate(runs[1])]  # seeded: identical but for timings
    for records in runs:
        assert [r["steps"] for r in records] == [30, 30] and records[-1]["test_acc"] > 0.7
