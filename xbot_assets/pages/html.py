"""The small HTML pieces the pages share: escaped tables, and what a missing value looks like."""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd


class Raw(str):
    """A table cell that is HTML already (a link): inserted as it is, never escaped."""


def html_table(header: list[str], rows: list[list[str]], row_classes: list[str] | None = None, cls: str = "") -> str:
    """An HTML table of text cells (escaped; `Raw` cells are inserted as HTML)."""
    e = html.escape
    out = [f'<table class="{e(cls)}">' if cls else "<table>", "<thead><tr>"]
    out += [f"<th>{e(h)}</th>" for h in header]
    out.append("</tr></thead><tbody>")
    for i, row in enumerate(rows):
        rc = row_classes[i] if row_classes else ""
        out.append(f'<tr class="{e(rc)}">' if rc else "<tr>")
        out += [f"<td>{c if isinstance(c, Raw) else e(c)}</td>" for c in row]
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def missing(value) -> bool:
    """None, NaN, NaT, pd.NA or blank text: nothing to show (a NULL number reads as NaN, a NULL time as NaT)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, pd.Timestamp | np.datetime64) and bool(pd.isna(value))


def label(value) -> str:
    """A table cell: the value, or — when there is none."""
    return "—" if missing(value) else str(value)
