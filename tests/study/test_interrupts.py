"""Signals and studies where nothing finished: one line on what happened and how to resume, never
a traceback; the rerun's results equal an uninterrupted run's (timings aside), with no duplicates.

The driver runs in a subprocess (`alstudy run --local`) and gets SIGINT, SIGTERM or SIGKILL
before its first campaign finished or in the middle of the study."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from alstudy.study.runner import RunOptions, run_study

VOLATILE = ["seconds_train", "seconds_eval", "seconds_score", "seconds_select", "attempt", "run", "code"]
STUDY = dict(name="sig", datasets=("digits",), strategies=("random", "margin"), trials=2, eval_seeds=(100,),
             cycles=3)


@pytest.fixture(scope="module")
def clean(tmp_path_factory, write_study):
    folder = tmp_path_factory.mktemp("clean")
    path = write_study(str(folder), **STUDY)
    assert run_study(path, RunOptions(out=str(folder / "out"), local=True, live=False)) == 0
    return pd.read_parquet(folder / "out" / "sig" / "results.parquet")


def logs(root) -> list[str]:
    folder = root / "trials"
    return sorted(p.name for p in folder.iterdir() if p.suffix == ".jsonl") if folder.exists() else []


# Each case is two subprocess runs of the study. The default set keeps one case per signal and
# both moments (INT before the first campaign finished, TERM and KILL mid-study); the other three
# repeat a handler or a resume path those cover, and run with -m slow.
SLOW = pytest.mark.slow


@pytest.mark.parametrize("sig, when", [
    pytest.param(signal.SIGINT, "before_first_finished", id="before_first_finished-int"),
    pytest.param(signal.SIGTERM, "before_first_finished", id="before_first_finished-term", marks=SLOW),
    pytest.param(signal.SIGKILL, "before_first_finished", id="before_first_finished-kill", marks=SLOW),
    pytest.param(signal.SIGINT, "mid_study", id="mid_study-int", marks=SLOW),
    pytest.param(signal.SIGTERM, "mid_study", id="mid_study-term"),
    pytest.param(signal.SIGKILL, "mid_study", id="mid_study-kill"),
])
def test_a_signalled_driver_says_how_to_resume_and_the_rerun_completes(clean, write_study, finished_logs, tmp_path,
                                                                      sig, when):
    path = write_study(str(tmp_path), **STUDY)
    root = tmp_path / "out" / "sig"
    command = [sys.executable, "-m", "alstudy", "run", path, "--out", str(tmp_path / "out"), "--local", "--plain"]
    driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        ready = ((lambda: logs(root)) if when == "before_first_finished"
                 else (lambda: len(finished_logs(root / "trials")) >= 2))
        while not ready():
            assert driver.poll() is None, driver.communicate()
            assert time.monotonic() < deadline, "the study never reached the point of the signal"
            time.sleep(0.05)
        if when == "before_first_finished":
            assert finished_logs(root / "trials") == {}
        driver.send_signal(sig)
        out, err = driver.communicate(timeout=60)
    finally:   # whatever failed above, the driver does not outlive the test
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    if sig == signal.SIGKILL:
        assert driver.returncode == -signal.SIGKILL
    else:
        assert driver.returncode == 130, out + err
        assert "Traceback" not in err and "the study is not finished: rerun the same command to resume it" in out
        if when == "before_first_finished":
            assert "no campaign has finished yet" in out and not (root / "results.parquet").exists()
        else:
            assert len(pd.read_parquet(root / "results.parquet")) > 0

    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    df = pd.read_parquet(root / "results.parquet")
    assert not df.duplicated(["trial", "cycle"]).any()
    keep = [c for c in clean.columns if c not in VOLATILE]
    pd.testing.assert_frame_equal(df[keep], clean[keep])


def test_a_study_where_every_campaign_failed_says_so_and_where_the_errors_are(make_study, tmp_path, capsys):
    def broken(config, seed, **kwargs):
        raise RuntimeError("broken on purpose")

    path = make_study(name="allfail", strategies=("random",), trials=1, eval_seeds=(100,))
    out = tmp_path / "out"
    assert run_study(path, RunOptions(out=str(out), local=True, live=False, max_failures=1), campaign=broken) == 1
    printed = capsys.readouterr().out
    assert "no campaign has finished yet (1 failed): no results.parquet written" in printed
    assert "1 campaigns failed: tune-wine-random-t000-s0" in printed and "trials/<campaign>.jsonl" in printed
    assert "retrying from its last cycle" in printed                # the one retry it was allowed
    log = (out / "allfail" / "trials" / "tune-wine-random-t000-s0.jsonl").read_text()
    assert log.count("broken on purpose") == 2 and not (out / "allfail" / "results.parquet").exists()
