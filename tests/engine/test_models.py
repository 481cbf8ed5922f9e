"""Model zoo and inference: shapes, embeddings, reproducible MC dropout on the head only."""

from __future__ import annotations

import pytest
import torch

from alstudy.errors import UsageError
from alstudy.models import make_model, model_names
from alstudy.training import evaluate, infer

SHAPES = {"mlp": (1, 8, 8), "cnn1d": (1, 40), "cnn2d": (1, 28, 28),
          "resnet18": (3, 32, 32), "wrn28_2": (3, 32, 32)}


@pytest.mark.parametrize("name", model_names())
def test_model_exposes_embedding_and_logits(name):
    model = make_model(name, SHAPES[name], 7, dropout=0.2).eval()
    x = torch.randn(3, *SHAPES[name])
    emb = model.features(x)
    assert emb.shape == (3, model.embed_dim)
    assert torch.allclose(model.head(emb), model(x), atol=1e-5)
    assert model(x).shape == (3, 7)


def test_unknown_model_or_option_is_a_clear_error():
    with pytest.raises(UsageError, match="choices: mlp"):
        make_model("vgg", (3, 32, 32), 10)
    with pytest.raises(UsageError, match="no option 'depthh'"):
        make_model("mlp", (10,), 2, options={"depthh": 3})
    with pytest.raises(UsageError, match="does not fit"):
        make_model("cnn2d", (10,), 2)


def _model_and_pool(dropout):
    torch.manual_seed(0)
    return make_model("mlp", (20,), 5, dropout=dropout).eval(), torch.randn(300, 20)


def test_mc_dropout_is_reproducible_and_varies_across_samples():
    model, x = _model_and_pool(0.5)
    out = lambda seed: infer(model, x, to_float=lambda t: t, probs=True, mc_samples=8,  # noqa: E731
                             gen=torch.Generator().manual_seed(seed))
    a, b, c = out(1), out(1), out(2)
    assert a["mc_probs"].shape == (8, 300, 5)
    assert torch.equal(a["mc_probs"], b["mc_probs"])
    assert not torch.equal(a["mc_probs"], c["mc_probs"])
    assert not torch.allclose(a["mc_probs"][0], a["mc_probs"][1])
    assert torch.allclose(a["mc_probs"].sum(-1), torch.ones(8, 300), atol=1e-5)


def test_mc_dropout_samples_whole_models_shared_by_the_pool():
    model, x = _model_and_pool(0.3)
    gen = torch.Generator().manual_seed(4)
    mc = infer(model, x, to_float=lambda t: t, mc_samples=3, gen=gen)["mc_probs"]
    emb = model.features(x)
    masks = torch.rand((3, 1, emb.shape[1]), generator=torch.Generator().manual_seed(4)) < 0.7
    direct = torch.stack([torch.softmax(model.classifier(emb * m / 0.7), 1) for m in masks])
    assert torch.allclose(mc, direct, atol=1e-5)
    # a row scored alone gets the same T models as in the whole pool
    alone = infer(model, x[5:6], to_float=lambda t: t, mc_samples=3,
                  gen=torch.Generator().manual_seed(4))["mc_probs"]
    assert torch.allclose(alone[:, 0], mc[:, 5], atol=1e-5)


def test_infer_computes_only_what_is_asked():
    model, x = _model_and_pool(0.1)
    assert set(infer(model, x, to_float=lambda t: t, embedding=True)) == {"embedding"}
    acc, loss = evaluate(model, x, torch.zeros(300, dtype=torch.long), to_float=lambda t: t)
    assert 0.0 <= acc <= 1.0 and loss > 0
