"""`alstudy ...`: the command line. One module per verb; each adds its parser with
`add_parsers(subparsers)` and imports what it runs only when it runs (`alstudy --help` stays
light: no torch, Ray, Optuna or pandas)."""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from alstudy.errors import UsageError

# Modules that contribute subcommands, in the order `alstudy --help` lists them.
_COMMAND_MODULES = (
    "alstudy.cli.campaign",  # campaign
    "alstudy.cli.list",      # list
    "alstudy.cli.run",       # run
    "alstudy.cli.validate",  # validate
    "alstudy.cli.report",    # report
    "alstudy.cli.bench",     # bench
)


class _Parser(argparse.ArgumentParser):
    """argparse with its errors on one line, like every other bad input (exit code 2).

    Subcommand parsers are made by `add_subparsers`, which uses the parent's class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="alstudy",
        description="Fair, reproducible studies of deep active learning: every strategy, "
        "random included, tuned under the same budget; ranks checked across datasets.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit code (bad input: one line on stderr and 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UsageError as err:
        print(f"alstudy: error: {err}", file=sys.stderr)
        return UsageError.exit_code
    except KeyboardInterrupt:   # before a run started or after it ended (a run says more itself)
        from alstudy.study import interrupt

        print(f"alstudy: interrupted ({interrupt.signal_name()})", file=sys.stderr)
        return interrupt.exit_code()
    except BrokenPipeError:     # `alstudy list | head`: the reader left; so does alstudy, quietly
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())   # nor does Python's flush at exit complain
        os.close(devnull)
        return 141
