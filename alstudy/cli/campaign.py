"""`alstudy campaign`: one active-learning campaign from the command line, one row per cycle."""

from __future__ import annotations

import argparse
import ast
import os
import sys

from alstudy.cli import checks
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
    p.add_argument("--paradigm", default="supervised", metavar="METHOD",
                   help="training method: supervised (default) or a semi-supervised one, e.g. "
                   "fixmatch (see `alstudy list`)")
    p.add_argument("--set", action="append", default=[], metavar="HP=VALUE",
                   help="a training hyperparameter or an option of the --paradigm's method, e.g. "
                   "--set lr=0.1 --set threshold=0.9 (repeatable)")
    p.add_argument("--init", default="random", choices=("random", "simclr"),
                   help="where each cycle's model starts: fresh seeded weights (default) or a SimCLR "
                   "encoder pretrained on the train split's inputs (computed once, kept under --cache)")
    p.add_argument("--tune", default="finetune", choices=("finetune", "linear"),
                   help="with --init simclr: train the whole model (default) or only its head")
    p.add_argument("--pretrain", action="append", default=[], metavar="KEY=VALUE",
                   help="a SimCLR recipe value, e.g. --pretrain steps=200 --pretrain temperature=0.5 "
                   "(repeatable; keys: steps, batch_size, lr, weight_decay, warmup, temperature, "
                   "strength, proj_dim)")
    p.add_argument("--cache", default="alstudy-pretrained", metavar="DIR",
                   help="folder of pretrained encoders, reused across runs (default ./alstudy-pretrained)")
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


def _parse_sets(items: list[str], *, flag: str = "--set") -> dict:
    values = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep:
            example = "--set lr=0.1" if flag == "--set" else f"{flag} steps=200"
            raise UsageError(f"expected {'HP' if flag == '--set' else 'KEY'}=VALUE, e.g. {example}", key=flag,
                             value=item)
        if raw.strip() in ("true", "false"):   # as the study file spells them
            values[key.strip()] = raw.strip() == "true"
            continue
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
    device = checks.device(args.device)
    if args.out:
        checks.output_file(args.out)
    from alstudy.training.methods import check_method, option_names, resolve_options

    method = check_method(args.paradigm, "--paradigm")
    sets = _parse_sets(args.set)
    knobs = {k: v for k, v in sets.items() if k in option_names(method)}
    config = CampaignConfig(
        dataset=args.dataset, strategy=args.strategy, model=args.model,
        budget=Budget(args.initial, args.per_cycle, args.cycles, args.validation),
        train=TrainConfig.from_mapping({k: v for k, v in sets.items() if k not in knobs}, where="--set"),
        data_root=args.data_root, download=args.download,
        paradigm=method, method=method, method_options=resolve_options(method, knobs, where="--set"))

    _check_trainable(config)

    import torch

    from alstudy.campaign import run_campaign

    torch.set_num_threads(args.threads)
    config = _with_pretrained(config, args, device)

    print(f"{'cycle':>5} {'labels':>6} {'val_acc':>8} {'test_acc':>8} {'steps':>6} {'train_s':>8} {'select_s':>8}")

    from alstudy.metrics import diverged as model_diverged, divergence_line

    diverged = []

    def show(cycle, _weights) -> None:
        record = cycle.record
        if not diverged and model_diverged(record):   # said once, where it starts
            diverged.append(record["cycle"])
            print(f"warning: {divergence_line(record)}", file=sys.stderr, flush=True)
        print(f"{record['cycle']:>5} {record['n_labeled']:>6} {record['val_acc']:>8.4f} "
              f"{record['test_acc']:>8.4f} {record['steps']:>6} {record['seconds_train']:>8.2f} "
              f"{record['seconds_score'] + record['seconds_select']:>8.2f}", flush=True)

    records = run_campaign(config, args.seed, device=device, on_cycle=show)
    if args.out:
        _write(records, args.out)
        print(f"records written to {args.out}")
    return 0


def _check_trainable(config) -> None:
    """Settings that would crash every cycle, refused as `alstudy validate` refuses them in a study:
    a BatchNorm model's batches need 2 rows, a semi-supervised method unlabeled rows."""
    from alstudy.data import get_dataset
    from alstudy.study.checks import batchnorm_reason, has_batchnorm, unlabeled_problem

    data = get_dataset(config.dataset, root=config.data_root, download=config.download)
    budget = config.budget.resolve(data.n_train)
    problem = unlabeled_problem(config.method, config.method_options, budget, data.n_train)
    if problem:
        raise UsageError(problem, key="--paradigm", value=config.method)
    initial = budget.initial
    model = config.model or data.default_model
    for flag, value in (("--initial", initial), ("--set batch_size", config.train.batch_size)):
        if value < 2 and has_batchnorm(model, config.dataset, config.model_options):
            raise UsageError(f"{batchnorm_reason(model, config.dataset)}; use >= 2", key=flag, value=value)


def _with_pretrained(config, args: argparse.Namespace, device: str):
    """`config` starting from a SimCLR encoder when --init simclr, pretrained in this process
    when --cache lacks it."""
    import dataclasses

    from alstudy.data import get_dataset
    from alstudy.study import pretraining
    from alstudy.training.simclr_recipe import Job, Recipe

    if args.tune != "finetune" and args.init != "simclr":
        raise UsageError("applies to --init simclr only", key="--tune", value=args.tune)
    if args.init != "simclr":
        if args.pretrain:
            raise UsageError("applies to --init simclr only", key="--pretrain")
        return config
    recipe = Recipe.from_mapping(_parse_sets(args.pretrain, flag="--pretrain"), where="--pretrain")
    checks.output_folder(args.cache, flag="--cache")
    model = config.model or get_dataset(config.dataset, root=config.data_root).default_model
    job = Job(config.dataset, model, {}, recipe, args.seed, data_root=config.data_root)
    folder = os.path.abspath(os.path.expanduser(args.cache))
    pretraining.ensure([job], folder, note=lambda text: print(text, flush=True), device=device)
    pre = pretraining.read(folder, job.key, init=True, tune=args.tune)
    return dataclasses.replace(config, pretrained=pre)


def _write(records: list[dict], path: str) -> None:
    import io

    import pandas as pd

    from alstudy.files import write_atomic

    frame, buffer = pd.DataFrame.from_records(records), io.BytesIO()
    frame.to_csv(buffer, index=False) if path.endswith(".csv") else frame.to_parquet(buffer, index=False)
    write_atomic(path, buffer.getvalue())
