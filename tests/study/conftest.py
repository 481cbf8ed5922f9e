"""Study-runner test helpers: tiny study files and reading a results store."""

from __future__ import annotations

import json
import logging
import os

import pytest

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
               cpu: float = 1, gpu: float = 0) -> str:
    """Write a small, fast study file (seconds per campaign on one core) and return its path."""
    text = TINY.format(name=name, datasets=json.dumps(list(datasets)), strategies=json.dumps(list(strategies)),
                       cycles=cycles, trials=trials, eval_seeds=json.dumps(list(eval_seeds)),
                       untuned=str(untuned).lower(), cpu=cpu, gpu=gpu)
    path = os.path.join(folder, f"{name}.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


@pytest.fixture
def make_study(tmp_path):
    def make(**kwargs) -> str:
        return tiny_study(str(tmp_path), **kwargs)
    return make


@pytest.fixture(scope="module")
def ray_address():
    """A real local Ray for the tests of one module (2 CPUs, one logical GPU); its address."""
    import ray

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
