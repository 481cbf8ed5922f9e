"""The private Ray that `alstudy run` starts (no --address, no RAY_ADDRESS) is what README says:
no dashboard web server, every listening socket of every process it starts on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.slow]   # a whole private Ray start, watched: ~1 minute


def descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        out.add(pid)
        todo += children.get(pid, [])
    return out


def listeners(pids: set[int]) -> set[str]:
    """Local addresses of the TCP sockets these processes listen on (from `ss`)."""
    table = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    return {line.split()[3] for line in table.splitlines() if any(f"pid={p}," in line for p in pids)}


@pytest.mark.skipif(shutil.which("ss") is None or not sys.platform.startswith("linux"),
                    reason="needs Linux and `ss` to list listening sockets")
def test_a_private_ray_listens_on_loopback_only_and_serves_no_dashboard(make_study, tmp_path):
    path = make_study(name="loopback", strategies=("random",), trials=1, eval_seeds=(100,), cycles=3)
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    driver = subprocess.Popen([sys.executable, "-m", "alstudy", "run", path, "--out", str(tmp_path / "out"),
                               "--plain"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: set[str] = set()
    try:
        while driver.poll() is None:
            seen |= listeners(descendants(driver.pid))
            time.sleep(0.3)
    finally:   # on failure, the driver and every Ray process it started, by pid
        if driver.poll() is None:
            for pid in descendants(driver.pid):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
    assert driver.wait() == 0, driver.stdout.read()
    assert seen, "no listening socket was seen: the test could not look"
    loopback = {a for a in seen if a.rsplit(":", 1)[0] in ("127.0.0.1", "[::ffff:127.0.0.1]")}
    assert loopback == seen, f"listening beyond 127.0.0.1: {sorted(seen - loopback)}"
    assert not any(a.endswith(":8265") for a in seen)        # no dashboard web server
