"""A campaign's records say how long each cycle trained and why it stopped."""

from __future__ import annotations

import copy

import numpy as np
import torch

from alstudy.campaign import run_campaign
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.models import make_model
from alstudy.training import FitStats, num_steps
from alstudy.training.ensemble import fit_members

BUDGET = Budget(initial=100, per_cycle=100, cycles=1, validation=10)


def test_fixed_rule_records_its_count_and_reason():
    train = TrainConfig(stop="fixed", epochs=5, min_steps=20)
    records = run_campaign(CampaignConfig("digits", "entropy", budget=BUDGET, train=train), 0)
    assert [(r["steps"], r["stop_reason"]) for r in records] == [
        (num_steps(r["n_labeled"], train), "fixed") for r in records]


def test_plateau_rule_records_why_each_cycle_stopped_and_is_reproducible():
    train = TrainConfig(stop="plateau", epochs=60, min_steps=20)
    config = CampaignConfig("digits", "entropy", budget=BUDGET, train=train)
    records = run_campaign(config, 0)
    assert all(r["stop_reason"] in ("plateau", "cap") for r in records)
    assert all(20 <= r["steps"] <= num_steps(r["n_labeled"], train) for r in records)
    assert any(r["stop_reason"] == "plateau" and r["steps"] < num_steps(r["n_labeled"], train) for r in records)
    assert records[-1]["test_acc"] > 0.8
    again = run_campaign(config, 0)
    assert [{k: v for k, v in r.items() if not k.startswith("seconds_")} for r in again] == \
        [{k: v for k, v in r.items() if not k.startswith("seconds_")} for r in records]


def test_ensemble_members_train_as_long_as_the_plateau_stopped_model():
    train = TrainConfig(stop="plateau", epochs=60, min_steps=20)
    config = CampaignConfig("digits", "qbc", budget=Budget(100, 30, 1, 10), train=train)
    records = run_campaign(config, 0)
    assert all(r["ensemble_size"] == 5 and r["ensemble_test_acc"] > 0.8 for r in records)
    x, y = torch.randn(64, 8), torch.arange(64) % 3
    models = [make_model("mlp", (8,), 3, dropout=0.1) for _ in range(2)]
    stats = fit_members(models, x, y, train=train, to_float=lambda t: t, augment=lambda t, g, **_: t,
                        gen=torch.Generator().manual_seed(0), mix_rng=np.random.default_rng(0),
                        like=FitStats(37, "plateau"))
    assert stats.steps == 37 != num_steps(64, train) and stats.stop_reason == "plateau"
    # members follow member 0's learning-rate schedule, not a cosine over its step count: a
    # schedule of zeros leaves their weights where they started
    before = [copy.deepcopy(m.state_dict()) for m in models]
    fit_members(models, x, y, train=train, to_float=lambda t: t, augment=lambda t, g, **_: t,
                gen=torch.Generator().manual_seed(0), mix_rng=np.random.default_rng(0),
                like=FitStats(37, "plateau", schedule=lambda step: 0.0))
    for m, b in zip(models, before):
        assert all(torch.equal(m.state_dict()[k], b[k]) for k in b if not k.endswith(("running_mean", "running_var",
                                                                                      "num_batches_tracked")))
