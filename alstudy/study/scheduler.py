"""Which campaign runs next: one Optuna study per (dataset, strategy, paradigm) cell, multiplexed.

The scheduler knows nothing of Ray; the Ray searcher and the in-process runner both drive it
with `next()` / `complete()` / `fail()`. The tuning state lives in Optuna's own storage
(`tuning.db` in the results store, one Optuna study per cell), so resuming the tuning is
Optuna's: a trial asked before a stop keeps its params in the storage and only its missing
seeds run again; a trial whose campaigns all finished is told its value. Each ask uses a TPE
sampler seeded from (sampler seed, cell, proposal index), so with `max_parallel = 1` a cell's
proposals are the same whatever stopped or resumed the run. Every cell's first proposal is the
values the cell runs untuned (`plan.untuned_values`: the study's [train] and the dataset's and
paradigm's overrides, brought into the space by `space.start_point`, enqueued in Optuna's
storage), so no cell's chosen configuration is worse on the tuning objective than its untuned run.

An adaptive evaluation (`[evaluation] max_seeds`) runs a cell's evaluation seeds in rounds: once
a cell and its (dataset, paradigm)'s random have finished every seed handed to the cell, its paired
test-AUBC differences go to the anytime-valid test of `alstudy.sequential` (alpha split over the
tested cells); a decided cell stops, an undecided one gets the next round until max_seeds, and
random runs every seed any of its cells was handed. Each decision is derived from the finished
campaigns alone, so a stopped and resumed run hands out the same rounds. The cap is no part of
the study's fingerprint: rerun with a higher max_seeds, the cells it stopped undecided get more
rounds; with a lower one, the cells stop there, and campaigns already run past it are kept (in
their logs and results.parquet) but take no part in the run or its verdicts.

Every cell gets exactly `trials` proposals (a failed campaign does not earn its cell another
one: it is retried, in this run up to `retries` times, else by the next run), and a cell's
evaluation starts only when all its tuning campaigns have finished, so evaluation always uses
the best of the full budget.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from dataclasses import dataclass, field
from math import nan
from typing import Any, Mapping

import optuna
import sqlalchemy.exc

from alstudy.errors import UsageError
from alstudy.metrics import objective, records_aubc
from alstudy.rng import derive_seed
from alstudy.selection import choose
from alstudy.sequential import ALPHA, BASELINE, decide
from alstudy.study import plan
from alstudy.study.plan import CampaignSpec
from alstudy.study.schema import Study
from alstudy.study.interrupt import shielded
from alstudy.study.space import start_point
from alstudy.files import set_aside


@dataclass
class _CellTuning:
    """The tuning state of one cell (a `plan.Cell`): its Optuna study and its trials so far."""

    optuna: Any                                            # optuna.Study on the study's storage
    params: dict[int, dict[str, Any]] = field(default_factory=dict)   # Optuna number -> params
    live: set[int] = field(default_factory=set)            # asked, not yet told
    results: dict[int, dict[int, float | None]] = field(default_factory=dict)  # number -> seed -> value
    values: dict[int, float] = field(default_factory=dict)  # told values (complete trials)
    evaluating: bool = False
    recomputing: set[str] = field(default_factory=set)     # told trials' campaigns running again
    optuna_number: dict[int, int] = field(default_factory=dict)   # proposal index -> Optuna trial number


def _or_nan(value: float | None) -> float:
    return nan if value is None else value


def cell_name(dataset: str, strategy: str, paradigm: str | None = None) -> str:
    """The name of a cell's Optuna study in the storage (with its paradigm when the study has paradigms)."""
    return f"{dataset}/{strategy}" if paradigm is None else f"{dataset}/{paradigm}/{strategy}"


def rebuild_tuning(study: Study, storage: Any, logs: Mapping[str, Any]) -> None:
    """Refill an empty Optuna storage from the campaign logs: every Optuna trial that started a
    campaign, with its params, in number order; told when all its tuning seeds finished."""
    for dataset, strategy, paradigm in plan.cells(study):
        dists = {p.name: p.distribution() for p in plan.cell_space(study, paradigm)}
        tuned = [log for log in logs.values() if log.spec.phase == "tune"
                 and log.spec.cell == (dataset, strategy, paradigm)]
        ostudy = optuna.create_study(storage=storage, study_name=cell_name(dataset, strategy, paradigm),
                                     direction="maximize", load_if_exists=True)
        for number in range(1 + max((log.spec.number for log in tuned), default=-1)):
            runs = [log for log in tuned if log.spec.number == number]
            if not runs:
                raise UsageError(f"cannot rebuild the tuning of {cell_name(dataset, strategy, paradigm)}: "
                                 f"its proposal {number} left no campaign log; move the results folder away "
                                 "to start over")
            params = dict(runs[0].spec.params)
            if len(runs) == len(study.tuning.seeds) and all(log.done for log in runs):
                ostudy.add_trial(optuna.trial.create_trial(
                    params=params, distributions=dists,
                    value=objective(records_aubc(log.records) for log in runs)))
            else:
                ostudy.enqueue_trial(params)
                ostudy.ask(dists)


def _damage(db: str) -> str | None:
    """What is wrong with the SQLite file `db` that campaign logs say holds a tuning: missing,
    empty, or failing SQLite's own check (a file cut short can still open, its last pages
    read as zeros); None when it is whole."""
    import sqlite3

    if not os.path.exists(db) or os.path.getsize(db) == 0:
        return "is missing or empty"
    try:
        with contextlib.closing(sqlite3.connect(db)) as con:
            found = [row[0] for row in con.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as err:
        return f"was damaged ({err})"
    return None if found == ["ok"] else f"was damaged ({found[0].splitlines()[-1][:100]})"


class Scheduler:
    """Hands out campaigns in a fair order: unfinished seeds of asked trials and evaluations
    first, then new proposals round-robin over the cells, then the untuned arm.

    `finished`: (phase, objective) of every campaign already finished, by trial id (the
    objective is its validation AUBC);
    `storage`: the Optuna storage holding the cells' studies (created when absent)."""

    def __init__(self, study: Study, storage: Any, finished: Mapping[str, tuple[str, float]], *,
                 retries: int = 0, tested: Mapping[str, float] | None = None):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study, self.retries = study, retries
        self._totals = plan.totals(study)
        self._tests: dict[str, float] = dict(tested or {})   # trial -> test AUBC of finished eval campaigns
        self.handed: dict[plan.Cell, int] = {}    # adaptive: evaluation seeds handed to a cell (a prefix of all_seeds)
        self.stopped: dict[plan.Cell, str] = {}   # adaptive: "decided" or "max_seeds"
        self.verdicts: dict[plan.Cell, tuple[str, int]] = {}   # adaptive, stopped cells: (verdict, seeds used)
        self._queued: set[str] = set()            # evaluation campaigns put in line by this run
        self._dists = {par: {p.name: p.distribution() for p in plan.cell_space(study, par)}
                       for par in plan.paradigm_keys(study)}
        self._queue: deque[CampaignSpec] = deque()
        self._untuned: deque[CampaignSpec] = deque()   # the untuned arm: handed out when _queue is empty
        self.running: dict[str, CampaignSpec] = {}
        self.done: dict[str, str] = {}        # trial -> phase
        self.failed: dict[str, CampaignSpec] = {}
        self._tries: dict[str, int] = {}      # failures of a trial in this run
        self.recomputed: list[str] = []       # tuning campaigns of told trials whose log is not finished
        self._round = 0
        self._cells = {cell: _CellTuning(optuna.create_study(storage=storage, study_name=cell_name(*cell),
                                                       direction="maximize", load_if_exists=True))
                       for cell in plan.cells(study)}
        self._resume(dict(finished))

    @classmethod
    def from_store(cls, study: Study, store, *, retries: int = 0) -> "Scheduler":
        """The scheduler of a study's results store: finished campaigns from their logs, the
        tuning from the store's Optuna storage (rebuilt from the logs when it is damaged, or
        missing while logs exist). A campaign that a previous run finished but whose log is now
        missing or short runs again, with one note saying so.

        Evaluation campaigns on seeds past the cap (`max_seeds` lowered after they ran) are no part
        of this run: their logs and rows stay, and a raised cap uses them again."""
        logs = store.logs()
        past = {t for t, log in logs.items() if log.spec.phase == "eval"
                and log.spec.seed not in study.evaluation.all_seeds}
        logs = {t: log for t, log in logs.items() if t not in past}
        finished = {t: (log.spec.phase, records_aubc(log.records)) for t, log in logs.items() if log.done}
        tested = {t: records_aubc(log.records, "test") for t, log in logs.items()
                  if log.done and log.spec.phase == "eval"}
        db = store.path("tuning.db")
        problem = _damage(db) if any(log.spec.phase == "tune" for log in logs.values()) else None
        if problem:
            moved = f"; set aside as {os.path.basename(set_aside(db))}" if os.path.exists(db) else ""
            rebuild_tuning(study, store.tuning_url, logs)
            store.notes.append(f"{db} {problem}{moved}: rebuilt from the campaign logs")
        try:
            scheduler = cls(study, store.tuning_url, finished, retries=retries, tested=tested)
        except sqlalchemy.exc.DatabaseError as err:   # not a database any more (cut short, overwritten)
            moved = set_aside(db)
            rebuild_tuning(study, store.tuning_url, logs)
            store.notes.append(f"{db} was damaged ({type(err).__name__}); set aside as "
                               f"{os.path.basename(moved)} and rebuilt from the campaign logs")
            scheduler = cls(study, store.tuning_url, finished, retries=retries, tested=tested)
        listed = store.listed_trials()
        for trial in sorted((set(scheduler.recomputed) | listed) - set(finished) - store.damaged - past):
            log = logs.get(trial)
            where = "tuning.db" if trial in scheduler.recomputed else "results.parquet"
            what = "is missing" if log is None else f"holds {len(log.lines)} of its {log.cycles_total} cycles"
            store.notes.append(f"{store.path('trials', trial + '.jsonl')} {what}, though {where} counts the "
                               "campaign as finished: it runs again (same settings, same seed)")
        return scheduler

    # -- the protocol ---------------------------------------------------------------------
    def next(self) -> CampaignSpec | None:
        """The next campaign to start, or None when none can start now: everything left waits
        on the running campaigns, or (when none is running) nothing is left."""
        if not self._queue:
            self._ask_round_robin()
        source = self._queue or self._untuned
        if not source:
            return None
        spec = source.popleft()
        self.running[spec.trial] = spec
        return spec

    def complete(self, trial: str, value: float, *, test: float | None = None) -> None:
        """A campaign finished with objective `value` (its validation AUBC) and test AUBC `test`
        (which an adaptive evaluation needs of its evaluation campaigns)."""
        spec = self.running.pop(trial)
        self.done[trial] = spec.phase
        if spec.phase == "tune":
            self._resolve(spec, value)
        elif spec.phase == "eval" and self.study.evaluation.adaptive:
            if test is None:
                raise ValueError(f"{trial}: an adaptive evaluation needs the test AUBC of each evaluation campaign")
            self._tests[trial] = test
            self._review(spec.dataset, spec.paradigm)

    def fail(self, trial: str) -> bool:
        """A campaign failed. True when it goes back in line (it resumes from its last cycle);
        False when its retries in this run are spent (the next run retries it)."""
        spec = self.running.pop(trial)
        self._tries[trial] = self._tries.get(trial, 0) + 1
        if self._tries[trial] <= self.retries:
            self._queue.appendleft(spec)
            return True
        self.failed[trial] = spec
        if spec.phase == "tune":
            self._resolve(spec, None)
        return False

    def best(self, dataset: str, strategy: str, paradigm: str | None = None) -> tuple[int, float] | None:
        """(proposal index, mean objective) of the cell's chosen finished trial: the defaults (its
        first proposal) unless a challenger leads them clear of the noise (`selection.choose` on
        the per-seed objectives)."""
        cell = self._cells[(dataset, strategy, paradigm)]
        if not cell.values:
            return None
        numbers = sorted(set(cell.values) | {0})   # row 0: the defaults, NaN until they finished
        table = [[_or_nan(cell.results[n].get(s)) if n in cell.values else nan for s in self.study.tuning.seeds]
                 for n in numbers]
        number = numbers[choose(table).chosen]
        if number not in cell.values:   # no per-seed objectives (their logs were lost): the best mean
            number = max(cell.values, key=lambda n: (cell.values[n], -n))
        return number, cell.values[number]

    @property
    def totals(self) -> dict[str, int]:
        """Campaigns per phase; an adaptive evaluation counts the seeds handed out so far (a cell
        not yet evaluating: its first round)."""
        e = self.study.evaluation
        if not e.adaptive:
            return self._totals
        per_cell = {cell: self.handed.get(cell, len(e.seeds)) for cell in self._cells}
        for dataset, strategy, paradigm in self._cells:
            if strategy == BASELINE:
                per_cell[(dataset, strategy, paradigm)] = self._random_needs(dataset, paradigm)
        return self._totals | {"eval": sum(per_cell.values())}

    def counts(self) -> dict[str, tuple[int, int, int]]:
        """Per phase: (done, running, total)."""
        out = {}
        for phase, total in self.totals.items():
            out[phase] = (sum(p == phase for p in self.done.values()),
                          sum(s.phase == phase for s in self.running.values()), total)
        return out

    def all_done(self) -> bool:
        return sum(d for d, _, _ in self.counts().values()) == sum(self.totals.values())

    def finished_trials(self, dataset: str, strategy: str, paradigm: str | None = None) -> int:
        """Optuna trials of the cell with a value (all their tuning seeds finished)."""
        return len(self._cells[(dataset, strategy, paradigm)].values)

    # -- internals ------------------------------------------------------------------------
    def _resume(self, finished: dict[str, tuple[str, float]]) -> None:
        self.done = {t: phase for t, (phase, _) in finished.items()}
        for (dataset, strategy, paradigm), cell in self._cells.items():
            for trial in sorted(cell.optuna.get_trials(deepcopy=False), key=lambda x: x.number):
                if trial.state == optuna.trial.TrialState.WAITING:
                    continue   # the defaults, enqueued just before a stop: the next ask takes them
                if trial.state == optuna.trial.TrialState.FAIL or set(trial.params) != set(self._dists[paradigm]):
                    # An ask cut short by a SIGKILL (part of its params stored): it ran nothing.
                    # It takes no proposal index, so the next ask is the one a clean run made.
                    if trial.state != optuna.trial.TrialState.FAIL:
                        cell.optuna.tell(trial.number, state=optuna.trial.TrialState.FAIL)
                    continue
                index = len(cell.params)
                cell.optuna_number[index] = trial.number
                cell.params[index] = dict(trial.params)
                specs = [plan.tune_spec(dataset, strategy, index, s, trial.params, paradigm=paradigm)
                         for s in self.study.tuning.seeds]
                if trial.state == optuna.trial.TrialState.COMPLETE:
                    # Told: its value stands. A campaign of it whose log was lost or cut short
                    # runs again (same params, same seed), so its rows are never dropped.
                    cell.values[index] = float(trial.value)
                    cell.results[index] = {s.seed: finished[s.trial][1] for s in specs if s.trial in finished}
                    lost = [spec for spec in specs if spec.trial not in finished]
                    self._queue.extend(lost)
                    self.recomputed.extend(spec.trial for spec in lost)
                    cell.recomputing.update(spec.trial for spec in lost)
                    continue
                # Asked before the last stop: its params stand; run only its missing seeds.
                cell.live.add(index)
                cell.results[index] = {}
                for spec in specs:
                    if spec.trial in finished:
                        self._record(cell, spec, finished[spec.trial][1])
                    else:
                        self._queue.append(spec)
            self._maybe_evaluate(dataset, strategy, paradigm)
        for dataset, paradigm in dict.fromkeys((d, p) for d, _, p in self._cells):
            self._review(dataset, paradigm)
        if self.study.evaluation.untuned:
            for dataset, strategy, paradigm in self._cells:
                for seed in self.study.evaluation.seeds:
                    spec = plan.eval_spec("untuned", dataset, strategy, seed, {}, paradigm=paradigm)
                    if spec.trial not in self.done:
                        self._untuned.append(spec)

    def _ask_round_robin(self) -> None:
        cells = list(self._cells)
        for i in range(len(cells)):
            key = cells[(self._round + i) % len(cells)]
            cell = self._cells[key]
            if len(cell.params) < self.study.tuning.trials and len(cell.live) < self.study.tuning.max_parallel:
                self._round = (self._round + i + 1) % len(cells)
                self._ask(*key)
                return

    def _ask(self, dataset: str, strategy: str, paradigm: str | None) -> None:
        cell = self._cells[(dataset, strategy, paradigm)]
        number = len(cell.params)   # the proposal index: trial ids, sampler seeds and the budget count these
        t = self.study.tuning
        cell.optuna.sampler = optuna.samplers.TPESampler(
            seed=derive_seed(t.sampler_seed, f"tpe:{cell_name(dataset, strategy, paradigm)}", number) % 2**32,
            n_startup_trials=t.startup_trials, multivariate=t.multivariate, constant_liar=t.constant_liar)
        with shielded():   # Ctrl-C or SIGTERM never leave a trial with half its params
            if number == 0 and all(x.state == optuna.trial.TrialState.FAIL
                                   for x in cell.optuna.get_trials(deepcopy=False)):
                # Tuning starts from the defaults: the best of the budget is then never worse than
                # them on the objective. Enqueued in the storage, so a resumed run asks the same.
                cell.optuna.enqueue_trial(start_point(plan.cell_space(self.study, paradigm),
                                                      plan.untuned_values(self.study, dataset, paradigm)))
            asked = cell.optuna.ask(self._dists[paradigm])   # in the storage before anything runs
        cell.optuna_number[number] = asked.number
        cell.params[number] = dict(asked.params)
        cell.live.add(number)
        cell.results[number] = {}
        self._queue.extend(plan.tune_spec(dataset, strategy, number, s, asked.params, paradigm=paradigm)
                           for s in t.seeds)

    def _resolve(self, spec: CampaignSpec, value: float | None) -> None:
        cell = self._cells[spec.cell]
        self._record(cell, spec, value)
        self._maybe_evaluate(*spec.cell)

    def _record(self, cell: _CellTuning, spec: CampaignSpec, value: float | None) -> None:
        """One tuning campaign's objective; tell Optuna once all seeds of its trial finished.
        A trial with a failed campaign stays open in the storage, so a later run completes it."""
        results = cell.results.setdefault(spec.number, {})
        results[spec.seed] = value
        cell.recomputing.discard(spec.trial)
        if spec.number in cell.values and spec.number not in cell.live:
            return   # told before this run: a campaign run again after its log was lost
        if len(results) < len(self.study.tuning.seeds):
            return
        cell.live.discard(spec.number)
        if all(v is not None for v in results.values()):
            cell.values[spec.number] = objective(results.values())
            cell.optuna.tell(cell.optuna_number[spec.number], cell.values[spec.number])

    def _maybe_evaluate(self, dataset: str, strategy: str, paradigm: str | None) -> None:
        cell = self._cells[(dataset, strategy, paradigm)]
        complete = len(cell.values) == self.study.tuning.trials
        if cell.evaluating or not complete or cell.recomputing:
            return   # the choice waits for every per-seed objective, as in a run that lost no log
        cell.evaluating = True
        if not self.study.evaluation.adaptive:
            self._hand_out((dataset, strategy, paradigm), self.study.evaluation.seeds)
            return
        if strategy == BASELINE:
            self._hand_out_random(dataset, paradigm)
        else:
            self.handed[(dataset, strategy, paradigm)] = len(self.study.evaluation.seeds)
            self._hand_out((dataset, strategy, paradigm), self.study.evaluation.seeds)
            self._hand_out_random(dataset, paradigm)

    def _eval_spec(self, cell: plan.Cell, seed: int) -> CampaignSpec:
        dataset, strategy, paradigm = cell
        number, _ = self.best(dataset, strategy, paradigm)
        return plan.eval_spec("eval", dataset, strategy, seed, self._cells[cell].params[number], number,
                              paradigm=paradigm)

    def _hand_out(self, cell: plan.Cell, seeds: tuple[int, ...]) -> None:
        """Put in line the evaluation campaigns of `cell` on `seeds` that neither finished nor wait."""
        for seed in seeds:
            spec = self._eval_spec(cell, seed)
            if spec.trial not in self.done and spec.trial not in self._queued:
                self._queued.add(spec.trial)
                self._queue.append(spec)

    # -- adaptive evaluation ----------------------------------------------------------------
    def _group(self, dataset: str, paradigm: str | None) -> list[plan.Cell]:
        return [c for c in self._cells if c[0] == dataset and c[2] == paradigm and c[1] != BASELINE]

    def _random_needs(self, dataset: str, paradigm: str | None) -> int:
        """Seeds (a prefix of all_seeds) random runs in a (dataset, paradigm): every seed handed to its cells."""
        return max([len(self.study.evaluation.seeds)] + [self.handed.get(c, 0) for c in self._group(dataset, paradigm)])

    def _hand_out_random(self, dataset: str, paradigm: str | None) -> None:
        cell = (dataset, BASELINE, paradigm)
        if cell in self._cells and self._cells[cell].evaluating:
            self._hand_out(cell, self.study.evaluation.all_seeds[:self._random_needs(dataset, paradigm)])

    def _review(self, dataset: str, paradigm: str | None) -> None:
        """Test every cell of (dataset, paradigm) whose handed seeds all finished, for it and for
        random; a decided cell (or one at max_seeds) stops, an undecided one gets the next round."""
        e = self.study.evaluation
        if not e.adaptive:
            return
        random = (dataset, BASELINE, paradigm)
        alpha = ALPHA / len(plan.tested_cells(self.study))
        for cell in self._group(dataset, paradigm):
            while cell in self.handed and cell not in self.stopped:
                n = self.handed[cell]
                seeds = e.all_seeds[:n]
                ids = [(plan.trial_id("eval", cell[0], cell[1], s, paradigm=paradigm),
                        plan.trial_id("eval", dataset, BASELINE, s, paradigm=paradigm)) for s in seeds]
                if not all(a in self._tests and b in self._tests for a, b in ids):
                    break   # waits on its own seeds or on random's
                diffs = [self._tests[a] - self._tests[b] for a, b in ids]
                verdict = decide(diffs, margin=e.margin, alpha=alpha, rounds=e.rounds(n)).decision
                if verdict != "undecided":
                    self.stopped[cell], self.verdicts[cell] = "decided", (verdict, n)
                elif n >= len(e.all_seeds):
                    self.stopped[cell], self.verdicts[cell] = "max_seeds", (verdict, n)
                else:
                    self.handed[cell] = min(n + len(e.seeds), len(e.all_seeds))
                    self._hand_out(cell, e.all_seeds[n:self.handed[cell]])
        if random in self._cells:
            self._hand_out_random(dataset, paradigm)
