"""MNIST-1D, generated locally by the `mnist1d` package (no download).

The package's defaults give 5000 length-40 signals of 10 classes, its own split into 4000
train / 1000 test, always the same data (it seeds itself with 42). It seeds numpy's and
Python's *global* generators to do so; both are restored afterwards, so loading MNIST-1D
never changes anybody else's random stream.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile

import numpy as np

from alstudy.data.arrays import standardize, to_dataset
from alstudy.data.dataset import Dataset


def load_mnist1d() -> Dataset:
    """float32 signals (N, 1, 40) standardized with the train split's mean and std."""
    data = _generate()
    x_train, x_test = standardize(data["x"][:, None], data["x_test"][:, None], axis=(0, 1, 2))
    return to_dataset("mnist1d", x_train, data["y"], x_test, data["y_test"])


def _generate() -> dict:
    import mnist1d

    args = mnist1d.get_dataset_args()
    with _global_rng_preserved(), tempfile.TemporaryDirectory(prefix="alstudy-mnist1d-") as tmp, \
            open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        # regenerate=True builds the data from the seeded templates; the package also pickles
        # it to `path`, which we point into a throw-away folder (never the working directory).
        return mnist1d.get_dataset(args, path=os.path.join(tmp, "mnist1d.pkl"), download=False,
                                   regenerate=True, verbose=False)


@contextlib.contextmanager
def _global_rng_preserved():
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
