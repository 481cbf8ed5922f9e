"""Training paradigms in a study file: `[paradigms.<name>]` tables, and the space of each cell.

A paradigm is a training method (alstudy.training.methods) plus fixed overrides of training
options and method options, and an `init` (where a cycle's weights start):

    [paradigms]
    supervised_plain = { method = "supervised", augment = 0.0 }
    fixmatch = { method = "fixmatch", threshold = 0.95 }
    imagenet_ft = { method = "supervised", init = { weights = "weights/resnet18.pth" } }

A study without the table has one implicit paradigm, `supervised`, and its cells, trial ids and
fingerprint are those of a study written before paradigms existed. Every (dataset, paradigm,
strategy) cell is tuned over the shared `[tuning.space]` plus the knobs of its method
(`[tuning.space.<method>]`); a value the paradigm fixes leaves its cell's space (the paradigm
decides it, so it is not searched there).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from alstudy.config import TUNES, Init, TrainConfig
from alstudy.errors import UsageError
from alstudy.study import fields
from alstudy.training.methods import check_method, check_option, method_names, option_names

IMPLICIT = "supervised"    # the paradigm of a study that names none
INITS = ("random", "simclr")   # where a cycle's weights start; "random": fresh seeded weights;
                               # "simclr": the study's pretrained encoder (alstudy.study.pretraining);
# or a table { weights = "PATH" }: a local pretrained file (alstudy.models.weights)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")   # no '-': trial ids join names with '-'


@dataclass(frozen=True)
class WeightsInit:
    """`init = { weights = PATH }`: every cycle starts from a local pretrained file
    (alstudy.models.weights loads it). `path` is as the study file writes it, `base` the folder
    it is relative to (the study file's; "" for the working directory)."""

    path: str
    base: str = ""

    @property
    def file(self) -> str:
        return os.path.join(self.base, os.path.expanduser(self.path))

    def sha256(self) -> str:
        """sha256 of the file's bytes ("absent" when it cannot be read): for the manifest and the
        fingerprint, so changed weights change the study."""
        h = hashlib.sha256()
        try:
            with open(self.file, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
        except OSError:
            return "absent"
        return h.hexdigest()

    def __str__(self) -> str:
        return f"weights {self.path}"


@dataclass(frozen=True)
class Paradigm:
    name: str
    method: str = "supervised"
    train: Mapping[str, Any] = field(default_factory=dict)     # fixed TrainConfig values
    options: Mapping[str, Any] = field(default_factory=dict)   # fixed method options (as given)
    init: str | WeightsInit = "random"
    tune: str = "finetune"    # init "simclr": train the whole model, or "linear": only its head

    def fixed(self) -> set[str]:
        """Names this paradigm fixes (they leave its cells' search space)."""
        return set(self.train) | set(self.options)

    def campaign_init(self) -> Init:
        """The `init` of this paradigm's campaigns (a SimCLR one without its encoder yet)."""
        if isinstance(self.init, WeightsInit):
            return Init("weights", weights=self.init.file)
        return Init(self.init, tune=self.tune)


def parse_paradigms(tbl: Mapping[str, Any]) -> tuple[Paradigm, ...]:
    """The paradigms of `[paradigms]`, in file order; () when the table is absent."""
    train_keys = [f.name for f in dataclasses.fields(TrainConfig)]
    out = []
    for name, raw in tbl.items():
        where = f"paradigms.{name}"
        if not _NAME.match(name):
            raise UsageError("use letters, digits or '_' (it is part of trial ids)", key=where)
        if not isinstance(raw, dict):
            raise UsageError("expected a table, e.g. { method = \"fixmatch\" }", key=where, value=raw)
        method = check_method(raw.get("method", "supervised"), f"{where}.method")
        init = parse_init(raw.get("init", "random"), f"{where}.init")
        tune = _tune(raw, init, where)
        fields.check_keys(raw, ["method", "init", "tune", *train_keys, *option_names(method)], where)
        train = {k: v for k, v in raw.items() if k in train_keys}
        TrainConfig.from_mapping(train, where=where)
        options = {k: check_option(method, k, v, f"{where}.{k}") for k, v in raw.items()
                   if k in option_names(method)}
        out.append(Paradigm(name, method, train, options, init, tune))
    return tuple(out)


def parse_init(raw: Any, key: str) -> str | WeightsInit:
    """A paradigm's `init`: one of INITS, or `{ weights = "PATH" }` (a WeightsInit whose path is
    relative to the working directory until `with_base` places it beside the study file)."""
    if isinstance(raw, dict):
        fields.check_keys(raw, ["weights"], key)
        path = fields.string(raw, "weights", key)
        if not path:
            raise UsageError("is empty: name a weights file", key=f"{key}.weights")
        return WeightsInit(path)
    if raw not in INITS:
        raise UsageError(f"allowed: {', '.join(INITS)}, or {{ weights = \"PATH\" }}", key=key, value=raw)
    return raw


def with_base(paradigms: tuple[Paradigm, ...], folder: str) -> tuple[Paradigm, ...]:
    """The paradigms with relative weights paths read from `folder` (the study file's)."""
    return tuple(dataclasses.replace(p, init=WeightsInit(p.init.path, folder))
                 if isinstance(p.init, WeightsInit) else p for p in paradigms)


def weights_inits(paradigms: tuple[Paradigm, ...]) -> dict[str, WeightsInit]:
    """{paradigm name: its `init = { weights = PATH }`} for the paradigms that name a file."""
    return {p.name: p.init for p in paradigms if isinstance(p.init, WeightsInit)}


def _tune(raw: Mapping[str, Any], init: str, where: str) -> str:
    """The paradigm's `tune` ("finetune" by default); only a pretrained init has one."""
    if "tune" not in raw:
        return "finetune"
    if init != "simclr":
        raise UsageError('applies to init = "simclr" only (what to train of the pretrained model)',
                         key=f"{where}.tune", value=raw["tune"])
    if raw["tune"] not in TUNES:
        raise UsageError(f"allowed: {', '.join(TUNES)}", key=f"{where}.tune", value=raw["tune"])
    return raw["tune"]


def split_space(tbl: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """`[tuning.space]` as (shared entries, {method: its `[tuning.space.<method>]` table})."""
    shared = {k: v for k, v in tbl.items() if k not in method_names()}
    per_method = {k: v for k, v in tbl.items() if k in method_names()}
    for method, sub in per_method.items():
        if not isinstance(sub, dict):
            raise UsageError("expected a table of the method's knobs", key=f"tuning.space.{method}", value=sub)
    return shared, per_method


def check_method_space(method_space: Mapping[str, tuple], paradigms: tuple[Paradigm, ...]) -> None:
    """A searched method knob needs a paradigm of that method."""
    used = {p.method for p in paradigms}
    for method in method_space:
        if method not in used:
            raise UsageError(f"no paradigm uses method {method!r}; its knobs would never be searched",
                             key=f"tuning.space.{method}")
