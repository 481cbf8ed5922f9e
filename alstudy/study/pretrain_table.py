"""The `[pretrain]` table of a study file: the SimCLR recipe per dataset, and whether the study
uses one at all (a paradigm with `init = "simclr"`, or a strategy with `features = "simclr"`).

    [pretrain]              # the recipe (alstudy.training.simclr_recipe.Recipe); defaults when absent
    steps = 200
    [pretrain.mnist5k]      # per dataset, over the shared values
    batch_size = 64

Planning the pretrainings is `alstudy.study.plan.pretraining_jobs`; computing and keeping them
is `alstudy.study.pretraining`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping

from alstudy.errors import UsageError
from alstudy.study import fields
from alstudy.training.simclr_recipe import Recipe

FOLDER = "pretrained"   # where the results store keeps the study's pretrainings: <key>.pt + <key>.json


def uses_pretraining(paradigms: Iterable, strategy_options: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether any paradigm starts from SimCLR or any strategy embeds with it."""
    return (any(p.init == "simclr" for p in paradigms)
            or any(o.get("features") == "simclr" for o in strategy_options.values()))


def parse_pretrain(tbl: Mapping[str, Any], datasets: tuple[str, ...], *, used: bool) -> dict[str, Recipe]:
    """`[pretrain]` as {dataset: Recipe}; {} when nothing in the study uses pretraining (then
    the table must be absent: a recipe nobody reads is a mistake worth a line)."""
    if not used:
        if tbl:
            raise UsageError('is not used: no paradigm has init = "simclr" and no strategy has '
                             'features = "simclr"', key="[pretrain]")
        return {}
    own = [f.name for f in dataclasses.fields(Recipe)]
    for key, value in tbl.items():
        if key not in own and not (key in datasets and isinstance(value, dict)):
            fields.check_keys({key: value}, own, "pretrain", extra=["[pretrain.<dataset>]"])
    shared = {k: v for k, v in tbl.items() if k in own}
    Recipe.from_mapping(shared)
    return {ds: Recipe.from_mapping(shared | fields.table(tbl, ds, "pretrain"),
                                    where=f"pretrain.{ds}" if ds in tbl else "pretrain") for ds in datasets}
