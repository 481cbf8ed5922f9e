"""Semi-supervised training in the one loop: FixMatch's term, its step rule, its unlabeled rows."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from alstudy.campaign import _unlabeled_term, initial_split, run_campaign, unlabeled_rows
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.data import get_dataset
from alstudy.data.augment import cutout
from alstudy.errors import UsageError
from alstudy.training.methods import SSL_STEPS, method_info, resolve_options, ssl_steps


def fixmatch_config(**options) -> CampaignConfig:
    return CampaignConfig("digits", "random", budget=Budget(20, 10, 1, 30),
                          train=TrainConfig(epochs=2, min_steps=10, batch_size=16),
                          paradigm="fm", method="fixmatch",
                          method_options=resolve_options("fixmatch", options, where="t"))


def test_step_rule_is_a_fixed_count_whatever_the_pool_never_below_supervised():
    defaults = resolve_options("fixmatch", {}, where="t")
    assert defaults["steps"] == SSL_STEPS and defaults["unlabeled_epochs"] == 0.0
    # the pool's size does not set the steps: 1 000 or 100 000 unlabeled rows, the same count
    assert ssl_steps(60, 1000, 40, defaults) == ssl_steps(60, 100_000, 40, defaults) == SSL_STEPS
    assert ssl_steps(SSL_STEPS + 400, 1000, 64, defaults) == SSL_STEPS + 400   # never fewer than supervised
    # passes over the pool, when asked, add steps where they are more than `steps`, up to the cap
    options = resolve_options("fixmatch", {"mu": 7, "steps": 10, "unlabeled_epochs": 2.0, "max_steps": 500},
                              where="t")
    assert ssl_steps(10, 1000, 16, options) == 18          # ceil(2 * 1000 / 112)
    assert ssl_steps(10, 500, 16, options) == 10           # ceil(2 * 500 / 112) = 9 < steps
    assert ssl_steps(40, 1000, 16, options) == 40          # never fewer than supervised training
    assert ssl_steps(10, 100_000, 16, options) == 500      # the cap


def test_a_fixmatch_campaign_records_its_steps_and_unlabeled_rows():
    config = fixmatch_config(mu=2, unlabeled_epochs=2.0, max_steps=40, threshold=0.5)
    records = run_campaign(config, 0)
    n_train = get_dataset("digits").n_train
    for r in records:
        assert r["paradigm"] == "fm" and r["method"] == "fixmatch" and r["hp.threshold"] == 0.5
        # the pool: the train split less the 30 validation rows and the labeled ones
        assert r["n_unlabeled"] == n_train - 30 - r["n_labeled"]
        assert r["steps"] == ssl_steps(10, r["n_unlabeled"], 16, config.method_options) == 40
        assert 0.0 < r["ssl_mask_rate"] <= 1.0     # a threshold of 0.5 keeps some pseudo-labels
    assert records[1]["test_acc"] > 0.3


@pytest.mark.parametrize("method, knobs", [("fixmatch", {"threshold": 0.5}),   # members trained together
                                           ("mean_teacher", {})])              # one after another (teachers)
def test_every_member_of_an_ensemble_trains_with_the_paradigms_method(method, knobs):
    """A FixMatch x qbc cell is a committee of FixMatch models, not of supervised ones."""
    options = resolve_options(method, {"mu": 2, "unlabeled_epochs": 2.0, "max_steps": 40, **knobs}, where="t")
    config = CampaignConfig("digits", "qbc", strategy_options={"members": 3}, budget=Budget(20, 10, 1, 30),
                            train=TrainConfig(epochs=2, min_steps=10, batch_size=16), paradigm="p", method=method,
                            method_options=options)
    for r in run_campaign(config, 0):
        assert r["ensemble_size"] == 3 and r["members_method"] == method
        # the members' own unlabeled terms ran: their mean unlabeled loss (and share of confident rows)
        assert r["members_ssl_consistency"] > 0.0
        assert (0.0 < r["members_ssl_mask_rate"] <= 1.0) if method == "fixmatch" else "members_ssl_mask_rate" not in r
    supervised = dataclasses.replace(config, paradigm="supervised", method="supervised", method_options={})
    for r in run_campaign(supervised, 0):
        assert r["members_method"] == "supervised" and "members_ssl_consistency" not in r


def test_unlabeled_rows_never_hold_the_validation_set():
    data = get_dataset("digits")
    budget = Budget(20, 10, 1, 30).resolve(data.n_train)
    val, initial = initial_split(data.n_train, budget, 0)
    labeled = initial.tolist()
    for include in (False, True):
        rows = set(unlabeled_rows(data.n_train, labeled, torch.as_tensor(val), include_labeled=include).tolist())
        assert not rows & set(val.tolist())
        assert (set(labeled) <= rows) == include and (not rows & set(labeled)) == (not include)
        assert len(rows) == data.n_train - 30 - (0 if include else 20)
        term = _unlabeled_term(fixmatch_config(include_labeled=include), data, labeled, torch.as_tensor(val))
        assert term.x.shape[0] == len(rows)
    supervised = CampaignConfig("digits", "random")
    assert _unlabeled_term(supervised, data, labeled, torch.as_tensor(val)) is None


def test_fixmatch_loss_uses_confident_weak_views_only():
    from alstudy.training.ssl import FixMatch

    data = get_dataset("digits")
    options = resolve_options("fixmatch", {"threshold": 0.9, "mu": 7}, where="t")
    term = FixMatch(data.x_train[:50], to_float=data.to_float, weak=data.augmenter(1.0),
                    strong=data.augmenter(2.0), options=options, batch_size=4)
    strong = term.inputs(torch.Generator().manual_seed(0), torch.Generator().manual_seed(1))
    weak = term.anchors()                                          # the same 28 rows, weak views
    assert strong.shape == weak.shape == (28, 1, 8, 8) and not torch.equal(strong, weak)
    unsure = torch.zeros(28, 10)                                   # uniform: nobody passes 0.9
    assert term.loss(torch.zeros(28, 10), unsure).item() == 0.0
    sure = torch.zeros(28, 10)
    sure[:14, 3] = 10.0                                            # half the weak views say 3, surely
    assert term.loss(torch.zeros(28, 10), sure).item() == pytest.approx(
        0.5 * torch.log(torch.tensor(10.0)).item(), rel=1e-4)
    assert term.stats()["ssl_mask_rate"] == pytest.approx(14 / 56)


def test_cutout_blanks_one_square_per_image():
    x = torch.ones(8, 3, 28, 28)
    out = cutout(x, torch.Generator().manual_seed(0), 0.5)
    holes = (out == 0).all(1).flatten(1).sum(1)             # (B,) pixels blanked in every channel
    assert ((holes > 0) & (holes <= 14 * 14)).all() and (holes == 14 * 14).any()
    assert cutout(x, torch.Generator(), 0.0) is x


def test_method_options_are_checked_and_listed():
    with pytest.raises(UsageError, match=r"^x.mu = 0: must be in \[1"):
        resolve_options("fixmatch", {"mu": 0}, where="x")
    rows = {r["name"]: r for r in method_info()}
    assert set(rows) >= {"supervised", "fixmatch"} and "threshold=0.95" in rows["fixmatch"]["options"]


def test_fixmatch_step_is_a_weak_pass_without_gradient_then_one_labeled_and_strong_pass():
    import numpy as np

    from alstudy.campaign import new_model
    from alstudy.rng import torch_generator
    from alstudy.training import fit
    from alstudy.training.ssl import make_term

    data = get_dataset("digits")
    config = fixmatch_config(mu=3, max_steps=5, unlabeled_epochs=0.0)
    lab = torch.arange(40)

    def train():
        model = new_model(data.default_model, data, config, 0, 0, torch.device("cpu"))
        passes = []
        model.register_forward_hook(lambda m, args, out: passes.append((args[0].shape[0], torch.is_grad_enabled())))
        term = make_term("fixmatch", data.x_train[100:], data=data, options=config.method_options, batch_size=16)
        fit(model, data.x_train[lab], data.y_train[lab], train=dataclasses.replace(config.train, min_steps=5),
            to_float=data.to_float, augment=data.augmenter(1.0), gen=torch_generator(0, "train", 0),
            mix_rng=np.random.default_rng(0), unlabeled=term)
        return model, passes

    model, passes = train()
    steps = ssl_steps(6, data.n_train - 100, 16, config.method_options)   # 6: two passes over 40 labels
    assert steps == 6 and passes == [(3 * 16, False), (16 + 3 * 16, True)] * steps   # weak rows: no backward
    again, _ = train()                                                 # deterministic given the seed
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_the_labeled_batch_gets_at_least_the_weak_view_unless_asked_not_to():
    """FixMatch's labeled loss is on weakly augmented images (Sohn et al. 2020, Algorithm 1):
    by default a method raises the recipe's augment to the weak view's strength 1, never lowers it."""
    from alstudy.training.methods import labeled_strength

    on, off = resolve_options("fixmatch", {}, where="t"), resolve_options("fixmatch", {"weak_labeled": False}, where="t")
    assert on["weak_labeled"] is True and labeled_strength(on, 0.0) == 1.0 and labeled_strength(on, 2.0) == 2.0
    assert labeled_strength(off, 0.0) == 0.0 and labeled_strength({}, 0.0) == 0.0   # supervised: the recipe's own
    # a campaign trains differently with it on and off (the recipe's augment is 0 in both), and rows say which
    base = dict(mu=1, steps=10, max_steps=10, threshold=0.5)
    a, b = run_campaign(fixmatch_config(**base), 0), run_campaign(fixmatch_config(**base, weak_labeled=False), 0)
    assert a[0]["hp.weak_labeled"] is True and b[0]["hp.weak_labeled"] is False
    assert a[0]["hp.augment"] == b[0]["hp.augment"] == 0.0 and a[0]["val_loss"] != b[0]["val_loss"]


@pytest.mark.parametrize("method", ["fixmatch", "uda"])
def test_views_built_ahead_are_one_call_for_k_steps_sliced_in_order(method):
    """`ahead` = 3: the first step draws and views 3 steps' rows in one call, and the next two
    steps take the next slices (no draw); the fourth step draws again. `ahead` = 1 draws every
    step, as before the option existed."""
    from alstudy.rng import torch_generator
    from alstudy.training.ssl import make_term

    data = get_dataset("digits")
    pool = data.x_train[100:]

    def term(ahead):
        return make_term(method, pool, data=data, options=resolve_options(method, {"mu": 2, "ahead": ahead},
                                                                          where="t"), batch_size=8)

    def gens():
        return torch_generator(0, "views"), torch.Generator().manual_seed(1)

    ahead, (gen, host) = term(3), gens()
    steps = [(ahead.inputs(gen, host), ahead.anchors()) for _ in range(3)]
    after_three = gen.get_state()
    one, (gen1, host1) = term(1), gens()
    strong, anchors = one._views(one.weak if method == "fixmatch" else one.target, one.strong, gen1, host1, 3 * 16)
    assert torch.equal(after_three, gen1.get_state())                 # one draw for three steps
    for k, (s, a) in enumerate(steps):
        assert s.shape[0] == a.shape[0] == 16
        assert torch.equal(s, strong[16 * k:16 * (k + 1)]) and torch.equal(a, anchors[16 * k:16 * (k + 1)])
    ahead.inputs(gen, host)
    assert not torch.equal(after_three, gen.get_state())              # the fourth step draws
    # ahead 1: each step its own call, the stream of the code before the option
    plain, (gen2, host2) = term(1), gens()
    first = plain.inputs(gen2, host2)
    solo, (gen3, host3) = term(1), gens()
    assert torch.equal(first, solo._views(solo.weak if method == "fixmatch" else solo.target, solo.strong,
                                          gen3, host3, 16)[0])
    with pytest.raises(UsageError, match=r"^t.ahead = 0: must be in \[1"):
        resolve_options(method, {"ahead": 0}, where="t")
