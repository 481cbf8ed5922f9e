"""Model zoo and inference: shapes, embeddings, reproducible MC dropout on the head only."""

from __future__ import annotations

import pytest
import torch

from alstudy.errors import UsageError
from alstudy.models import make_model, model_names
from alstudy.models.base import keep_mask
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


def test_mc_dropout_draws_its_own_mask_for_every_sample_and_row():
    model, x = _model_and_pool(0.3)
    x[7] = x[5]  # two identical rows
    mc = infer(model, x, to_float=lambda t: t, mc_samples=3,
               gen=torch.Generator().manual_seed(4))["mc_probs"]
    emb = model.features(x)
    masks, keep = keep_mask((3, 300, emb.shape[1]), 0.3, generator=torch.Generator().manual_seed(4))
    direct = torch.softmax(model.classifier(emb * masks / keep), -1)
    assert torch.allclose(mc, direct, atol=1e-5)
    # as in T full passes with dropout on: identical rows are scored by different heads
    assert not torch.allclose(mc[:, 5], mc[:, 7])


def test_dropout_masks_keep_one_minus_p_and_rescale():
    from alstudy.models.base import Dropout

    drop = Dropout(0.3)
    x = torch.ones(400, 250)
    torch.manual_seed(0)
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.01
    assert torch.allclose(y[kept], torch.full_like(y[kept], 1 / 0.7), rtol=1e-4)
    torch.manual_seed(0)
    assert torch.equal(drop(x), y)  # seeded by torch's global generator, like nn.Dropout
    assert torch.equal(drop.eval()(x), x)
    assert torch.equal(Dropout(1.0)(x), torch.zeros_like(x))


def test_infer_computes_only_what_is_asked():
    model, x = _model_and_pool(0.1)
    assert set(infer(model, x, to_float=lambda t: t, embedding=True)) == {"embedding"}
    acc, loss = evaluate(model, x, torch.zeros(300, dtype=torch.long), to_float=lambda t: t)
    assert 0.0 <= acc <= 1.0 and loss > 0
