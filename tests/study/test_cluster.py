"""A study submitted as a Ray job to a real two-node cluster on 127.0.0.1: campaigns run on both
nodes, `stop_job` mid-study and a resubmission complete the results without a duplicate row.

Slow (a minute or two): run with `python -m pytest -m slow tests/study/test_cluster.py`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pandas as pd
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.ray]
pytest.importorskip("ray.dashboard", reason="the job server needs ray[default] (pip install 'alstudy[cluster]')")


def test_a_study_submitted_as_a_job_runs_on_both_nodes_and_resumes_after_stop_job(make_study, finished_logs, tmp_path):
    from ray.job_submission import JobStatus, JobSubmissionClient

    path = make_study(name="twonode", trials=2, eval_seeds=(100, 101), cycles=2)
    job_dir = tmp_path / "job"                      # what `--working-dir` ships: the study file
    job_dir.mkdir()
    os.replace(path, job_dir / "twonode.toml")
    out = tmp_path / "out"
    total = 2 * 2 + 2 * 2                           # (2 tuning + 2 evaluation campaigns) x 2 strategies
    # A short private temp dir (Ray's socket paths must stay short): nothing touches another
    # Ray on this machine, and every process of this cluster names it on its command line.
    temp_dir = tempfile.mkdtemp(prefix="alq-", dir="/tmp")
    token = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"} | {
        # token authentication the documented way: the same mode and token on every node
        "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token,
        # Ray kills workers when the whole machine runs low on memory; other jobs on a shared
        # CI machine must not kill this test's trials
        "RAY_memory_monitor_refresh_ms": "0"}
    ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
    # Ports of their own: another Ray on this machine may hold the defaults (two nodes on one
    # machine cannot both take the dashboard agent's default port, 52365).
    gcs, dashboard, head_agent, worker_agent = _free_ports(4)
    common = ["--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--temp-dir", temp_dir, "--disable-usage-stats"]
    try:
        subprocess.run([ray_cli, "start", "--head", "--port", str(gcs), "--dashboard-host", "127.0.0.1",
                        "--dashboard-port", str(dashboard), "--dashboard-agent-listen-port", str(head_agent), *common], env=env, check=True, capture_output=True,
                       timeout=180)
        subprocess.run([ray_cli, "start", "--address", f"127.0.0.1:{gcs}",
                        "--dashboard-agent-listen-port", str(worker_agent), *common], env=env, check=True,
                       capture_output=True, timeout=180)
        client = JobSubmissionClient(f"http://127.0.0.1:{dashboard}", headers={"Authorization": f"Bearer {token}"})
        job = dict(entrypoint=f"{sys.executable} -m alstudy run twonode.toml --out {out} --plain",
                   runtime_env={"working_dir": str(job_dir)})

        first = _submit(client, job)
        trials_dir = out / "twonode" / "trials"
        deadline = time.monotonic() + 300
        while len(finished_logs(trials_dir)) < 2:
            assert client.get_job_status(first) in (JobStatus.PENDING, JobStatus.RUNNING), client.get_job_logs(first)
            assert time.monotonic() < deadline, "no campaign finished in time"
            time.sleep(0.5)
        assert client.stop_job(first)
        assert _wait(client, first) == JobStatus.STOPPED
        stopped = finished_logs(trials_dir)
        assert 2 <= len(stopped) < total

        second = _submit(client, job)
        status = _wait(client, second, timeout=600)
        logs = client.get_job_logs(second)
        assert status == JobStatus.SUCCEEDED, (client.get_job_info(second).message, logs)
        assert "Traceback" not in logs, logs
        after = finished_logs(trials_dir)
        assert all(after[name] == content for name, content in stopped.items()), "a finished campaign was rerun"

        df = pd.read_parquet(out / "twonode" / "results.parquet")
        assert df.trial.nunique() == total and len(df) == total * 3
        assert not df.duplicated(["trial", "cycle"]).any()
        assert df.node_id.nunique() == 2 and (df.node_id != "").all()     # the campaigns ran on both nodes
        assert (df.node_ip != "").all()
        assert 1 in set(df.run)
    finally:
        _kill_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _free_ports(n: int) -> list[int]:
    """`n` distinct ports free right now (each socket stays bound until all are chosen)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _submit(client, job: dict) -> str:
    """Submit `job`; the job server answers "try again later" until the head's agent is up."""
    deadline = time.monotonic() + 120
    while True:
        try:
            return client.submit_job(**job)
        except RuntimeError as err:
            if "try again" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(1)


def _wait(client, job_id: str, *, timeout: float = 120):
    from ray.job_submission import JobStatus

    deadline = time.monotonic() + timeout
    while (status := client.get_job_status(job_id)) not in (JobStatus.STOPPED, JobStatus.SUCCEEDED,
                                                             JobStatus.FAILED):
        assert time.monotonic() < deadline, f"job {job_id} still {status}"
        time.sleep(0.5)
    return status


def _kill_cluster(temp_dir: str) -> None:
    """Stop every process of the cluster started in `temp_dir`, by pid: those whose command
    line names its session folder, and their children (`ray stop` would stop every Ray on the
    machine). SIGTERM first, SIGKILL for what is left."""
    pids = _cluster_pids(temp_dir)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + 10
        while (pids := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert not pids, f"processes of the test cluster still alive: {pids}"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"    # a zombie has exited
    except OSError:
        return False


def _cluster_pids(temp_dir: str) -> list[int]:
    roots, parents = [], {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"{temp_dir}/session_" in cmdline:
            roots.append(int(pid))
        try:
            with open(f"/proc/{pid}/stat") as f:
                parents[int(pid)] = int(f.read().split(")")[-1].split()[1])
        except OSError:
            continue
    found, frontier = set(roots), set(roots)
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return sorted(found - {os.getpid()})
