"""UsageError, the one shape of bad input: a line built from its parts, re-placed without text edits."""

from __future__ import annotations

import pickle

import pytest

from alstudy.config import Budget, TrainConfig
from alstudy.errors import UsageError


def test_the_line_reads_key_value_and_what_is_allowed():
    assert str(UsageError("expected a whole number", key="tuning.trials", value="2")) == \
        "tuning.trials = '2': expected a whole number"
    assert str(UsageError("unknown key; allowed: cpu, gpu", key="resources.memory")) == \
        "resources.memory: unknown key; allowed: cpu, gpu"
    assert str(UsageError("is missing", key="evaluation.seeds")) == "evaluation.seeds is missing"
    assert str(UsageError("no CUDA device here")) == "no CUDA device here"


def test_within_and_under_keep_the_parts():
    err = UsageError("must be >= 1", key="trials", value=0)
    placed = err.under("tuning").within("study.toml")
    assert str(placed) == "study.toml: tuning.trials = 0: must be >= 1"
    assert (placed.key, placed.value, placed.reason, placed.context) == ("tuning.trials", 0, "must be >= 1",
                                                                         ("study.toml",))
    assert str(UsageError("has no option 'x'").under("strategy_options.bald")) == \
        "strategy_options.bald: has no option 'x'"
    assert str(err) == "trials = 0: must be >= 1", "within/under return new errors"


def test_config_errors_name_the_key_under_the_callers_table():
    with pytest.raises(UsageError) as caught:
        TrainConfig.from_mapping({"dropout": 1.5}, where="train.wine")
    assert caught.value.key == "train.wine.dropout" and caught.value.value == 1.5
    with pytest.raises(UsageError) as caught:
        TrainConfig.from_mapping({"lr": float("nan")}, where="train")
    assert caught.value.key == "train.lr" and "finite" in caught.value.reason
    with pytest.raises(UsageError) as caught:
        Budget(initial=0).resolve(100, where="budget.wine")
    assert str(caught.value) == "budget.wine.initial = 0: expected a positive count or a fraction in (0, 1)"
    with pytest.raises(UsageError, match=r"^budget: needs 60 training labels \+ 10 validation labels, "
                                         r"but the train split has only 50 rows$"):
        Budget(initial=20, per_cycle=20, cycles=2, validation=10).resolve(50)


def test_survives_pickling_as_one_line():
    """Errors cross process boundaries (Ray trials); the line must survive."""
    err = UsageError("must be >= 1", key="tuning.trials", value=0).within("s.toml")
    assert str(pickle.loads(pickle.dumps(err))) == str(err)


@pytest.mark.parametrize("kwargs, line", [
    ({"optimizer": "adam"}, "TrainConfig.optimizer = 'adam': allowed: sgd, adamw"),
    ({"batch_size": 0}, "TrainConfig.batch_size = 0: must be > 0"),
    ({"lr": "0.1"}, "TrainConfig.lr = '0.1': expected a finite number"),
    ({"warm_start": 1}, "TrainConfig.warm_start = 1: expected true or false"),
    ({"epochs": 2.5}, "TrainConfig.epochs = 2.5: expected a whole number"),
])
def test_the_python_api_checks_what_the_study_file_checks(kwargs, line):
    """`TrainConfig(optimizer="adam")` once trained SGD silently and `batch_size=0` divided by zero."""
    with pytest.raises(UsageError) as caught:
        TrainConfig(**kwargs)
    assert str(caught.value) == line
    assert TrainConfig(lr=1).lr == 1, "an int where a float is expected is a number"


def test_a_campaign_config_names_an_unknown_method_or_option():
    from alstudy.config import CampaignConfig

    with pytest.raises(UsageError, match=r"^CampaignConfig.method = 'nope': unknown method; choices: supervised"):
        CampaignConfig("digits", "random", method="nope")
    with pytest.raises(UsageError, match=r"^CampaignConfig.method_options.tau: method 'fixmatch' has no such"):
        CampaignConfig("digits", "random", method="fixmatch", method_options={"tau": 0.5})
    resolved = CampaignConfig("digits", "random", method="fixmatch", method_options={"threshold": 0.9})
    assert resolved.method_options["threshold"] == 0.9 and resolved.method_options["include_labeled"] is False
