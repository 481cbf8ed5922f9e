"""From numpy arrays to a `Dataset`: fixed seeded splits, train-statistics standardization."""

from __future__ import annotations

import numpy as np
import torch

from alstudy.data.dataset import Dataset
from alstudy.data.registry import dataset_spec

# Datasets without an official test split get this fixed split. The seed is a constant, not the
# campaign seed: the test set is the same for every seed, strategy and study.
SPLIT_SEED = 0
TEST_FRACTION = 1 / 3


def stratified_split(y: np.ndarray, *, test_fraction: float = TEST_FRACTION,
                     seed: int = SPLIT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) row indices; each class keeps its share in both parts."""
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(np.arange(len(y)), test_size=test_fraction, stratify=y,
                                   random_state=seed)
    return np.sort(train), np.sort(test)


def standardize(train: np.ndarray, test: np.ndarray, *, axis: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """float32 copies of both parts centred and scaled with the train part's statistics over `axis`."""
    mean = train.mean(axis=axis, keepdims=True, dtype=np.float64)
    std = train.std(axis=axis, keepdims=True, dtype=np.float64)
    std[std == 0] = 1.0  # a constant feature stays 0 instead of becoming NaN
    return (((train - mean) / std).astype(np.float32), ((test - mean) / std).astype(np.float32))


def to_dataset(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
               y_test: np.ndarray, *, mean: tuple[float, ...] = (),
               std: tuple[float, ...] = ()) -> Dataset:
    """A CPU `Dataset` of the registry's dataset `name`: int64 labels for classification,
    uint8 masks for segmentation (the values must already fit a byte)."""
    spec = dataset_spec(name)
    y_type = np.int64 if spec.task == "classification" else np.uint8
    tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a))  # noqa: E731
    return Dataset(
        spec=spec,
        x_train=tensor(x_train), y_train=tensor(y_train.astype(y_type)),
        x_test=tensor(x_test), y_test=tensor(y_test.astype(y_type)),
        mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std),
    )
