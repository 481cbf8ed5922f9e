"""`alstudy campaign`: one active-learning campaign from the command line, one row per cycle."""

from __future__ import annotations

import argparse
import ast

from alstudy.errors import UsageError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("campaign", help="run one active-learning campaign and print its cycles",
                       description="Run one full AL campaign (train, evaluate, query, repeat) "
                       "and print one row per cycle.")
    p.add_argument("--dataset", required=True, help="dataset name (see `alstudy list`)")
    p.add_argument("--strategy", required=True, help="query strategy (see `alstudy list`)")
    p.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    p.add_argument("--initial", type=_count, default=50, help="initial labels: count or fraction (default 50)")
    p.add_argument("--per-cycle", type=_count, default=50, help="labels per cycle: count or fraction (default 50)")
    p.add_argument("--cycles", type=int, default=8, help="selection rounds (default 8)")
    p.add_argument("--validation", type=_count, default=0.1,
                   help="labeled validation set: count, or fraction of the label budget (default 0.1)")
    p.add_argument("--model", default=None, help="model name (default: the dataset's)")
    p.add_argument("--set", action="append", default=[], metavar="HP=VALUE",
                   help="a training hyperparameter, e.g. --set lr=0.1 --set mixup=0.2 (repeatable)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (default 1: small models run fastest on one "
                   "thread, and parallel campaigns should not oversubscribe the cores)")
    p.add_argument("--data-root", default=None, help="directory of torchvision datasets")
    p.add_argument("--download", action="store_true",
                   help="download missing torchvision files into --data-root (needs network)")
    p.add_argument("--out", default=None, help="write the records to this .parquet (or .csv) file")
    p.set_defaults(func=_campaign)


def _count(text: str) -> int | float:
    """A count ("50") or a fraction of the train split ("0.1")."""
    value = float(text)
    return int(value) if value >= 1 and value.is_integer() else value


def _parse_sets(items: list[str]) -> dict:
    values = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise UsageError("expected HP=VALUE, e.g. --set lr=0.1", key="--set", value=item)
        try:
            values[key.strip()] = ast.literal_eval(raw.strip())
        except (ValueError, SyntaxError):
            values[key.strip()] = raw.strip()
    return values


def _campaign(args: argparse.Namespace) -> int:
    from alstudy.config import Budget, CampaignConfig, TrainConfig
    from alstudy.data import dataset_names
    from alstudy.strategies import strategy_names

    if args.dataset not in dataset_names():
        raise UsageError(f"unknown dataset; choices: {', '.join(dataset_names())}", key="--dataset", value=args.dataset)
    if args.strategy not in strategy_names():
        raise UsageError(f"unknown strategy; choices: {', '.join(strategy_names())}",
                         key="--strategy", value=args.strategy)
    if args.threads < 1:
        raise UsageError("must be >= 1", key="--threads", value=args.threads)
    device = _check_device(args.device)
    config = CampaignConfig(
        dataset=args.dataset, strategy=args.strategy, model=args.model,
        budget=Budget(args.initial, args.per_cycle, args.cycles, args.validation),
        train=TrainConfig.from_mapping(_parse_sets(args.set), where="--set"),
        data_root=args.data_root, download=args.download)

    import torch

    from alstudy.campaign import run_campaign

    torch.set_num_threads(args.threads)

    print(f"{'cycle':>5} {'labels':>6} {'val_acc':>8} {'test_acc':>8} {'train_s':>8} {'select_s':>8}")

    def show(cycle, _weights) -> None:
        record = cycle.record
        print(f"{record['cycle']:>5} {record['n_labeled']:>6} {record['val_acc']:>8.4f} "
              f"{record['test_acc']:>8.4f} {record['seconds_train']:>8.2f} "
              f"{record['seconds_score'] + record['seconds_select']:>8.2f}", flush=True)

    records = run_campaign(config, args.seed, device=device, on_cycle=show)
    if args.out:
        _write(records, args.out)
        print(f"records written to {args.out}")
    return 0


def _check_device(device: str) -> str:
    if device == "cpu":
        return device
    import torch

    if not device.startswith("cuda"):
        raise UsageError("allowed: cpu, cuda, cuda:N", key="--device", value=device)
    if not torch.cuda.is_available():
        raise UsageError("no CUDA device is available here; use --device cpu", key="--device", value=device)
    return device


def _write(records: list[dict], path: str) -> None:
    import os

    import pandas as pd

    frame = pd.DataFrame.from_records(records)
    tmp = f"{path}.tmp"
    if path.endswith(".csv"):
        frame.to_csv(tmp, index=False)
    else:
        frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)
