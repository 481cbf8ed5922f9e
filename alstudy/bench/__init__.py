"""Speed benchmarks behind `alstudy bench`: one module per section, each with
`run(mode, *, device) -> Section` (and `out_dir` where it draws figures: the JSON's folder);
`run_bench` runs them and writes the JSON."""

from __future__ import annotations

import importlib
import inspect
import resource
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

SCHEMA_VERSION = 1


def run_bench(mode: str, modules: list[str], *, device: str, threads: int | None = None,
              json_path: str | None = None) -> int:
    """Run the sections in `modules` (alstudy.bench.<module>, in order) at `mode` ("smoke",
    "quick" or "full") on `device`; print a table per section; write JSON to `json_path`."""
    import torch

    from alstudy.bench import hardware
    from alstudy.bench.section import print_section
    from alstudy.files import dumps, write_atomic

    if threads:
        torch.set_num_threads(threads)
    out, started, t_all = sys.stdout, datetime.now(timezone.utc), time.perf_counter()
    hw = hardware.describe(device)
    out.write(f"alstudy bench ({mode}) on {hw['cpu_model']}, {hw['cores_usable']} cores, "
              f"{hw['gpu_name'] or 'no GPU'}; torch {hw['torch']} ({hw['torch_threads']} threads), "
              f"ray {hw['ray']}; load average {hw['load_average']}\n")
    sections = {}
    for module in modules:
        t0, cpu0 = time.perf_counter(), _cpu_seconds()
        run = importlib.import_module(f"alstudy.bench.{module}").run
        # a section that draws figures writes them beside the JSON
        extra = {"out_dir": str(Path(json_path).parent)} if json_path and "out_dir" in inspect.signature(run).parameters else {}
        section = run(mode, device=device, **extra)
        section.seconds, section.cpu_seconds = time.perf_counter() - t0, _cpu_seconds() - cpu0
        print_section(section, out)
        sections[section.name] = section.to_dict()
    hw["load_average_end"] = hardware.load_average()
    targets = [dict(t, section=n) for n, s in sections.items() for t in s["targets"]]
    payload = {"schema": SCHEMA_VERSION, "mode": mode, "device": device,
               "started": started.isoformat(timespec="seconds"), "seconds": time.perf_counter() - t_all,
               "hardware": hw, "sections": sections, "targets": targets, "warnings": hardware.busy_warnings(hw)}
    out.write(f"\n{len(modules)} section(s) in {payload['seconds']:.0f} s; targets met: "
              f"{sum(t['met'] is True for t in targets)} of {len(targets)}; "
              f"load average at the end {hw['load_average_end']}\n")
    out.writelines(f"warning: {warning}\n" for warning in payload["warnings"])
    if json_path:
        write_atomic(json_path, dumps(payload) + "\n")
        out.write(f"results written to {json_path}\n")
    return 0


def _cpu_seconds() -> float:
    """CPU seconds of this process and its waited-for children (the kernel cases; Ray's workers
    are not counted): other work on the machine stretches wall time far more than these."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
