"""run_campaign: reproducible, paired across strategies, resumable, honest about budgets."""

from __future__ import annotations

import json
import os

import pytest
import torch

from alstudy.campaign import Cycle, _deterministic, run_campaign
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.errors import UsageError
from alstudy.strategies import make_strategy, strategy_names

FAST = TrainConfig(epochs=10, min_steps=20)
SMALL = Budget(initial=20, per_cycle=10, cycles=2, validation=10)


def _strip_times(records):
    return [{k: v for k, v in r.items() if not k.startswith("seconds_")} for r in records]


def test_same_command_twice_gives_identical_records():
    config = CampaignConfig("digits", "entropy", budget=SMALL, train=FAST)
    assert _strip_times(run_campaign(config, 3)) == _strip_times(run_campaign(config, 3))


def test_every_strategy_starts_from_the_same_labels_and_weights():
    cycle0 = {}
    for name in strategy_names():
        # a strategy that trains the task model with its own loss module (learning loss) runs
        # with that loss weighted 0: the same labels and weights must then give the same model
        options = {"weight": 0.0} if make_strategy(name).needs().loss_module else {}
        config = CampaignConfig("digits", name, budget=Budget(20, 10, 1, 10), train=FAST,
                                strategy_options=options)
        records = run_campaign(config, 7)
        assert [r["n_labeled"] for r in records] == [20, 30], name
        cycle0[name] = (records[0]["new_indices"], records[0]["val_acc"], records[0]["test_acc"])
    assert len(set(map(repr, cycle0.values()))) == 1, cycle0


def test_labels_grow_by_the_budget_and_never_repeat():
    config = CampaignConfig("digits", "margin", budget=Budget(15, 12, 3, 0.2), train=FAST)
    records = run_campaign(config, 0)
    assert [r["n_labeled"] for r in records] == [15, 27, 39, 51]
    assert [len(r["new_indices"]) for r in records] == [15, 12, 12, 12]
    chosen = [i for r in records for i in r["new_indices"]]
    assert len(chosen) == len(set(chosen))
    assert records[0]["n_validation"] == 11  # ceil(0.2 * 51), paid from the label budget
    assert all(r["hp.lr"] == FAST.lr and r["cycle"] == c for c, r in enumerate(records))


def test_seeds_differ():
    config = CampaignConfig("digits", "random", budget=SMALL, train=FAST)
    assert run_campaign(config, 0)[0]["new_indices"] != run_campaign(config, 1)[0]["new_indices"]


@pytest.mark.parametrize("warm_start", [False, True])
def test_resumed_campaign_equals_an_uninterrupted_one(warm_start):
    train = TrainConfig(epochs=10, min_steps=20, warm_start=warm_start)
    config = CampaignConfig("digits", "badge", budget=Budget(20, 10, 3, 10), train=train)
    cycles, weights = [], []
    full = run_campaign(config, 5, on_cycle=lambda cycle, w: (cycles.append(cycle), weights.append(w)))
    # after cycle 1, as the results store keeps it (JSON lines): resume at cycle 2
    saved = [Cycle(**json.loads(json.dumps(c.to_dict()))) for c in cycles[:2]]
    resumed = run_campaign(config, 5, resume=saved, weights=weights[1])
    assert [r["cycle"] for r in resumed] == [0, 1, 2, 3]
    assert _strip_times(resumed) == _strip_times(full)


def test_a_warm_started_campaign_does_not_resume_without_its_weights():
    config = CampaignConfig("digits", "random", budget=SMALL, train=TrainConfig(warm_start=True))
    cycles = []
    run_campaign(config, 0, on_cycle=lambda cycle, w: cycles.append(cycle))
    with pytest.raises(ValueError, match="weights"):
        run_campaign(config, 0, resume=cycles[:1])


def test_callback_sees_each_cycle_once_in_order():
    seen = []
    run_campaign(CampaignConfig("digits", "random", budget=SMALL, train=FAST), 0,
                 on_cycle=lambda cycle, w: seen.append((cycle.record["cycle"], cycle.chosen is None)))
    assert seen == [(0, False), (1, False), (2, True)]


def test_impossible_budget_is_a_clear_error():
    config = CampaignConfig("digits", "random", budget=Budget(1000, 100, 5), train=FAST)
    with pytest.raises(UsageError, match="train split has only"):
        run_campaign(config, 0)


def test_regularization_knobs_run_together():
    train = TrainConfig(epochs=5, min_steps=10, mixup=0.2, swa=0.3, label_smoothing=0.1,
                        augment=0.5, optimizer="adamw", lr=3e-3, warmup=0.1, schedule="onecycle")
    records = run_campaign(CampaignConfig("digits", "bald", budget=SMALL, train=train), 0)
    assert len(records) == 3 and all(0.0 <= r["test_acc"] <= 1.0 for r in records)


def test_digits_default_campaign_beats_ninety_percent():
    records = run_campaign(CampaignConfig("digits", "entropy"), 0)
    assert len(records) == 9 and records[-1]["n_labeled"] == 450
    assert records[-1]["test_acc"] > 0.90


def _process_state():
    return dict(os.environ), torch.are_deterministic_algorithms_enabled(), \
        torch.is_deterministic_algorithms_warn_only_enabled()


def _warm_up(device: str = "cpu") -> None:
    # Libraries imported on first use set variables of their own (KMP_*, TORCHINDUCTOR_*): a
    # first campaign without deterministic mode imports them, and sets nothing of ours.
    run_campaign(CampaignConfig("digits", "random", budget=SMALL, train=FAST, deterministic=False),
                 0, device=device)


def test_a_campaign_leaves_the_process_as_it_found_it():
    _warm_up()
    before = _process_state()
    run_campaign(CampaignConfig("digits", "random", budget=SMALL, train=FAST), 0)
    assert _process_state() == before


@pytest.mark.parametrize("preset", [None, ":16:8"])
def test_deterministic_cuda_settings_are_undone_on_exit(monkeypatch, preset):
    # Only sets variables and flags, so the CUDA branch runs on any machine.
    if preset is None:
        monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    else:
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", preset)
    before = _process_state()
    with _deterministic(True, torch.device("cuda")):
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == (preset or ":4096:8")  # the user's value wins
        assert torch.are_deterministic_algorithms_enabled()
    assert _process_state() == before


@pytest.mark.gpu
def test_a_cuda_campaign_leaves_the_environment_as_it_found_it(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    _warm_up("cuda")
    before = _process_state()
    run_campaign(CampaignConfig("digits", "random", budget=SMALL, train=FAST), 0, device="cuda")
    assert _process_state() == before
