"""Small frozen configs. Each function receives only the part it uses."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from alstudy.errors import UsageError

TUNES = ("finetune", "linear")     # with a SimCLR init: train the whole model, or only its head


def typed(value: Any, like: Any, key: str) -> Any:
    """`value` stored as the type of `like` (a default): an int where a float is expected
    becomes a float, a whole float where an int is expected an int; UsageError keyed `key`
    for any other type, and for a float that is nan or infinite (TOML allows both)."""
    kind = type(like)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not kind or (kind is float and not math.isfinite(value)):
        raise UsageError(_EXPECTED.get(kind, f"expected {kind.__name__}"), key=key, value=value)
    return value


_EXPECTED = {bool: "expected true or false", str: "expected a string", int: "expected a whole number",
             float: "expected a finite number"}


@dataclass(frozen=True)
class Budget:
    """Label budget of one campaign.

    `initial` and `per_cycle` are counts, or fractions of the train split when below 1.
    `cycles` is the number of selection rounds, so a campaign has `cycles + 1` records.
    `validation` is the labeled validation set: a count, or a fraction of the total label
    budget (initial + cycles * per_cycle). It is paid for with labels and never trained on.
    """

    initial: int | float = 50
    per_cycle: int | float = 50
    cycles: int = 8
    validation: int | float = 0.1

    def resolve(self, n_train: int, *, where: str = "budget") -> "ResolvedBudget":
        """Counts for a train split of `n_train` rows; UsageError (keys under `where`) when they cannot fit."""
        def count(key: str, value: int | float) -> int:
            if not _finite_number(value) or value <= 0:
                raise UsageError("expected a positive count or a fraction in (0, 1)", key=f"{where}.{key}", value=value)
            if isinstance(value, float) and value < 1:
                return max(1, round(value * n_train))
            if isinstance(value, float) and not value.is_integer():
                raise UsageError("a count must be a whole number", key=f"{where}.{key}", value=value)
            return int(value)

        initial, per_cycle = count("initial", self.initial), count("per_cycle", self.per_cycle)
        if isinstance(self.cycles, bool) or not isinstance(self.cycles, int) or self.cycles < 0:
            raise UsageError("expected a whole number >= 0", key=f"{where}.cycles", value=self.cycles)
        total = initial + self.cycles * per_cycle
        v = self.validation
        if not _finite_number(v) or v < 0 or (isinstance(v, float) and v > 1 and not v.is_integer()):
            raise UsageError("expected a whole count >= 0 or a fraction in [0, 1)", key=f"{where}.validation", value=v)
        validation = max(1, math.ceil(v * total)) if isinstance(v, float) and 0 < v < 1 else int(v)
        if total + validation > n_train:
            raise UsageError(f"needs {total} training labels + {validation} validation labels, "
                             f"but the train split has only {n_train} rows", key=where)
        return ResolvedBudget(initial, per_cycle, self.cycles, validation)


    def check(self, *, where: str = "budget") -> None:
        """Types and signs, and fractions that fit in a train split of any size; the counts are
        checked against a dataset's size by `resolve`."""
        def share(value: Any) -> float:   # the part of the train split a fraction takes
            return value if isinstance(value, float) and 0 < value < 1 else 0.0

        whole = isinstance(self.cycles, int) and not isinstance(self.cycles, bool) and self.cycles >= 0
        if whole and all(_finite_number(v) for v in (self.initial, self.per_cycle, self.validation)):
            taken = (share(self.initial) + self.cycles * share(self.per_cycle)) * (1 + share(self.validation))
            if taken >= 1:
                raise UsageError(f"initial + {self.cycles} x per_cycle (+ validation) as fractions take "
                                 f"{taken:.0%} of the train split: more than all of it", key=where)
        self.resolve(2**62, where=where)


def _finite_number(value: Any) -> bool:
    """An int or a float that is neither nan nor infinite (TOML allows both)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


@dataclass(frozen=True)
class ResolvedBudget:
    initial: int
    per_cycle: int
    cycles: int
    validation: int

    @property
    def total(self) -> int:
        return self.initial + self.cycles * self.per_cycle


@dataclass(frozen=True)
class TrainConfig:
    """Training hyperparameters of every cycle; all of them may be tuned.

    Defaults are a reasonable, lightly regularized recipe for small embedded data.
    """

    optimizer: str = "sgd"        # "sgd" (Nesterov momentum) or "adamw"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    epochs: int = 60              # passes over the labeled set ...
    min_steps: int = 50           # ... but at least this many optimizer steps (tiny labeled sets)
    stop: str = "plateau"         # "fixed": exactly that many steps; "plateau" (chosen by `alstudy bench
                                  # --only steps`, see README): at most that many, stopping once the
                                  # training loss plateaus (alstudy.training.stopping)
    patience: int = 20            # plateau: steps without an improvement of `tolerance` x the starting
    tolerance: float = 0.01       # ... value of the smoothed training loss
    cooldown: float = 0.25        # plateau: the final decay lasts this fraction of the steps before it
    batch_size: int = 64
    schedule: str = "cosine"      # "cosine", "onecycle" or "constant"
    warmup: float = 0.0           # fraction of steps with linear warmup
    label_smoothing: float = 0.0
    mixup: float = 0.0            # Beta(alpha, alpha) mixup; 0 = off
    swa: float = 0.0              # average weights over this final fraction of steps; 0 = off
    augment: float = 0.0          # strength of the dataset's batch augmentation; 0 = off
    dropout: float = 0.3          # head dropout (also the MC-dropout rate)
    warm_start: bool = False      # continue from the last cycle's weights instead of re-initializing

    def __post_init__(self) -> None:
        # the Python API checks what the study file checks (one UsageError, never a silent default)
        self.check("TrainConfig")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, where: str = "hyperparameters") -> "TrainConfig":
        """A checked TrainConfig from `values`; UsageError keyed `<where>.<name>` on the first bad one."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in values.items():
            if key not in known:
                raise UsageError(f"unknown hyperparameter; allowed: {', '.join(known)}", key=f"{where}.{key}")
            kwargs[key] = typed(value, known[key].default, f"{where}.{key}")
        defaults = {name: f.default for name, f in known.items()}
        _check_train(defaults | kwargs, where)   # keyed by `where`, before __post_init__ checks again
        return cls(**kwargs)

    def check(self, where: str = "hyperparameters") -> None:
        """UsageError keyed `<where>.<name>` for the first value of the wrong type or outside its range."""
        _check_train(dataclasses.asdict(self), where)

    def as_columns(self) -> dict[str, Any]:
        """`hp.<name>` columns of the results."""
        return {f"hp.{k}": v for k, v in dataclasses.asdict(self).items()}


_TRAIN_CHOICES = {"optimizer": ("sgd", "adamw"), "schedule": ("cosine", "onecycle", "constant"),
                  "stop": ("fixed", "plateau")}


def _check_train(values: Mapping[str, Any], where: str) -> None:
    """UsageError keyed `<where>.<name>` for the first TrainConfig value of the wrong type or range."""
    def bad(key: str, allowed: str) -> UsageError:   # a flag reads `--set lr`, a table `train.lr`
        return UsageError(allowed, key=f"{where} {key}" if where.startswith("-") else f"{where}.{key}",
                          value=values[key])

    for f in dataclasses.fields(TrainConfig):
        kind, value = type(f.default), values[f.name]
        if (kind is bool and not isinstance(value, bool) or kind is str and not isinstance(value, str)
                or kind is int and (isinstance(value, bool) or not isinstance(value, int))
                or kind is float and not _finite_number(value)):
            raise bad(f.name, _EXPECTED[kind])
    for key, allowed in _TRAIN_CHOICES.items():
        if values[key] not in allowed:
            raise bad(key, f"allowed: {', '.join(allowed)}")
    for key in ("lr", "batch_size"):
        if values[key] <= 0:
            raise bad(key, "must be > 0")
    for key in ("epochs", "min_steps", "weight_decay", "mixup", "augment", "momentum", "patience", "cooldown"):
        if values[key] < 0:
            raise bad(key, "must be >= 0")
    for key in ("warmup", "label_smoothing", "swa", "dropout", "tolerance"):
        if not 0 <= values[key] < 1:
            raise bad(key, "must be in [0, 1)")


@dataclass(frozen=True)
class Encoder:
    """A finished SimCLR pretraining as a campaign reads it: the encoder file (`path`, the
    backbone's state dict), its key and its cost."""

    key: str
    path: str
    seconds: float
    steps: int


@dataclass(frozen=True)
class Init:
    """Where each cycle's model starts, applied to the fresh model from the cycle's seed:
    `random` keeps it; `weights` loads the local file `weights` where it fits
    (alstudy.models.weights); `simclr` takes the backbone of `encoder`, then trains all of it
    (`tune = "finetune"`) or only its head on frozen features (`"linear"`).

    `encoder` is the SimCLR pretraining the campaign reads: the start of a `simclr` init, and
    what a strategy asking for `features = "simclr"` embeds with, whatever the init."""

    kind: str = "random"               # "random", "weights" or "simclr"
    weights: str | None = None         # kind "weights": the file
    tune: str = "finetune"             # kind "simclr": one of TUNES
    encoder: Encoder | None = None

    def apply(self, model, *, model_name: str = "the model"):
        """`model` (fresh from the seed) started as this init says, in place; returns it."""
        if self.kind == "random":
            return model
        # torch: the loaders are imported only when a model is built, so configs stay torch-free
        from alstudy.models.weights import load_weights, start_from

        if self.kind == "weights":
            load_weights(model, self.weights, model_name=model_name)
            return model
        if self.encoder is None:
            raise ValueError("a SimCLR init needs its encoder: attach the pretraining first")
        return start_from(model, self.encoder.path, linear=self.tune == "linear")

    def columns(self) -> dict[str, Any]:
        """Record columns of every cycle of a campaign that reads a SimCLR pretraining."""
        if self.encoder is None:
            return {}
        simclr = self.kind == "simclr"
        return {"pretrain_key": self.encoder.key, "seconds_pretrain": self.encoder.seconds,
                "pretrain_steps": self.encoder.steps, "init": self.kind, "tune": self.tune if simclr else ""}


@dataclass(frozen=True)
class CampaignConfig:
    """One AL campaign: a dataset, a strategy, a model, a budget and the training recipe.

    `paradigm` names the cell's training paradigm (recorded); `method` and `method_options`
    are how it trains (alstudy.training.methods: every option resolved, defaults included);
    `init` is where each cycle's model starts (and the SimCLR encoder a strategy embeds with)."""

    dataset: str
    strategy: str
    model: str | None = None                  # None: the dataset's default model
    model_options: Mapping[str, Any] = field(default_factory=dict)
    strategy_options: Mapping[str, Any] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)
    train: TrainConfig = field(default_factory=TrainConfig)
    data_root: str | None = None              # where torchvision datasets live
    download: bool = False                    # fetch missing torchvision files (needs network)
    deterministic: bool = True                # deterministic kernels (identical reruns)
    splits: str | None = None                 # folder pattern with {seed}: fixed splits (alstudy.data.splits)
    paradigm: str = "supervised"
    method: str = "supervised"
    method_options: Mapping[str, Any] = field(default_factory=dict)
    init: Init = field(default_factory=Init)
