"""`alstudy list`: the datasets, models, strategies and training methods a study or a campaign may name."""

from __future__ import annotations

import argparse
import sys


def add_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list datasets, models, strategies and training methods")
    p.set_defaults(func=_list)


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
    from alstudy.training.methods import method_info

    out.write("methods (a paradigm's method; [paradigms.<name>] method = ..., or campaign --paradigm):\n")
    for row in method_info():
        out.write(f"  {row['name']}  {row['description']}  options: {row['options']}\n")
    _paradigm_keys(out)
    return 0


def _paradigm_keys(out) -> None:
    """What a [paradigms.<name>] table takes besides `method`, and the [pretrain] recipe."""
    from alstudy.config import TUNES
    from alstudy.study.paradigms import INITS
    from alstudy.training.simclr_recipe import Recipe

    out.write("paradigm keys ([paradigms.<name>]; campaign --init, --tune):\n")
    out.write(f"  init  {' | '.join(INITS)} | {{ weights = \"PATH\" }}  where each cycle's model starts: fresh "
              "seeded weights (default), a SimCLR encoder pretrained once per (dataset, seed) on the train "
              "split's inputs, or a local torchvision-format state dict (never downloaded)\n")
    out.write(f"  tune  {' | '.join(TUNES)}  with a pretrained init: train the whole model (default) or only "
              "its head on frozen features\n")
    out.write("  any training option (e.g. augment = 1.0) or option of the method: fixed in the paradigm's cells\n")
    recipe = ", ".join(f"{k}={v}" for k, v in Recipe().as_dict().items())
    out.write("pretrain (SimCLR recipe for init = \"simclr\"; [pretrain], per dataset [pretrain.<dataset>]; "
              f"campaign --pretrain KEY=VALUE):\n  {recipe}\n")
