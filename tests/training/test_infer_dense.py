"""Dense pool scoring: streamed in batches of images, pixel keys reduced per image, equal to the
unstreamed computation; pooled and gradient embeddings; MC dropout on subsampled pixel rows."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from alstudy.models import make_model
from alstudy.models.segmentation import SegModel
from alstudy.strategies import make_strategy, scores
from alstudy.training.infer import embed, score_dense


def same(t):
    return t


def logits_model(c: int) -> SegModel:
    """A dense model whose features are its input and whose head is the identity: the input
    image (N, C, H, W) is its own logit map, so a test writes the pixel probabilities it wants."""
    model = SegModel(nn.Identity(), c, c, dropout=0.0, levels=("",))
    with torch.no_grad():
        model.classifier.weight.copy_(torch.eye(c))
        model.classifier.bias.zero_()
    return model.eval()


@pytest.fixture(scope="module")
def unet_pool():
    torch.manual_seed(0)
    model = make_model("unet", (1, 16, 16), 3, dropout=0.3, options={"width": 4}).eval()
    x = torch.rand(10, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    return model, x


def pixel_probs(model, x):  # (N, H, W, C): the unstreamed reference, the whole pool at once
    with torch.no_grad():
        return torch.softmax(model(x), 1).permute(0, 2, 3, 1)


@pytest.mark.parametrize("reduce", ["mean", "max", "top"])
def test_streamed_image_keys_equal_the_whole_pool_at_once(unet_pool, reduce):
    model, x = unet_pool
    strategy = make_strategy("entropy", reduce=reduce, top_q=0.05)
    h = scores.entropy(pixel_probs(model, x)).flatten(1)  # (N, H * W)
    want = {"mean": h.mean(1), "max": h.amax(1), "top": h.topk(13, dim=1).values.mean(1)}[reduce]  # ceil(.05 * 256)
    for batch in (3, 10):
        out = score_dense([model], x, to_float=same, row_keys=strategy.row_keys,
                          reduce=strategy.reduce_pixels, probs=True, batch_size=batch)
        [key] = out["keys"]
        assert key.shape == (10,)
        torch.testing.assert_close(key, want, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(out["probs"], pixel_probs(model, x).mean((1, 2)), rtol=1e-5, atol=1e-6)


def test_flip_keys_compare_each_pixel_with_the_flipped_image_flipped_back(unet_pool):
    model, x = unet_pool
    strategy = make_strategy("equal", score="disagreement")
    p = pixel_probs(model, x)
    q = pixel_probs(model, x.flip(-1)).flip(2)  # W is axis 2 of (N, H, W, C)
    want = scores.bald(torch.stack([p, q]).flatten(1, 3).reshape(2, -1, 3)).reshape(10, -1).mean(1)
    out = score_dense([model], x, to_float=same, row_keys=strategy.row_keys,
                      reduce=strategy.reduce_pixels, flip=True, batch_size=4)
    torch.testing.assert_close(out["keys"][0], want, rtol=1e-4, atol=1e-6)
    assert (want > 0).all()  # the U-Net is not flip-equivariant: the views differ


def test_embeddings_pool_the_pixel_features(unet_pool):
    model, x = unet_pool
    with torch.no_grad():
        want = model.features(x).mean((2, 3))
    out = score_dense([model], x, to_float=same, embedding=True, batch_size=4)
    assert set(out) == {"embedding"}  # only what is asked
    torch.testing.assert_close(out["embedding"], want, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(embed(model, x, to_float=same), want, rtol=1e-5, atol=1e-6)


def test_gradient_embedding_sums_the_pixels_outer_products_by_hand():
    # One image, two pixels, C = D = 2; logits = features. Pixel 1: e = (2, 0), p = (s, 1 - s)
    # with s = sigmoid(2) = 0.880797, predicted class 0: a = (1 - s, s - 1) = (0.119203, -0.119203),
    # a (x) e = [[0.238406, 0], [-0.238406, 0]]. Pixel 2: e = (0, 1), p = (0.268941, 0.731059),
    # class 1: a = (-0.268941, 0.268941), a (x) e = [[0, -0.268941], [0, 0.268941]].
    x = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2): channels = features
    out = score_dense([logits_model(2)], x, to_float=same, gradient_embedding=True)
    want = torch.tensor([[0.238406, -0.268941, -0.238406, 0.268941]])  # class-major (c, d)
    torch.testing.assert_close(out["gradient_embedding"], want, atol=1e-6, rtol=0)


def test_ensemble_keys_see_every_members_pixels():
    a, b = logits_model(2), logits_model(2)
    with torch.no_grad():
        b.classifier.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))  # b predicts the other class
    x = torch.zeros(2, 2, 1, 3)
    x[0, 0] = 5.0   # image 0: a confident in class 0, b confident in class 1 -> members disagree
    strategy = make_strategy("ensemble_bald", members=2)
    out = score_dense([a, b], x, to_float=same, row_keys=strategy.row_keys, reduce=strategy.reduce_pixels)
    bald = out["keys"][0]
    p = torch.softmax(torch.tensor([5.0, 0.0]), 0)
    want0 = scores.bald(torch.stack([p, p.flip(0)]).unsqueeze(1))[0]
    torch.testing.assert_close(bald, torch.stack([want0, torch.tensor(0.0)]), atol=1e-6, rtol=0)
    assert bald[0] > 0.5 * math.log(2)


def test_mc_dropout_runs_on_the_asked_number_of_pixel_rows(unet_pool):
    model, x = unet_pool
    seen = []

    def row_keys(*, mc_probs):
        seen.append(tuple(mc_probs.shape))
        return [scores.bald(mc_probs)]

    def run(seed, pixels):
        return score_dense([model], x, to_float=same, row_keys=row_keys, reduce=lambda k: k.mean(1),
                           mc_samples=5, pixels=pixels, gen=torch.Generator().manual_seed(seed), batch_size=4)

    a, b, c = run(0, 32), run(0, 32), run(1, 32)
    assert seen[:3] == [(5, 4 * 32, 3), (5, 4 * 32, 3), (5, 2 * 32, 3)]  # batches of 4, 4, 2 images
    assert torch.equal(a["keys"][0], b["keys"][0]) and not torch.equal(a["keys"][0], c["keys"][0])
    run(0, None)
    assert seen[-1] == (5, 2 * 256, 3)  # None: every pixel


def test_without_dropout_mc_scores_are_the_plain_scores(unet_pool):
    _, x = unet_pool
    torch.manual_seed(0)
    model = make_model("unet", (1, 16, 16), 3, dropout=0.0, options={"width": 4}).eval()
    dbal = make_strategy("dbal", mc_samples=3, pixels=None)
    entropy = make_strategy("entropy")
    mc = score_dense([model], x, to_float=same, row_keys=dbal.row_keys, reduce=dbal.reduce_pixels,
                     mc_samples=3, gen=torch.Generator().manual_seed(0))
    plain = score_dense([model], x, to_float=same, row_keys=entropy.row_keys, reduce=entropy.reduce_pixels,
                        probs=True)
    torch.testing.assert_close(mc["keys"][0], plain["keys"][0], rtol=1e-5, atol=1e-6)
