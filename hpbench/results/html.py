"""Small HTML helpers of the report: escaping, numbers, tables whose cells may be marked.

A cell is pre-escaped HTML text, or a :class:`Cell` carrying its CSS class beside its text
(``Cell(text, "win")`` for a winning cell): the mark is structure, never part of the text.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Cell", "esc", "fmt", "table"]


@dataclass(frozen=True)
class Cell:
    """A table cell: pre-escaped HTML and the CSS classes it adds (``"win"``, ``"lead"``)."""

    html: str
    css: str = ""


def esc(x: Any) -> str:
    """HTML-escaped text of ``x``."""
    return html.escape(str(x), quote=True)


def fmt(x: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; "–" for NaN, "∞" for +inf (a missing run)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return esc(x)
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:.{digits}g}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str | Cell]], *, left: int = 1) -> str:
    """An HTML table of pre-escaped HTML or :class:`Cell` cells; the first ``left`` columns left-aligned."""
    head = "".join(f'<th class="{"l" if i < left else ""}">{h}</th>' for i, h in enumerate(headers))
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            cell = c if isinstance(c, Cell) else Cell(c)
            cls = " ".join(x for x in ("l" if i < left else "", cell.css) if x)
            cells.append(f'<td class="{cls}">{cell.html}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    rows_html = "".join(body)
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table></div>'
    )
