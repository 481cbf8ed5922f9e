"""`alstudy validate STUDY [--pilot DIR]`: check every key of a study file and print its plan; runs nothing."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    validate = subparsers.add_parser("validate", help="check a study file and print its plan",
                                     description="Check every key of a study file and print the plan "
                                     "(cells, trials, campaigns, resources) without running it.")
    validate.add_argument("study", metavar="STUDY", help="study file (TOML)")
    validate.add_argument("--pilot", metavar="DIR", default=None,
                          help="a previous results directory: say whether the planned evaluation seeds suffice "
                          "to tell evaluation.margin apart, from its spread of paired gains")
    validate.set_defaults(func=_validate)


def _validate(args: argparse.Namespace) -> int:
    return validate_study(args.study, pilot=args.pilot)


def validate_study(path: str, *, stream: TextIO | None = None, pilot: str | None = None) -> int:
    """Print the plan of the study at `path` (to `stream`, stdout) without running it; with a
    `pilot` results directory, also whether its evaluation seeds suffice for its margin."""
    # Imported when the command runs, so that `alstudy --help` stays light (alstudy.cli)
    from alstudy.study.checks import check_study
    from alstudy.study.plan import describe
    from alstudy.study.schema import load_study

    study = load_study(path)
    checks = check_study(study, source=path)
    lines = []
    if pilot is not None:   # read first: a bad pilot directory is one error line, no plan
        from analysis.verdict_report import pilot_check   # pandas and scipy: only with --pilot

        e = study.evaluation
        lines = pilot_check(pilot, datasets=study.datasets, seeds=len(e.seeds), margin=e.margin)
    print("\n".join([describe(study, checks), *lines]), file=stream or sys.stdout)
    return 0
