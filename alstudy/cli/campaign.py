"""`alstudy campaign`: one active-learning campaign from the command line, one row per cycle."""

from __future__ import annotations

import argparse
import ast
import dataclasses
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
                   "fixmatch (see `alstudy list`); the campaign is the one cell of a study with "
                   "this paradigm")
    p.add_argument("--set", action="append", default=[], metavar="HP=VALUE",
                   help="a training hyperparameter or an option of the --paradigm's method, e.g. "
                   "--set lr=0.1 --set threshold=0.9 (repeatable)")
    p.add_argument("--init", default="random", choices=("random", "simclr"),
                   help="where each cycle's model starts: fresh seeded weights (default) or a SimCLR "
                   "encoder pretrained on the train split's inputs (computed once, kept under --cache)")
    p.add_argument("--tune", default=None, metavar="{finetune,linear}",
                   help="with --init simclr: train the whole model (finetune, the default) or only its head")
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
    from alstudy.study.plan import campaign_config, eval_spec

    study = _one_cell_study(args)
    config = campaign_config(study, eval_spec("eval", args.dataset, args.strategy, args.seed, {},
                                              paradigm=args.paradigm))
    config = dataclasses.replace(config, download=args.download)

    _check_trainable(config)

    import torch

    from alstudy.campaign import run_campaign

    torch.set_num_threads(args.threads)
    config = _with_encoder(config, study, args, device)

    from alstudy.data import dataset_spec

    metric = dataset_spec(config.dataset).metric   # acc or miou: the columns the records hold
    print(f"{'cycle':>5} {'labels':>6} {'val_' + metric:>8} {'test_' + metric:>8} {'steps':>6} {'train_s':>8} "
          f"{'select_s':>8}")

    from alstudy.metrics import diverged as model_diverged, divergence_line

    diverged = []

    def show(cycle, _weights) -> None:
        record = cycle.record
        if not diverged and model_diverged(record):   # said once, where it starts
            diverged.append(record["cycle"])
            print(f"warning: {divergence_line(record)}", file=sys.stderr, flush=True)
        print(f"{record['cycle']:>5} {record['n_labeled']:>6} {record['val_' + metric]:>8.4f} "
              f"{record['test_' + metric]:>8.4f} {record['steps']:>6} {record['seconds_train']:>8.2f} "
              f"{record['seconds_score'] + record['seconds_select']:>8.2f}", flush=True)

    records = run_campaign(config, args.seed, device=device, on_cycle=show)
    if args.out:
        _write(records, args.out)
        print(f"records written to {args.out}")
    return 0


def _check_trainable(config) -> None:
    """Settings that would crash every cycle, refused as `alstudy validate` refuses them in a study:
    a BatchNorm model's batches need 2 rows, a semi-supervised method unlabeled rows and a term
    for the dataset's task, and the task its recipe (mixup on segmentation)."""
    from alstudy.data import get_dataset
    from alstudy.study.checks import batchnorm_reason, has_batchnorm, unlabeled_problem
    from alstudy.training.methods import check_task
    from alstudy.training.task import task_for

    data = get_dataset(config.dataset, root=config.data_root, download=config.download)
    check_task(config.method, data.spec.task, "--paradigm")
    refusal = task_for(data).refusal(mixup=config.train.mixup)
    if refusal:
        raise UsageError(refusal, key="--set mixup", value=config.train.mixup)
    budget = config.budget.resolve(data.n_train)
    problem = unlabeled_problem(config.method, config.method_options, budget, data.n_train)
    if problem:
        raise UsageError(problem, key="--paradigm", value=config.method)
    initial = budget.initial
    model = config.model or data.default_model
    for flag, value in (("--initial", initial), ("--set batch_size", config.train.batch_size)):
        if value < 2 and has_batchnorm(model, config.dataset, config.model_options):
            raise UsageError(f"{batchnorm_reason(model, config.dataset)}; use >= 2", key=flag, value=value)


def _one_cell_study(args: argparse.Namespace):
    """The study whose one cell is this campaign: the dataset and strategy, the budget and
    model of the flags, and one paradigm named after --paradigm whose table holds the method,
    --init, --tune and every --set value, read by the study's own `parse_paradigms`."""
    from alstudy.config import Budget
    from alstudy.data import dataset_spec
    from alstudy.study.paradigms import parse_paradigms
    from alstudy.study.schema import DatasetSetup, Evaluation, Resources, Study, Tuning
    from alstudy.training.simclr_recipe import Recipe

    sets = _parse_sets(args.set)
    for key, flag in (("method", "--paradigm"), ("init", "--init"), ("tune", "--tune")):
        if key in sets:
            raise UsageError(f"is set by {flag}", key=f"--set {key}")
    table = {**sets, "method": args.paradigm, "init": args.init,
             **({"tune": args.tune} if args.tune is not None else {})}
    try:
        paradigms = parse_paradigms({args.paradigm: table})
    except UsageError as err:
        raise _as_flag(err, args.paradigm) from None
    if args.pretrain and args.init != "simclr":
        raise UsageError("applies to --init simclr only", key="--pretrain")
    pretrain = {}
    if args.init == "simclr":
        pretrain[args.dataset] = Recipe.from_mapping(_parse_sets(args.pretrain, flag="--pretrain"),
                                                     where="--pretrain")
    model = args.model or dataset_spec(args.dataset).default_model
    setup = DatasetSetup(Budget(args.initial, args.per_cycle, args.cycles, args.validation), model, {}, {})
    return Study(name="campaign", datasets=(args.dataset,), strategies=(args.strategy,),
                 setups={args.dataset: setup}, strategy_options={},
                 tuning=Tuning(trials=1, seeds=(args.seed,), space=()), evaluation=Evaluation(seeds=(args.seed,)),
                 resources=Resources(), data_root=args.data_root, paradigms=paradigms, pretrain=pretrain)


def _as_flag(err: UsageError, name: str) -> UsageError:
    """An error of the paradigm's table said as the flag that gave the value."""
    key = err.key.removeprefix(f"paradigms.{name}").removeprefix(".")
    reason = err.reason
    if key in ("", "method"):
        flag = "--paradigm"
    elif key.split(".")[0] in ("init", "tune"):
        flag = f"--{key}"
    else:
        flag = f"--set {key}"
        if reason.startswith("unknown key"):
            from alstudy.config import TrainConfig
            from alstudy.training.methods import option_names

            allowed = [f.name for f in dataclasses.fields(TrainConfig)] + option_names(name)
            reason = f"unknown hyperparameter or method option; allowed: {', '.join(allowed)}"
    if err.has_value:
        return UsageError(reason, key=flag, value=err.value)
    return UsageError(reason, key=flag)


def _with_encoder(config, study, args: argparse.Namespace, device: str):
    """`config` with its SimCLR encoder when --init simclr, pretrained in this process when
    --cache lacks it."""
    from alstudy.study import pretraining
    from alstudy.training.simclr_recipe import Job

    if args.init != "simclr":
        return config
    checks.output_folder(args.cache, flag="--cache")
    job = Job(config.dataset, config.model, dict(config.model_options), study.pretrain[config.dataset], args.seed,
              data_root=config.data_root)
    folder = os.path.abspath(os.path.expanduser(args.cache))
    pretraining.ensure([job], folder, note=lambda text: print(text, flush=True), device=device)
    encoder = pretraining.read(folder, job.key)
    return dataclasses.replace(config, init=dataclasses.replace(config.init, encoder=encoder))


def _write(records: list[dict], path: str) -> None:
    import io

    import pandas as pd

    from alstudy.files import write_atomic

    frame, buffer = pd.DataFrame.from_records(records), io.BytesIO()
    frame.to_csv(buffer, index=False) if path.endswith(".csv") else frame.to_parquet(buffer, index=False)
    write_atomic(path, buffer.getvalue())
