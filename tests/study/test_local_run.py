"""The in-process runner and the results store, without Ray: resume, refusal to mix studies,
the files a user finds, and the progress output."""

from __future__ import annotations

import io
import json
import os

import pandas as pd
import pytest

from alstudy.cli import main
from alstudy.study.runner import RunOptions, run_study


def test_local_run_writes_the_store_and_a_rerun_runs_nothing(make_study, tmp_path, capsys):
    path = make_study(name="loc", strategies=("random", "margin"), trials=1, eval_seeds=(100,))
    out = str(tmp_path / "out")
    assert main(["run", path, "--out", out, "--local", "--plain"]) == 0
    printed = capsys.readouterr().out
    root = os.path.join(out, "loc")
    assert sorted(n for n in os.listdir(root) if not n.startswith(".")) == [
        "manifest.json", "results.parquet", "study.json", "study.toml", "trials", "tuning.db"]
    assert open(os.path.join(root, "study.toml")).read() == open(path).read()
    assert not [n for n in os.listdir(os.path.join(root, "trials")) if n.startswith(".tmp")]
    df = pd.read_parquet(os.path.join(root, "results.parquet"))
    assert df.trial.nunique() == 4 and set(df.phase) == {"tune", "eval"} and set(df.study) == {"loc"}
    assert {"hp.lr", "new_indices", "optuna_value", "objective"} <= set(df.columns)
    # no Ray node ran these campaigns
    assert set(df.node_id) == {""} and set(df.node_ip) == {""}
    # on each seed random and margin train the same cycle 0 (defaults, same labels): the second
    # campaign loaded the first's, and later cycles trained; the complete study left no shared/
    loaded = df[df.cycle == 0].groupby(["phase", "seed"]).shared_training.apply(sorted)
    assert [v for v in loaded] == [["model", "none"]] * 2 and set(df[df.cycle > 0].shared_training) == {"none"}
    assert "margin" in printed and "rank" in printed

    before = {n: open(os.path.join(root, "trials", n)).read() for n in os.listdir(os.path.join(root, "trials"))}
    assert main(["run", path, "--out", out, "--local", "--plain"]) == 0
    after = {n: open(os.path.join(root, "trials", n)).read() for n in os.listdir(os.path.join(root, "trials"))}
    assert before == after
    runs = json.load(open(os.path.join(root, "manifest.json")))["runs"]
    assert [r["status"] for r in runs] == ["complete", "complete"]
    pd.testing.assert_frame_equal(df, pd.read_parquet(os.path.join(root, "results.parquet")))


def test_a_changed_study_is_not_mixed_into_old_results(make_study, tmp_path, capsys):
    out = str(tmp_path / "out")
    path = make_study(name="mix", strategies=("random",), trials=1, eval_seeds=(100,))
    assert run_study(path, RunOptions(out=out, local=True, live=False)) == 0
    make_study(name="mix", strategies=("random",), trials=1, eval_seeds=(100, 101))
    capsys.readouterr()
    assert main(["run", path, "--out", out, "--local"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different version of study 'mix' (evaluation.seeds was" in err[0]


def test_a_second_driver_on_the_same_results_is_refused(make_study, tmp_path, capsys):
    from alstudy.study.schema import load_study
    from alstudy.study.store import Store

    path = make_study(name="busy", strategies=("random",), trials=1, eval_seeds=(100,))
    out = str(tmp_path / "out")
    with Store.open(out, load_study(path), "").lock():   # as if another driver were running
        assert main(["run", path, "--out", out, "--local"]) == 2
    assert "another alstudy run is writing to" in capsys.readouterr().err
    assert main(["run", path, "--out", out, "--local", "--plain"]) == 0


def test_progress_is_line_based_off_a_terminal_and_redrawn_on_one(make_study, tmp_path):
    from alstudy.study.progress import Progress
    from alstudy.study.scheduler import Scheduler
    from alstudy.study.schema import load_study
    from alstudy.study.store import Store

    study = load_study(make_study(name="prog", trials=2))
    scheduler = Scheduler.from_store(study, Store.open(str(tmp_path / "out"), study, ""))
    spec = scheduler.next()
    plain, live = io.StringIO(), io.StringIO()
    for stream, is_live in ((plain, False), (live, True)):
        progress = Progress(scheduler, stream=stream, live=is_live)
        progress.update(force=True)
        progress.note("something happened")
        progress.close()
    assert "\x1b[" not in plain.getvalue()
    assert "tune 0/4 (1 running), eval 0/4" in plain.getvalue() and "something happened" in plain.getvalue()
    assert "\x1b[" in live.getvalue() and "best validation AUBC per cell" in live.getvalue()
    scheduler.complete(spec.trial, 0.5)
    assert "tune 1/4" in Progress(scheduler).line()


def test_a_study_resumed_by_other_code_warns_and_every_row_names_its_code(make_study, tmp_path, capsys):
    from alstudy.provenance import current_code

    path = make_study(name="upgrade", strategies=("random", "margin"), trials=1, eval_seeds=(100,))
    out = str(tmp_path / "out")
    root = os.path.join(out, "upgrade")
    assert main(["run", path, "--out", out, "--local", "--plain"]) == 0
    first = pd.read_parquet(os.path.join(root, "results.parquet"))
    assert set(first.code) == {current_code()}
    assert "warning" not in capsys.readouterr().out

    # As if the first run had been made by an older alstudy and one campaign were still to run.
    manifest_path = os.path.join(root, "manifest.json")
    manifest = json.load(open(manifest_path))
    manifest["runs"][0]["code"] = "0.0.9"
    json.dump(manifest, open(manifest_path, "w"))
    names = sorted(os.listdir(os.path.join(root, "trials")))
    for name in names:
        lines = [json.loads(x) for x in open(os.path.join(root, "trials", name))]
        for line in lines[1:]:
            line["meta"]["code"] = "0.0.9"
        open(os.path.join(root, "trials", name), "w").write("".join(json.dumps(x) + "\n" for x in lines))
    redo = [n for n in names if n.startswith("eval")][0]
    os.unlink(os.path.join(root, "trials", redo))

    assert main(["run", path, "--out", out, "--local", "--plain"]) == 0
    printed = capsys.readouterr().out
    assert f"warning: earlier runs of this study used alstudy 0.0.9; this run uses {current_code()}" in printed
    df = pd.read_parquet(os.path.join(root, "results.parquet"))
    assert len(df) == len(first)
    rerun = df.trial == redo.removesuffix(".jsonl")
    assert set(df.loc[rerun, "code"]) == {current_code()} and set(df.loc[~rerun, "code"]) == {"0.0.9"}
    runs = json.load(open(manifest_path))["runs"]
    assert [r["code"] for r in runs] == ["0.0.9", current_code()] and runs[1]["packages"]["torch"]
    assert runs[1]["codes"] == [current_code()]

    assert main(["report", root]) == 0
    printed = capsys.readouterr().out
    assert "warning: the results come from 2 alstudy versions" in printed
    report = open(os.path.join(root, "report", "report.md")).read()
    assert "**Mixed code:**" in report and "0.0.9: " in report


def test_a_store_of_the_older_layout_is_refused_in_one_line(make_study, tmp_path, capsys):
    path = make_study(name="old", strategies=("random",), trials=1, eval_seeds=(100,))
    os.makedirs(tmp_path / "out" / "old" / "proposals")
    assert main(["run", path, "--out", str(tmp_path / "out"), "--local"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "results in an earlier layout (trial JSON files and proposals/)" in err[0]


def test_rows_of_runs_recorded_before_runs_named_their_code_take_the_manifest_versions():
    from alstudy.study.manifest import run_codes

    old = {"packages": {"alstudy": "0.1.0"}, "git": {"revision": "a" * 40, "dirty": True},
           "runs": [{"run": 0}, {"run": 1, "code": "0.2.0"}]}
    assert run_codes(old) == {0: "0.1.0+gaaaaaaaaaaaa.dirty", 1: "0.2.0"}
    assert run_codes(None) == {}


def test_a_run_names_the_source_files_changed_since_the_last_run(tmp_path):
    from alstudy.provenance import current_code, this_sources
    from alstudy.study.manifest import begin_run
    from alstudy.study.store import Store

    store = Store(str(tmp_path))
    assert begin_run(store, runner="local", extra={})[1:] == (current_code(), [], [])   # a new study
    manifest = json.load(open(tmp_path / "manifest.json"))
    assert manifest["sources"] == this_sources() and "alstudy/metrics.py" in manifest["sources"]
    manifest["sources"] = dict(this_sources()) | {"alstudy/metrics.py": "0" * 12, "alstudy/gone.py": "1" * 12}
    manifest["runs"][0]["code"] = "0.1.0+src.000000000000"
    json.dump(manifest, open(tmp_path / "manifest.json", "w"))
    run, code, others, changed = begin_run(store, runner="local", extra={})
    assert (run, others, changed) == (1, ["0.1.0+src.000000000000"], ["alstudy/gone.py", "alstudy/metrics.py"])


def test_results_folders_with_url_characters_keep_their_own_tuning(make_study, tmp_path, capsys):
    """`?`, `%` and `#` in --out are part of the folder's name, never of a storage URL: two
    studies under `mix?a` and `mix?b%41#c` keep separate tuning.db files and separate results."""
    import optuna

    from alstudy.files import sqlite_url

    two = make_study(name="mix", strategies=("random",), trials=2, eval_seeds=(100,))
    one = tmp_path / "one.toml"
    one.write_text(open(two).read().replace("trials = 2", "trials = 1"))
    for out, path in (("mix?a", two), ("mix?b%41#c", str(one))):
        assert main(["run", path, "--out", str(tmp_path / out), "--local", "--plain"]) == 0, out
    capsys.readouterr()
    assert not (tmp_path / "mix").exists() and not (tmp_path / "mix?bA#c").exists()
    for out, trials in (("mix?a", 2), ("mix?b%41#c", 1)):
        root = tmp_path / out / "mix"
        df = pd.read_parquet(root / "results.parquet")
        assert df[df.phase == "tune"].trial.nunique() == trials, out
        tuned = optuna.load_study(study_name="wine/random", storage=sqlite_url(str(root / "tuning.db")))
        assert len(tuned.trials) == trials, out


def test_the_embedded_mlflow_uri_names_the_results_folder_whole():
    from sqlalchemy.engine import make_url

    from alstudy.study.tracking import tracking_uri

    root = "/x/mix%41?a#b c"
    assert make_url(tracking_uri(True, None, root=root)).database == root + "/mlflow.db"
    assert tracking_uri("http://host:5000", None, root=root) == "http://host:5000"


@pytest.mark.slow   # MLflow's import and schema migration take seconds
def test_the_embedded_mlflow_store_lies_in_a_results_folder_with_url_characters(tmp_path):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from alstudy.study.tracking import tracking_uri

    root = tmp_path / "mix%41?a#b"
    root.mkdir()
    MlflowClient(tracking_uri=tracking_uri(True, None, root=str(root))).create_experiment("x")
    assert (root / "mlflow.db").stat().st_size > 0
    assert not (tmp_path / "mix%41").exists() and not (tmp_path / "mixA").exists()


def test_tune_storage_of_a_folder_with_url_characters_names_that_folder(tmp_path):
    """Ray Tune reads its storage through pyarrow: a plain folder must reach it as a path that
    pyarrow keeps whole, not as a URI whose `?` or `%` it would decode."""
    import pyarrow.fs

    from alstudy.study.ray_runner import _storage_uri

    for name in ("mix?a", "mix%41#b"):
        folder = str(tmp_path / name)
        assert pyarrow.fs.FileSystem.from_uri(_storage_uri(folder))[1] == folder


def test_only_a_cells_first_proposal_and_the_untuned_arm_keep_their_cycle_0(make_study, tmp_path):
    """A later proposal is one cell's own: its campaign gets no shared trainings (nothing would
    load them; a large model's would fill the disk). The first proposal, evaluation at it and the
    untuned arm do."""
    from alstudy.campaign import run_campaign

    path = make_study(name="keep", strategies=("random", "margin"), trials=2, eval_seeds=(100,),
                      untuned=True, cycles=1)
    offered = []   # per campaign: whether the runner gave it the shared trainings

    def campaign(config, seed, **kwargs):
        offered.append(kwargs["shared"] is not None)
        return run_campaign(config, seed, **kwargs)

    assert run_study(path, RunOptions(out=str(tmp_path / "out"), local=True, live=False), campaign=campaign) == 0
    df = pd.read_parquet(tmp_path / "out" / "keep" / "results.parquet")
    first = df[(df.cycle == 0) & ((df.phase == "untuned") | (df.optuna_trial == 0))]
    later = df[(df.cycle == 0) & (df.phase == "tune") & (df.optuna_trial == 1)]
    assert len(later) == 2 and set(later.shared_training) == {"none"}
    # every first-proposal or untuned cycle 0 was offered the folder, and on each seed one of
    # the two strategies loaded the other's
    assert len(offered) == 8 and sum(offered) == len(first.trial.unique()) == 6
    assert sorted(first.shared_training).count("model") == len(first) // 2
