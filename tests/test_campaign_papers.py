"""The papers' strategies in whole campaigns: every embedded dataset kind, ensemble columns."""

from __future__ import annotations

import pytest

from alstudy.campaign import run_campaign
from alstudy.config import Budget, CampaignConfig, TrainConfig

FAST = TrainConfig(epochs=4, min_steps=10)
PAPERS = ("dbal", "qbc", "ensemble_entropy", "ensemble_bald", "vaal", "learning_loss")


@pytest.mark.parametrize("dataset, n", [("digits", 20), ("mnist1d", 40), ("wine", 12)])
@pytest.mark.parametrize("name", PAPERS)
def test_completes_a_campaign_on_every_dataset_kind(name, dataset, n):
    options = {"dbal": {}, "vaal": {"steps": 20, "width": 64},
               "learning_loss": {"subset": n}}.get(name, {"members": 3})
    config = CampaignConfig(dataset, name, budget=Budget(n, n // 2, 2, 8), train=FAST,
                            strategy_options=options)
    records = run_campaign(config, 0)
    assert [r["n_labeled"] for r in records] == [n, n + n // 2, n + 2 * (n // 2)]
    chosen = [i for r in records for i in r["new_indices"]]
    assert len(set(chosen)) == len(chosen)
    assert all(r["trained_with"] == ("loss_module" if name == "learning_loss" else "task_loss") for r in records)
    if name.startswith(("qbc", "ensemble")):
        assert all(r["ensemble_size"] == 3 and 0 <= r["ensemble_test_acc"] <= 1 for r in records)


def test_member_zero_is_the_single_model_and_the_ensemble_has_its_own_column():
    budget = Budget(30, 15, 1, 10)
    single = run_campaign(CampaignConfig("digits", "entropy", budget=budget, train=FAST), 4)
    ens = run_campaign(CampaignConfig("digits", "qbc", budget=budget, train=FAST,
                                      strategy_options={"members": 4}), 4)
    # cycle 0 trains on the same labels: test_acc is the same model's, the ensemble's differs
    assert ens[0]["test_acc"] == single[0]["test_acc"] and ens[0]["val_acc"] == single[0]["val_acc"]
    assert "ensemble_test_acc" not in single[0]
    assert ens[0]["ensemble_test_acc"] != ens[0]["test_acc"]
    assert ens[0]["seconds_train_members"] > 0


def test_learning_loss_trains_the_task_model_differently_and_reproducibly():
    budget = Budget(30, 15, 1, 10)
    plain = run_campaign(CampaignConfig("digits", "entropy", budget=budget, train=FAST), 2)
    ll = run_campaign(CampaignConfig("digits", "learning_loss", budget=budget, train=FAST), 2)
    again = run_campaign(CampaignConfig("digits", "learning_loss", budget=budget, train=FAST), 2)
    # same labels and initial weights at cycle 0: only the joint loss module changes the model
    assert ll[0]["new_indices"] == plain[0]["new_indices"]
    assert ll[0]["test_loss"] != plain[0]["test_loss"]
    assert (ll[0]["trained_with"], plain[0]["trained_with"]) == ("loss_module", "task_loss")
    assert [r["new_indices"] for r in ll] == [r["new_indices"] for r in again]
    assert [r["test_acc"] for r in ll] == [r["test_acc"] for r in again]
