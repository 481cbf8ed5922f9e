"""Training paradigms as a study axis: the study file, cells, trial ids, spaces, the results column.

What a user would notice: a study written before paradigms reads, hashes and names its trials
as before (its results store resumes); a study with paradigms tunes every (dataset, paradigm,
strategy) cell with the same budget, each over the shared space plus its method's knobs.
"""

from __future__ import annotations

import pytest

from alstudy.errors import UsageError
from alstudy.study import plan
from alstudy.study.results import rows
from alstudy.study.scheduler import Scheduler, cell_name
from alstudy.study.schema import load_study, parse_study
from alstudy.study.store import Store

# Written before paradigms existed; its fingerprint and trial ids then were these.
PINNED = """
name = "pinned"
datasets = ["digits", "wine"]
strategies = ["random", "entropy"]
[budget]
initial = 10
per_cycle = 10
cycles = 2
validation = 10
[train]
epochs = 5
[tuning]
trials = 2
seeds = [0]
[tuning.space]
lr = { low = 0.01, high = 0.1, log = true }
label_smoothing = [0.0, 0.1]
[evaluation]
seeds = [100]
"""

WITH_PARADIGMS = PINNED.replace('name = "pinned"', 'name = "paradigms"') + """
[paradigms]
plain = { method = "supervised", label_smoothing = 0.0 }
fixmatch = { method = "fixmatch", mu = 2, max_steps = 50 }
[tuning.space.fixmatch]
threshold = { low = 0.8, high = 0.99 }
"""


def study_of(text: str, tmp_path, name: str = "study.toml"):
    path = tmp_path / name
    path.write_text(text)
    return load_study(path)


def test_a_study_without_paradigms_is_what_it_was(tmp_path):
    study = study_of(PINNED, tmp_path)
    assert study.fingerprint() == "ed91d8a3f3951bf2"
    assert plan.cells(study) == [("digits", "random", None), ("digits", "entropy", None),
                                 ("wine", "random", None), ("wine", "entropy", None)]
    assert plan.trial_id("tune", "digits", "random", 0, 3) == "tune-digits-random-t003-s0"
    assert cell_name("digits", "random") == "digits/random"
    assert "paradigms" not in study.to_dict() and "method_space" not in study.to_dict()["tuning"]
    spec = plan.tune_spec("digits", "random", 0, 0, {"lr": 0.05})
    assert "paradigm" not in spec.to_dict()           # its logs' headers are unchanged too
    assert plan.campaign_config(study, spec).paradigm == "supervised"


def test_paradigms_make_cells_trial_ids_and_spaces(tmp_path):
    study = study_of(WITH_PARADIGMS, tmp_path)
    assert [p.name for p in study.paradigms] == ["plain", "fixmatch"]
    assert len(plan.cells(study)) == 2 * 2 * 2
    assert plan.totals(study) == {"tune": 8 * 2, "eval": 8}
    assert plan.trial_id("tune", "digits", "random", 0, 3, paradigm="fixmatch") == "tune-digits-fixmatch-random-t003-s0"
    assert cell_name("digits", "random", "fixmatch") == "digits/fixmatch/random"
    # the paradigm fixes label_smoothing: its cells do not search it; FixMatch cells add their knob
    assert [p.name for p in plan.cell_space(study, "plain")] == ["lr"]
    assert [p.name for p in plan.cell_space(study, "fixmatch")] == ["lr", "label_smoothing", "threshold"]
    assert study.fingerprint() != study_of(WITH_PARADIGMS.replace("mu = 2", "mu = 3"), tmp_path, "b.toml").fingerprint()
    spec = plan.tune_spec("digits", "random", 0, 0, {"lr": 0.05, "label_smoothing": 0.1, "threshold": 0.9},
                          paradigm="fixmatch")
    config = plan.campaign_config(study, spec)
    assert (config.paradigm, config.method) == ("fixmatch", "fixmatch")
    assert config.method_options["threshold"] == 0.9 and config.method_options["mu"] == 2
    assert config.method_options["lambda_u"] == 1.0          # defaults filled in
    assert config.train.lr == 0.05 and config.train.label_smoothing == 0.1 and config.train.epochs == 5
    assert plan.CampaignSpec.from_dict(spec.to_dict()) == spec
    text = plan.describe(study, [])
    assert "2 datasets x 2 paradigms x 2 strategies = 8 cells" in text
    assert "paradigm fixmatch (4 cells): method fixmatch" in text and "search threshold" in text


@pytest.mark.parametrize("extra, words", [
    ('[paradigms]\nx = { method = "simclr2" }', ["paradigms.x.method", "choices: supervised, fixmatch"]),
    ('[paradigms]\nx = { method = "fixmatch", tau = 0.9 }', ["paradigms.x.tau", "unknown key", "threshold"]),
    ('[paradigms]\nx = { method = "supervised", threshold = 0.9 }', ["paradigms.x.threshold", "unknown key"]),
    ('[paradigms]\nx = { method = "fixmatch", threshold = 1.5 }', ["paradigms.x.threshold", "must be in"]),
    ('[paradigms]\n"a-b" = { method = "fixmatch" }', ["paradigms.a-b", "letters, digits or '_'"]),
    ('[paradigms]\nx = { init = "imagenet" }', ["paradigms.x.init", "allowed: random"]),
    ('[tuning.space.fixmatch]\nthreshold = { low = 0.8, high = 0.99 }', ["tuning.space.fixmatch", "no paradigm uses"]),
])
def test_bad_paradigm_tables_name_the_key(tmp_path, extra, words):
    text = PINNED.replace("[evaluation]", extra + "\n[evaluation]") if extra.startswith("[tuning") else PINNED + extra
    with pytest.raises(UsageError) as err:
        study_of(text, tmp_path)
    line = str(err.value)
    assert "\n" not in line and all(w in line for w in words), line


def test_every_paradigm_cell_gets_the_same_trials_over_its_own_space(tmp_path):
    import optuna

    study = study_of(WITH_PARADIGMS, tmp_path)
    store = Store.open(str(tmp_path / "out"), study, "")
    scheduler = Scheduler.from_store(study, store)
    seen = []
    while (spec := scheduler.next()) is not None:
        seen.append(spec)
        store.record(spec, {"record": {"cycle": 0, "n_labeled": 10, "val_acc": 0.5, "test_acc": 0.5},
                            "chosen": None}, {"attempt": 0}, run=0, cycles_total=1)
        scheduler.complete(spec.trial, 0.5)
    for cell in plan.cells(study):
        tune = [s for s in seen if s.phase == "tune" and s.cell == cell]
        assert len(tune) == 2, cell
        trials = optuna.load_study(study_name=cell_name(*cell), storage=store.tuning_url).get_trials()
        assert {frozenset(t.params) for t in trials} == {frozenset(p.name for p in plan.cell_space(study, cell[2]))}
    assert seen[0].trial.startswith("tune-digits-plain-random-")
    assert sum(s.phase == "eval" for s in seen) == 8


def test_results_have_a_paradigm_column_old_logs_included(tmp_path):
    study = parse_study(__import__("tomllib").loads(PINNED))
    store = Store.open(str(tmp_path), study, "")
    old = plan.eval_spec("eval", "digits", "random", 100, {})
    new = plan.eval_spec("eval", "digits", "random", 100, {}, paradigm="fixmatch")
    for spec in (old, new):
        record = {"cycle": 0, "n_labeled": 10, "val_acc": 0.5, "test_acc": 0.5}   # no paradigm in it
        store.record(spec, {"record": record, "chosen": None},
                     {"attempt": 0, "code": "x", "host": "h", "device": "cpu", "gpu_ids": []}, run=0, cycles_total=1)
    by_trial = {row["trial"]: row["paradigm"] for row in rows("pinned", store.logs())}
    assert by_trial == {old.trial: "supervised", new.trial: "fixmatch"}


def test_the_shipped_paradigms_study_validates():
    from pathlib import Path

    study = load_study(Path(__file__).parents[2] / "studies" / "paradigms.toml")
    assert [p.name for p in study.paradigms] == ["supervised_plain", "supervised_aug", "fixmatch"]
    assert {"digits", "mnist1d"} == set(study.datasets)
    assert [p.name for p in plan.cell_space(study, "fixmatch")] == ["lr", "weight_decay", "threshold"]
    # FixMatch at strength (its defaults, no step cap), seeds spent adaptively up to 60
    assert dict(study.paradigms[2].options) == {} and study.evaluation.max_seeds == 60
