"""`alstudy report RESULTS_DIR [--out DIR]`: the analysis report of a results store.

`analysis` (pandas, matplotlib, scipy) is imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alstudy.errors import UsageError


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report", help="write report.md, figures, CSV tables and summary.json for a results directory",
        description="Analyse a results directory (holding results.parquet): curves, AUBC, gain over tuned "
        "random, ranks, rank stability, penalty matrix, critical difference. Prints the headline and ranks.")
    p.add_argument("results_dir", metavar="RESULTS_DIR", help="directory holding results.parquet")
    p.add_argument("--out", metavar="DIR", default=None, help="output directory (default: RESULTS_DIR/report)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default: 0.05)")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="N", help="bootstrap resamples (default: 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap generators (default: 0)")
    p.add_argument("--posthoc", choices=("nemenyi", "wilcoxon-holm"), default="nemenyi",
                   help="post-hoc test behind the critical difference diagram (default: nemenyi)")
    p.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    if not 0 < args.alpha < 1:
        raise UsageError("must be in (0, 1)", key="--alpha", value=args.alpha)
    if args.bootstrap < 1:
        raise UsageError("must be >= 1", key="--bootstrap", value=args.bootstrap)
    import matplotlib

    matplotlib.use("Agg")  # a report is written, never shown: no display needed
    from analysis.analyze import Settings, analyze
    from analysis.load import read_results
    from analysis.report import rank_text, write_report
    from analysis.summary import headline

    results = Path(args.results_dir)
    frame = read_results(results)   # a missing or malformed store: ResultsError, a UsageError
    settings = Settings(alpha=args.alpha, n_boot=args.bootstrap, seed=args.seed, posthoc=args.posthoc)
    analysis = analyze(frame, settings=settings, study=results.resolve().name)
    out = Path(args.out) if args.out else results / "report"
    path = write_report(analysis, out)
    print(f"Study: {analysis.study}")
    if len(analysis.codes) > 1:
        print(f"warning: the results come from {len(analysis.codes)} alstudy versions "
              f"({', '.join(analysis.codes)}); column `code` says which produced each row")
    for line in headline(analysis):
        print(f"* {line.replace('**', '')}")
    print("\nRanks (1 = best, test AUBC):")
    print(rank_text(analysis))
    print(f"\nReport: {path}")
    return 0
