"""`alstudy bench`: run the speed benchmarks, print a table per section, write JSON."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from datetime import datetime, timezone

from alstudy.errors import UsageError

# Section name -> module alstudy.bench.<module> with `run(mode, *, device) -> Section`, in the order they run.
SECTIONS = {"training": "training", "scoring": "scoring", "kernels": "kernels", "campaigns": "campaigns",
            "ray": "ray_overhead", "reference": "reference", "gpu": "gpu"}
SCHEMA_VERSION = 1


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure training, scoring, selection, campaigns and the Ray runner",
                       description="Speed benchmarks. Prints one table per section and, with --json, writes "
                       "every number with the hardware it was measured on.")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a subset at smaller sizes (minutes on a 2-core CPU)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: every section runs, numbers meaningless")
    p.add_argument("--json", metavar="FILE", default=None, help="write the results to FILE (JSON)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu); the gpu section needs cuda")
    p.add_argument("--threads", type=int, default=None,
                   help="cap on torch threads everywhere: the bench process, kernel cases and Ray "
                   "trials (default: torch's; 1 keeps timings sane on a machine busy with other work)")
    p.add_argument("--only", nargs="+", metavar="SECTION", default=None,
                   help=f"run only these sections: {', '.join(SECTIONS)}")
    p.set_defaults(func=_bench)


def _check(args: argparse.Namespace) -> tuple[str, list[str], str]:
    names = args.only or list(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise UsageError(f"--only {unknown[0]!r}: unknown section; choices: {', '.join(SECTIONS)}")
    device = args.device
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UsageError(f"--device {device!r}: allowed: cpu, cuda, cuda:N")
    if device != "cpu":
        import torch

        if not torch.cuda.is_available():
            raise UsageError(f"--device {device!r}: no CUDA device is available here; use --device cpu")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads {args.threads}: must be >= 1")
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    return mode, [n for n in SECTIONS if n in names], device


def _bench(args: argparse.Namespace) -> int:
    mode, names, device = _check(args)
    import torch

    from alstudy.bench import hardware
    from alstudy.bench.section import print_section
    from alstudy.study.store import dumps, write_atomic

    if args.threads:
        torch.set_num_threads(args.threads)
    out, started, t_all = sys.stdout, datetime.now(timezone.utc), time.perf_counter()
    hw = hardware.describe(device)
    out.write(f"alstudy bench ({mode}) on {hw['cpu_model']}, {hw['cores_usable']} cores, "
              f"{hw['gpu_name'] or 'no GPU'}; torch {hw['torch']} ({hw['torch_threads']} threads), "
              f"ray {hw['ray']}; load average {hw['load_average']}\n")
    sections = {}
    for name in names:
        t0 = time.perf_counter()
        section = importlib.import_module(f"alstudy.bench.{SECTIONS[name]}").run(mode, device=device)
        section.seconds = time.perf_counter() - t0
        print_section(section, out)
        sections[name] = section.to_dict()
    hw["load_average_end"] = hardware.load_average()
    targets = [dict(t, section=n) for n, s in sections.items() for t in s["targets"]]
    payload = {"schema": SCHEMA_VERSION, "mode": mode, "device": device,
               "started": started.isoformat(timespec="seconds"), "seconds": time.perf_counter() - t_all,
               "hardware": hw, "sections": sections, "targets": targets, "warnings": hardware.busy_warnings(hw)}
    out.write(f"\n{len(names)} section(s) in {payload['seconds']:.0f} s; targets met: "
              f"{sum(t['met'] is True for t in targets)} of {len(targets)}; "
              f"load average at the end {hw['load_average_end']}\n")
    out.writelines(f"warning: {warning}\n" for warning in payload["warnings"])
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        write_atomic(args.json, dumps(payload) + "\n")
        out.write(f"results written to {args.json}\n")
    return 0
