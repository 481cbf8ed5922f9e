"""UsageError, the one shape of bad input: a line built from its parts, re-placed without text edits."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_a_campaign_names_an_unknown_method_or_option_before_it_starts():
    from alstudy.campaign import checked, run_campaign
    from alstudy.config import CampaignConfig

    with pytest.raises(UsageError, match=r"^CampaignConfig.method = 'nope': unknown method; choices: supervised"):
        run_campaign(CampaignConfig("digits", "random", method="nope"), 0)
    with pytest.raises(UsageError, match=r"^CampaignConfig.method_options.tau: method 'fixmatch' has no such"):
        run_campaign(CampaignConfig("digits", "random", method="fixmatch", method_options={"tau": 0.5}), 0)
    resolved = checked(CampaignConfig("digits", "random", method="fixmatch", method_options={"threshold": 0.9}))
    assert resolved.method_options["threshold"] == 0.9 and resolved.method_options["include_labeled"] is False


_VALUES = st.one_of(st.integers(-3, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                    st.sampled_from(["sgd", "adamw", "adam", "cosine", "fixed", "plateau", "", "0.1"]), st.none())
_FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]


@settings(max_examples=300, deadline=None, database=None)
@given(values=st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=4))
def test_the_python_api_refuses_whatever_the_study_file_refuses(values):
    """Any keyword values: TrainConfig(**values) builds or says one line, and never accepts what the
    study file's reader (from_mapping, which also reads 5.0 as 5) refuses."""
    try:
        direct = TrainConfig(**values)
    except UsageError as err:
        assert "\n" not in str(err) and str(err).startswith("TrainConfig.")
        direct = None
    try:
        read = TrainConfig.from_mapping(values, where="train")
    except UsageError as err:
        assert direct is None, f"the Python API accepted {values}, the study file refuses: {err}"
        return
    assert direct is None or direct == read


@settings(max_examples=300, deadline=None, database=None)
@given(initial=st.one_of(st.integers(1, 10**4), st.floats(0.001, 0.999)),
       per_cycle=st.one_of(st.integers(1, 10**4), st.floats(0.001, 0.999)), cycles=st.integers(0, 40),
       validation=st.one_of(st.integers(0, 10**4), st.floats(0.0, 0.999)))
def test_a_budget_is_judged_by_what_it_says_never_by_a_placeholder_size(initial, per_cycle, cycles, validation):
    """Fractions that add up beyond the split once printed counts of 2^62 rows."""
    try:
        Budget(initial, per_cycle, cycles, validation).check()
    except UsageError as err:
        assert "\n" not in str(err) and not any(len(word) > 12 for word in str(err).split()), str(err)
