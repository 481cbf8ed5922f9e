"""The campaign's acquisition step on a dense model: every strategy that can score pixels picks
valid, distinct, reproducible images through the streamed scorer."""

from __future__ import annotations

import pytest
import torch

from alstudy.campaign import _acquire, _new_learner
from alstudy.data.dataset import Dataset
from alstudy.data.registry import DatasetSpec
from alstudy.models import make_model
from alstudy.strategies import make_strategy

DENSE = [("entropy", {}), ("margin", {"reduce": "max"}), ("least_confidence", {"reduce": "top", "top_q": 0.2}),
         ("bald", {"mc_samples": 4, "pixels": 16}), ("variation_ratio", {"mc_samples": 4}),
         ("dbal", {"mc_samples": 4, "pixels": None}), ("qbc", {"members": 2}), ("ensemble_entropy", {"members": 2}),
         ("ensemble_bald", {"members": 2}), ("coreset", {}), ("badge", {}), ("typiclust", {"min_cluster_size": 1}),
         ("probcover", {}), ("equal", {}), ("random", {}), ("vaal", {"steps": 3}),
         ("learning_loss", {"width": 8})]


@pytest.fixture(scope="module")
def tiny():
    """60 random 16x16 scenes with 3-class masks, and two U-Nets (width 4)."""
    g = torch.Generator().manual_seed(0)
    spec = DatasetSpec("tiny_seg", "image", 3, (1, 16, 16), "unet", "none", "none:none", task="segmentation")
    x = torch.randint(0, 256, (60, 1, 16, 16), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 3, (60, 16, 16), generator=g, dtype=torch.uint8)
    data = Dataset(spec, x, y, x[:4], y[:4], mean=(0.5,), std=(0.25,))
    models = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        models.append(make_model("unet", (1, 16, 16), 3, dropout=0.2, options={"width": 4}).eval())
    return data, models


@pytest.mark.parametrize("name, options", DENSE, ids=[n for n, _ in DENSE])
def test_dense_acquisition_picks_distinct_unlabeled_images_reproducibly(tiny, name, options):
    data, models = tiny
    strategy = make_strategy(name, **options)
    needs = strategy.needs()
    members = models[:max(1, needs.ensemble)]
    labeled, val = list(range(10)), torch.arange(10, 20)

    learner = None
    if needs.loss_module:   # untrained: the test is about the scoring path, not the ranking
        learner = _new_learner(members[0], data, torch.tensor(labeled), needs, 3, 1).eval()

    def acquire():
        return _acquire(members, data, strategy, needs, labeled, val, 7, seed=3, cycle=1,
                        learner=learner)["new_indices"]

    picks = acquire()
    assert len(picks) == 7 and len(set(picks)) == 7 and all(20 <= i < 60 for i in picks)
    assert acquire() == picks


def test_random_on_a_dense_model_runs_no_pass_over_the_pool(tiny):
    """Random needs nothing from the model: scoring a segmentation pool for it would cost a
    forward pass per image (13-28 s a round on mnist5k_seg) for nothing."""
    data, models = tiny
    passes = []
    first_conv = next(m for m in models[0].modules() if isinstance(m, torch.nn.Conv2d))
    handle = first_conv.register_forward_hook(lambda *_: passes.append(1))
    try:
        for name in ("random", "entropy"):
            strategy = make_strategy(name)
            _acquire(models[:1], data, strategy, strategy.needs(), list(range(10)), torch.arange(10, 20), 7,
                     seed=3, cycle=1)
            assert (len(passes) == 0) == (name == "random")
    finally:
        handle.remove()
