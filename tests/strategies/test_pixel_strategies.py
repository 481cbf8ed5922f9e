"""Strategies on pixels: reductions to image keys, EquAL's flip score, BADGE on explicit
gradient embeddings, and core-set on pooled image embeddings, each against a hand case."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from alstudy.models import make_model
from alstudy.models.segmentation import SegModel
from alstudy.strategies import PoolView, make_strategy
from alstudy.strategies.badge import badge, badge_embedded, gradient_factors
from alstudy.strategies.pixels import reduce_pixels, top_count
from alstudy.training.infer import embed, score_dense


def test_reductions_by_hand():
    keys = torch.arange(10.0).reshape(1, 10)
    assert reduce_pixels(keys, "mean", 0.1).item() == 4.5
    assert reduce_pixels(keys, "max", 0.1).item() == 9.0
    assert reduce_pixels(keys, "top", 0.2).item() == 8.5      # mean of 9 and 8
    assert reduce_pixels(keys, "top", 0.01).item() == 9.0     # at least one pixel
    assert top_count(30, 0.1) == 3 and top_count(1024, 0.1) == 103


def logits_model(c: int) -> SegModel:
    """A dense model whose input image (N, C, H, W) is its own logit map (identity features and head)."""
    model = SegModel(nn.Identity(), c, c, dropout=0.0, levels=("",))
    with torch.no_grad():
        model.classifier.weight.copy_(torch.eye(c))
        model.classifier.bias.zero_()
    return model.eval()


def _two_images():
    """Logit maps (C = 2, 4 pixels) of two images. Image 0: one pixel a coin flip, three
    certain. Image 1: every pixel fairly unsure (p = 0.8)."""
    x = torch.zeros(2, 2, 1, 4)
    x[0, 0] = torch.tensor([0.0, 20.0, 20.0, 20.0])
    x[1, 0] = math.log(4.0)  # softmax (0.8, 0.2)
    return x


@pytest.mark.parametrize("reduce, picked", [("mean", 1), ("max", 0), ("top", 0)])
def test_mean_and_max_pick_different_images(reduce, picked):
    # pixel entropies: image 0 (log 2 = 0.693, ~0, ~0, ~0): mean 0.173, max 0.693;
    # image 1: H(0.8, 0.2) = 0.500 at every pixel: mean 0.500, max 0.500
    strategy = make_strategy("entropy", reduce=reduce, top_q=0.25)
    out = score_dense([logits_model(2)], _two_images(), to_float=lambda t: t, row_keys=strategy.row_keys,
                      reduce=strategy.reduce_pixels, probs=True)
    h08 = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))
    want = {"mean": [math.log(2) / 4, h08], "max": [math.log(2), h08], "top": [math.log(2), h08]}[reduce]
    assert out["keys"][0].tolist() == pytest.approx(want, abs=1e-6)
    view = PoolView(n=2, keys=out["keys"])
    assert strategy.select(view, 1, torch.Generator()).tolist() == [picked]


def test_equal_scores_by_hand():
    views = torch.tensor([[[1.0, 0.0], [0.5, 0.5], [1.0, 0.0]],     # the image's prediction
                          [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]])    # its flip's, flipped back
    entropy = make_strategy("equal").row_keys(flip_probs=views)[0]
    disagree = make_strategy("equal", score="disagreement").row_keys(flip_probs=views)[0]
    assert entropy.tolist() == pytest.approx([math.log(2), math.log(2), 0.0])
    assert disagree.tolist() == pytest.approx([math.log(2), 0.0, 0.0])   # only row 0 disagrees
    view = PoolView(n=3, flip_probs=views)
    assert make_strategy("equal", score="disagreement").select(view, 1, torch.Generator()).tolist() == [0]


def test_badge_on_explicit_gradient_embeddings_equals_the_factorized_one():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(60, 5, generator=g, dtype=torch.float64)
    probs = torch.softmax(torch.randn(60, 4, generator=g, dtype=torch.float64), 1)
    grads = torch.einsum("nc,nd->ncd", gradient_factors(probs), emb).reshape(60, -1)
    for seed in range(3):
        a = badge(emb, probs, 12, torch.Generator().manual_seed(seed))
        b = badge_embedded(grads, 12, torch.Generator().manual_seed(seed))
        assert torch.equal(a, b)


def test_badge_picks_from_the_gradient_embedding_when_given():
    grads = torch.tensor([3.0, 0.0, 0.0, 4.0]).repeat(5, 1)  # four copies of one gradient ...
    grads[1] = 1.0                                            # ... and one other, shorter
    grads[3] *= 1.01                                          # the largest comes first
    view = PoolView(n=5, gradient_embedding=grads)
    assert make_strategy("badge").select(view, 2, torch.Generator().manual_seed(0)).tolist() == [3, 1]


def test_coreset_never_picks_a_copy_of_a_labeled_scene_while_distinct_ones_remain():
    # 10 labeled scenes; the pool holds 19 more exact copies of each and 100 distinct scenes
    torch.manual_seed(0)
    model = make_model("unet", (1, 16, 16), 11, dropout=0.0, options={"width": 8}).eval()
    g = torch.Generator().manual_seed(2)
    scenes = torch.randint(0, 256, (10, 1, 16, 16), generator=g, dtype=torch.uint8)
    distinct = torch.randint(0, 256, (100, 1, 16, 16), generator=g, dtype=torch.uint8)
    pool = torch.cat([scenes.repeat_interleave(19, 0), distinct])  # rows 0..189 copies, 190.. distinct
    perm = torch.randperm(290, generator=g)
    pool = pool[perm]
    is_copy = perm < 190
    to_float = lambda t: t.float() / 255.0  # noqa: E731
    out = score_dense([model], pool, to_float=to_float, embedding=True)
    view = PoolView(n=290, embedding=out["embedding"], labeled_embedding=embed(model, scenes, to_float=to_float))
    picks = make_strategy("coreset").select(view, 101, torch.Generator().manual_seed(0))
    assert not is_copy[picks[:100]].any()        # all 100 distinct scenes first
    assert is_copy[picks[100]]                    # then only copies are left
    # mean entropy has no such guard: the copies of the most uncertain scene rank together
    entropy = make_strategy("entropy")
    keys = score_dense([model], pool, to_float=to_float, row_keys=entropy.row_keys,
                       reduce=entropy.reduce_pixels, probs=True)["keys"]
    top = entropy.select(PoolView(n=290, keys=keys), 40, torch.Generator().manual_seed(0))
    assert is_copy[top].sum() >= 19
