"""From a study to campaigns: cells, trial ids, the campaign config of one trial, the SimCLR
pretrainings its campaigns read, the plan text.

One trial = one campaign. A tuning trial is one (Optuna trial, tuning seed) pair, so an Optuna
trial of a cell fans out to one campaign per tuning seed; an evaluation trial runs a cell's
best hyperparameters on one evaluation seed; an untuned trial runs the defaults.

A cell is (dataset, strategy, paradigm). In a study without `[paradigms]` the paradigm is None
(the implicit supervised one) and trial ids read `tune-<dataset>-<strategy>-t000-s0` as they did
before paradigms; with paradigms they read `tune-<dataset>-<paradigm>-<strategy>-t000-s0`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from alstudy.config import CampaignConfig, TrainConfig
from alstudy.data import dataset_spec
from alstudy.metrics import METRIC_LABELS
from alstudy.sequential import ALPHA, BASELINE
from alstudy.study.catalog import models_per_cycle, trains_plainly
from alstudy.study.paradigms import IMPLICIT, Paradigm
from alstudy.study.pretrain_table import FOLDER
from alstudy.study.schema import Study
from alstudy.study.space import Param
from alstudy.training.methods import option_names, resolve_options
from alstudy.training.simclr_recipe import Job

Cell = tuple[str, str, "str | None"]    # (dataset, strategy, paradigm or None)

PHASES = ("tune", "eval", "untuned")


@dataclass(frozen=True)
class CampaignSpec:
    """One planned campaign (= one Ray Tune trial)."""

    trial: str                      # unique id, also the name of its results file
    phase: str                      # "tune", "eval" or "untuned"
    dataset: str
    strategy: str
    seed: int
    params: Mapping[str, Any] = field(default_factory=dict)   # searched hyperparameters
    number: int = -1                # Optuna trial number (tune: its own; eval: the best one)
    paradigm: str | None = None     # None: the study names no paradigms (implicit supervised)

    @property
    def cell(self) -> Cell:
        return self.dataset, self.strategy, self.paradigm

    @property
    def paradigm_name(self) -> str:
        """The paradigm as the results name it (`supervised` when the study names none)."""
        return self.paradigm or IMPLICIT

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self) | {"params": dict(self.params)}
        if self.paradigm is None:   # logs of a study without paradigms stay as they were
            d.pop("paradigm")
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CampaignSpec":
        return cls(**{k: d[k] for k in ("trial", "phase", "dataset", "strategy", "seed", "params", "number")},
                   paradigm=d.get("paradigm"))


def paradigm_keys(study: Study) -> tuple[str | None, ...]:
    """The paradigms of the study's cells: their names, or (None,) for the implicit one."""
    return tuple(p.name for p in study.paradigms) or (None,)


def paradigm_of(study: Study, key: str | None) -> Paradigm:
    """The Paradigm of a cell's paradigm key (the implicit supervised one for None)."""
    if key is None:
        return Paradigm(IMPLICIT)
    return next(p for p in study.paradigms if p.name == key)


def cells(study: Study) -> list[Cell]:
    return [(d, s, p) for d in study.datasets for p in paradigm_keys(study) for s in study.strategies]


def cell_space(study: Study, paradigm: str | None) -> tuple[Param, ...]:
    """What a cell of `paradigm` searches: the shared space and its method's knobs, less what
    the paradigm fixes."""
    par = paradigm_of(study, paradigm)
    own = study.tuning.method_space.get(par.method, ())
    return tuple(p for p in study.tuning.space + tuple(own) if p.name not in par.fixed())


def _cell_id(dataset: str, strategy: str, paradigm: str | None) -> str:
    """The cell's part of a trial id: `<dataset>-<strategy>`, or `<dataset>-<paradigm>-<strategy>`."""
    return f"{dataset}-{strategy}" if paradigm is None else f"{dataset}-{paradigm}-{strategy}"


def trial_id(phase: str, dataset: str, strategy: str, seed: int, number: int = -1, *,
             paradigm: str | None = None) -> str:
    if phase == "tune":
        return f"tune-{_cell_id(dataset, strategy, paradigm)}-t{number:03d}-s{seed}"
    return f"{phase}-{_cell_id(dataset, strategy, paradigm)}-s{seed}"


def tune_spec(dataset: str, strategy: str, number: int, seed: int, params: Mapping[str, Any], *,
              paradigm: str | None = None) -> CampaignSpec:
    return CampaignSpec(trial_id("tune", dataset, strategy, seed, number, paradigm=paradigm), "tune",
                        dataset, strategy, seed, dict(params), number, paradigm)


def eval_spec(phase: str, dataset: str, strategy: str, seed: int, params: Mapping[str, Any],
              number: int = -1, *, paradigm: str | None = None) -> CampaignSpec:
    return CampaignSpec(trial_id(phase, dataset, strategy, seed, paradigm=paradigm), phase, dataset,
                        strategy, seed, dict(params), number, paradigm)


def totals(study: Study) -> dict[str, int]:
    """Campaigns per phase (an adaptive evaluation: the worst case, every cell to max_seeds)."""
    n_cells = len(cells(study))
    out = {"tune": n_cells * study.tuning.trials * len(study.tuning.seeds),
           "eval": n_cells * len(study.evaluation.all_seeds)}
    if study.evaluation.untuned:
        out["untuned"] = n_cells * len(study.evaluation.seeds)
    return out


def tested_cells(study: Study) -> list[Cell]:
    """The cells an adaptive evaluation tests against their (dataset, paradigm)'s random."""
    return [c for c in cells(study) if c[1] != BASELINE]


def _members(study: Study) -> dict[str, int]:
    """Models each strategy trains per cycle (its ensemble size, else 1)."""
    return {s: models_per_cycle(s, study.strategy_options.get(s, {})) for s in study.strategies}


def training_runs(study: Study) -> dict[str, int]:
    """Model trainings per phase: campaigns x (cycles + 1) x models per cycle."""
    per_campaign = {"tune": study.tuning.trials * len(study.tuning.seeds), "eval": len(study.evaluation.all_seeds),
                    "untuned": len(study.evaluation.seeds) if study.evaluation.untuned else 0}
    members = _members(study)
    return {phase: sum(n * (study.setups[d].budget.cycles + 1) * members[s] for d, s, _ in cells(study))
            for phase, n in per_campaign.items() if n}


def keeps_cycle0(spec: CampaignSpec) -> bool:
    """Whether `spec`'s cycle 0 goes through the study's shared trainings (alstudy.training.shared):
    when it runs its cell's first proposal (Optuna trial 0: the untuned values, the same start for
    every cell of a paradigm, in tuning, or in evaluation where a cell kept them) or the untuned
    arm. Another proposal is its cell's own, so no other cell would load it: keeping it would only
    fill the disk (a ResNet-18 is 45 MB a training)."""
    return spec.phase == "untuned" or spec.number == 0


def shared_cycle0(study: Study) -> tuple[int, int]:
    """(fewest, most) cycle-0 trainings the study loads from another cell instead of running
    (alstudy.training.shared). On a seed, the cells of a (dataset, paradigm) whose strategies
    train plainly share cycle 0 when their settings agree: always at their first tuning proposal
    (the defaults, on every tuning seed) and in the untuned arm; on an evaluation seed, where
    their chosen settings agree (at most all of them). Campaigns that start one at once each run it."""
    plain = sum(trains_plainly(s, study.strategy_options.get(s, {})) for s in study.strategies)
    repeats = max(0, plain - 1) * len(study.datasets) * len(paradigm_keys(study))
    e = study.evaluation
    fewest = repeats * (len(study.tuning.seeds) + (len(e.seeds) if e.untuned else 0))
    return fewest, fewest + repeats * len(e.all_seeds)


def campaign_config(study: Study, spec: CampaignSpec) -> CampaignConfig:
    """The CampaignConfig of `spec`: the dataset's own recipe (DatasetSpec.recipe), the dataset's
    setup and fixed [train] values, the paradigm's fixed values and init, then the params
    (TrainConfig fields and the method's knobs), each over the one before. A
    SimCLR init's encoder is attached once it exists (alstudy.study.pretraining.attach)."""
    setup = study.setups[spec.dataset]
    par = paradigm_of(study, spec.paradigm)
    knobs = set(option_names(par.method))
    values = {**dict(dataset_spec(spec.dataset).recipe), **setup.train, **par.train,
              **{k: v for k, v in spec.params.items() if k not in knobs}}
    train = TrainConfig.from_mapping(values, where=f"trial {spec.trial}")
    options = resolve_options(par.method, {**par.options, **{k: v for k, v in spec.params.items() if k in knobs}},
                              where=f"trial {spec.trial}")
    return CampaignConfig(paradigm=spec.paradigm_name, method=par.method, method_options=options,
        dataset=spec.dataset, strategy=spec.strategy, model=setup.model,
        model_options=dict(setup.model_options),
        strategy_options=dict(study.strategy_options.get(spec.strategy, {})),
        budget=setup.budget, train=train, data_root=study.data_root, deterministic=study.deterministic,
        splits=None if study.splits is None else study.splits_path.replace("{dataset}", spec.dataset),
        init=par.campaign_init())


def untuned_values(study: Study, dataset: str, paradigm: str | None) -> dict[str, Any]:
    """The values of the cell's searched hyperparameters in the campaign it runs untuned (no params):
    the tuning's first proposal starts here, so "tuned" is never a different starting point from
    "untuned" (alstudy.study.space.start_point clips them into the space)."""
    config = campaign_config(study, eval_spec("untuned", dataset, study.strategies[0], 0, {}, paradigm=paradigm))
    return {p.name: config.method_options[p.name] if p.method else getattr(config.train, p.name)
            for p in cell_space(study, paradigm)}


def _metric_words(study: Study) -> str:
    """The metric every AUBC of the study is in: "accuracy", "mIoU", or each dataset's when they differ."""
    metrics = {d: METRIC_LABELS[dataset_spec(d).metric] for d in study.datasets}
    if len(set(metrics.values())) == 1:
        return next(iter(metrics.values()))
    return "each dataset's metric (" + ", ".join(f"{d}: {m}" for d, m in metrics.items()) + ")"


def describe(study: Study, checks: list, *, resources_note: str = "") -> str:
    """The plan as text (what `alstudy validate` prints)."""
    t, e, r = study.tuning, study.evaluation, study.resources
    n = totals(study)
    by = f" x {_n(len(study.paradigms), 'paradigm')}" if study.paradigms else ""
    lines = [f"study {study.name}: {_n(len(study.datasets), 'dataset')}{by} x {_n(len(study.strategies), 'strategy')}"
             f" = {_n(len(cells(study)), 'cell')}"]
    lines.append(f"  strategies: {', '.join(study.strategies)}")
    lines += _paradigm_lines(study)
    if study.pretrain:
        lines += _pretraining_lines(study)
    if study.splits is not None:
        lines.append(f"  splits: fixed, from {study.splits} (lSet.npy, uSet.npy, valSet.npy per seed)")
    for check in checks:
        s = study.setups[check.dataset]
        opts = ", ".join(f"{k}={v}" for k, v in s.model_options.items())
        b = check.budget
        size = (f"{b.initial} initial + {b.cycles} x {b.per_cycle} = {b.total} labels, "
                f"{b.validation} validation, pool {check.n_train}") if b else "budget not checked"
        lines.append(f"  {check.dataset}: model {s.model}{f' ({opts})' if opts else ''}; {size}")
        if s.train:
            lines.append(f"    fixed: {', '.join(f'{k}={v}' for k, v in s.train.items())}")
    lines.append(f"tuning: {_n(t.trials, 'Optuna trial')} per cell x {_n(len(t.seeds), 'tuning seed')} {list(t.seeds)}; "
                 f"objective: validation AUBC of {_metric_words(study)} (mean over tuning seeds)")
    if t.trials > 1:
        lines.append("  a challenger replaces the defaults only when it leads them by more than one standard "
                     "error over the tuning seeds (alstudy.selection)" if len(t.seeds) > 1 else
                     "  note: with one tuning seed the objective's noise cannot be measured, so each cell "
                     "evaluates its best trial by objective, as the papers tune on one split; list two tuning "
                     "seeds or more for the rule that keeps the defaults unless a challenger is clear of the noise")
    lines.append(f"  TPE: seed {t.sampler_seed}, startup_trials {t.startup_trials}, multivariate "
                 f"{str(t.multivariate).lower()}, constant_liar {str(t.constant_liar).lower()}, "
                 f"max_parallel {t.max_parallel} per cell")
    for method, params in [(None, t.space), *t.method_space.items()]:
        for p in params:
            spec = (f"one of {list(p.choices)}" if p.kind == "choice" else
                    f"{p.kind} in [{p.low}, {p.high}]{' log' if p.log else ''}{f' step {p.step}' if p.step else ''}")
            lines.append(f"  search {p.name}: {spec}{f' ({method} cells only)' if method else ''}")
    lines.append(f"evaluation: the chosen params of each cell on seeds {list(e.seeds)}"
                 f"{'; untuned arm on' if e.untuned else ''}")
    if e.adaptive:
        lines.append(f"  adaptive: seeds {list(e.seeds)} are round 1; after each round a cell decided against "
                     f"{BASELINE} (better / worse / equivalent within ±{e.margin:g}, anytime-valid t confidence "
                     f"sequence, alpha {ALPHA:g} / {len(tested_cells(study))} cells) stops, an undecided one "
                     f"runs the next {len(e.seeds)} seeds, up to {e.max_seeds}: {list(e.later)}; {BASELINE} "
                     f"runs every seed its cells need")
    runs = training_runs(study)
    most = " at most (every cell to max_seeds)" if e.adaptive else ""
    lines.append(f"training runs: {sum(runs.values())}{most} (a campaign trains once per cycle; an ensemble "
                 f"strategy trains its K members per cycle)" + "".join(
                     f"; {s} x{k}" for s, k in _members(study).items() if k > 1))
    fewest, most_shared = shared_cycle0(study)
    if most_shared:
        lines.append(f"  of these, {fewest} to {most_shared} are a cycle 0 another cell of the same paradigm and seed "
                     "trains with the same settings: loaded, not run (alstudy.training.shared)")
    phases = ", ".join(f"{k} {v}" for k, v in n.items())
    lines.append(f"campaigns: {phases}; total {sum(n.values())}{most} "
                 f"({t.trials * len(t.seeds)} tuning campaigns per cell, equal for every strategy)")
    gpu = f", {r.gpu:g} GPU" if r.gpu else ", no GPU"
    limit = f", at most {r.max_concurrent} at once" if r.max_concurrent else ""
    lines.append(f"resources per trial: {r.cpu:g} CPU{gpu}{limit}{resources_note}")
    for check in checks:
        if check.note:
            lines.append(f"not checked: {check.note}")
    return "\n".join(lines)


def _paradigm_lines(study: Study) -> list[str]:
    """One line per paradigm: its method, what it fixes, what its cells search."""
    out = []
    for par in study.paradigms:
        fixed = {**par.train, **par.options}
        space = ", ".join(p.name for p in cell_space(study, par.name))
        n = len(study.datasets) * len(study.strategies)
        init = f"{par.init} ({par.tune})" if par.init == "simclr" else par.init
        out.append(f"  paradigm {par.name} ({_n(n, 'cell')}): method {par.method}, init {init}"
                   f"{'; fixed ' + ', '.join(f'{k}={v}' for k, v in fixed.items()) if fixed else ''}"
                   f"; its cells search {space or 'nothing'}")
    return out


def _n(count: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{count} {noun if count == 1 else plural}"


# -- pretraining: what a study needs computed before its campaigns ------------------------------
def pretraining_job(study: Study, dataset: str, seed: int) -> Job:
    """The SimCLR pretraining that campaigns of `dataset` with `seed` read."""
    setup = study.setups[dataset]
    return Job(dataset, setup.model, dict(setup.model_options), study.pretrain[dataset], int(seed),
               data_root=study.data_root)


def pretraining_jobs(study: Study) -> list[Job]:
    """One pretraining per (dataset, seed) of the study's campaigns, when it uses pretraining."""
    if not study.pretrain:
        return []
    seeds = sorted(set(study.tuning.seeds) | set(study.evaluation.all_seeds))
    return [pretraining_job(study, ds, seed) for ds in study.datasets for seed in seeds]


def _pretraining_lines(study: Study) -> list[str]:
    """The plan's lines on pretraining (what `alstudy validate` prints)."""
    todo = pretraining_jobs(study)
    lines = [f"  pretraining: SimCLR once per (dataset, seed), before the campaigns: {len(todo)} encoders, "
             f"kept in the results store ({FOLDER}/)"]
    for ds, recipe in study.pretrain.items():
        lines.append(f"    {ds}: " + ", ".join(f"{k}={v}" for k, v in recipe.as_dict().items()))
    return lines
