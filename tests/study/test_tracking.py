"""Experiment tracking: a study's campaigns as MLflow runs, equal to results.parquet; a broken
tracking store never fails a study."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from alstudy.cli import main

pytestmark = pytest.mark.ray
mlflow = pytest.importorskip("mlflow")


def test_tracked_study_has_one_mlflow_run_per_campaign_equal_to_its_results(ray_address, make_study, tmp_path,
                                                                           capsys):
    path = make_study(name="tracked", trials=2, eval_seeds=(100,))
    with open(path, "a") as f:
        f.write("\n[tracking]\nmlflow = true\n")
    out = str(tmp_path / "out")
    assert main(["run", path, "--out", out, "--address", ray_address, "--plain"]) == 0
    assert "warning" not in capsys.readouterr().out
    root = os.path.join(out, "tracked")
    df = pd.read_parquet(os.path.join(root, "results.parquet"))

    uri = f"sqlite:///{root}/mlflow.db"
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    runs = _search(uri)
    assert sorted(runs["tags.mlflow.runName"]) == sorted(df.trial.unique())
    assert set(runs.status) == {"FINISHED"}
    assert set(runs["tags.alstudy.study"]) == {"tracked"} and set(runs["tags.alstudy.code"]) == set(df.code)
    for _, run in runs.iterrows():
        rows = df[df.trial == run["tags.mlflow.runName"]].sort_values("cycle")
        first = rows.iloc[0]
        assert run["params.phase"] == first.phase and run["params.strategy"] == first.strategy
        assert run["params.dataset"] == first.dataset and run["params.seed"] == str(first.seed)
        assert float(run["params.lr"]) == first["hp.lr"]
        for metric in ("n_labeled", "val_acc", "test_acc", "seconds_train"):
            history = sorted((m.step, m.value) for m in client.get_metric_history(run.run_id, metric))
            assert history == [(c, pytest.approx(v)) for c, v in zip(rows.cycle, rows[metric])], metric


def _search(uri: str) -> pd.DataFrame:
    """mlflow.search_runs on the store at `uri` (search_runs reads the global tracking URI)."""
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        return mlflow.search_runs(experiment_names=["tracked"], output_format="pandas")
    finally:
        mlflow.set_tracking_uri(previous)


def test_a_broken_tracking_store_warns_once_and_the_results_are_intact(ray_address, make_study, tmp_path, capsys):
    path = make_study(name="untracked", trials=1, eval_seeds=(100,))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the tracking store's folder should be")
    out = str(tmp_path / "out")
    code = main(["run", path, "--out", out, "--address", ray_address, "--plain",
                 "--mlflow", f"sqlite:///{blocker}/mlflow.db"])
    printed = capsys.readouterr().out
    assert code == 0
    warnings = [line for line in printed.splitlines() if "MLflow tracking" in line]
    assert len(warnings) == 1 and "warning: MLflow tracking" in warnings[0], printed
    df = pd.read_parquet(os.path.join(out, "untracked", "results.parquet"))
    assert df.trial.nunique() == 4 and not df.duplicated(["trial", "cycle"]).any()


def test_an_unreachable_tracking_server_is_one_line_at_once(tmp_path):
    """An MLflow URI where no server listens once froze the study for ~4.5 minutes first."""
    import socket
    import time

    from alstudy.study.tracking import tracking_callbacks

    with socket.socket() as s:                                  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    notes, started = [], time.monotonic()
    callbacks = tracking_callbacks(False, f"http://127.0.0.1:{port}", study="s", root=str(tmp_path),
                                   note=notes.append)
    assert callbacks == [] and time.monotonic() - started < 10
    assert notes == [f"warning: MLflow tracking at http://127.0.0.1:{port}: no server answers there (connection "
                     "refused within 5 s); running without it (the study's results are unaffected)"]
    assert len(tracking_callbacks(False, "", study="s", root=str(tmp_path), note=notes.append)) == 1
