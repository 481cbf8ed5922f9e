"""Study-runner test helpers: one real local Ray per test module that asks for it."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(scope="module")
def ray_address():
    """A real local Ray for the tests of one module (2 CPUs, one logical GPU); its address."""
    import ray

    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()
