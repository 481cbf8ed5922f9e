"""Trainings a study runs once (alstudy.training.shared): a campaign that loads a training another
cell ran gives the rows it would have given by training, and never loads one it must not."""

from __future__ import annotations

import os

import pytest

from alstudy.campaign import run_campaign
from alstudy.config import Budget, CampaignConfig, TrainConfig
from alstudy.training.shared import SharedTrainings

FAST = TrainConfig(epochs=10, min_steps=20)
SMALL = Budget(initial=20, per_cycle=10, cycles=2, validation=10)
OWN = ("seconds_train", "seconds_eval", "seconds_score", "seconds_select", "shared_training")


def _rows(records) -> str:
    """The records without what a loaded training may change (its own seconds and the flag),
    as text: NaN (a class no pixel of) compares equal to NaN."""
    return repr([{k: v for k, v in r.items() if k not in OWN} for r in records])


def _entries(folder) -> int:
    return len([n for n in os.listdir(folder) if n.endswith(".pt")]) if os.path.isdir(folder) else 0


def test_a_second_strategy_loads_cycle_0_and_its_rows_equal_a_campaign_that_trained(tmp_path):
    shared = SharedTrainings(str(tmp_path / "shared"))
    first = run_campaign(CampaignConfig("digits", "random", budget=SMALL, train=FAST), 3, shared=shared)
    # cycle 0 alone is kept: later cycles train on each strategy's own labels
    assert [r["shared_training"] for r in first] == ["none"] * 3 and _entries(shared.folder) == 1
    config = CampaignConfig("digits", "entropy", budget=SMALL, train=FAST)
    loaded = run_campaign(config, 3, shared=shared)
    # cycle 0 is random's training (same labels, weights, generator, recipe): loaded, with its
    # seconds; the later cycles train on entropy's own labels
    assert [r["shared_training"] for r in loaded] == ["model", "none", "none"]
    assert loaded[0]["seconds_train"] == first[0]["seconds_train"]
    assert _entries(shared.folder) == 1
    alone = run_campaign(config, 3)
    assert [r["shared_training"] for r in alone] == ["none"] * 3
    # the selections after the loaded cycle, and every score, are what training gave
    assert _rows(loaded) == _rows(alone)


def test_another_seed_or_recipe_is_another_training(tmp_path):
    shared = SharedTrainings(str(tmp_path / "shared"))
    budget = Budget(20, 10, 0, 10)
    run_campaign(CampaignConfig("digits", "random", budget=budget, train=FAST), 3, shared=shared)
    other_seed = run_campaign(CampaignConfig("digits", "margin", budget=budget, train=FAST), 4, shared=shared)
    other_lr = run_campaign(CampaignConfig("digits", "margin", budget=budget, train=TrainConfig(
        epochs=10, min_steps=20, lr=0.02)), 3, shared=shared)
    assert [other_seed[0]["shared_training"], other_lr[0]["shared_training"]] == ["none", "none"]
    assert _entries(shared.folder) == 3


def test_learning_loss_and_ensembles_never_share_their_training(tmp_path):
    """A loss module trains beside the model, and an ensemble's members follow member 0's
    schedule: neither loads a training nor keeps one, even where the same labels' model is kept."""
    shared = SharedTrainings(str(tmp_path / "shared"))
    budget = Budget(20, 10, 0, 10)
    run_campaign(CampaignConfig("digits", "random", budget=budget, train=FAST), 3, shared=shared)
    for name in ("learning_loss", "ensemble_entropy"):
        [row] = run_campaign(CampaignConfig("digits", name, budget=budget, train=FAST), 3, shared=shared)
        assert row["shared_training"] == "none", name
    assert _entries(shared.folder) == 1


def test_a_damaged_entry_trains_again_and_an_unwritable_folder_keeps_nothing(tmp_path):
    budget = Budget(20, 10, 1, 10)
    config = CampaignConfig("digits", "entropy", budget=budget, train=FAST)
    clean = run_campaign(config, 5)
    shared = SharedTrainings(str(tmp_path / "shared"))
    run_campaign(config, 5, shared=shared)
    for name in os.listdir(shared.folder):   # every entry cut short, as by a full disk
        path = os.path.join(shared.folder, name)
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) // 2)
    again = run_campaign(config, 5, shared=shared)
    assert [r["shared_training"] for r in again] == ["none", "none"] and _rows(again) == _rows(clean)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    rows = run_campaign(config, 5, shared=SharedTrainings(str(blocked / "shared")))
    assert _rows(rows) == _rows(clean) and blocked.read_text() == "not a folder"


@pytest.mark.slow
def test_self_training_loads_the_supervised_arms_model_as_its_teacher(tmp_path):
    """At cycle 0 self-training's teacher is the supervised arm's model (same labels, weights,
    generator, recipe): loaded, the student trains on from the generator's state after it and
    the rows equal a campaign that trained both; a second strategy then loads the whole of it.
    (Each self-training run labels the 3 992-scene pool: ~10 s.)"""
    shared = SharedTrainings(str(tmp_path / "shared"))
    budget = Budget(initial=8, per_cycle=8, cycles=0, validation=8)
    train = TrainConfig(epochs=1, min_steps=3, batch_size=4, augment=1.0, stop="fixed")
    [sup] = run_campaign(CampaignConfig("mnist5k_seg", "random", budget=budget, train=train), 0, shared=shared)
    st = CampaignConfig("mnist5k_seg", "random", budget=budget, train=train, paradigm="self_training",
                        method="self_training", method_options={"steps": 3})
    [taught] = run_campaign(st, 0, shared=shared)
    assert taught["shared_training"] == "teacher" and taught["steps"] == 6
    assert taught["seconds_train"] > sup["seconds_train"]    # the teacher's seconds and the student's
    [alone] = run_campaign(st, 0)
    assert _rows([taught]) == _rows([alone])
    [whole] = run_campaign(CampaignConfig("mnist5k_seg", "entropy", budget=budget, train=train,
                                          paradigm="self_training", method="self_training",
                                          method_options={"steps": 3}), 0, shared=shared)
    assert whole["shared_training"] == "model" and _rows([whole]) == _rows([alone]).replace("'random'", "'entropy'")
