"""`alstudy bench`: run the speed benchmarks, print a table per section, write JSON."""

from __future__ import annotations

import argparse

from alstudy.errors import UsageError

# Section name -> module alstudy.bench.<module> with `run(mode, *, device) -> Section`, in the order they run.
SECTIONS = {"training": "training", "scoring": "scoring", "kernels": "kernels", "campaigns": "campaigns",
            "papers": "papers", "ray": "ray_overhead", "reference": "reference", "steps": "steps",
            "pretraining": "pretraining", "ssl": "ssl", "seg_scoring": "seg_scoring",
            "seg_training": "seg_training", "gpu": "gpu"}
# Left out of --quick unless named by --only: the step-rule sweep is the finished experiment that
# chose the default stop rule (README, "Time to accuracy"), 168 campaigns at quick size.
NOT_QUICK = ("steps",)


def chosen_sections(only: list[str] | None, *, quick: bool) -> list[str]:
    """The modules to run, in `SECTIONS` order: those named by `only`, else every section
    (less `NOT_QUICK` in quick mode)."""
    names = only or [n for n in SECTIONS if not (quick and n in NOT_QUICK)]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise UsageError(f"unknown section; choices: {', '.join(SECTIONS)}", key="--only", value=unknown[0])
    return [SECTIONS[n] for n in SECTIONS if n in names]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure training, scoring, selection, campaigns and the Ray runner",
                       description="Speed benchmarks. Prints one table per section and, with --json, writes "
                       "every number with the hardware it was measured on.")
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="a subset at smaller sizes, without the step-rule "
                      "sweep unless --only names it (minutes on a 2-core CPU)")
    size.add_argument("--smoke", action="store_true", help="tiny sizes: every section runs, numbers meaningless")
    p.add_argument("--json", metavar="FILE", default=None, help="write the results to FILE (JSON)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu); the gpu section needs cuda")
    p.add_argument("--threads", type=int, default=None,
                   help="cap on torch threads everywhere: the bench process, kernel cases and Ray "
                   "trials (default: torch's; 1 keeps timings sane on a machine busy with other work)")
    p.add_argument("--only", nargs="+", metavar="SECTION", default=None,
                   help=f"run only these sections: {', '.join(SECTIONS)}")
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from alstudy.bench import run_bench
    from alstudy.cli import checks

    modules = chosen_sections(args.only, quick=args.quick)
    device = checks.device(args.device)
    if args.threads is not None and args.threads < 1:
        raise UsageError("must be >= 1", key="--threads", value=args.threads)
    if args.json:
        checks.output_file(args.json, flag="--json", kinds=(".json",))
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    return run_bench(mode, modules, device=device,
                     threads=args.threads, json_path=args.json)
