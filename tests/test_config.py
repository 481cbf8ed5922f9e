"""Configs: one reader of typed values for every table, and a config module free of torch."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from alstudy.config import TrainConfig
from alstudy.errors import UsageError
from alstudy.training.methods import check_option
from alstudy.training.simclr_recipe import Recipe

# (reader of one value, a float field, an int field): training options, the SimCLR recipe, method options
READERS = {
    "train": (lambda k, v: getattr(TrainConfig.from_mapping({k: v}), k), "lr", "epochs"),
    "pretrain": (lambda k, v: getattr(Recipe.from_mapping({k: v}), k), "lr", "steps"),
    "method": (lambda k, v: check_option("fixmatch", k, v, k), "threshold", "mu"),
}


@pytest.mark.parametrize("table", sorted(READERS))
def test_every_table_coerces_numbers_alike(table):
    read, real, whole = READERS[table]
    assert read(real, 1) == 1.0 and type(read(real, 1)) is float       # TOML's 1 where a float goes
    assert read(whole, 3.0) == 3 and type(read(whole, 3.0)) is int     # a whole 3.0 where an int goes
    for name, bad, reason in ((real, True, "expected a finite number"), (real, "0.5", "expected a finite number"),
                              (whole, 3.5, "expected a whole number"), (real, math.nan, "expected a finite number"),
                              (real, math.inf, "expected a finite number")):
        with pytest.raises(UsageError, match=reason):
            read(name, bad)


def test_the_config_module_imports_neither_torch_nor_the_training_package():
    code = ("import sys\nimport alstudy.config\n"
            "bad = [m for m in sys.modules if m == 'torch' or m.startswith('alstudy.training')]\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
