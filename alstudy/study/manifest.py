"""manifest.json: what produced the results (versions, git revision) and one entry per run.

Each run entry names the driver's code (`code`: alstudy's version and a hash of its source files,
`alstudy.provenance.current_code`) and the codes its campaigns ran (`codes`, which on a cluster
are the workers'); the manifest also keeps the digest of every source file of the latest run
(`sources`). A study resumed with other code keeps the rows of both, so the runner warns in one
line naming the files changed since the last run, and every row of results.parquet carries the
code of the process that ran its campaign.
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from alstudy.provenance import changed_sources, code_version, now, this_code, this_sources
from alstudy.study.store import Store

def run_codes(manifest: dict[str, Any] | None) -> dict[int, str]:
    """`code` of every run in `manifest`. Runs recorded before runs named their code take the
    manifest's top-level versions, which describe the latest of them."""
    if not manifest:
        return {}
    fallback = code_version(manifest.get("packages") or {}, manifest.get("git"))
    return {int(r["run"]): r.get("code", fallback) for r in manifest.get("runs", [])}


def begin_run(store: Store, *, runner: str, extra: dict[str, Any]) -> tuple[int, str, list[str], list[str]]:
    """Append a run entry (started now) to the manifest. Returns its index, its code, the codes
    of earlier runs that differ from it (empty while the study's code never changed) and the
    source files changed since the last run (empty when unchanged, or not known)."""
    existed = os.path.exists(store.path("manifest.json"))
    manifest = store.read_json("manifest.json")   # a damaged one is set aside with its own note
    trials = store.path("trials")
    if not existed and os.path.isdir(trials) and any(name.endswith(".jsonl") for name in os.listdir(trials)):
        store.notes.append(f"{store.path('manifest.json')} is missing; it starts anew, without the runs "
                           "before this one (the rows keep theirs)")
    manifest = manifest or {"created": now(), "runs": []}
    earlier = run_codes(manifest)
    packages, git, code = this_code()
    sources = this_sources()
    changed = changed_sources(manifest["sources"], sources) if manifest.get("sources") else []
    manifest |= {"packages": packages, "git": git, "sources": sources, "platform": platform.platform(),
                 "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:])}
    manifest["runs"].append({"run": len(manifest["runs"]), "runner": runner, "code": code,
                             "packages": packages, "git": git, "started": now(),
                             "ended": None, "status": "running", "driver_host": platform.node()} | extra)
    store.write_json(manifest, "manifest.json", indent=2)
    return len(manifest["runs"]) - 1, code, sorted(set(earlier.values()) - {code}), changed


def end_run(store: Store, run: int, logs: dict[str, Any], *, status: str,
            extra: dict[str, Any] | None = None) -> None:
    """Close run `run`: its end time, status, and the hosts and devices its campaigns' cycles
    (`logs`, as `store.logs()` reads them) name."""
    manifest = store.read_json("manifest.json")
    hosts, devices, codes = set(), set(), set()
    for log in logs.values():
        for line in log.lines:
            if line["run"] == run:
                meta = line["meta"]
                hosts.add(meta["host"])
                devices.add(meta["device_name"] or meta["device"])
                codes.add(meta["code"])
    manifest["runs"][run] |= {"ended": now(), "status": status, "hosts": sorted(hosts - {""}),
                              "devices": sorted(devices - {""}), "codes": sorted(codes - {""})} | (extra or {})
    manifest["ended"] = now()
    store.write_json(manifest, "manifest.json", indent=2)
