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

VOLATILE = ["seconds_train", "shared_training", "seconds_eval", "seconds_score", "seconds_select", "attempt", "run", "code"]
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
    # The whole study takes a few seconds: on a loaded machine this process may wake too late
    # and find the driver done before its signal (Popen.send_signal then sends nothing). Such
    # an attempt starts over in a fresh folder; a driver that ignores the signal fails all three.
    for attempt in range(3):
        folder = tmp_path / f"attempt{attempt}"
        folder.mkdir()
        path = write_study(str(folder), **STUDY)
        root = folder / "out" / "sig"
        command = [sys.executable, "-m", "alstudy", "run", path, "--out", str(folder / "out"), "--local", "--plain"]
        # as a terminal starts it: SIGINT at its default, whatever this process inherited (an
        # ignored SIGINT passes to the child, and Python then leaves it ignored: that is how a
        # background job runs, where SIGTERM stops the run instead)
        driver = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            deadline = time.monotonic() + 120
            ready = ((lambda: logs(root)) if when == "before_first_finished"
                     else (lambda: len(finished_logs(root / "trials")) >= 2))
            while not ready() and driver.poll() is None:
                assert time.monotonic() < deadline, "the study never reached the point of the signal"
                time.sleep(0.05)
            late = driver.poll() is not None or (when == "before_first_finished"
                                                 and finished_logs(root / "trials") != {})
            if not late:
                driver.send_signal(sig)
            out, err = driver.communicate(timeout=60)
        finally:   # whatever failed above, the driver does not outlive the test
            if driver.poll() is None:
                driver.kill()
                driver.wait()
        if not late:
            break
    assert not late, f"the driver finished before the signal in 3 attempts: {out + err}"
    if sig == signal.SIGKILL:
        assert driver.returncode == -signal.SIGKILL
    else:
        assert driver.returncode == 128 + sig, out + err
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


def _manifest_status(root) -> str:
    import json

    return json.loads((root / "manifest.json").read_text())["runs"][-1]["status"]


@pytest.mark.parametrize("sig, ignore_int", [(signal.SIGTERM, True), (signal.SIGHUP, False)], ids=["term-bg", "hup"])
def test_a_signal_in_the_first_moment_closes_the_run_with_one_line(make_study, tmp_path, sig, ignore_int):
    """SIGTERM to a script's background job (SIGINT ignored) was ignored; SIGTERM or SIGHUP as the
    run started killed it silently (143, 129) and left the manifest "running"."""
    path = make_study(name="early", trials=1, eval_seeds=(100,))
    root = tmp_path / "out" / "early"
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignore_int else None
    driver = subprocess.Popen([sys.executable, "-m", "alstudy", "run", path, "--out", str(tmp_path / "out"),
                               "--local", "--plain"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              preexec_fn=ignore)
    try:
        deadline = time.monotonic() + 120
        while not (root / "manifest.json").exists():   # the moment the run says "running"
            assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()
            time.sleep(0.01)
        driver.send_signal(sig)
        out, err = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == 128 + sig and "Traceback" not in err, out + err
    name = signal.Signals(sig).name
    assert out.strip().splitlines()[-1] == (f"stopped by {name}: the study is not finished: "
                                            "rerun the same command to resume it")
    assert _manifest_status(root) == "interrupted"


def test_a_closed_output_pipe_stops_the_run_and_keeps_what_it_did(make_study, tmp_path):
    """`alstudy run ... | head -1` crashed with BrokenPipeError before results.parquet was written."""
    path = make_study(name="piped", trials=1, eval_seeds=(100,))
    root = tmp_path / "out" / "piped"
    driver = subprocess.Popen([sys.executable, "-m", "alstudy", "run", path, "--out", str(tmp_path / "out"),
                               "--local", "--plain"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert driver.stdout.readline().startswith("study piped: results in")
        driver.stdout.close()                                   # what `head -1` does after its line
        err = driver.stderr.read()
        driver.wait(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == 141 and "Traceback" not in err, err
    assert err.strip() == "stopped by SIGPIPE: the study is not finished: rerun the same command to resume it"
    assert _manifest_status(root) == "interrupted"


class ClosesAfter:
    """A reader that goes away after `lines` lines (a pipe into `head`)."""

    def __init__(self, lines: int):
        self.left, self.text = lines, []

    def write(self, text: str) -> int:
        if self.left <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        self.left -= text.count("\n")
        self.text.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def test_a_reader_gone_after_the_study_finished_leaves_the_results_written(make_study, tmp_path, capsys):
    path = make_study(name="late", strategies=("random",), trials=1, eval_seeds=(100,))
    stream = ClosesAfter(10 ** 6)
    options = RunOptions(out=str(tmp_path / "out"), local=True, live=False)
    assert run_study(path, options, stream=ClosesAfter(10 ** 6)) == 0
    assert run_study(path, options, stream=stream) == 0          # a rerun: nothing to run, the table again
    lines = sum(t.count("\n") for t in stream.text)
    (tmp_path / "out" / "late" / "results.parquet").unlink()    # the next rerun writes it again ...
    assert run_study(path, options, stream=ClosesAfter(lines - 2)) == 141   # ... as its table breaks
    assert len(pd.read_parquet(tmp_path / "out" / "late" / "results.parquet")) == 6
    assert capsys.readouterr().err.startswith("alstudy: the output closed (SIGPIPE) after the study finished")
    assert _manifest_status(tmp_path / "out" / "late") == "complete"
