"""Checks of a parsed study that need the registries' objects: budgets against the size of
each train split, models against each dataset's inputs, strategy options.

`check_study` returns what it resolved per dataset plus notes on what it could not check
(a dataset read from a local root, or a paradigm's weights file, absent on this machine: a
study may be validated on a laptop before it runs where those files are). `alstudy validate`
prints the notes; `alstudy run` refuses to start while any remain.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from alstudy.config import ResolvedBudget
from alstudy.data.splits import read_splits, split_folder
from alstudy.errors import UsageError
from alstudy.study import catalog
from alstudy.study.paradigms import weights_inits
from alstudy.study.schema import Study


@dataclass(frozen=True)
class DatasetCheck:
    dataset: str
    n_train: int | None               # None: not known on this machine
    budget: ResolvedBudget | None     # None: sizes not checked
    missing: str = ""                 # why its files could not be read here ("" when they were)
    absent_weights: tuple[str, ...] = ()   # `paradigms.<name>.init.weights = PATH` not on this machine

    @property
    def note(self) -> str:
        notes = [f"the budget and files of {self.dataset!r} ({self.missing})"] if self.missing else []
        return "; ".join(notes + [f"{w} for {self.dataset!r} (no such file on this machine)"
                                  for w in self.absent_weights])


def check_study(study: Study, *, source: str = "study") -> list[DatasetCheck]:
    """UsageError (prefixed with `source`) on the first problem; else one DatasetCheck per dataset."""
    try:
        for strategy, options in study.strategy_options.items():
            catalog.check_strategy(strategy, options, f"strategy_options.{strategy}")
        return [_check_dataset(study, ds) for ds in study.datasets]
    except UsageError as err:
        raise err.within(source) from None


def require_checked(checks: list[DatasetCheck], *, source: str = "study") -> None:
    """UsageError when any dataset could not be fully checked (before a run starts)."""
    for check in checks:
        if check.missing:
            raise UsageError(f"cannot run: dataset {check.dataset!r} is read from a local folder "
                             f"and {check.missing}", context=(source,))
        if check.absent_weights:
            raise UsageError(f"cannot run: {check.absent_weights[0]}: no such weights file on this machine",
                             context=(source,))


def _check_dataset(study: Study, dataset: str) -> DatasetCheck:
    setup = study.setups[dataset]
    where = f"model.{dataset}"
    catalog.check_model(setup.model, dataset, setup.model_options, where)
    _check_task(study, dataset)
    absent = []
    for name, init in weights_inits(study.paradigms).items():   # a file that is here loads and fits the model
        if os.path.isfile(init.file):
            catalog.check_weights(setup.model, dataset, setup.model_options, init.file, f"paradigms.{name}")
        else:
            absent.append(f"paradigms.{name}.init.weights = {init.file!r}")
    return dataclasses.replace(_check_files(study, dataset), absent_weights=tuple(absent))


def _check_task(study: Study, dataset: str) -> None:
    """What the dataset's task cannot train with, refused before any campaign starts: a
    semi-supervised method without a per-pixel term, or mixup (fixed or searched), on segmentation."""
    from alstudy.data import dataset_spec
    from alstudy.training.methods import check_task

    task = dataset_spec(dataset).task
    for p in study.paradigms:
        check_task(p.method, task, f"paradigms.{p.name}.method")
    if task != "segmentation":
        return
    fixed = [("train", study.setups[dataset].train)] + [(f"paradigms.{p.name}", p.train) for p in study.paradigms]
    for where, values in fixed:
        if values.get("mixup", 0.0) > 0:
            raise UsageError(f"mixup blends two images' labels, which segmentation masks cannot do; "
                             f"{dataset!r} is a segmentation dataset", key=f"{where}.mixup", value=values["mixup"])
    for param in study.tuning.space:
        if param.name == "mixup":
            raise UsageError(f"mixup cannot be searched for the segmentation dataset {dataset!r}",
                             key="tuning.space.mixup", value=param.as_dict())


def _check_files(study: Study, dataset: str) -> DatasetCheck:
    """The dataset's budget against its train split, and its fixed splits, where it can be read."""
    setup = study.setups[dataset]
    root = study.data_root
    if catalog.needs_root(dataset):
        if root is None:
            return DatasetCheck(dataset, None, None, "data_root is not set (add data_root = \"PATH\" to the study)")
        if not os.path.isdir(os.path.expanduser(root)):
            return DatasetCheck(dataset, None, None, f"data_root = {root!r} is not a folder on this machine")
    n_train = catalog.train_size(dataset, root)
    if n_train is None:
        return DatasetCheck(dataset, None, None, f"its files were not found under data_root = {root!r}")
    # Types were checked with the file; what is left is the size, said of this dataset.
    budget = setup.budget.resolve(n_train, where=f"budget of {dataset!r}")
    _check_batches(study, dataset, budget)
    _check_unlabeled(study, dataset, budget, n_train)
    if study.splits is not None:
        for seed in study.tuning.seeds + study.evaluation.all_seeds:
            read_splits(split_folder(study.splits_path, seed, dataset=dataset), n_train=n_train,
                        initial=budget.initial, validation=budget.validation)
    return DatasetCheck(dataset, n_train, budget)


def _check_batches(study: Study, dataset: str, budget: ResolvedBudget) -> None:
    """A BatchNorm model cannot train on a batch of one row (every campaign would crash): its
    batches need 2 rows, so both the batch size and the initial labeled set must allow 2."""
    setup = study.setups[dataset]
    if not has_batchnorm(setup.model, dataset, setup.model_options):
        return
    why = batchnorm_reason(setup.model, dataset)
    if budget.initial < 2:
        raise UsageError(f"budget of {dataset!r}: initial = {budget.initial} label: {why}; use initial >= 2")
    fixed = [("train", setup.train)]
    fixed += [(f"paradigms.{p.name}", p.train) for p in study.paradigms]
    for where, values in fixed:
        if values.get("batch_size", 2) < 2:
            raise UsageError(f"{why}; use batch_size >= 2", key=f"{where}.batch_size", value=values["batch_size"])
    for p in study.tuning.space:
        if p.name == "batch_size" and min(p.choices or (p.low,)) < 2:
            raise UsageError(f"{why}; search batch_size >= 2", key="tuning.space.batch_size", value=p.as_dict())


def batchnorm_reason(model: str, dataset: str) -> str:
    return f"model {model!r} of {dataset!r} has BatchNorm layers, which need >= 2 rows per training batch"


def has_batchnorm(model: str, dataset: str, options) -> bool:
    """Whether model `model` for `dataset` (with `options`) holds a BatchNorm layer."""
    # torch: the model is built to look for BatchNorm layers; parsing a study stays torch-free
    import torch.nn as nn

    from alstudy.data import dataset_spec
    from alstudy.models import make_model

    spec = dataset_spec(dataset)
    built = make_model(model, spec.input_shape, spec.num_classes, options=dict(options))
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in built.modules())


def _check_unlabeled(study: Study, dataset: str, budget: ResolvedBudget, n_train: int) -> None:
    for p in study.paradigms:
        problem = unlabeled_problem(p.method, p.options, budget, n_train)
        if problem:
            raise UsageError(f"budget of {dataset!r}: paradigm {p.name!r}: {problem}")


def unlabeled_problem(method: str, options, budget: ResolvedBudget, n_train: int) -> str:
    """Why a semi-supervised `method` cannot run under `budget` ("" when it can): a budget that
    labels the whole pool leaves its last cycle no unlabeled rows (every campaign would crash there)."""
    if method == "supervised" or options.get("include_labeled", False) or budget.total + budget.validation < n_train:
        return ""
    return (f"{budget.total} training + {budget.validation} validation labels use up the {n_train} rows, so "
            f"{method} has no unlabeled rows at the last cycle: label fewer rows, or set include_labeled = true")
