"""Uncertainty scores against their textbook formulas, written as plain loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alstudy.strategies import bald, entropy, least_confidence, margin, variation_ratio


def probs_np(n=50, c=4, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(c, 0.7), size=n)
    p[0] = np.eye(c)[1]  # a confident row: 0 * log 0 must count as 0
    return p


def mc_np(t=7, n=40, c=3, seed=1):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(c, 0.5), size=(t, n))


def h(row):
    return -sum(v * math.log(v) for v in row if v > 0)


def test_entropy_least_confidence_margin_match_the_formulas():
    p = probs_np()
    np.testing.assert_allclose(entropy(p), [h(r) for r in p], atol=1e-12)
    np.testing.assert_allclose(least_confidence(p), [1 - max(r) for r in p], atol=1e-12)
    np.testing.assert_allclose(margin(p), [1 - (sorted(r)[-1] - sorted(r)[-2]) for r in p], atol=1e-12)
    assert entropy(p)[0] == 0.0 and least_confidence(p)[0] == 0.0 and margin(p)[0] == 0.0


def test_higher_scores_mean_less_certain_rows():
    p = np.array([[0.98, 0.01, 0.01], [0.5, 0.49, 0.01], [1 / 3, 1 / 3, 1 / 3]])
    for score in (entropy, least_confidence, margin):
        s = score(p)
        assert s[0] < s[1] and s[0] < s[2], score.__name__
    assert margin(p)[1] > margin(p)[0]


def test_bald_is_mutual_information():
    mc = mc_np()
    t, n, _ = mc.shape
    want = [h(mc[:, i].mean(0)) - sum(h(mc[s, i]) for s in range(t)) / t for i in range(n)]
    np.testing.assert_allclose(bald(mc), want, atol=1e-12)
    # samples that all agree carry no information about the weights
    same = np.repeat(mc[:1], 5, axis=0)
    np.testing.assert_allclose(bald(same), 0.0, atol=1e-12)


def test_variation_ratio_counts_modal_votes():
    mc = mc_np(t=9)
    t, n, _ = mc.shape
    want = []
    for i in range(n):
        votes = np.bincount([int(np.argmax(mc[s, i])) for s in range(t)], minlength=3)
        want.append(1 - votes.max() / t)
    np.testing.assert_allclose(variation_ratio(mc), want, atol=1e-12)


@pytest.mark.parametrize("score", [entropy, least_confidence, margin])
def test_returns_the_callers_kind(score):
    p = probs_np()
    assert isinstance(score(p), np.ndarray)
    out = score(torch.from_numpy(p).float())
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (len(p),)
    np.testing.assert_allclose(out.numpy(), score(p), atol=1e-5)


def test_mc_scores_take_torch_too_and_reject_wrong_shapes():
    mc = torch.from_numpy(mc_np()).float()
    assert bald(mc).shape == variation_ratio(mc).shape == (mc.shape[1],)
    with pytest.raises(ValueError, match="mc_probs"):
        bald(mc[0])
    with pytest.raises(ValueError, match="probs"):
        entropy(mc)
