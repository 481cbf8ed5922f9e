"""Shared test setup: GPU tests skip without CUDA; torch runs on one thread; tiny study files.

Small models train fastest on one thread, and on a 2-core machine a multi-threaded torch
next to Ray workers or other processes oversubscribes the cores many times over.
"""

from __future__ import annotations

import json
import os

import pytest


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    if not any("gpu" in item.keywords for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


TINY = """
name = "{name}"
datasets = {datasets}
strategies = {strategies}

[budget]
initial = 10
per_cycle = 8
cycles = {cycles}
validation = 10

[train]
epochs = 3
min_steps = 15
batch_size = 16

[tuning]
trials = {trials}
seeds = [0]
startup_trials = 1

[tuning.space]
lr = {{ low = 0.01, high = 0.2, log = true }}
weight_decay = [0.0, 0.001]

[evaluation]
seeds = {eval_seeds}
untuned = {untuned}

[resources]
cpu = {cpu}
gpu = {gpu}
"""


def tiny_study(folder, *, name: str = "tiny", datasets=("wine",), strategies=("random", "entropy"),
               cycles: int = 2, trials: int = 2, eval_seeds=(100, 101), untuned: bool = False,
               cpu: float = 1, gpu: float = 0, extra: str = "") -> str:
    """Write a small, fast study file (seconds per campaign on one core) and return its path.
    `extra`: more tables (paradigms, pretrain, strategy options), appended as they are."""
    text = TINY.format(name=name, datasets=json.dumps(list(datasets)), strategies=json.dumps(list(strategies)),
                       cycles=cycles, trials=trials, eval_seeds=json.dumps(list(eval_seeds)),
                       untuned=str(untuned).lower(), cpu=cpu, gpu=gpu) + extra
    path = os.path.join(folder, f"{name}.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.fixture(scope="session")
def write_study():
    """`tiny_study`, for fixtures wider than one test."""
    return tiny_study


@pytest.fixture
def make_study(tmp_path):
    def make(**kwargs) -> str:
        return tiny_study(str(tmp_path), **kwargs)
    return make
