"""`alstudy ...`: the command line. Each subcommand lives with the package that owns it."""

from __future__ import annotations

import argparse
import importlib
import sys

from alstudy.errors import UsageError

# Modules that contribute subcommands through `add_parsers(subparsers)`.
_COMMAND_MODULES = (
    "alstudy.commands",      # campaign, list
    "alstudy.study.cli",     # run, validate
    "analysis.cli",          # report
    "alstudy.bench.cli",     # bench
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alstudy",
        description="Fair, reproducible studies of deep active learning: every strategy, "
        "random included, tuned under the same budget; ranks checked across datasets.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        print(f"alstudy: error: {err}", file=sys.stderr)
        return UsageError.exit_code
    except KeyboardInterrupt:
        print("alstudy: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
