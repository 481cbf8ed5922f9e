"""`alstudy validate STUDY [--pilot DIR]`: check every key of a study file and print its plan; runs nothing."""

from __future__ import annotations

import argparse


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
    from alstudy.study.runner import validate_study

    return validate_study(args.study, pilot=args.pilot)
