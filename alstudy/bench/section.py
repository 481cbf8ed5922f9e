"""One `Section` record per measured concept, its goals (`target`) and its text table."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO


@dataclass
class Section:
    """One section's measurements: `rows` (one measurement each), `summary` (the headline
    numbers), `targets` (goals checked, see `target`), `notes` (how it was measured, what was
    skipped); `skipped` says why the whole section did not run; `seconds` and `cpu_seconds` are
    its wall and CPU time; `wide` row keys stay in the JSON but out of the printed table."""

    name: str
    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    wide: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def target(name: str, value: float | None, *, at_most: float | None = None,
           at_least: float | None = None, unit: str = "") -> dict[str, Any]:
    """A goal and whether `value` meets it; `met` is None when nothing was measured."""
    bound, op = (at_most, "<=") if at_most is not None else (at_least, ">=")
    met = None
    if value is not None and math.isfinite(value):
        met = bool(value <= bound) if at_most is not None else bool(value >= bound)
    return {"name": name, "value": value, "goal": f"{op} {bound:g}{unit}", "met": met}


def _cell(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return {None: "-", True: "yes", False: "no"}[value]
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    return str(value)


def print_section(section: Section, out: TextIO) -> None:
    """The section as text: an aligned table of its rows (columns in first-seen order), then
    its summary, targets and notes."""
    out.write(f"\n== {section.title} ({section.name}) ==\n")
    if section.skipped:
        out.write(f"skipped: {section.skipped}\n")
        return
    columns = [c for c in dict.fromkeys(k for row in section.rows for k in row) if c not in section.wide]
    cells = [columns] + [[_cell(row.get(c)) for c in columns] for row in section.rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    out.writelines("  ".join(v.rjust(w) for v, w in zip(r, widths)) + "\n" for r in cells if section.rows)
    out.writelines(f"{key}: {_cell(value)}\n" for key, value in section.summary.items())
    for t in section.targets:
        verdict = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        value = f"{t['value']:.4g}" if isinstance(t["value"], float) else _cell(t["value"])
        out.write(f"target {t['name']}: {value} (goal {t['goal']}) -> {verdict}\n")
    out.writelines(f"note: {note}\n" for note in section.notes)
    out.write(f"({section.seconds:.1f} s, {section.cpu_seconds:.1f} CPU s)\n")
    out.flush()
