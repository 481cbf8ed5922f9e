"""On a CUDA machine: quarter-GPU trials really train on the GPU, four at a time."""

from __future__ import annotations

import logging
import os

import pandas as pd
import pytest

from alstudy.study.runner import RunOptions, run_study

pytestmark = [pytest.mark.gpu, pytest.mark.ray]


@pytest.fixture(scope="module")
def ray_on_gpu():
    import ray

    ray.init(num_cpus=4, num_gpus=1, include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    yield
    ray.shutdown()


def test_quarter_gpu_trials_train_on_cuda(ray_on_gpu, make_study, tmp_path):
    path = make_study(name="gpu", strategies=("random", "entropy"), trials=2, eval_seeds=(100,),
                      cpu=1, gpu=0.25)
    out = str(tmp_path / "out")
    assert run_study(path, RunOptions(out=out, live=False)) == 0
    df = pd.read_parquet(os.path.join(out, "gpu", "results.parquet"))
    assert set(df.device) == {"cuda"} and set(df.gpu_ids) == {"0"}
    assert df.trial.nunique() == 2 * 2 + 2
