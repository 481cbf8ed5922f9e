"""DBAL and the ensemble strategies against hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from alstudy.errors import UsageError
from alstudy.strategies import Needs, PoolView, make_strategy, scores


def onehot(classes: list[list[int]], c: int = 3) -> torch.Tensor:
    """(K, N, C) one-hot predictions: classes[k][n] is member k's vote on row n."""
    return torch.nn.functional.one_hot(torch.tensor(classes), c).double()


def test_vote_entropy_by_hand():
    # 4 members; row 0: all vote 0; row 1: 2-2 split; row 2: votes 0, 1, 2, 2
    p = onehot([[0, 0, 0], [0, 0, 1], [0, 1, 2], [0, 1, 2]])
    want = [0.0, math.log(2), -(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5))]
    assert scores.vote_entropy(p).tolist() == pytest.approx(want, abs=1e-12)


def test_qbc_picks_the_most_disputed_rows_and_variation_ratio_counts_the_minority():
    p = onehot([[0, 0, 0], [0, 0, 1], [0, 1, 2], [0, 1, 2]])
    view = PoolView(n=3, ensemble_probs=p)
    gen = torch.Generator().manual_seed(0)
    assert make_strategy("qbc", members=4).select(view, 3, gen).tolist() == [2, 1, 0]
    # variation ratio: 1 - modal votes / 4 = 0, 0.5, 0.5; the tie goes to the entropy of the
    # mean prediction, higher for row 2 (mean 1/4, 1/4, 1/2) than row 1 (1/2, 1/2, 0)
    vr = make_strategy("qbc", members=4, variation_ratio=True)
    assert scores.variation_ratio(p).tolist() == [0.0, 0.5, 0.5]
    assert vr.select(view, 2, gen).tolist() == [2, 1]


def test_ensemble_entropy_and_bald_by_hand():
    # two members; row 0 both say (0.5, 0.5); row 1 one says (1, 0), the other (0, 1)
    p = torch.tensor([[[0.5, 0.5], [1.0, 0.0]], [[0.5, 0.5], [0.0, 1.0]]], dtype=torch.float64)
    assert scores.mean_entropy(p).tolist() == pytest.approx([math.log(2), math.log(2)])
    assert scores.bald(p).tolist() == pytest.approx([0.0, math.log(2)])
    view = PoolView(n=2, ensemble_probs=p)
    assert make_strategy("ensemble_bald", members=2).select(view, 1, torch.Generator()).tolist() == [1]


def test_dbal_ranks_by_the_entropy_of_the_mc_mean_not_by_disagreement():
    # row 0: every sample uncertain (0.5, 0.5); row 1: samples disagree but are confident;
    # row 2: confident and agreeing. Mean entropies: log 2, H(0.6, 0.4), 0.
    p = torch.tensor([[[0.5, 0.5], [0.9, 0.1], [1.0, 0.0]],
                      [[0.5, 0.5], [0.3, 0.7], [1.0, 0.0]]], dtype=torch.float64)
    view = PoolView(n=3, mc_probs=p)
    dbal = make_strategy("dbal", mc_samples=2)
    assert dbal.needs() == Needs(mc_samples=2, row_keys=True, pixels=256)
    assert dbal.select(view, 3, torch.Generator()).tolist() == [0, 1, 2]


def test_ensemble_strategies_declare_their_members():
    assert make_strategy("qbc").needs() == Needs(ensemble=5, row_keys=True)
    assert make_strategy("ensemble_entropy", members=3).needs() == Needs(ensemble=3, row_keys=True)


@pytest.mark.parametrize("name, options", [("qbc", {"members": 1}), ("ensemble_bald", {"members": "5"}),
                                           ("qbc", {"variation_ratio": 1}), ("dbal", {"mc_samples": 1})])
def test_bad_options_are_one_line(name, options):
    with pytest.raises(UsageError) as err:
        make_strategy(name, **options)
    assert "\n" not in str(err.value) and next(iter(options)) in str(err.value)


def test_vaal_picks_the_rows_unlike_the_labeled_ones():
    # labeled rows and half the pool sit near 0; the other half of the pool far away: the
    # discriminator learns that far rows are unlabeled, so VAAL picks them
    g = torch.Generator().manual_seed(0)
    near = torch.randn(200, 8, generator=g) * 0.3
    far = torch.randn(20, 8, generator=g) * 0.3 + 4.0
    pool = torch.cat([near[100:], far])  # positions 100..119 are the far rows
    view = PoolView(n=len(pool), inputs=pool, labeled_inputs=near[:100])
    vaal = make_strategy("vaal", steps=200, width=64)
    assert vaal.needs() == Needs(inputs=True)
    picks = vaal.select(view, 20, torch.Generator().manual_seed(1))
    assert len(set(picks.tolist()) & set(range(100, 120))) >= 16, sorted(picks.tolist())


def test_learning_loss_picks_the_highest_predicted_loss_within_its_random_subset():
    pred = torch.tensor([0.1, 0.9, 0.3, 0.8, 0.2, 0.7, 0.4, 0.6, 0.5, 0.0])
    view = PoolView(n=10, predicted_loss=pred)
    whole = make_strategy("learning_loss")
    assert whole.needs().loss_module is not None and whole.needs().probs is False
    assert whole.select(view, 3, torch.Generator().manual_seed(0)).tolist() == [1, 3, 5]
    # subset 4: the top 2 of the 4 rows the generator draws first (the paper's random subset)
    rows = torch.randperm(10, generator=torch.Generator().manual_seed(5))[:4]
    want = sorted(rows.tolist(), key=lambda r: -pred[r])[:2]
    sub = make_strategy("learning_loss", subset=4).select(view, 2, torch.Generator().manual_seed(5))
    assert sub.tolist() == want and want != [1, 3]
    # a subset smaller than the budget grows to the budget
    assert len(set(make_strategy("learning_loss", subset=2).select(view, 6, torch.Generator()).tolist())) == 6


def test_learning_loss_options_are_checked():
    with pytest.raises(UsageError, match="detach_after"):
        make_strategy("learning_loss", detach_after=1.5)
    with pytest.raises(UsageError, match="subset"):
        make_strategy("learning_loss", subset=0)
