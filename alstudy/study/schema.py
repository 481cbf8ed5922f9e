"""The study file: TOML in, a validated frozen `Study` out.

`load_study(path)` reads the file once and checks every key and value before anything runs
(one UsageError line per problem, in the context of the file); the `Study` keeps the file's
text for the results store. The typed readers live in `alstudy.study.fields`, the search space
in `alstudy.study.space`; checks that need a dataset's size, a model's constructor or a
strategy's options live in `alstudy.study.checks`. This module checks the shape, the types
and the names.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any, Mapping

from alstudy.config import Budget, TrainConfig
from alstudy.data.splits import check_pattern, split_hashes, splits_digest
from alstudy.errors import UsageError
from alstudy.metrics import DEFAULT_MARGIN
from alstudy.sequential import BASELINE, round_sizes
from alstudy.study import catalog, fields
from alstudy.study.paradigms import (Paradigm, WeightsInit, check_method_space, parse_paradigms, split_space,
                                     with_base)
from alstudy.study.pretrain_table import parse_pretrain, uses_pretraining
from alstudy.study.space import Param, parse_space

_TOP = ("name", "description", "datasets", "strategies", "data_root", "deterministic",
        "budget", "model", "train", "strategy_options", "tuning", "evaluation", "resources", "splits",
        "tracking", "paradigms", "pretrain")
_BUDGET = ("initial", "per_cycle", "cycles", "validation")
_TUNING = ("trials", "seeds", "space", "sampler_seed", "startup_trials", "multivariate",
           "constant_liar", "max_parallel")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MAX_NAME = 100     # a folder name, and a prefix of Tune's trial folders: well under the 255 a file system allows


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
    method_space: Mapping[str, tuple[Param, ...]] = field(default_factory=dict)  # [tuning.space.<method>]


@dataclass(frozen=True)
class Evaluation:
    seeds: tuple[int, ...]            # adaptive: the first round
    untuned: bool = False             # also run every strategy with the untuned defaults
    margin: float = DEFAULT_MARGIN    # gains within ±margin (AUBC) count as no gain in the report
    max_seeds: int | None = None      # set: seeds run in rounds of len(seeds) until each cell is decided
    later: tuple[int, ...] = ()       # adaptive: the seeds after the first round, in the order they run

    @property
    def adaptive(self) -> bool:
        return self.max_seeds is not None

    @property
    def all_seeds(self) -> tuple[int, ...]:
        """Every evaluation seed a campaign may run on (adaptive: the worst case), in order."""
        return self.seeds + self.later

    def rounds(self, n: int) -> list[int]:
        """Sizes of the rounds that make up the first `n` seeds of `all_seeds`."""
        return round_sizes(n, len(self.seeds))


@dataclass(frozen=True)
class Resources:
    """Ray resources of one trial (= one campaign)."""

    cpu: float = 1
    gpu: float = 0                    # 0, a fraction in (0, 1], or whole GPUs
    max_concurrent: int | None = None


@dataclass(frozen=True)
class Tracking:
    """Where the study's campaigns are also logged (alstudy.study.tracking); not a result."""

    mlflow: bool | str = False        # True: SQLite inside the results store; a str: a tracking URI


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
    splits: str | None = None         # folder pattern of fixed split files ([splits] path)
    tracking: Tracking = field(default_factory=Tracking)
    paradigms: tuple[Paradigm, ...] = ()   # () = the one implicit supervised paradigm
    pretrain: Mapping[str, Any] = field(default_factory=dict)   # dataset -> SimCLR Recipe; {}: none used
    source: str = field(default="", repr=False, compare=False)   # the file's text, as read
    base: str = field(default="", repr=False, compare=False)     # the study file's folder: relative
                                                                 # data_root and [splits] path start here

    @property
    def splits_path(self) -> str | None:
        """The [splits] path pattern, read from beside the study file when relative."""
        return None if self.splits is None else os.path.join(self.base, os.path.expanduser(self.splits))

    def to_dict(self) -> dict[str, Any]:
        """The resolved study (defaults filled in), JSON-friendly; without the file's text."""
        d = dataclasses.asdict(self)
        d.pop("source")
        d.pop("base")
        d["tuning"]["space"] = {p.name: p.as_dict() for p in self.tuning.space}
        d["tuning"]["method_space"] = {m: {p.name: p.as_dict() for p in ps}
                                       for m, ps in self.tuning.method_space.items()}
        if not self.paradigms:   # a study without paradigms reads (and hashes) as it did before them
            d.pop("paradigms")
            d["tuning"].pop("method_space")
        for par in d.get("paradigms", ()):   # likewise paradigms without a pretrained init
            if par["init"] != "simclr":
                par.pop("tune")
        if not self.pretrain:   # and studies that use no pretraining
            d.pop("pretrain")
        if not self.evaluation.adaptive:   # a fixed evaluation reads (and hashes) as before max_seeds
            d["evaluation"].pop("max_seeds")
            d["evaluation"].pop("later")
        return json.loads(json.dumps(d))

    def fingerprint(self) -> str:
        """Hash of everything that decides results. Facts of the machine — where the data lives,
        the resources of a trial, where runs are tracked — and the description may change
        between runs of one study, and so may an adaptive evaluation's cap (`max_seeds`, and the
        later seeds it lists): a seed's campaign is the same whatever the cap, so a study rerun
        with a higher one resumes. Whether the evaluation is adaptive is hashed."""
        return self._hash(NOT_HASHED, self.tuning.seeds + self.evaluation.seeds)

    def legacy_fingerprint(self, max_seeds: int) -> str | None:
        """The fingerprint alstudy gave this study with `max_seeds` before the cap left the hash:
        it hashed `evaluation.max_seeds`, `evaluation.later` and the split files of the later
        seeds too. Stores written then carry it (study.json, campaign log headers); the store
        accepts them as this study when it matches with their study.json's cap. None for a
        fixed evaluation, whose fingerprint never hashed a cap (it is the same both ways)."""
        e = self.evaluation
        if not e.adaptive:
            return None
        tuning_seeds = self.tuning.seeds
        capped = dataclasses.replace(self, evaluation=dataclasses.replace(
            e, max_seeds=max_seeds, later=_later_seeds(e.seeds, tuning_seeds, max_seeds)))
        return capped._hash(_LEGACY_NOT_HASHED, tuning_seeds + capped.evaluation.all_seeds, cap=True)

    def later_split_files(self) -> dict[str, str]:
        """sha256 of the split files of an adaptive evaluation's later seeds (`split_hashes`
        keys, `<dataset>/<seed>/<file>`); {} without [splits]. They decide results, but which
        ones exist depends on the cap: the store keeps them in study.json and checks them seed
        by seed (`Store.open`), not through the fingerprint."""
        if self.splits is None or not self.evaluation.later:
            return {}
        return split_hashes(self.splits_path, self.evaluation.later, self.datasets)

    def _hash(self, not_hashed: tuple[str, ...], split_seeds: tuple[int, ...], *, cap: bool = False) -> str:
        """sha256 (16 hex digits) of `to_dict()` less `not_hashed`, with the digest of the split
        files of `split_seeds` and of weights files. `cap`: hash an adaptive evaluation's
        max_seeds and later seeds as they are (the legacy fingerprint), else only that it is adaptive."""
        d = self.to_dict()
        for key in not_hashed:
            *parents, last = key.split(".")
            inner = d
            for parent in parents:
                inner = inner[parent]
            inner.pop(last)
        if self.evaluation.adaptive and not cap:   # adaptive, whatever the cap
            for key in CAP:
                d["evaluation"].pop(key.split(".")[1])
            d["evaluation"]["adaptive"] = True
        if self.splits is not None:  # the files' contents decide results, not just their names

            d["splits_digest"] = splits_digest(self.splits_path, split_seeds, self.datasets)
        for par, files in zip(d.get("paradigms", ()), _weights_digests(self.paradigms)):
            if files is not None:   # the file's bytes decide results, not where it lies
                par["init"] = {"weights_sha256": files}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


# Settings of a study that decide no result, so they may change between runs of one study:
# facts of the machine (where the data lives, a trial's resources, where runs are tracked), the
# description, and the margin (read by the report only: changing it re-runs nothing). An
# adaptive evaluation's cap (evaluation.max_seeds and the later seeds it lists) decides no
# campaign's result either: `Study._hash` keeps of it only that the evaluation is adaptive.
NOT_HASHED = ("data_root", "resources", "description", "tracking", "evaluation.margin")
CAP = ("evaluation.max_seeds", "evaluation.later")   # may change, but adaptive vs fixed may not
# what the fingerprint left out when it still hashed the cap (frozen: the legacy hash never changes)
_LEGACY_NOT_HASHED = ("data_root", "resources", "description", "tracking", "evaluation.margin")


def _weights_digests(paradigms: tuple[Paradigm, ...]) -> list[str | None]:
    """sha256 of each paradigm's weights file (None for a paradigm without one)."""
    return [p.init.sha256() if isinstance(p.init, WeightsInit) else None for p in paradigms]


def load_study(path: str | os.PathLike) -> Study:
    """Read the study file at `path` once and validate it; UsageError in the context of the path.

    The returned Study's `source` is the file's text, so that nobody opens the file again."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8-sig")   # a byte-order mark (some editors write one) is no TOML
        raw = tomllib.loads(text)
    except FileNotFoundError:
        raise UsageError("no such study file", context=(path,)) from None
    except IsADirectoryError:
        raise UsageError("is a folder, expected a study file (.toml)", context=(path,)) from None
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"not valid TOML: {err}", context=(path,)) from None
    except UnicodeDecodeError:
        raise UsageError("not valid TOML: not UTF-8 text", context=(path,)) from None
    try:
        study = parse_study(raw)
        # paths named relative to the study file (weights files, data_root, [splits] path) are
        # read from beside it, wherever the run starts (a Ray trial runs in its own folder)
        base = os.path.dirname(os.path.abspath(path))
        root = study.data_root and os.path.join(base, os.path.expanduser(study.data_root))
        return dataclasses.replace(study, paradigms=with_base(study.paradigms, base), source=text, base=base,
                                   data_root=root)
    except UsageError as err:
        raise err.within(path) from None


def parse_study(raw: Mapping[str, Any]) -> Study:
    """Validate a parsed study file (shape, types and names)."""
    fields.check_keys(raw, _TOP, "")
    name = fields.string(raw, "name", "")
    if not _NAME.fullmatch(name) or len(name) > MAX_NAME:   # fullmatch: `$` would let "x\n" through
        raise UsageError(f"use 1 to {MAX_NAME} letters, digits, '_', '-' or '.' (it names the results folder)",
                         key="name", value=name)
    datasets = fields.names(raw, "datasets", "", choices=catalog.dataset_names())
    strategies = fields.names(raw, "strategies", "", choices=catalog.strategy_names())
    data_root = fields.string(raw, "data_root", "", default=None)
    tuning = _parse_tuning(fields.table(raw, "tuning", ""))
    paradigms = parse_paradigms(fields.table(raw, "paradigms", ""))
    check_method_space(tuning.method_space, paradigms)
    train = fields.table(raw, "train", "")
    setups = {ds: DatasetSetup(_budget(raw, ds, datasets), *_model(raw, ds, datasets),
                               _train(train, ds, datasets, tuning.space)) for ds in datasets}
    _check_validation(setups, tuning.trials, fields.table(raw, "budget", ""))
    evaluation = _evaluation(fields.table(raw, "evaluation", ""), tuning.seeds, strategies)
    strategy_options = _strategy_options(fields.table(raw, "strategy_options", ""), strategies)
    pretrain = parse_pretrain(fields.table(raw, "pretrain", ""), datasets,
                              used=uses_pretraining(paradigms, strategy_options))
    return Study(
        name=name, datasets=datasets, strategies=strategies, setups=setups,
        strategy_options=strategy_options, pretrain=pretrain,
        tuning=tuning, evaluation=evaluation, resources=_resources(fields.table(raw, "resources", "")),
        data_root=data_root, deterministic=fields.boolean(raw, "deterministic", "", default=True),
        description=fields.string(raw, "description", "", default=""),
        splits=_splits(fields.table(raw, "splits", ""), datasets), paradigms=paradigms,
        tracking=_tracking(fields.table(raw, "tracking", "")))


def _per_dataset(tbl: Mapping[str, Any], own: tuple[str, ...], where: str, datasets: tuple[str, ...]) -> None:
    """Keys of `tbl` are its own keys or sub-tables named after a dataset of the study."""
    for key, value in tbl.items():
        if key in own:
            continue
        if key in datasets and isinstance(value, dict):
            continue
        if key in catalog.dataset_names():
            raise UsageError(f"{key!r} is not a dataset of this study (datasets: {', '.join(datasets)})",
                             key=f"{where}.{key}")
        fields.check_keys({key: value}, own, where, extra=[f"[{where}.<dataset>]"])


def _budget(raw: Mapping[str, Any], dataset: str, datasets: tuple[str, ...]) -> Budget:
    tbl = fields.table(raw, "budget", "")
    _per_dataset(tbl, _BUDGET, "budget", datasets)
    own = fields.table(tbl, dataset, "budget")
    fields.check_keys(own, _BUDGET, f"budget.{dataset}")
    values = {k: v for k, v in tbl.items() if k in _BUDGET} | own
    budget = Budget(**values)
    where = f"budget.{dataset}" if own else "budget"
    budget.check(where=where)  # types and signs now; sizes once the dataset is known (checks.py)
    return budget


def _check_validation(setups: Mapping[str, DatasetSetup], trials: int, tbl: Mapping[str, Any]) -> None:
    """Tuning ranks its trials by validation AUBC: without a validation set every objective is 0."""
    if trials < 2:
        return
    for ds, setup in setups.items():
        if setup.budget.validation == 0:
            key = f"budget.{ds}.validation" if "validation" in tbl.get(ds, {}) else "budget.validation"
            raise UsageError(f"leaves tuning nothing to compare its {trials} trials on (every objective would be "
                             "0): use a count >= 1 or a fraction in (0, 1), or tuning.trials = 1",
                             key=key, value=setup.budget.validation)


def _model(raw: Mapping[str, Any], dataset: str, datasets: tuple[str, ...]) -> tuple[str, dict]:
    tbl = fields.table(raw, "model", "")
    _per_dataset(tbl, ("name", "options"), "model", datasets)
    own = fields.table(tbl, dataset, "model")
    fields.check_keys(own, ("name", "options"), f"model.{dataset}")
    choices = catalog.model_names()
    default = catalog.default_model(dataset)
    name = fields.string(tbl, "name", "model", default=default)
    if "name" in own:
        name = fields.string(own, "name", f"model.{dataset}")
    where = f"model.{dataset}" if "name" in own else "model"
    if choices is not None and name not in choices:
        raise UsageError(f"unknown model; choices: {', '.join(choices)}", key=f"{where}.name", value=name)
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
            raise UsageError("is fixed and also searched in tuning.space; keep one", key=f"{where}.{p.name}")
    return values


def _parse_tuning(tbl: Mapping[str, Any]) -> Tuning:
    """[tuning]: the Optuna budget and search space every cell gets."""
    if not tbl:
        raise UsageError("is missing: give trials, seeds and a search space ([tuning.space])", key="[tuning]")
    fields.check_keys(tbl, _TUNING, "tuning")
    shared, per_method = split_space(fields.table(tbl, "space", "tuning"))
    space = parse_space(shared)
    method_space = {m: parse_space(sub, f"tuning.space.{m}", method=m) for m, sub in per_method.items()}
    if not space:
        raise UsageError("is empty: search at least one hyperparameter, e.g. lr = {low = 1e-3, high = 0.3, log = true}",
                         key="tuning.space")
    trials = fields.integer(tbl, "trials", "tuning", minimum=1)
    return Tuning(
        trials=trials, seeds=fields.seeds(tbl, "seeds", "tuning"), space=space,
        sampler_seed=fields.integer(tbl, "sampler_seed", "tuning", default=0, minimum=0),
        startup_trials=fields.integer(tbl, "startup_trials", "tuning", default=10, minimum=1),
        multivariate=fields.boolean(tbl, "multivariate", "tuning", default=True),
        constant_liar=fields.boolean(tbl, "constant_liar", "tuning", default=True),
        max_parallel=fields.integer(tbl, "max_parallel", "tuning", default=1, minimum=1),
        method_space=method_space)


def _evaluation(tbl: Mapping[str, Any], tuning_seeds: tuple[int, ...], strategies: tuple[str, ...]) -> Evaluation:
    fields.check_keys(tbl, ("seeds", "untuned", "margin", "max_seeds"), "evaluation")
    seeds = fields.seeds(tbl, "seeds", "evaluation")
    shared = sorted(set(seeds) & set(tuning_seeds))
    if shared:
        raise UsageError(f"must be disjoint from tuning.seeds (they share seed {shared[0]})",
                         key="evaluation.seeds", value=list(seeds))
    margin = fields.number(tbl, "margin", "evaluation", default=DEFAULT_MARGIN)
    if not 0 < margin < 1:
        raise UsageError("must be in (0, 1): a gain in AUBC units, 0.01 = one accuracy point",
                         key="evaluation.margin", value=margin)
    untuned = fields.boolean(tbl, "untuned", "evaluation", default=False)
    if "max_seeds" not in tbl:
        return Evaluation(seeds, untuned, float(margin))
    max_seeds = fields.integer(tbl, "max_seeds", "evaluation")
    if max_seeds < len(seeds):
        raise UsageError(f"must be >= the {len(seeds)} evaluation.seeds (they are the first round)",
                         key="evaluation.max_seeds", value=max_seeds)
    if BASELINE not in strategies or len(strategies) < 2:
        raise UsageError(f"needs '{BASELINE}' and another strategy: each cell is tested against {BASELINE}",
                         key="evaluation.max_seeds", value=max_seeds)
    return Evaluation(seeds, untuned, float(margin), max_seeds, _later_seeds(seeds, tuning_seeds, max_seeds))


def _later_seeds(seeds: tuple[int, ...], tuning_seeds: tuple[int, ...], max_seeds: int) -> tuple[int, ...]:
    """The seeds of an adaptive evaluation's later rounds: the whole numbers after max(seeds) that
    are no tuning seed, up to max_seeds seeds in all."""
    out, seed = [], max(seeds)
    while len(seeds) + len(out) < max_seeds:
        seed += 1
        if seed not in tuning_seeds:
            out.append(seed)
    return tuple(out)


def _resources(tbl: Mapping[str, Any]) -> Resources:
    fields.check_keys(tbl, ("cpu", "gpu", "max_concurrent"), "resources")
    cpu = fields.number(tbl, "cpu", "resources", default=1)
    if cpu <= 0:
        raise UsageError("must be > 0 (fractions allowed)", key="resources.cpu", value=cpu)
    gpu = fields.number(tbl, "gpu", "resources", default=0)
    if gpu < 0 or (gpu > 1 and not float(gpu).is_integer()):
        raise UsageError("use 0 (no GPU), a fraction in (0, 1] or a whole number of GPUs", key="resources.gpu", value=gpu)
    limit = fields.integer(tbl, "max_concurrent", "resources", default=0, minimum=1) \
        if "max_concurrent" in tbl else None
    return Resources(cpu, gpu, limit)


def _tracking(tbl: Mapping[str, Any]) -> Tracking:
    fields.check_keys(tbl, ("mlflow",), "tracking")
    value = tbl.get("mlflow", False)
    if isinstance(value, str) and value.strip():
        return Tracking(value.strip())
    if not isinstance(value, bool):
        raise UsageError("use true (a SQLite store in the results folder), false, or a tracking URI "
                         "such as \"http://host:5000\" or \"sqlite:///path/mlflow.db\"", key="tracking.mlflow", value=value)
    return Tracking(value)


def _strategy_options(tbl: Mapping[str, Any], strategies: tuple[str, ...]) -> dict[str, dict]:
    out = {}
    for key, value in tbl.items():
        if key not in strategies:
            raise UsageError(f"not a strategy of this study (strategies: {', '.join(strategies)})",
                             key=f"strategy_options.{key}")
        out[key] = dict(fields.table(tbl, key, "strategy_options"))
    return out


def _splits(tbl: Mapping[str, Any], datasets: tuple[str, ...]) -> str | None:
    """[splits]: path = a folder pattern with {seed}; format = "torchal" (lSet/uSet/valSet.npy)."""
    if not tbl:
        return None

    fields.check_keys(tbl, ("path", "format"), "splits")
    fmt = fields.string(tbl, "format", "splits", default="torchal")
    if fmt != "torchal":
        raise UsageError("allowed: torchal (lSet.npy, uSet.npy, valSet.npy per seed)", key="splits.format", value=fmt)
    path = fields.string(tbl, "path", "splits")
    check_pattern(path, datasets)
    return path
