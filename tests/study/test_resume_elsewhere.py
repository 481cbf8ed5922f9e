"""Where the data lives is a fact of the machine, not of the study: moving the dataset folder
(or resuming on another machine) changes `data_root` in the study file, and the run resumes."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd

from alstudy.study.runner import RunOptions, run_study
from alstudy.study.schema import load_study
from tests.data.conftest import write_mnist
from tests.study.conftest import tiny_mnist_study


def _trials(root: str) -> dict[str, bytes]:
    folder = os.path.join(root, "trials")
    return {n: open(os.path.join(folder, n), "rb").read() for n in sorted(os.listdir(folder))}


def test_moving_the_data_folder_resumes_the_study(tmp_path):
    first = tmp_path / "data"
    write_mnist(first, "MNIST", np.random.default_rng(0), compress=False)
    path = tmp_path / "moved.toml"
    path.write_text(_study(first))
    out = str(tmp_path / "out")
    assert run_study(str(path), RunOptions(out=out, local=True, live=False)) == 0
    root = os.path.join(out, "moved")
    before, rows = _trials(root), pd.read_parquet(os.path.join(root, "results.parquet"))
    assert len(before) == 2 and len(rows) == 4   # a tuning and an evaluation campaign, 2 cycles each

    second = tmp_path / "elsewhere"
    shutil.move(first, second)
    path.write_text(_study(second))
    assert run_study(str(path), RunOptions(out=out, local=True, live=False)) == 0
    assert _trials(root) == before, "nothing may be rerun"
    again = pd.read_parquet(os.path.join(root, "results.parquet"))
    assert len(again) == len(rows) and not again.duplicated(["trial", "cycle"]).any()


def test_the_study_keeps_the_text_it_was_read_from(tmp_path):
    path = tmp_path / "moved.toml"
    path.write_text(_study(tmp_path))
    study = load_study(path)
    assert study.source == path.read_text()
    assert "source" not in study.to_dict()
    other = load_study(_write(tmp_path / "b.toml", _study(tmp_path / "b") + "\n# moved\n"))
    assert other.fingerprint() == study.fingerprint() and other.source != study.source


def _write(path, text: str):
    path.write_text(text)
    return path


def _study(root) -> str:
    return tiny_mnist_study("moved", root)
