"""`alstudy report RESULTS_DIR [--out DIR] [--margin DELTA]`: the analysis report of a results store.

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
    p.add_argument("--margin", type=float, default=None, metavar="DELTA",
                   help="equivalence margin of the verdicts, in AUBC units (0.01 = one accuracy point; "
                   "default: evaluation.margin of the study in RESULTS_DIR/study.json, else 0.01)")
    p.set_defaults(func=_report)


def study_margin(results: Path) -> float:
    """evaluation.margin of the resolved study saved with the results; the default without one."""
    import json

    from alstudy.metrics import DEFAULT_MARGIN

    try:
        study = json.loads((results / "study.json").read_text())
        margin = study["evaluation"]["margin"]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_MARGIN   # results written before the margin existed, or without a study file
    return float(margin) if isinstance(margin, (int, float)) and 0 < margin < 1 else DEFAULT_MARGIN


def study_rounds(results: Path):
    """The adaptive evaluation's rounds of the study saved with the results; None when fixed."""
    import json

    from analysis.verdicts import Rounds

    try:
        return Rounds.of_study(json.loads((results / "study.json").read_text()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None   # no study file, or one from before max_seeds


def _report(args: argparse.Namespace) -> int:
    if not 0 < args.alpha < 1:
        raise UsageError("must be in (0, 1)", key="--alpha", value=args.alpha)
    if args.margin is not None and not 0 < args.margin < 1:
        raise UsageError("must be in (0, 1): a gain in AUBC units, 0.01 = one accuracy point",
                         key="--margin", value=args.margin)
    if args.bootstrap < 1:
        raise UsageError("must be >= 1", key="--bootstrap", value=args.bootstrap)
    import matplotlib

    matplotlib.use("Agg")  # a report is written, never shown: no display needed
    from analysis.analyze import Settings, analyze
    from analysis.load import read_results
    from analysis.report import rank_text, write_report
    from analysis.summary import headline
    from analysis.verdict_report import readings, seeds_lines
    from analysis.verdicts import margin_text

    from alstudy.cli import checks

    results = Path(args.results_dir)
    out = Path(args.out) if args.out else results / "report"
    checks.output_folder(str(out), flag="--out" if args.out else "RESULTS_DIR/report")
    frame = read_results(results)   # a missing or malformed store: ResultsError, a UsageError
    margin = args.margin if args.margin is not None else study_margin(results)
    settings = Settings(alpha=args.alpha, n_boot=args.bootstrap, seed=args.seed, posthoc=args.posthoc,
                        margin=margin, rounds=study_rounds(results))
    analysis = analyze(frame, settings=settings, study=results.resolve().name)
    try:
        path = write_report(analysis, out)
    except OSError as err:   # a read-only folder, a full disk: one line, whatever the file
        raise UsageError(f"cannot write the report there ({err.strerror or err}; {err.filename or out})",
                         key="--out" if args.out else "RESULTS_DIR/report", value=str(out)) from None
    print(f"Study: {analysis.study}")
    if len(analysis.codes) > 1:
        print(f"warning: the results come from {len(analysis.codes)} alstudy versions "
              f"({', '.join(analysis.codes)}); column `code` says which produced each row")
    for line in headline(analysis):
        print(f"* {line.replace('**', '')}")
    print(f"\nVerdicts against tuned random (margin {margin_text(margin)}):")
    for line in readings(analysis):
        print(f"* {line}")
    print("Seeds needed (largest per dataset):")
    for line in seeds_lines(analysis):
        print(f"* {line}")
    print("\nRanks (1 = best, test AUBC):")
    print(rank_text(analysis))
    print(f"\nReport: {path}")
    return 0
