"""Typed reads from a parsed TOML table, each failure one UsageError keyed by its dotted path.

Every reader takes the dotted path of the table (`where`) so that messages read
`tuning.seeds = '0': expected a list of whole numbers`. Numbers must be finite: TOML allows
`nan` and `inf`, and neither is a budget, a resource or a range end.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from alstudy.errors import UsageError

_MISSING = object()


def key_path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def check_keys(table: Mapping[str, Any], allowed: Iterable[str], where: str, *,
               extra: Iterable[str] = ()) -> None:
    """UsageError for the first key of `table` that is neither in `allowed` nor in `extra`."""
    allowed, extra = list(allowed), list(extra)
    for key in table:
        if key not in allowed and key not in extra:
            choices = ", ".join(allowed + extra) or "none"
            raise UsageError(f"unknown key; allowed: {choices}", key=key_path(where, key))


def table(parent: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    """The sub-table `key` of `parent` ({} when absent)."""
    value = parent.get(key, {})
    if not isinstance(value, dict):
        raise UsageError(f"expected a table ([{key_path(where, key)}])", key=key_path(where, key), value=value)
    return value


def string(parent: Mapping[str, Any], key: str, where: str, *, default: Any = _MISSING) -> str:
    value = _get(parent, key, where, default)
    if not isinstance(value, str) and value is not default:
        raise UsageError("expected a string", key=key_path(where, key), value=value)
    return value


def boolean(parent: Mapping[str, Any], key: str, where: str, *, default: Any = _MISSING) -> bool:
    value = _get(parent, key, where, default)
    if not isinstance(value, bool):
        raise UsageError("expected true or false", key=key_path(where, key), value=value)
    return value


def integer(parent: Mapping[str, Any], key: str, where: str, *, default: Any = _MISSING,
            minimum: int | None = None) -> int:
    value = _get(parent, key, where, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UsageError("expected a whole number", key=key_path(where, key), value=value)
    if minimum is not None and value < minimum:
        raise UsageError(f"must be >= {minimum}", key=key_path(where, key), value=value)
    return value


def number(parent: Mapping[str, Any], key: str, where: str, *, default: Any = _MISSING) -> float:
    value = _get(parent, key, where, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise UsageError("expected a finite number", key=key_path(where, key), value=value)
    return value


def names(parent: Mapping[str, Any], key: str, where: str, *, choices: list[str] | None) -> tuple[str, ...]:
    """A non-empty list of distinct strings, each in `choices` (when known)."""
    value = _get(parent, key, where, _MISSING)
    path = key_path(where, key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError("expected a list of names", key=path, value=value)
    if not value:
        raise UsageError("is empty: list at least one name", key=path)
    for v in value:
        if choices is not None and v not in choices:
            raise UsageError(f"unknown name {v!r}; choices: {', '.join(choices)}", key=path)
    if len(set(value)) != len(value):
        twice = next(v for v in value if value.count(v) > 1)
        raise UsageError(f"{twice!r} is listed twice", key=path)
    return tuple(value)


def seeds(parent: Mapping[str, Any], key: str, where: str) -> tuple[int, ...]:
    """A non-empty list of distinct whole numbers >= 0."""
    value = _get(parent, key, where, _MISSING)
    path = key_path(where, key)
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise UsageError("expected a list of whole numbers", key=path, value=value)
    if not value:
        raise UsageError("is empty: list at least one seed", key=path)
    if any(v < 0 for v in value):
        raise UsageError("seeds must be >= 0", key=path, value=value)
    if len(set(value)) != len(value):
        raise UsageError("a seed is listed twice", key=path, value=value)
    return tuple(value)


def _get(parent: Mapping[str, Any], key: str, where: str, default: Any) -> Any:
    if key in parent:
        return parent[key]
    if default is _MISSING:
        raise UsageError("is missing", key=key_path(where, key))
    return default
