"""Assembling the report's HTML page: header, contents, sections, and the packed figures.

The page holds every figure as an empty placeholder div; plotly.js and the figures' JSON
follow, gzip-compressed and packed as text (``hpbench.results.bundle``), and a small loader
inflates them in the browser. Nothing is fetched: no CDN, no web font, no MathJax.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hpbench.results import bundle

__all__ = ["plain_figure", "document", "PAGE_CSS"]

_DIGITS = 6  # significant digits kept in the page's figure data (hover shows 4)

PAGE_CSS = """
.fig.wide { grid-column: 1 / -1; }
p.loaderror { background:#fdecea; color:#8a1c12; padding:10px 32px; margin:0; }
table.runs td { padding:3px 8px; line-height:1.3; }
table.runs td.params { max-width:340px; white-space:normal; overflow-wrap:anywhere; }
table.runs code { font-size:11.5px; }
"""


def _rounded(values: np.ndarray) -> list[Any]:
    """Floats to ``_DIGITS`` significant digits, NaN and inf to None (JSON has neither)."""
    out: list[Any] = []
    for v in values.tolist():
        if isinstance(v, float):
            out.append(float(f"{v:.{_DIGITS}g}") if math.isfinite(v) else None)
        else:
            out.append(v)
    return out


def _plain(obj: Any) -> Any:
    """A figure dict made JSON-ready: typed arrays (``bdata``) and numpy arrays become rounded lists."""
    if isinstance(obj, dict):
        if set(obj) == {"dtype", "bdata"} or set(obj) == {"dtype", "bdata", "shape"}:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
            if "shape" in obj:
                shape = [int(x) for x in str(obj["shape"]).split(",")]
                return [_rounded(row) for row in arr.reshape(shape)]
            return _rounded(arr)
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if obj and all(isinstance(v, float) for v in obj):
            return _rounded(np.asarray(obj, dtype=float))
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _rounded(obj) if obj.dtype.kind == "f" else _plain(obj.tolist())
    if isinstance(obj, np.generic):
        return _plain(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def plain_figure(fig: Any) -> dict[str, Any]:
    """``{"data": [...], "layout": {...}}`` of a plotly figure, ready for ``json.dumps``."""
    d = fig.to_plotly_json()
    return {"data": _plain(d.get("data", [])), "layout": _plain(d.get("layout", {}))}


def _block(block_id: str, text: str, n: int) -> str:
    """A packed payload in the page: ``n`` compressed bytes as 7-bit text."""
    return f'<script id="{block_id}" type="application/x-hpbench" data-length="{n}">{text}</script>'


def document(
    *, title: str, meta: str, toc: Sequence[tuple[str, str]], body: str, css: str, specs: list[dict[str, Any]]
) -> str:
    """The whole report page.

    Args:
        title: page title (plain text; escaped here).
        meta: the line under the title (plain text).
        toc: (anchor, label) pairs of the contents bar (plain text).
        body: the sections, HTML.
        css: the report's style sheet.
        specs: figures as ``{"id", "data", "layout", "config"}``, in page order.
    """
    esc = html.escape
    plotly_text, plotly_n = bundle.plotly_payload()
    figures = json.dumps(specs, separators=(",", ":"), allow_nan=False).encode("utf-8")
    links = "".join(f'<a href="#{esc(a)}">{esc(label)}</a>' for a, label in toc)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{css}{PAGE_CSS}</style>"
        # MathJax stays off (no network, no fonts).
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
        "</head><body>"
        f'<header class="top"><h1>{esc(title)}</h1><div class="meta">{esc(meta)}</div></header>'
        f'<nav class="toc">{links}</nav><main>{body}</main>'
        "<footer>Made with hpbench. Open offline; all figures are interactive "
        "(hover, zoom, click legend entries to hide searchers).</footer>"
        + _block("hpb-plotly", plotly_text, plotly_n)
        + _block("hpb-figures", *bundle.pack(figures))
        + f"<script>{bundle.DECODER_JS}{bundle.LOADER_JS}</script>"
        "</body></html>\n"
    )
