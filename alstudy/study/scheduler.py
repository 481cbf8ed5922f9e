"""Which campaign runs next: one Optuna study per (dataset, strategy) cell, multiplexed.

The scheduler knows nothing of Ray; the Ray searcher and the in-process runner both drive it
with `next()` / `complete()` / `fail()`. Its whole state is rebuilt from the results store,
so a rerun continues every cell's Optuna history where it stopped:

* proposals (params by Optuna trial number) are saved before their campaigns run;
* an Optuna trial whose campaigns all finished is re-added with its value; one that did not
  finish is re-asked with the same params and only its missing seeds run;
* each ask uses a TPE sampler seeded from (sampler seed, cell, trial number), so with
  `max_parallel = 1` a cell's proposals are the same whatever stopped or resumed the run.

Every cell gets exactly `trials` proposals (a failed campaign does not earn its cell another
one; the next run retries it), and a cell's evaluation starts only when all its tuning
campaigns have finished, so evaluation always uses the best of the full budget.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from alstudy.rng import derive_seed
from alstudy.study import plan
from alstudy.study.plan import CampaignSpec
from alstudy.study.schema import Study
from alstudy.study.store import Store

DONE = "done"   # returned by next() when nothing is left to run


@dataclass
class _Cell:
    optuna: Any                                            # optuna.Study (in memory)
    proposals: list[dict[str, Any]] = field(default_factory=list)
    live: set[int] = field(default_factory=set)            # asked, not yet told
    results: dict[int, dict[int, float | None]] = field(default_factory=dict)  # number -> seed -> value
    values: dict[int, float] = field(default_factory=dict)  # told values (complete trials)
    failed: set[int] = field(default_factory=set)
    evaluating: bool = False


class Scheduler:
    """Hands out campaigns in a fair order: unfinished seeds of asked trials and evaluations
    first, then new proposals round-robin over the cells, then the untuned arm."""

    def __init__(self, study: Study, store: Store):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.study, self.store = study, store
        self.totals = plan.totals(study)
        self._dists = {p.name: p.distribution() for p in study.tuning.space}
        self._queue: deque[CampaignSpec] = deque()
        self._filler: deque[CampaignSpec] = deque()
        self.running: dict[str, CampaignSpec] = {}
        self.done: dict[str, str] = {}        # trial -> phase
        self.failed: dict[str, CampaignSpec] = {}
        self._round = 0
        self._cells = {cell: _Cell(optuna.create_study(direction="maximize")) for cell in plan.cells(study)}
        self._rebuild()

    # -- the protocol ---------------------------------------------------------------------
    def next(self) -> CampaignSpec | str | None:
        """The next campaign to start, None when everything left waits on running ones, or DONE."""
        if not self._queue:
            self._ask_round_robin()
        source = self._queue or self._filler
        if source:
            spec = source.popleft()
            self.running[spec.trial] = spec
            return spec
        return None if self.running else DONE

    def complete(self, trial: str, objective: float) -> None:
        spec = self.running.pop(trial)
        self.done[trial] = spec.phase
        if spec.phase == "tune":
            self._resolve(spec, objective)

    def fail(self, trial: str) -> None:
        spec = self.running.pop(trial)
        self.failed[trial] = spec
        if spec.phase == "tune":
            self._resolve(spec, None)

    def best(self, dataset: str, strategy: str) -> tuple[int, float] | None:
        """(Optuna number, mean objective) of the cell's best finished trial; ties: lowest number."""
        values = self._cells[(dataset, strategy)].values
        if not values:
            return None
        number = max(values, key=lambda n: (values[n], -n))
        return number, values[number]

    def counts(self) -> dict[str, tuple[int, int, int]]:
        """Per phase: (done, running, total)."""
        out = {}
        for phase, total in self.totals.items():
            out[phase] = (sum(p == phase for p in self.done.values()),
                          sum(s.phase == phase for s in self.running.values()), total)
        return out

    def all_done(self) -> bool:
        return sum(d for d, _, _ in self.counts().values()) == sum(self.totals.values())

    def finished_trials(self, dataset: str, strategy: str) -> int:
        """Optuna trials of the cell with a value (all their tuning seeds finished)."""
        return len(self._cells[(dataset, strategy)].values)

    # -- internals ------------------------------------------------------------------------
    def _rebuild(self) -> None:
        import optuna

        files = {t["spec"]["trial"]: t for t in self.store.trials()}
        objective = {k: t["objective"] for k, t in files.items() if t.get("status") == "done"}
        self.done = {k: files[k]["spec"]["phase"] for k in objective}
        for (dataset, strategy), cell in self._cells.items():
            for number, params in enumerate(self.store.proposals(dataset, strategy)):
                cell.proposals.append(params)
                specs = [plan.tune_spec(dataset, strategy, number, s, params) for s in self.study.tuning.seeds]
                if all(s.trial in objective for s in specs):
                    value = fmean(objective[s.trial] for s in specs)
                    cell.optuna.add_trial(optuna.trial.create_trial(
                        params=params, distributions=self._dists, value=value))
                    cell.values[number] = value
                    continue
                cell.optuna.enqueue_trial(params)
                asked = cell.optuna.ask(self._dists)
                assert asked.number == number, (asked.number, number)
                cell.live.add(number)
                cell.results[number] = {s.seed: objective[s.trial] for s in specs if s.trial in objective}
                self._queue.extend(s for s in specs if s.trial not in objective)
            self._maybe_evaluate(dataset, strategy)
        if self.study.evaluation.untuned:
            for dataset, strategy in self._cells:
                for seed in self.study.evaluation.seeds:
                    spec = plan.eval_spec("untuned", dataset, strategy, seed, {})
                    if spec.trial not in self.done:
                        self._filler.append(spec)

    def _ask_round_robin(self) -> None:
        cells = list(self._cells)
        for i in range(len(cells)):
            key = cells[(self._round + i) % len(cells)]
            cell = self._cells[key]
            if len(cell.proposals) < self.study.tuning.trials and len(cell.live) < self.study.tuning.max_parallel:
                self._round = (self._round + i + 1) % len(cells)
                self._ask(*key)
                return

    def _ask(self, dataset: str, strategy: str) -> None:
        import optuna

        cell = self._cells[(dataset, strategy)]
        number = len(cell.proposals)
        t = self.study.tuning
        cell.optuna.sampler = optuna.samplers.TPESampler(
            seed=derive_seed(t.sampler_seed, f"tpe:{dataset}/{strategy}", number) % 2**32,
            n_startup_trials=t.startup_trials, multivariate=t.multivariate, constant_liar=t.constant_liar)
        asked = cell.optuna.ask(self._dists)
        assert asked.number == number, (asked.number, number)
        params = dict(asked.params)
        cell.proposals.append(params)
        cell.live.add(number)
        cell.results[number] = {}
        # Saved before anything runs: a rerun must re-run these params, not draw new ones.
        self.store.save_proposals(dataset, strategy, cell.proposals)
        self._queue.extend(plan.tune_spec(dataset, strategy, number, s, params) for s in t.seeds)

    def _resolve(self, spec: CampaignSpec, value: float | None) -> None:
        import optuna

        cell = self._cells[spec.cell]
        results = cell.results.setdefault(spec.number, {})
        results[spec.seed] = value
        if len(results) < len(self.study.tuning.seeds):
            return
        cell.live.discard(spec.number)
        if any(v is None for v in results.values()):
            cell.failed.add(spec.number)
            cell.optuna.tell(spec.number, state=optuna.trial.TrialState.FAIL)
        else:
            cell.values[spec.number] = fmean(results.values())
            cell.optuna.tell(spec.number, cell.values[spec.number])
        self._maybe_evaluate(*spec.cell)

    def _maybe_evaluate(self, dataset: str, strategy: str) -> None:
        cell = self._cells[(dataset, strategy)]
        complete = len(cell.values) == self.study.tuning.trials
        if cell.evaluating or not complete:
            return
        cell.evaluating = True
        number, _ = self.best(dataset, strategy)
        params = cell.proposals[number]
        for seed in self.study.evaluation.seeds:
            spec = plan.eval_spec("eval", dataset, strategy, seed, params, number)
            if spec.trial not in self.done:
                self._queue.append(spec)
