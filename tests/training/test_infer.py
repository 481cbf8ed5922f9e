"""Inference: reproducible MC dropout on the head only, a mask per (sample, row), only what is asked."""

from __future__ import annotations

import torch

from alstudy.models import make_model
from alstudy.models.dropout import keep_mask
from alstudy.training import evaluate, infer


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


def test_infer_computes_only_what_is_asked():
    model, x = _model_and_pool(0.1)
    assert set(infer(model, x, to_float=lambda t: t, embedding=True)) == {"embedding"}
    acc, loss = evaluate(model, x, torch.zeros(300, dtype=torch.long), to_float=lambda t: t)
    assert 0.0 <= acc <= 1.0 and loss > 0
