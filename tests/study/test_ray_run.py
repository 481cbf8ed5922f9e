"""Whole studies on a real local Ray (2 CPUs, one logical GPU), read back from results.parquet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from alstudy.metrics import records_aubc as aubc
from alstudy.campaign import run_campaign
from alstudy.selection import choose
from alstudy.study.runner import RunOptions, run_study
from tests.study.conftest import tiny_mnist_study

pytestmark = pytest.mark.ray

# Columns that depend on wall time or on where a row was produced, not on the campaign.
VOLATILE = {"seconds_train", "shared_training", "seconds_eval", "seconds_score", "seconds_select", "attempt", "run", "host",
            "device", "gpu_ids", "node_id", "node_ip"}


class CrashOnce:
    """Wraps run_campaign: each campaign raises once, when it reaches `cycle` (a marker file per
    campaign in `folder` says it already did). Installed by the test, not read by alstudy."""

    def __init__(self, cycle: int, folder: str):
        self.cycle, self.folder = cycle, folder

    def __call__(self, config, seed, *, on_cycle, **kwargs):
        def crashing(cycle, weights):
            if cycle.record["cycle"] == self.cycle:
                marker = os.path.join(self.folder, f"{config.dataset}-{config.strategy}-{seed}-"
                                      f"{cycle.record['hp.lr']}.crashed")
                if not os.path.exists(marker):
                    open(marker, "w").close()
                    raise RuntimeError(f"injected failure at cycle {self.cycle}")
            on_cycle(cycle, weights)
        return run_campaign(config, seed, on_cycle=crashing, **kwargs)


class RemoveFolder:
    """Wraps run_campaign: the first cycle of every campaign removes `folder` (the driver's
    working folder), from the Ray worker, while the driver runs Tune."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, config, seed, **kwargs):
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)
        return run_campaign(config, seed, **kwargs)


def results(out, name: str) -> pd.DataFrame:
    return pd.read_parquet(os.path.join(out, name, "results.parquet"))


def test_tiny_study_end_to_end_on_a_quarter_gpu(ray_address, make_study, tmp_path, capsys):
    path = make_study(datasets=("wine", "breast_cancer"), strategies=("random", "entropy", "margin"),
                      trials=2, eval_seeds=(100, 101), cpu=0.5, gpu=0.25)
    out = str(tmp_path / "out")
    assert run_study(path, RunOptions(out=out, live=False)) == 0
    printed = capsys.readouterr().out
    df = results(out, "tiny")

    tune, evals = df[df.phase == "tune"], df[df.phase == "eval"]
    # every (dataset, strategy) cell got the same number of tuning trials
    per_cell = tune.groupby(["dataset", "strategy"]).optuna_trial.nunique()
    assert len(per_cell) == 6 and set(per_cell) == {2}
    assert set(evals.groupby(["dataset", "strategy"]).seed.nunique()) == {2}
    # evaluation seeds are disjoint from tuning seeds; evaluation reuses the Optuna trial the rule
    # chose (with one tuning seed the noise is unmeasured: the best by objective)
    assert set(evals.seed).isdisjoint(tune.seed)
    for (ds, st), rows in evals.groupby(["dataset", "strategy"]):
        cell = tune[(tune.dataset == ds) & (tune.strategy == st)]
        table = cell.pivot_table(index="optuna_trial", columns="seed", values="objective", aggfunc="first").sort_index()
        best = table.index[choose(table.to_numpy()).chosen]
        assert best == table.mean(axis=1).idxmax()
        assert set(rows.optuna_trial) == {best}
        assert rows["hp.lr"].iloc[0] == cell[cell.optuna_trial == best]["hp.lr"].iloc[0]
    # for one seed, every strategy starts from the same labeled set
    for (ds, seed), rows in df[df.cycle == 0].groupby(["dataset", "seed"]):
        assert len({tuple(x) for x in rows.new_indices}) == 1, (ds, seed)
    # n_labeled grows by the budget, and the objective is the validation AUBC of the records
    for trial, rows in df.groupby("trial"):
        rows = rows.sort_values("cycle")
        assert list(rows.n_labeled) == [10, 18, 26] and list(rows.cycle) == [0, 1, 2]
        assert rows.objective.iloc[0] == pytest.approx(aubc(rows.to_dict("records")))
    assert not df.duplicated(["trial", "cycle"]).any()
    # the 0.25-GPU request was scheduled on the logical GPU; without CUDA the trial used the CPU
    assert set(df.gpu_ids) == {"0"} and set(df.device) == {"cpu"}
    # every row names the Ray node that ran it: here the one local node
    import ray
    assert set(df.node_id) == {ray.get_runtime_context().get_node_id()}
    assert set(df.node_ip) == {ray.util.get_node_ip_address()}

    manifest = json.load(open(os.path.join(out, "tiny", "manifest.json")))
    assert manifest["runs"][-1]["status"] == "complete" and manifest["packages"]["ray"]
    # the Ray workers name their code, here the driver's own
    assert set(df.code) == {manifest["runs"][-1]["code"]} and manifest["runs"][-1]["codes"] == [df.code[0]]
    assert "rank" in printed and "results.parquet" in printed
    # finished trials leave no Tune checkpoints behind: their records are in the store
    left = [d for _, dirs, _ in os.walk(out) for d in dirs if d.startswith("checkpoint_")]
    assert left == []


# -m slow: every campaign fails once; the default set's killed-worker test below covers a campaign
# failing mid-way on Ray, handed out again, resumed from its log and equal to an uninterrupted run.
@pytest.mark.slow
def test_crashed_trials_resume_with_records_of_an_uninterrupted_run(ray_address, make_study, tmp_path):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the workers cannot import tests/
    path = make_study(name="faulty", trials=1, eval_seeds=(100,), cycles=3)
    faults = tmp_path / "faults"
    faults.mkdir()
    crash = CrashOnce(2, str(faults))             # every campaign crashes once, at cycle 2
    assert run_study(path, RunOptions(out=str(tmp_path / "ray"), live=False), campaign=crash) == 0
    assert run_study(path, RunOptions(out=str(tmp_path / "local"), local=True, live=False)) == 0
    ray_df, local_df = results(str(tmp_path / "ray"), "faulty"), results(str(tmp_path / "local"), "faulty")

    assert len(ray_df) == 4 * 4                 # 2 tuning + 2 evaluation campaigns, 4 cycles each
    assert (ray_df[ray_df.cycle >= 2].attempt == 1).all() and (ray_df[ray_df.cycle < 2].attempt == 0).all()
    assert len(os.listdir(faults)) == 4
    assert not [d for _, dirs, _ in os.walk(tmp_path / "ray") for d in dirs if d.startswith("checkpoint_")]
    columns = [c for c in ray_df.columns if c not in VOLATILE]
    pd.testing.assert_frame_equal(ray_df[columns], local_df[columns])


def test_a_working_folder_removed_under_the_driver_ends_the_study_cleanly(ray_address, make_study, tmp_path,
                                                                          monkeypatch, capsys):
    # Under `ray job submit` on nodes sharing one machine, Ray deletes the job's working folder
    # while the driver still runs in it; Tune then failed in os.getcwd() after every campaign.
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])   # the workers cannot import tests/
    path = make_study(name="homeless", trials=1, eval_seeds=(100,))
    gone = tmp_path / "job-working-dir"
    gone.mkdir()
    monkeypatch.chdir(gone)
    out = str(tmp_path / "out")
    assert run_study(path, RunOptions(out=out, live=False), campaign=RemoveFolder(str(gone))) == 0
    assert not gone.exists()
    df = results(out, "homeless")
    assert df.trial.nunique() == 4 and not df.duplicated(["trial", "cycle"]).any()
    assert "Traceback" not in capsys.readouterr().err


def test_storage_takes_a_pyarrow_filesystem_uri(ray_address, make_study, tmp_path):
    path = make_study(name="stored", trials=1, eval_seeds=(100,))
    text = open(path).read().replace("batch_size = 16", "batch_size = 16\nwarm_start = true")   # checkpoints
    open(path, "w").write(text)
    storage = tmp_path / "tune-storage"
    out = str(tmp_path / "out")
    assert run_study(path, RunOptions(out=out, storage=f"file://{storage}", live=False)) == 0
    df = results(out, "stored")
    assert df.trial.nunique() == 4 and not df.duplicated(["trial", "cycle"]).any()
    # Tune's experiment went to the URI, not into the results store; its checkpoints are gone
    assert (storage / "stored" / "run0").is_dir() and not os.path.exists(os.path.join(out, "stored", "ray"))
    trial_dirs = os.listdir(storage / "stored" / "run0")
    assert any(d.startswith("tune-") for d in trial_dirs)
    assert not [d for _, dirs, _ in os.walk(storage) for d in dirs if d.startswith("checkpoint_")]


@pytest.mark.slow   # test_interrupts' mid_study-kill covers a SIGKILLed driver and its rerun (local); this one on Ray
def test_killed_driver_reruns_without_duplicates_or_repeats(ray_address, make_study, finished_logs, tmp_path):
    path = make_study(name="killed", strategies=("random", "entropy", "margin"), trials=3, eval_seeds=(100, 101))
    out = tmp_path / "out"
    trials_dir = out / "killed" / "trials"
    command = [sys.executable, "-m", "alstudy", "run", path, "--out", str(out), "--address", ray_address,
               "--plain"]
    driver = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while len(finished_logs(trials_dir)) < 3:
        assert driver.poll() is None, "the study ended before it could be killed"
        assert time.monotonic() < deadline, "no campaign finished in time"
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    before = finished_logs(trials_dir)
    total = 3 * 3 + 3 * 2
    assert len(before) < total

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    after = finished_logs(trials_dir)
    assert len(after) == total
    assert all(after[name] == content for name, content in before.items()), "a finished trial was rerun"
    df = results(str(out), "killed")
    assert df.trial.nunique() == total and not df.duplicated(["trial", "cycle"]).any()
    assert set(df.run) == {0, 1}
    runs = json.load(open(out / "killed" / "manifest.json"))["runs"]
    assert [r["status"] for r in runs] == ["running", "complete"]   # the killed run never closed


class PauseOnce:
    """Wraps run_campaign: the first campaign to finish cycle 1 says so (a marker file holding
    its worker's pid) and pauses there, so a test can kill that worker mid-campaign, not between
    campaigns, and no other process on the machine."""

    def __init__(self, folder: str, seconds: float = 20.0):
        self.folder, self.seconds = folder, seconds

    def __call__(self, config, seed, *, on_cycle, **kwargs):
        def pausing(cycle, weights):
            on_cycle(cycle, weights)
            marker = os.path.join(self.folder, "paused")
            if cycle.record["cycle"] == 1 and not os.path.exists(marker):
                with open(marker + ".part", "w") as f:
                    f.write(str(os.getpid()))
                os.replace(marker + ".part", marker)
                time.sleep(self.seconds)      # the test kills this worker meanwhile
        return run_campaign(config, seed, on_cycle=pausing, **kwargs)


def test_a_killed_ray_worker_is_retried_and_the_records_equal_a_clean_run(ray_address, make_study, tmp_path):
    """SIGKILL of the worker process running a campaign, mid-campaign: the scheduler hands the
    campaign out again, it resumes from its log, and the results equal an in-process run's."""
    import threading

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    path = make_study(name="workerkill", strategies=("random",), trials=1, eval_seeds=(100,), cycles=3)
    out = tmp_path / "ray"
    killed: list[int] = []

    def kill_once() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (tmp_path / "paused").exists():
            time.sleep(0.05)
        time.sleep(0.5)                       # the paused campaign's cycle 1 reaches the driver's log
        if (tmp_path / "paused").exists():   # this study's paused worker only: not another run's
            pid = int((tmp_path / "paused").read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    watcher = threading.Thread(target=kill_once)
    watcher.start()
    try:
        assert run_study(path, RunOptions(out=str(out), live=False), campaign=PauseOnce(str(tmp_path))) == 0
    finally:
        watcher.join()
    assert killed, "no trial worker was found to kill"
    assert run_study(path, RunOptions(out=str(tmp_path / "local"), local=True, live=False)) == 0
    ray_df, local_df = results(str(out), "workerkill"), results(str(tmp_path / "local"), "workerkill")
    assert ray_df.attempt.max() == 1 and not ray_df.duplicated(["trial", "cycle"]).any()
    columns = [c for c in ray_df.columns if c not in VOLATILE]
    pd.testing.assert_frame_equal(ray_df[columns], local_df[columns])


class CrashAfterLastCycle:
    """Wraps run_campaign: every campaign raises once after its last cycle was reported."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, config, seed, **kwargs):
        records = run_campaign(config, seed, **kwargs)
        marker = os.path.join(self.folder, f"{config.strategy}-{seed}-{records[0]['hp.lr']}")
        if not os.path.exists(marker):
            open(marker, "w").close()
            raise RuntimeError("the worker dies after its last cycle")
        return records


def test_a_worker_dying_after_its_last_cycle_leaves_a_complete_campaign(ray_address, make_study, tmp_path):
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    path = make_study(name="late", strategies=("random",), trials=1, eval_seeds=(100,))
    out = tmp_path / "out"
    assert run_study(path, RunOptions(out=str(out), live=False), campaign=CrashAfterLastCycle(str(tmp_path))) == 0
    df = results(str(out), "late")
    assert df.trial.nunique() == 2 and set(df.attempt) == {0}       # nothing was run twice
    logs = "".join(p.read_text() for p in (out / "late" / "trials").glob("*.jsonl"))
    assert '"failed"' not in logs


@pytest.mark.slow   # the local tests cover both halves; this one checks them together on Ray
def test_a_lost_tuning_log_under_a_folder_with_url_characters_runs_again_on_ray(ray_address, make_study, tmp_path,
                                                                                capsys):
    """On Ray too: a results folder named `mix?a` keeps its own tuning.db and Tune folder, and
    a finished tuning campaign whose log is lost runs again, to the rows of the clean run."""
    path = make_study(name="lost", strategies=("random",), trials=2, eval_seeds=(100,))
    out = str(tmp_path / "mix?a")
    assert run_study(path, RunOptions(out=out, live=False)) == 0
    root = os.path.join(out, "lost")
    assert os.path.getsize(os.path.join(root, "tuning.db")) > 0 and os.path.isdir(os.path.join(root, "ray", "run0"))
    assert not os.path.exists(tmp_path / "mix")
    clean = results(out, "lost")
    os.unlink(os.path.join(root, "trials", "tune-wine-random-t001-s0.jsonl"))
    capsys.readouterr()
    assert run_study(path, RunOptions(out=out, live=False)) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if "warning:" in line]
    assert len(warnings) == 1 and "tune-wine-random-t001-s0.jsonl is missing" in warnings[0]
    again = results(out, "lost")
    keep = [c for c in clean.columns if c not in VOLATILE]
    pd.testing.assert_frame_equal(clean[keep], again[keep])




def test_relative_data_root_and_splits_are_read_beside_the_study_file(ray_address, tmp_path, monkeypatch):
    """`data_root = "data"` passed validate but failed every Ray trial (each runs in its own folder)."""
    import numpy as np

    from tests.data.conftest import write_mnist

    folder = tmp_path / "study"
    write_mnist(folder / "data", "MNIST", np.random.default_rng(0), compress=False)   # 20 train rows
    sets = {}
    for seed in (0, 100):
        perm = np.random.default_rng(seed).permutation(20)
        (folder / "splits" / f"seed{seed}").mkdir(parents=True)
        sets[seed] = {"valSet": perm[:2], "lSet": perm[2:6], "uSet": perm[6:]}
        for name, arr in sets[seed].items():
            np.save(folder / "splits" / f"seed{seed}" / f"{name}.npy", arr)
    (folder / "relative.toml").write_text(tiny_mnist_study("relative", "data", splits="splits/seed{seed}"))
    monkeypatch.chdir(tmp_path)                    # the command starts elsewhere than the study file
    out = str(tmp_path / "out")
    assert run_study("study/relative.toml", RunOptions(out=out, live=False)) == 0
    df = results(out, "relative")
    assert len(df) == 4 and set(df.phase) == {"tune", "eval"}
    for seed, rows in df[df.cycle == 0].groupby("seed"):
        assert sorted(rows.new_indices.iloc[0]) == sorted(sets[seed]["lSet"].tolist())
