"""`alstudy campaign` and `alstudy list`: one campaign from the command line, and the names."""

from __future__ import annotations

import argparse
import ast
import sys

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

    p = sub.add_parser("list", help="list datasets, models and strategies")
    p.set_defaults(func=_list)


def _count(text: str) -> int | float:
    value = float(text)
    return int(value) if value >= 1 and value.is_integer() else value


def _parse_sets(items: list[str]) -> dict:
    values = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            raise UsageError(f"--set {item!r}: expected HP=VALUE, e.g. --set lr=0.1")
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
        raise UsageError(f"unknown dataset {args.dataset!r}; choices: {', '.join(dataset_names())}")
    if args.strategy not in strategy_names():
        raise UsageError(f"unknown strategy {args.strategy!r}; choices: {', '.join(strategy_names())}")
    device = _check_device(args.device)
    config = CampaignConfig(
        dataset=args.dataset, strategy=args.strategy, model=args.model,
        budget=Budget(args.initial, args.per_cycle, args.cycles, args.validation),
        train=TrainConfig.from_mapping(_parse_sets(args.set), where="--set"),
        data_root=args.data_root, download=args.download)

    import torch

    from alstudy.campaign import run_campaign

    if args.threads < 1:
        raise UsageError(f"--threads {args.threads}: must be >= 1")
    torch.set_num_threads(args.threads)

    print(f"{'cycle':>5} {'labels':>6} {'val_acc':>8} {'test_acc':>8} {'train_s':>8} {'select_s':>8}")

    def show(record: dict, _state) -> None:
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
        raise UsageError(f"--device {device!r}: allowed: cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise UsageError(f"--device {device!r}: no CUDA device is available here; use --device cpu")
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


def _list(args: argparse.Namespace) -> int:
    from alstudy.data import dataset_info
    from alstudy.models import model_names, model_options
    from alstudy.strategies import STRATEGIES

    out = sys.stdout
    out.write("datasets:\n")
    for row in dataset_info():
        out.write("  " + "  ".join(f"{k}={v}" for k, v in row.items()) + "\n")
    out.write("models:\n")
    for name in model_names():
        out.write(f"  {name}  options: {', '.join(model_options(name)) or '-'}\n")
    out.write("strategies:\n")
    for name, cls in STRATEGIES.items():
        needs = [k for k, v in vars(cls().needs()).items() if v]
        out.write(f"  {name}  needs: {', '.join(needs) or 'nothing'}\n")
    return 0
