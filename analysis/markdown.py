"""Markdown pieces of the report: numbers as text, tables."""

from __future__ import annotations

import numpy as np
import pandas as pd


def fmt_value(v, spec: str) -> str:
    """`v` formatted with `spec`; strings as they are, integers plainly, NaN / None as an en dash."""
    if isinstance(v, str):
        return v
    if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
        return "–"
    if isinstance(v, (int, np.integer)):
        return str(v)
    return format(v, spec)


def markdown_table(table: pd.DataFrame, *, fmt: str = ".3f", index: bool = True) -> str:
    """A GitHub-flavoured Markdown table; NaN shows as an en dash."""
    head = ([str(table.index.name or "")] if index else []) + [str(c) for c in table.columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, row in table.iterrows():
        cells = ([str(key)] if index else []) + [fmt_value(v, fmt) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
