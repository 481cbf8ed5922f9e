"""Names and options from study files become strategies here, or one clear UsageError."""

from __future__ import annotations

import pytest
import torch

from alstudy.errors import UsageError
from alstudy.strategies import PoolView, make_strategy, strategy_names, strategy_options


def test_unknown_name_lists_the_choices():
    with pytest.raises(UsageError) as err:
        make_strategy("entropyy")
    message = str(err.value)
    assert "entropyy" in message and all(name in message for name in strategy_names())
    assert "\n" not in message


def test_unknown_option_lists_the_strategy_options():
    with pytest.raises(UsageError, match=r"'bald' has no option 'samples'; its options: mc_samples"):
        make_strategy("bald", samples=5)
    with pytest.raises(UsageError, match="its options: none"):
        make_strategy("random", mc_samples=5)
    with pytest.raises(UsageError, match="'entropy' has no option 'mc_samples'; its options: reduce, top_q"):
        make_strategy("entropy", mc_samples=5)


@pytest.mark.parametrize("name,options", [
    ("bald", {"mc_samples": 1}), ("bald", {"mc_samples": "20"}), ("variation_ratio", {"mc_samples": True}),
    ("typiclust", {"knn": 0}), ("probcover", {"purity": 1.5}), ("probcover", {"normalize": "yes"}),
    ("probcover", {"delta": -1.0}), ("typiclust", {"features": "imagenet"}),
    ("entropy", {"reduce": "median"}), ("margin", {"top_q": 0.0}), ("bald", {"top_q": 1.5}),
    ("dbal", {"pixels": 0}), ("qbc", {"reduce": None}), ("equal", {"score": "kl"}),
])
def test_bad_option_values_name_the_option(name, options):
    with pytest.raises(UsageError, match=next(iter(options))):
        make_strategy(name, **options)


def test_options_shape_the_needs():
    assert make_strategy("bald").needs().mc_samples == 20
    assert make_strategy("bald", mc_samples=8).needs().mc_samples == 8
    assert make_strategy("probcover").needs().probs  # pseudo-classes = model classes
    assert not make_strategy("probcover", n_clusters=10).needs().probs
    assert strategy_options("typiclust") == {"max_clusters": 500, "min_cluster_size": 5, "knn": 20,
                                             "features": "model"}
    assert not make_strategy("typiclust").needs().simclr_features
    assert make_strategy("probcover", features="simclr").needs().simclr_features
    assert strategy_names()[0] == "random"


def test_equal_scores_are_ordered_by_the_generator_not_by_position():
    flat = PoolView(n=100, probs=torch.full((100, 4), 0.25))
    picks = [make_strategy("entropy").select(flat, 10, torch.Generator().manual_seed(s)) for s in (0, 1)]
    assert not torch.equal(picks[0], picks[1])
    assert picks[0].tolist() != list(range(10))


def test_variation_ratio_breaks_vote_ties_by_entropy_of_the_mean():
    # every row: all 4 samples vote class 0, so variation ratios tie at 0; row 3 is least sure
    mc = torch.tensor([0.9, 0.05, 0.05]).repeat(4, 6, 1)
    mc[:, 3] = torch.tensor([0.4, 0.3, 0.3])
    view = PoolView(n=6, mc_probs=mc)
    picks = make_strategy("variation_ratio", mc_samples=4).select(view, 1, torch.Generator().manual_seed(0))
    assert picks.tolist() == [3]
