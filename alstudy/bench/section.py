"""One `Section` record per measured concept, its goals (`target`) and its text table."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO


@dataclass
class Section:
    """One section's measurements.

    `rows` hold one measurement each (same keys in every row); `summary` the headline numbers
    (ratios); `targets` the goals checked (see `target`); `notes` say how something was
    measured and what was skipped. `skipped` is set when the whole section did not run.
    """

    name: str
    title: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0
    wide: tuple[str, ...] = ()  # row keys kept in the JSON but left out of the printed table

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def target(name: str, value: float | None, *, at_most: float | None = None,
           at_least: float | None = None, unit: str = "") -> dict[str, Any]:
    """A goal and whether `value` meets it; `met` is None when nothing was measured."""
    bound = at_most if at_most is not None else at_least
    op = "<=" if at_most is not None else ">="
    met = None
    if value is not None and math.isfinite(value):
        met = bool(value <= bound) if at_most is not None else bool(value >= bound)
    return {"name": name, "value": value, "goal": f"{op} {bound:g}{unit}", "met": met}


def _cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "-" if value is None else ("yes" if value else "no")
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        mag = abs(value)
        if mag >= 1000:
            return f"{value:,.0f}"
        return f"{value:.3g}" if mag < 10 else f"{value:.1f}"
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    return str(value)


def format_table(rows: list[dict[str, Any]], *, leave_out: tuple[str, ...] = ()) -> str:
    """Rows as an aligned text table; columns in the first row's order."""
    if not rows:
        return ""
    columns = [c for c in rows[0] if c not in leave_out]
    for row in rows[1:]:
        columns += [c for c in row if c not in columns and c not in leave_out]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def print_section(section: Section, out: TextIO) -> None:
    out.write(f"\n== {section.title} ({section.name}) ==\n")
    if section.skipped:
        out.write(f"skipped: {section.skipped}\n")
        return
    if section.rows:
        out.write(format_table(section.rows, leave_out=section.wide) + "\n")
    for key, value in section.summary.items():
        out.write(f"{key}: {_cell(value)}\n")
    for t in section.targets:
        verdict = {True: "met", False: "NOT met", None: "not measured"}[t["met"]]
        value = f"{t['value']:.4g}" if isinstance(t["value"], float) else _cell(t["value"])
        out.write(f"target {t['name']}: {value} (goal {t['goal']}) -> {verdict}\n")
    for note in section.notes:
        out.write(f"note: {note}\n")
    out.write(f"({section.seconds:.1f} s)\n")
    out.flush()
