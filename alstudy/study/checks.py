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
    absent = []
    for name, init in weights_inits(study.paradigms).items():   # a file that is here loads and fits the model
        if os.path.isfile(init.file):
            catalog.check_weights(setup.model, dataset, setup.model_options, init.file, f"paradigms.{name}")
        else:
            absent.append(f"paradigms.{name}.init.weights = {init.file!r}")
    return dataclasses.replace(_check_files(study, dataset), absent_weights=tuple(absent))


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
    if study.splits is not None:
        for seed in study.tuning.seeds + study.evaluation.seeds:
            read_splits(split_folder(study.splits, seed, dataset=dataset), n_train=n_train,
                        initial=budget.initial, validation=budget.validation)
    return DatasetCheck(dataset, n_train, budget)
