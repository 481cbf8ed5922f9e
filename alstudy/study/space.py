"""The tuning search space: ranges and choices over TrainConfig fields, as Optuna distributions.

In a study file, `[tuning.space]` maps a hyperparameter to a range
(`lr = {low = 1e-3, high = 0.3, log = true}`, optional `step`) or to a list of choices
(`mixup = [0.0, 0.2]`). Integer fields get integer ranges. Both ends of a range and every
choice must be valid values of the field (checked with TrainConfig's own rules).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from alstudy.config import TrainConfig
from alstudy.errors import UsageError
from alstudy.study import fields
from alstudy.training.methods import check_option, option_defaults


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter: a range (`low`..`high`) or `choices`."""

    name: str
    kind: str                        # "float", "int" or "choice"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()
    method: str | None = None        # a knob of this training method (else a TrainConfig field)

    def distribution(self):
        """The matching optuna distribution."""
        import optuna.distributions as d   # optuna: the scheduler asks; reading a study file does not

        if self.kind == "choice":
            return d.CategoricalDistribution(list(self.choices))
        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), log=self.log, step=int(self.step or 1))
        return d.FloatDistribution(float(self.low), float(self.high), log=self.log, step=self.step)

    def start(self, default: Any = None) -> Any:
        """`default` (TrainConfig's or the method's own default when None) brought into the searched
        space: clipped to [low, high] and onto the step grid; for choices, the default when listed,
        else the first."""
        if default is None:
            default = _defaults(self.method)[self.name]
        if self.kind == "choice":
            return default if default in self.choices else self.choices[0]
        value = min(max(default, self.low), self.high)
        if self.step is not None:
            value = self.low + round((value - self.low) / self.step) * self.step
            value = min(value, self.high - (self.high - self.low) % self.step)
        return int(round(value)) if self.kind == "int" else float(value)

    def as_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"choices": list(self.choices)}
        out = {"low": self.low, "high": self.high, "log": self.log}
        return out | ({"step": self.step} if self.step is not None else {})


def start_point(space: tuple[Param, ...], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The defaults of the searched hyperparameters, inside the space: every cell's first proposal.
    `base` holds the values the cell runs when untuned (the study's [train], the dataset's and the
    paradigm's overrides, alstudy.study.plan.untuned_values); a name it lacks takes the library default."""
    base = base or {}
    return {p.name: p.start(base.get(p.name)) for p in space}


def parse_space(table: Mapping[str, Any], where: str = "tuning.space", *,
                method: str | None = None) -> tuple[Param, ...]:
    """Params of `[tuning.space]` (TrainConfig fields) or, with `method`, of
    `[tuning.space.<method>]` (that method's options), in file order; UsageError on the first bad entry."""
    kinds = {name: type(default) for name, default in _defaults(method).items()}
    params = []
    for name, spec in table.items():
        path = fields.key_path(where, name)
        if name not in kinds:
            what = "hyperparameter" if method is None else f"option of method {method!r}"
            raise UsageError(f"unknown {what}; allowed: {', '.join(kinds) or 'none'}", key=path)
        if isinstance(spec, list):
            params.append(_choices(name, spec, path, method))
        elif isinstance(spec, dict):
            params.append(_range(name, kinds[name], spec, path, method))
        else:
            raise UsageError("expected a range {low = .., high = ..} or a list of choices", key=path, value=spec)
    return tuple(params)


def _defaults(method: str | None) -> dict[str, Any]:
    if method is None:
        return {f.name: f.default for f in dataclasses.fields(TrainConfig)}

    return option_defaults(method)


def _valid(name: str, value: Any, path: str, method: str | None = None) -> Any:
    """`value` as TrainConfig (or the method) would store it; UsageError naming `path` when invalid."""
    try:
        if method is not None:
            return check_option(method, name, value, path)
        return getattr(TrainConfig.from_mapping({name: value}), name)
    except UsageError as err:
        raise UsageError(f"{value!r} is not allowed ({err.reason})", key=path) from None


def _choices(name: str, values: list, path: str, method: str | None = None) -> Param:
    if not values:
        raise UsageError("is empty: list at least one choice", key=path)
    choices = tuple(_valid(name, v, path, method) for v in values)
    if len(set(choices)) != len(choices):
        raise UsageError("a choice is listed twice", key=path, value=values)
    return Param(name, "choice", choices=choices, method=method)


def _range(name: str, kind: type, spec: dict, path: str, method: str | None = None) -> Param:
    fields.check_keys(spec, ("low", "high", "log", "step"), path)
    if kind not in (int, float):
        raise UsageError(f"{name} is a {kind.__name__}; give a list of choices instead of a range", key=path)
    low, high = fields.number(spec, "low", path), fields.number(spec, "high", path)
    log = fields.boolean(spec, "log", path, default=False)
    step = fields.number(spec, "step", path) if "step" in spec else None
    if kind is int and any(isinstance(v, float) and not v.is_integer() for v in (low, high, step or 1)):
        raise UsageError(f"{name} is a whole number; low, high and step must be whole numbers", key=path)
    low, high = _valid(name, low, f"{path}.low", method), _valid(name, high, f"{path}.high", method)
    if not low < high:
        raise UsageError(f"low = {low!r} must be below high = {high!r}", key=path)
    if log and low <= 0:
        raise UsageError(f"log = true needs low > 0, got {low!r}", key=path)
    if step is not None and (step <= 0 or log):
        raise UsageError("must be > 0 and cannot be combined with log = true", key=f"{path}.step", value=step)
    step = int(step) if (kind is int and step is not None) else step
    return Param(name, "int" if kind is int else "float", low, high, log, step, method=method)
