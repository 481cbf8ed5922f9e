"""The catalog a study file names from: datasets, models and strategies as the registries of
alstudy.data, alstudy.models and alstudy.strategies hold them (names, defaults, a trial build of
a model or strategy, a dataset's size). The schema and the checks ask here, and nowhere else,
so a name from a file turns into an object in one place.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from alstudy.data import dataset_spec, get_dataset
from alstudy.data import dataset_names as _dataset_names
from alstudy.errors import UsageError
from alstudy.models import make_model
from alstudy.models import model_names as _model_names
from alstudy.models.weights import fit_weights, read_weights
from alstudy.strategies import make_strategy
from alstudy.strategies import strategy_names as _strategy_names


def dataset_names() -> list[str]:
    return _dataset_names()


def default_model(dataset: str) -> str:
    return dataset_spec(dataset).default_model


def needs_root(dataset: str) -> bool:
    return dataset_spec(dataset).needs_root


def model_names() -> list[str]:
    return _model_names()


def strategy_names() -> list[str]:
    return _strategy_names()


def check_model(name: str, dataset: str, options: Mapping[str, Any], where: str) -> None:
    """Build model `name` for `dataset`'s inputs once, so bad options fail before the run."""
    spec = dataset_spec(dataset)
    try:
        make_model(name, spec.input_shape, spec.num_classes, options=dict(options))
    except UsageError as err:
        raise err.under(where) from None
    except (TypeError, ValueError, RuntimeError) as err:   # a constructor's own refusal
        raise UsageError(str(err).splitlines()[0], key=f"{where}.options") from None


def check_weights(name: str, dataset: str, options: Mapping[str, Any], path: str, where: str) -> None:
    """Read the weights file at `path` and fit it to model `name` for `dataset` (exists, loads,
    fits), so a wrong file fails before the run."""
    spec = dataset_spec(dataset)
    model = make_model(name, spec.input_shape, spec.num_classes, options=dict(options))
    try:
        fit_weights(model, read_weights(path), path=path, model_name=f"model {name} of {dataset}")
    except UsageError as err:
        raise err.under(where) from None


def check_strategy(name: str, options: Mapping[str, Any], where: str) -> None:
    """Build strategy `name` with `options` once, so bad options fail before the run."""
    try:
        make_strategy(name, **dict(options))
    except UsageError as err:
        raise err.under(where) from None
    except (TypeError, ValueError) as err:
        raise UsageError(str(err), key=where) from None


def models_per_cycle(name: str, options: Mapping[str, Any]) -> int:
    """Models strategy `name` trains per cycle: its ensemble's size, else 1."""
    return max(1, make_strategy(name, **dict(options)).needs().ensemble)


def trains_plainly(name: str, options: Mapping[str, Any]) -> bool:
    """Whether strategy `name` trains one model with the task loss alone (no loss module, no
    ensemble): what a cell's cycle 0 must do to share it (alstudy.training.shared)."""
    return make_strategy(name, **dict(options)).needs().plain_training


def train_size(dataset: str, root: str | None) -> int | None:
    """Rows of `dataset`'s train split, or None when its files are not on this machine.

    Embedded datasets use the registry's recorded size when it has one; others are loaded
    (cached per process), which also proves their files are readable.
    """
    spec = dataset_spec(dataset)
    if spec.n_train is not None and not spec.needs_root:
        return spec.n_train
    if spec.needs_root and (root is None or not os.path.isdir(os.path.expanduser(root))):
        return None
    try:
        return get_dataset(dataset, root=os.path.expanduser(root) if root else None).n_train
    except UsageError:
        return None
