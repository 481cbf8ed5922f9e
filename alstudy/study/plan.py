"""From a study to campaigns: cells, trial ids, the campaign config of one trial, the plan text.

One trial = one campaign. A tuning trial is one (Optuna trial, tuning seed) pair, so an Optuna
trial of a cell fans out to one campaign per tuning seed; an evaluation trial runs a cell's
best hyperparameters on one evaluation seed; an untuned trial runs the defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

from alstudy.config import CampaignConfig, TrainConfig
from alstudy.study.schema import Study

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

    @property
    def cell(self) -> tuple[str, str]:
        return self.dataset, self.strategy

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"params": dict(self.params)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CampaignSpec":
        return cls(**{k: d[k] for k in ("trial", "phase", "dataset", "strategy", "seed", "params", "number")})


def cells(study: Study) -> list[tuple[str, str]]:
    return [(d, s) for d in study.datasets for s in study.strategies]


def trial_id(phase: str, dataset: str, strategy: str, seed: int, number: int = -1) -> str:
    if phase == "tune":
        return f"tune-{dataset}-{strategy}-t{number:03d}-s{seed}"
    return f"{phase}-{dataset}-{strategy}-s{seed}"


def tune_spec(dataset: str, strategy: str, number: int, seed: int, params: Mapping[str, Any]) -> CampaignSpec:
    return CampaignSpec(trial_id("tune", dataset, strategy, seed, number), "tune", dataset, strategy,
                        seed, dict(params), number)


def eval_spec(phase: str, dataset: str, strategy: str, seed: int, params: Mapping[str, Any],
              number: int = -1) -> CampaignSpec:
    return CampaignSpec(trial_id(phase, dataset, strategy, seed), phase, dataset, strategy, seed,
                        dict(params), number)


def totals(study: Study) -> dict[str, int]:
    """Campaigns per phase."""
    n_cells = len(study.datasets) * len(study.strategies)
    out = {"tune": n_cells * study.tuning.trials * len(study.tuning.seeds),
           "eval": n_cells * len(study.evaluation.seeds)}
    if study.evaluation.untuned:
        out["untuned"] = n_cells * len(study.evaluation.seeds)
    return out


def _members(study: Study) -> dict[str, int]:
    """Models each strategy trains per cycle (its ensemble size, else 1)."""
    from alstudy.study.names import models_per_cycle

    return {s: models_per_cycle(s, study.strategy_options.get(s, {})) for s in study.strategies}


def training_runs(study: Study) -> dict[str, int]:
    """Model trainings per phase: campaigns x (cycles + 1) x models per cycle."""
    per_campaign = {"tune": study.tuning.trials * len(study.tuning.seeds), "eval": len(study.evaluation.seeds),
                    "untuned": len(study.evaluation.seeds) if study.evaluation.untuned else 0}
    members = _members(study)
    return {phase: sum(n * (study.setups[d].budget.cycles + 1) * members[s] for d, s in cells(study))
            for phase, n in per_campaign.items() if n}


def campaign_config(study: Study, spec: CampaignSpec) -> CampaignConfig:
    """The CampaignConfig of `spec`: the dataset's setup, fixed [train] values, then the params."""
    setup = study.setups[spec.dataset]
    train = TrainConfig.from_mapping({**setup.train, **spec.params}, where=f"trial {spec.trial}")
    return CampaignConfig(
        dataset=spec.dataset, strategy=spec.strategy, model=setup.model,
        model_options=dict(setup.model_options),
        strategy_options=dict(study.strategy_options.get(spec.strategy, {})),
        budget=setup.budget, train=train, data_root=study.data_root, deterministic=study.deterministic,
        splits=None if study.splits is None else study.splits.replace("{dataset}", spec.dataset))


def describe(study: Study, checks: list, *, resources_note: str = "") -> str:
    """The plan as text (what `alstudy validate` prints)."""
    t, e, r = study.tuning, study.evaluation, study.resources
    n = totals(study)
    lines = [f"study {study.name}: {_n(len(study.datasets), 'dataset')} x {_n(len(study.strategies), 'strategy')}"
             f" = {_n(len(cells(study)), 'cell')}"]
    lines.append(f"  strategies: {', '.join(study.strategies)}")
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
                 f"objective: validation AUBC (mean over tuning seeds)")
    lines.append(f"  TPE: seed {t.sampler_seed}, startup_trials {t.startup_trials}, multivariate "
                 f"{str(t.multivariate).lower()}, constant_liar {str(t.constant_liar).lower()}, "
                 f"max_parallel {t.max_parallel} per cell")
    for p in t.space:
        spec = (f"one of {list(p.choices)}" if p.kind == "choice" else
                f"{p.kind} in [{p.low}, {p.high}]{' log' if p.log else ''}{f' step {p.step}' if p.step else ''}")
        lines.append(f"  search {p.name}: {spec}")
    lines.append(f"evaluation: best params of each cell on seeds {list(e.seeds)}"
                 f"{'; untuned arm on' if e.untuned else ''}")
    runs = training_runs(study)
    lines.append(f"training runs: {sum(runs.values())} (a campaign trains once per cycle; an ensemble "
                 f"strategy trains its K members per cycle)" + "".join(
                     f"; {s} x{k}" for s, k in _members(study).items() if k > 1))
    phases = ", ".join(f"{k} {v}" for k, v in n.items())
    lines.append(f"campaigns: {phases}; total {sum(n.values())} "
                 f"({t.trials * len(t.seeds)} tuning campaigns per cell, equal for every strategy)")
    gpu = f", {r.gpu:g} GPU" if r.gpu else ", no GPU"
    limit = f", at most {r.max_concurrent} at once" if r.max_concurrent else ""
    lines.append(f"resources per trial: {r.cpu:g} CPU{gpu}{limit}{resources_note}")
    for check in checks:
        if check.note:
            lines.append(f"not checked: {check.note}")
    return "\n".join(lines)


def _n(count: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{count} {noun if count == 1 else plural}"
