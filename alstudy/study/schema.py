"""The study file: TOML in, a validated frozen `Study` out.

`load_study(path)` checks every key and value before anything runs (one UsageError line per
problem, prefixed with the file). Checks that need a dataset's size, a model's constructor
or a strategy's options live in `alstudy.study.checks`; this module checks the shape, the
types and the names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass
from typing import Any, Mapping

from alstudy.config import Budget, TrainConfig
from alstudy.errors import UsageError
from alstudy.study import fields, registries
from alstudy.study.space import Param, parse_space

_TOP = ("name", "description", "datasets", "strategies", "data_root", "deterministic",
        "budget", "model", "train", "strategy_options", "tuning", "evaluation", "resources")
_BUDGET = ("initial", "per_cycle", "cycles", "validation")
_TUNING = ("trials", "seeds", "space", "sampler_seed", "startup_trials", "multivariate",
           "constant_liar", "max_parallel")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class DatasetSetup:
    """What one dataset's campaigns share: budget, model and fixed hyperparameters."""

    budget: Budget
    model: str
    model_options: Mapping[str, Any]
    train: Mapping[str, Any]          # fixed TrainConfig values ([train] + [train.<dataset>])


@dataclass(frozen=True)
class Tuning:
    """Equal tuning budget for every (dataset, strategy) cell; TPE options are explicit."""

    trials: int
    seeds: tuple[int, ...]
    space: tuple[Param, ...]
    sampler_seed: int = 0
    startup_trials: int = 10          # random trials before TPE takes over
    multivariate: bool = True
    constant_liar: bool = True
    max_parallel: int = 1             # Optuna trials of one cell in flight at once


@dataclass(frozen=True)
class Evaluation:
    seeds: tuple[int, ...]
    untuned: bool = False             # also run every strategy with the untuned defaults


@dataclass(frozen=True)
class Resources:
    """Ray resources of one trial (= one campaign)."""

    cpu: float = 1
    gpu: float = 0                    # 0, a fraction in (0, 1], or whole GPUs
    max_concurrent: int | None = None


@dataclass(frozen=True)
class Study:
    name: str
    datasets: tuple[str, ...]
    strategies: tuple[str, ...]
    setups: Mapping[str, DatasetSetup]
    strategy_options: Mapping[str, Mapping[str, Any]]
    tuning: Tuning
    evaluation: Evaluation
    resources: Resources
    data_root: str | None = None
    deterministic: bool = True
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The resolved study (defaults filled in), JSON-friendly."""
        d = dataclasses.asdict(self)
        d["tuning"]["space"] = {p.name: p.as_dict() for p in self.tuning.space}
        return json.loads(json.dumps(d))

    def fingerprint(self) -> str:
        """Hash of everything that decides results (resources may change between runs)."""
        d = self.to_dict()
        d.pop("resources")
        d.pop("description")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def load_study(path: str | os.PathLike) -> Study:
    """Read and validate the study file at `path`; UsageError (prefixed with the path) otherwise."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such study file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, expected a study file (.toml)") from None
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: not valid TOML: {err}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not valid TOML: not UTF-8 text") from None
    try:
        return parse_study(raw)
    except UsageError as err:
        raise UsageError(f"{path}: {err}") from None


def parse_study(raw: Mapping[str, Any]) -> Study:
    """Validate a parsed study file (shape, types and names)."""
    fields.check_keys(raw, _TOP, "")
    name = fields.string(raw, "name", "")
    if not _NAME.match(name):
        raise UsageError(f"name = {name!r}: use letters, digits, '_', '-' or '.' (it names the results folder)")
    datasets = fields.names(raw, "datasets", "", choices=registries.dataset_names())
    strategies = fields.names(raw, "strategies", "", choices=registries.strategy_names())
    data_root = fields.string(raw, "data_root", "", default=None)
    tuning = _tuning(fields.table(raw, "tuning", ""))
    train = fields.table(raw, "train", "")
    setups = {ds: DatasetSetup(_budget(raw, ds, datasets), *_model(raw, ds, datasets),
                               _train(train, ds, datasets, tuning.space)) for ds in datasets}
    evaluation = _evaluation(fields.table(raw, "evaluation", ""), tuning.seeds)
    return Study(
        name=name, datasets=datasets, strategies=strategies, setups=setups,
        strategy_options=_strategy_options(fields.table(raw, "strategy_options", ""), strategies),
        tuning=tuning, evaluation=evaluation, resources=_resources(fields.table(raw, "resources", "")),
        data_root=data_root, deterministic=fields.boolean(raw, "deterministic", "", default=True),
        description=fields.string(raw, "description", "", default=""))


def _per_dataset(tbl: Mapping[str, Any], own: tuple[str, ...], where: str, datasets: tuple[str, ...]) -> None:
    """Keys of `tbl` are its own keys or sub-tables named after a dataset of the study."""
    for key, value in tbl.items():
        if key in own:
            continue
        if key in datasets and isinstance(value, dict):
            continue
        if key in registries.dataset_names():
            raise UsageError(f"{where}.{key}: {key!r} is not a dataset of this study "
                             f"(datasets: {', '.join(datasets)})")
        fields.check_keys({key: value}, own, where, extra=[f"[{where}.<dataset>]"])


def _budget(raw: Mapping[str, Any], dataset: str, datasets: tuple[str, ...]) -> Budget:
    tbl = fields.table(raw, "budget", "")
    _per_dataset(tbl, _BUDGET, "budget", datasets)
    own = fields.table(tbl, dataset, "budget")
    fields.check_keys(own, _BUDGET, f"budget.{dataset}")
    values = {k: v for k, v in tbl.items() if k in _BUDGET} | own
    budget = Budget(**values)
    where = f"budget.{dataset}" if own else "budget"
    try:
        budget.resolve(2**62)  # types and signs now; sizes once the dataset is known (checks.py)
    except UsageError as err:
        raise UsageError(str(err).replace("budget.", f"{where}.", 1)) from None
    return budget


def _model(raw: Mapping[str, Any], dataset: str, datasets: tuple[str, ...]) -> tuple[str, dict]:
    tbl = fields.table(raw, "model", "")
    _per_dataset(tbl, ("name", "options"), "model", datasets)
    own = fields.table(tbl, dataset, "model")
    fields.check_keys(own, ("name", "options"), f"model.{dataset}")
    choices = registries.model_names()
    default = registries.default_model(dataset)
    name = fields.string(tbl, "name", "model", default=default)
    if "name" in own:
        name = fields.string(own, "name", f"model.{dataset}")
    where = f"model.{dataset}" if "name" in own else "model"
    if choices is not None and name not in choices:
        raise UsageError(f"{where}.name = {name!r}: unknown model; choices: {', '.join(choices)}")
    options = dict(fields.table(tbl, "options", "model")) if name == fields.string(
        tbl, "name", "model", default=default) else {}
    options |= fields.table(own, "options", f"model.{dataset}")
    return name, options


def _train(tbl: Mapping[str, Any], dataset: str, datasets: tuple[str, ...], space: tuple[Param, ...]) -> dict:
    known = [f.name for f in dataclasses.fields(TrainConfig)]
    _per_dataset(tbl, known, "train", datasets)
    own = fields.table(tbl, dataset, "train")
    values = {k: v for k, v in tbl.items() if k in known} | own
    where = f"train.{dataset}" if own else "train"
    TrainConfig.from_mapping(values, where=where)
    for p in space:
        if p.name in values:
            raise UsageError(f"{where}.{p.name} is fixed and also searched in tuning.space; keep one")
    return values


def _tuning(tbl: Mapping[str, Any]) -> Tuning:
    if not tbl:
        raise UsageError("[tuning] is missing: give trials, seeds and a search space ([tuning.space])")
    fields.check_keys(tbl, _TUNING, "tuning")
    space = parse_space(fields.table(tbl, "space", "tuning"))
    if not space:
        raise UsageError("tuning.space is empty: search at least one hyperparameter, e.g. lr = {low = 1e-3, high = 0.3, log = true}")
    trials = fields.integer(tbl, "trials", "tuning", minimum=1)
    return Tuning(
        trials=trials, seeds=fields.seeds(tbl, "seeds", "tuning"), space=space,
        sampler_seed=fields.integer(tbl, "sampler_seed", "tuning", default=0, minimum=0),
        startup_trials=fields.integer(tbl, "startup_trials", "tuning", default=10, minimum=1),
        multivariate=fields.boolean(tbl, "multivariate", "tuning", default=True),
        constant_liar=fields.boolean(tbl, "constant_liar", "tuning", default=True),
        max_parallel=fields.integer(tbl, "max_parallel", "tuning", default=1, minimum=1))


def _evaluation(tbl: Mapping[str, Any], tuning_seeds: tuple[int, ...]) -> Evaluation:
    fields.check_keys(tbl, ("seeds", "untuned"), "evaluation")
    seeds = fields.seeds(tbl, "seeds", "evaluation")
    shared = sorted(set(seeds) & set(tuning_seeds))
    if shared:
        raise UsageError(f"evaluation.seeds and tuning.seeds share seed {shared[0]}: "
                         "evaluation seeds must be disjoint from tuning seeds")
    return Evaluation(seeds, fields.boolean(tbl, "untuned", "evaluation", default=False))


def _resources(tbl: Mapping[str, Any]) -> Resources:
    fields.check_keys(tbl, ("cpu", "gpu", "max_concurrent"), "resources")
    cpu = fields.number(tbl, "cpu", "resources", default=1)
    if cpu <= 0:
        raise UsageError(f"resources.cpu = {cpu!r}: must be > 0 (fractions allowed)")
    gpu = fields.number(tbl, "gpu", "resources", default=0)
    if gpu < 0 or (gpu > 1 and not float(gpu).is_integer()):
        raise UsageError(f"resources.gpu = {gpu!r}: use 0 (no GPU), a fraction in (0, 1] or a whole number of GPUs")
    limit = fields.integer(tbl, "max_concurrent", "resources", default=0, minimum=1) \
        if "max_concurrent" in tbl else None
    return Resources(cpu, gpu, limit)


def _strategy_options(tbl: Mapping[str, Any], strategies: tuple[str, ...]) -> dict[str, dict]:
    out = {}
    for key, value in tbl.items():
        if key not in strategies:
            raise UsageError(f"strategy_options.{key}: not a strategy of this study (strategies: {', '.join(strategies)})")
        out[key] = dict(fields.table(tbl, key, "strategy_options"))
    return out
