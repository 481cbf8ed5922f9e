"""One battery, run against every registered strategy: the contract the campaign relies on."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import pickle

import numpy as np
import pytest
import torch

from alstudy.strategies import STRATEGIES, LossModule, Needs, PoolView, make_strategy, strategy_names

N_TRAIN, N_CLASSES, DIM = 400, 5, 24


def world(seed: int = 0):
    """A dataset-sized index space with a labeled set, and model outputs for every row."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(N_CLASSES, DIM, generator=g) * 3
    y = torch.randint(N_CLASSES, (N_TRAIN,), generator=g)
    emb = (centers[y] + torch.randn(N_TRAIN, DIM, generator=g)).relu()
    logits = torch.randn(N_TRAIN, N_CLASSES, generator=g) * 2
    labeled = torch.randperm(N_TRAIN, generator=g)[:40].sort().values.numpy()
    return emb, logits, labeled


def view_for(needs: Needs, unlabeled: np.ndarray, labeled: np.ndarray, seed: int = 0) -> PoolView:
    """A PoolView with exactly the fields `needs` asks for; every other field is None."""
    emb, logits, _ = world(seed)
    g = torch.Generator().manual_seed(seed + 1)
    idx = torch.from_numpy(unlabeled)
    mc = None
    if needs.mc_samples:
        noise = torch.randn(needs.mc_samples, N_TRAIN, N_CLASSES, generator=g)
        mc = torch.softmax(logits + noise, -1)[:, idx]
    ens = None
    if needs.ensemble:
        own = torch.Generator().manual_seed(seed + 2)  # independent of which other fields are drawn
        noise = torch.randn(needs.ensemble, N_TRAIN, N_CLASSES, generator=own) * 2
        ens = torch.softmax(logits + noise, -1)[:, idx]
    flip = None
    if needs.flip_probs:
        own = torch.Generator().manual_seed(seed + 3)
        views = torch.stack([logits, logits + torch.randn(N_TRAIN, N_CLASSES, generator=own)])
        flip = torch.softmax(views, -1)[:, idx]
    return PoolView(
        n=len(unlabeled),
        flip_probs=flip,
        ensemble_probs=ens,
        inputs=emb[idx] if needs.inputs else None,
        labeled_inputs=emb[torch.from_numpy(labeled)] if needs.inputs else None,
        probs=torch.softmax(logits, -1)[idx] if needs.probs else None,
        mc_probs=mc,
        embedding=emb[idx] if needs.embedding else None,
        labeled_embedding=emb[torch.from_numpy(labeled)] if needs.labeled_embedding else None,
        predicted_loss=torch.logsumexp(logits, -1)[idx] if needs.loss_module else None,
    )


def pool_of(labeled: np.ndarray) -> np.ndarray:
    return np.setdiff1d(np.arange(N_TRAIN), labeled)


def select(name: str, k: int, seed: int, *, unlabeled=None, labeled=None, strategy=None):
    _, _, lab = world()
    labeled = lab if labeled is None else labeled
    unlabeled = pool_of(labeled) if unlabeled is None else unlabeled
    strategy = make_strategy(name) if strategy is None else strategy
    view = view_for(strategy.needs(), unlabeled, labeled)
    picks = strategy.select(view, k, torch.Generator().manual_seed(seed))
    return picks, unlabeled, labeled


ALL = pytest.mark.parametrize("name", strategy_names())


def test_registry_holds_the_required_strategies():
    required = {"random", "least_confidence", "margin", "entropy", "bald", "variation_ratio",
                "coreset", "badge", "typiclust", "probcover", "dbal", "qbc", "ensemble_entropy",
                "ensemble_bald", "vaal", "learning_loss"}
    assert required <= set(STRATEGIES)


@ALL
def test_returns_exactly_the_budget_of_distinct_valid_positions(name):
    picks, unlabeled, labeled = select(name, 37, seed=3)
    assert isinstance(picks, torch.Tensor) and picks.dtype == torch.int64 and picks.ndim == 1
    positions = picks.cpu().numpy()
    assert len(positions) == 37 and len(np.unique(positions)) == 37
    assert positions.min() >= 0 and positions.max() < len(unlabeled)
    # what the campaign does with them: positions -> absolute train indices to label
    absolute = unlabeled[positions]
    assert not set(absolute) & set(labeled.tolist())
    assert absolute.max() < N_TRAIN


@ALL
def test_a_budget_larger_than_the_pool_takes_the_whole_pool(name):
    _, _, lab = world()
    small_pool = pool_of(lab)[:9]
    picks, _, _ = select(name, 20, seed=0, unlabeled=small_pool)
    assert sorted(picks.tolist()) == list(range(9))


@ALL
def test_a_zero_budget_selects_nothing(name):
    picks, _, _ = select(name, 0, seed=0)
    assert picks.numel() == 0


@ALL
def test_same_generator_seed_gives_the_same_picks(name):
    a = select(name, 25, seed=11)[0]
    b = select(name, 25, seed=11)[0]
    assert torch.equal(a, b)


def test_random_depends_on_its_generator():
    assert not torch.equal(select("random", 25, seed=1)[0], select("random", 25, seed=2)[0])


@ALL
def test_survives_a_pickle_round_trip(name):
    strategy = make_strategy(name)
    clone = pickle.loads(pickle.dumps(strategy))
    assert type(clone) is type(strategy) and vars(clone) == vars(strategy)
    assert clone.needs() == strategy.needs()
    assert torch.equal(select(name, 25, 5, strategy=clone)[0], select(name, 25, 5, strategy=strategy)[0])


@ALL
def test_declared_needs_are_all_it_uses(name):
    # view_for fills only the declared fields (others None): selecting at all proves the needs
    # suffice; extra fields must not change the result.
    strategy = make_strategy(name)
    _, _, labeled = world()
    unlabeled = pool_of(labeled)
    everything = Needs(probs=True, mc_samples=strategy.needs().mc_samples or 3, embedding=True,
                       labeled_embedding=True, ensemble=strategy.needs().ensemble or 3, inputs=True,
                       loss_module=strategy.needs().loss_module or LossModule(), flip_probs=True)
    full = view_for(everything, unlabeled, labeled)
    lean = view_for(strategy.needs(), unlabeled, labeled)
    for field in ("probs", "mc_probs", "embedding", "labeled_embedding", "ensemble_probs", "inputs",
                  "predicted_loss", "flip_probs"):
        declared = {"probs": strategy.needs().probs, "mc_probs": strategy.needs().mc_samples > 0,
                    "embedding": strategy.needs().embedding,
                    "labeled_embedding": strategy.needs().labeled_embedding,
                    "ensemble_probs": strategy.needs().ensemble > 0, "inputs": strategy.needs().inputs,
                    "predicted_loss": strategy.needs().loss_module is not None,
                    "flip_probs": strategy.needs().flip_probs}[field]
        assert (getattr(lean, field) is not None) == declared
    a = strategy.select(lean, 30, torch.Generator().manual_seed(4))
    b = strategy.select(full, 30, torch.Generator().manual_seed(4))
    assert torch.equal(a, b)


def _select_all(queue):
    queue.put({name: select(name, 20, seed=8)[0].tolist() for name in strategy_names()})


def test_selection_is_reproduced_in_a_fresh_process():
    # Catches hidden state (global RNGs, hash order) that a same-process repeat would not.
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_select_all, args=(queue,))
    proc.start()
    there = queue.get(timeout=120)
    proc.join(timeout=60)
    here = {name: select(name, 20, seed=8)[0].tolist() for name in strategy_names()}
    assert there == here


def _poisoned(view: PoolView, every: int, value: float) -> PoolView:
    """`view` with every `every`-th value of each float field `value` (a diverged model's outputs)."""
    def poison(t):
        if t is None or not t.is_floating_point():
            return t
        t = t.clone()
        t.view(-1)[::every] = value
        return t
    return dataclasses.replace(view, **{f.name: poison(getattr(view, f.name)) for f in dataclasses.fields(view)
                                        if f.name not in ("n", "to_float")})


@ALL
@pytest.mark.parametrize("every, value", [(1, float("nan")), (3, float("nan")), (3, float("inf"))])
def test_non_finite_model_outputs_never_label_a_row_twice(name, every, value):
    """coreset and badge once returned 2 distinct rows of 37 when the embeddings held NaN."""
    strategy = make_strategy(name)
    _, _, labeled = world()
    unlabeled = pool_of(labeled)
    view = _poisoned(view_for(strategy.needs(), unlabeled, labeled), every, value)
    picks = strategy.select(view, 37, torch.Generator().manual_seed(3)).cpu().numpy()
    assert len(picks) == 37 and len(np.unique(picks)) == 37
    assert picks.min() >= 0 and picks.max() < len(unlabeled)
