"""Shared test setup: GPU tests skip without CUDA; torch runs on one thread.

Small models train fastest on one thread, and on a 2-core machine a multi-threaded torch
next to Ray workers or other processes oversubscribes the cores many times over.
"""

from __future__ import annotations

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
