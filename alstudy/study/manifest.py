"""manifest.json: what produced the results (versions, git revision) and one entry per run."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from importlib import metadata
from typing import Any

from alstudy.study.store import Store

_PACKAGES = ("alstudy", "torch", "torchvision", "ray", "optuna", "numpy", "pandas", "pyarrow", "scikit-learn",
             "mnist1d")


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_revision() -> dict[str, Any] | None:
    """Revision of the git checkout holding alstudy, and whether it had local changes."""
    folder = os.path.dirname(os.path.abspath(__file__))
    try:
        rev = subprocess.run(["git", "-C", folder, "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", folder, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        return {"revision": rev.stdout.strip(), "dirty": bool(dirty.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return None


def begin_run(store: Store, *, runner: str, extra: dict[str, Any]) -> int:
    """Append a run entry (started now) to the manifest; return its index."""
    manifest = store.read_json("manifest.json") or {"created": now(), "runs": []}
    manifest |= {"packages": versions(), "git": git_revision(), "platform": platform.platform(),
                 "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:])}
    manifest["runs"].append({"run": len(manifest["runs"]), "runner": runner, "started": now(),
                             "ended": None, "status": "running", "driver_host": platform.node()} | extra)
    store.write_json(manifest, "manifest.json", indent=2)
    return len(manifest["runs"]) - 1


def end_run(store: Store, run: int, *, status: str, extra: dict[str, Any] | None = None) -> None:
    """Close run `run`: its end time, status, and the hosts and devices seen by its trials."""
    manifest = store.read_json("manifest.json")
    hosts, devices = set(), set()
    for t in store.trials():
        for meta in t.get("cycles", {}).values():
            if meta.get("run") == run:
                hosts.add(meta.get("host", ""))
                devices.add(meta.get("device_name") or meta.get("device", ""))
    manifest["runs"][run] |= {"ended": now(), "status": status, "hosts": sorted(hosts - {""}),
                              "devices": sorted(devices - {""})} | (extra or {})
    manifest["ended"] = now()
    store.write_json(manifest, "manifest.json", indent=2)
