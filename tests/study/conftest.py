"""Study-runner test helpers: one real local Ray per test module that asks for it; the finished
campaign logs of a results store."""

from __future__ import annotations

import json
import logging
import os

import pytest


@pytest.fixture(scope="module")
def ray_address():
    """A real local Ray for the tests of one module (2 CPUs, one logical GPU); its address."""
    import ray

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def finished(folder) -> dict[str, bytes]:
    """Contents of the finished campaign logs in a `trials` folder (a header, one line per cycle)."""
    out = {}
    for name in os.listdir(folder) if os.path.isdir(folder) else ():
        if name.endswith(".jsonl") and not name.startswith("."):
            with open(os.path.join(folder, name), "rb") as f:
                content = f.read()
            lines = [json.loads(x) for x in content.splitlines()]
            if sum("record" in x for x in lines) == lines[0]["cycles_total"]:
                out[name] = content
    return out


@pytest.fixture(scope="session")
def finished_logs():
    """`finished(trials_folder)`: name -> content of each finished campaign log."""
    return finished


def tiny_mnist_study(name: str, data_root, *, splits: str | None = None) -> str:
    """A study file of one random cell on the fake MNIST files the data tests write (20 train
    rows): one tuning trial, one evaluation seed, two cycles a campaign."""
    split_table = f'\n[splits]\npath = "{splits}"\n' if splits else ""
    return f"""
name = "{name}"
datasets = ["mnist"]
strategies = ["random"]
data_root = "{data_root}"
{split_table}
[budget]
initial = 4
per_cycle = 2
cycles = 1
validation = 2

[train]
epochs = 1
min_steps = 2
batch_size = 8

[tuning]
trials = 1
seeds = [0]

[tuning.space]
lr = [0.05]

[evaluation]
seeds = [100]
"""
