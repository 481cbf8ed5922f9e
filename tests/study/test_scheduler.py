"""The scheduler with real Optuna and a real results store; campaign outcomes are stand-ins
(a known function of the hyperparameters) so that whole studies take milliseconds.

What a user would notice: every cell gets the same number of proposals, evaluation uses the
best of them on the evaluation seeds, and a study stopped anywhere and restarted proposes
exactly what an uninterrupted one does.
"""

from __future__ import annotations

import math

import pytest

from alstudy.config import Budget
from alstudy.study.plan import CampaignSpec
from alstudy.study.scheduler import Scheduler, cell_name
from alstudy.study.schema import DatasetSetup, Evaluation, Resources, Study, Tuning
from alstudy.study.space import Param
from alstudy.study.store import Store


def make_study(*, trials: int = 5, untuned: bool = False, max_parallel: int = 1) -> Study:
    setup = DatasetSetup(Budget(10, 5, 0, 5), "mlp", {}, {"epochs": 3})
    space = (Param("lr", "float", 1e-3, 0.3, log=True), Param("mixup", "choice", choices=(0.0, 0.2)))
    return Study(name="sched", datasets=("wine", "digits"), strategies=("random", "entropy", "margin"),
                 setups={"wine": setup, "digits": setup}, strategy_options={},
                 tuning=Tuning(trials=trials, seeds=(0, 1), space=space, startup_trials=2,
                               max_parallel=max_parallel),
                 evaluation=Evaluation(seeds=(100, 101, 102), untuned=untuned), resources=Resources())


def outcome(spec: CampaignSpec) -> float:
    """Stand-in validation AUBC: best near lr = 0.03, a little noise per seed and strategy."""
    lr = spec.params.get("lr", 0.05)
    return 0.9 - (math.log10(lr) + 1.5) ** 2 / 10 + 0.001 * spec.seed + 0.01 * len(spec.strategy)


def finish(store: Store, spec: CampaignSpec, value: float) -> None:
    """Log a one-cycle campaign whose validation accuracy (and so AUBC) is `value`."""
    record = {"cycle": 0, "n_labeled": 10, "val_acc": value, "test_acc": value}
    store.record(spec, {"record": record, "chosen": None}, {"attempt": 0}, run=0, cycles_total=1)


def scheduler_of(study: Study, store: Store, **kwargs) -> Scheduler:
    scheduler = Scheduler.from_store(study, store, **kwargs)
    scheduler.store = store   # for drive()
    return scheduler


def proposals(store: Store, cell: tuple[str, str]) -> list[dict]:
    """Params of the cell's Optuna trials, by number, as the study's Optuna storage holds them."""
    import optuna

    trials = optuna.load_study(study_name=cell_name(*cell), storage=store.tuning_url).get_trials()
    return [t.params for t in sorted(trials, key=lambda t: t.number)]


def drive(scheduler: Scheduler, *, stop_after: int | None = None, parallel: int = 3) -> list[CampaignSpec]:
    """Run the scheduler with `parallel` slots; stop (dropping what runs) after `stop_after` completions."""
    running, seen, finished = [], [], 0
    while True:
        while len(running) < parallel:
            spec = scheduler.next()
            if spec is None:
                break
            running.append(spec)
            seen.append(spec)
        if not running:
            assert scheduler.next() is None and not scheduler.running
            return seen
        spec = running.pop(0)
        finish(scheduler.store, spec, outcome(spec))
        scheduler.complete(spec.trial, outcome(spec))
        finished += 1
        if stop_after is not None and finished >= stop_after:
            return seen


def test_equal_budgets_and_evaluation_of_the_best(tmp_path):
    study = make_study()
    scheduler = scheduler_of(study, Store.open(str(tmp_path), study, ""))
    seen = drive(scheduler)
    tune = [s for s in seen if s.phase == "tune"]
    for cell in scheduler._cells:
        numbers = {s.number for s in tune if s.cell == cell}
        assert numbers == set(range(5)), cell
        assert sorted(s.seed for s in tune if s.cell == cell) == [0, 1] * 5 or \
            sorted(s.seed for s in tune if s.cell == cell) == [0] * 5 + [1] * 5
        evals = [s for s in seen if s.phase == "eval" and s.cell == cell]
        assert sorted(s.seed for s in evals) == [100, 101, 102]
        number, value = scheduler.best(*cell)
        assert {s.number for s in evals} == {number}
        assert all(s.params == proposals(scheduler.store, cell)[number] for s in evals)
        # every evaluation starts after the last tuning campaign of its cell
        assert seen.index(evals[0]) > max(seen.index(s) for s in tune if s.cell == cell)
    assert scheduler.counts() == {"tune": (60, 0, 60), "eval": (18, 0, 18)}


def test_stopped_and_restarted_study_proposes_the_same(tmp_path):
    study = make_study()
    store_a = Store.open(str(tmp_path / "a"), study, "")
    full = drive(scheduler_of(study, store_a))
    store = Store.open(str(tmp_path / "b"), study, "")
    for stop in (7, 20, 33):   # campaigns running at the stop are lost and must rerun
        drive(scheduler_of(study, store), stop_after=stop)
    drive(scheduler_of(study, store))
    cells = list(scheduler_of(study, store)._cells)
    assert {c: proposals(store_a, c) for c in cells} == {c: proposals(store, c) for c in cells}
    assert all(len(proposals(store, c)) == 5 for c in cells)
    done = [t for t, log in store.logs().items() if log.done]
    assert len(done) == len(set(done)) == len({s.trial for s in full}) == 78


def test_untuned_arm_fills_gaps_and_counts(tmp_path):
    study = make_study(trials=2, untuned=True)
    seen = drive(scheduler_of(study, Store.open(str(tmp_path), study, "")), parallel=2)
    untuned = [s for s in seen if s.phase == "untuned"]
    assert len(untuned) == 18 and all(s.params == {} for s in untuned)


@pytest.mark.parametrize("max_parallel", [1, 2])
def test_max_parallel_bounds_optuna_trials_in_flight_per_cell(tmp_path, max_parallel):
    study = make_study(max_parallel=max_parallel)
    scheduler = scheduler_of(study, Store.open(str(tmp_path), study, ""))
    handed = []
    while (spec := scheduler.next()) is not None:
        handed.append(spec)
    per_cell = {}
    for s in handed:
        per_cell.setdefault(s.cell, set()).add(s.number)
    assert all(len(n) == max_parallel for n in per_cell.values())
    assert len(handed) == 6 * max_parallel * 2   # 6 cells, two tuning seeds each


def test_failed_campaign_keeps_the_budget_and_blocks_evaluation(tmp_path):
    study = make_study(trials=2)
    store = Store.open(str(tmp_path), study, "")
    scheduler = scheduler_of(study, store)
    first = scheduler.next()
    assert scheduler.fail(first.trial) is False   # no retries in this run
    seen = drive(scheduler)
    cell_tune = [s for s in seen if s.cell == first.cell and s.phase == "tune"]
    assert {s.number for s in cell_tune} | {first.number} == {0, 1}   # no extra proposal
    assert not any(s.phase == "eval" and s.cell == first.cell for s in seen)
    assert scheduler.failed and not scheduler.all_done()
    rerun = drive(scheduler_of(study, store))   # the next run retries it, then evaluates the cell
    assert rerun[0].trial == first.trial
    assert sum(s.phase == "eval" and s.cell == first.cell for s in rerun) == 3


def test_a_failed_campaign_is_retried_first_while_retries_last(tmp_path):
    study = make_study(trials=1)
    scheduler = scheduler_of(study, Store.open(str(tmp_path), study, ""), retries=2)
    first = scheduler.next()
    assert scheduler.fail(first.trial) is True and scheduler.next() == first
    assert scheduler.fail(first.trial) is True and scheduler.next() == first
    assert scheduler.fail(first.trial) is False and first.trial in scheduler.failed


def test_every_cell_starts_from_the_defaults(tmp_path):
    from alstudy.config import TrainConfig

    study = make_study(trials=3)
    store = Store.open(str(tmp_path), study, "")
    drive(scheduler_of(study, store))
    for cell in scheduler_of(study, store)._cells:
        first, *rest = proposals(store, cell)
        assert first == {"lr": TrainConfig().lr, "mixup": TrainConfig().mixup}, cell
        assert all(p != first for p in rest)     # the sampler proposes the others


def test_the_first_proposal_is_what_the_cell_runs_untuned(tmp_path):
    """The study's [train] and a dataset's own [train] set lr: the tuning starts there, not at
    TrainConfig's default, so the kept-defaults rule compares against the untuned arm's run."""
    import dataclasses

    from alstudy.config import TrainConfig

    study = make_study(trials=2)
    wine = dataclasses.replace(study.setups["wine"], train={"epochs": 3, "lr": 0.02})
    digits = dataclasses.replace(study.setups["digits"], train={"epochs": 3, "lr": 0.5, "mixup": 0.2})
    study = dataclasses.replace(study, setups={"wine": wine, "digits": digits})
    assert TrainConfig().lr not in (0.02, 0.3)
    store = Store.open(str(tmp_path), study, "")
    drive(scheduler_of(study, store))
    firsts = {cell: proposals(store, cell)[0] for cell in scheduler_of(study, store)._cells}
    assert {c: f for c, f in firsts.items() if c[0] == "wine"} == {
        ("wine", s, None): {"lr": 0.02, "mixup": TrainConfig().mixup} for s in study.strategies}
    # 0.5 lies above the space's 0.3: clipped to its edge; the dataset's own mixup is kept
    assert {c: f for c, f in firsts.items() if c[0] == "digits"} == {
        ("digits", s, None): {"lr": 0.3, "mixup": 0.2} for s in study.strategies}


def test_defaults_are_brought_into_the_space():
    from alstudy.study.space import start_point

    space = (Param("lr", "float", 0.1, 0.3, log=True), Param("weight_decay", "float", 0.0, 1e-3, step=3e-4),
             Param("epochs", "int", 5, 20), Param("mixup", "choice", choices=(0.2, 0.4)),
             Param("label_smoothing", "choice", choices=(0.1, 0.0)))
    assert start_point(space) == pytest.approx({"lr": 0.1, "weight_decay": 6e-4, "epochs": 20, "mixup": 0.2,
                                                "label_smoothing": 0.0})


def test_a_stop_between_enqueueing_the_defaults_and_asking_keeps_the_proposals(tmp_path):
    import optuna

    from alstudy.study.space import start_point

    study = make_study(trials=3)
    store_a = Store.open(str(tmp_path / "a"), study, "")
    drive(scheduler_of(study, store_a))
    store = Store.open(str(tmp_path / "b"), study, "")
    Scheduler.from_store(study, store)   # creates the cells' Optuna studies
    for cell in scheduler_of(study, store)._cells:   # as if a run stopped right after enqueueing
        optuna.load_study(study_name=cell_name(*cell), storage=store.tuning_url).enqueue_trial(
            start_point(study.tuning.space))
    drive(scheduler_of(study, store))
    cells = list(scheduler_of(study, store)._cells)
    assert {c: proposals(store_a, c) for c in cells} == {c: proposals(store, c) for c in cells}


def test_an_ask_cut_short_by_a_kill_leaves_the_proposals_of_a_clean_run(tmp_path):
    import optuna

    study = make_study()
    clean = Store.open(str(tmp_path / "a"), study, "")
    drive(scheduler_of(study, clean))
    store = Store.open(str(tmp_path / "b"), study, "")
    drive(scheduler_of(study, store), stop_after=7)
    for cell in list(scheduler_of(study, store)._cells):     # as if SIGKILL hit mid-ask in every cell
        torn = optuna.load_study(study_name=cell_name(*cell), storage=store.tuning_url).ask()
        torn.suggest_float("lr", 1e-3, 0.3, log=True)         # one of its two params stored
    drive(scheduler_of(study, store))
    cells = list(scheduler_of(study, store)._cells)

    def valid(s: Store, cell) -> list[dict]:
        trials = optuna.load_study(study_name=cell_name(*cell), storage=s.tuning_url).get_trials()
        return [t.params for t in sorted(trials, key=lambda t: t.number) if t.state.name != "FAIL"]

    assert {c: valid(clean, c) for c in cells} == {c: valid(store, c) for c in cells}
    done = sorted(t for t, log in store.logs().items() if log.done)
    assert done == sorted(t for t, log in clean.logs().items() if log.done)   # same trial ids, t000..t004
