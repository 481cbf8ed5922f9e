"""`alstudy run STUDY`: run or resume a study (Ray Tune, or in this process with --local)."""

from __future__ import annotations

import argparse
import os


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run", help="run (or resume) a study on Ray Tune",
        description="Run every campaign of a study as a Ray Tune trial; rerun the same command to resume. "
        "Without --address or RAY_ADDRESS a local Ray instance sized to this machine is started.")
    run.add_argument("study", metavar="STUDY", help="study file (TOML)")
    run.add_argument("--out", default="alstudy-results", metavar="DIR",
                     help="results folder; the study's results go to DIR/<study name> (default: %(default)s)")
    run.add_argument("--address", default=None, metavar="ADDR", help="Ray cluster to connect to (else RAY_ADDRESS)")
    run.add_argument("--storage", default=None, metavar="URI",
                     help="Tune storage for trial checkpoints: a shared folder or a cloud URI (multi-node runs)")
    run.add_argument("--max-concurrent", type=_positive, default=None, metavar="N",
                     help="at most N trials at once (overrides resources.max_concurrent)")
    run.add_argument("--max-failures", type=_non_negative, default=3, metavar="N",
                     help="retries of a crashed trial from its last cycle (default: %(default)s)")
    run.add_argument("--local", action="store_true",
                     help="run the campaigns one by one in this process, without Ray (debugging)")
    run.add_argument("--device", default="cpu", help="device of --local runs (default: %(default)s)")
    run.add_argument("--plain", action="store_true", help="line-based progress even on a terminal")
    run.add_argument("--mlflow", nargs="?", const="", default=None, metavar="URI",
                     help="log every campaign as an MLflow run (Ray runs): to URI, or without one to "
                     "<out>/<study>/mlflow.db (SQLite); overrides the study's [tracking]")
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    # Imported when the command runs, so that `alstudy --help` stays light (alstudy.cli)
    from alstudy.study.interrupt import stop_on_signals

    stop_on_signals(fresh=True)   # before the heavy imports: SIGTERM or SIGHUP now is one line too
    from alstudy.cli import checks
    from alstudy.study.runner import RunOptions, run_study

    checks.output_folder(args.out)
    if args.storage:
        checks.storage(args.storage)
    if args.local:
        checks.device(args.device)
    elif args.address or os.environ.get("RAY_ADDRESS"):
        checks.ray_address(args.address or os.environ["RAY_ADDRESS"],
                           flag="--address" if args.address else "RAY_ADDRESS")

    options = RunOptions(out=args.out, address=args.address, storage=args.storage,
                         max_concurrent=args.max_concurrent, max_failures=args.max_failures,
                         local=args.local, device=args.device, live=False if args.plain else None,
                         mlflow=args.mlflow)
    return run_study(args.study, options)


def _positive(text: str) -> int:
    return _whole(text, minimum=1)


def _non_negative(text: str) -> int:
    return _whole(text, minimum=0)


def _whole(text: str, *, minimum: int) -> int:
    """argparse type: a whole number >= `minimum` (argparse turns the error into one line)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise argparse.ArgumentTypeError(f"{text}: expected a whole number >= {minimum}")
    return value
