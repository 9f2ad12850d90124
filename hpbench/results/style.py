"""The look every figure shares: one colour per searcher everywhere, paper-style log ticks.

Colours are a property of the searcher's label, never of its position among the searchers of
one report: a built-in searcher has a fixed colour, any other label gets one from a stable
hash of its text (the same on every machine and in every Python process), so ``hyperband``
is the same orange in every report and exported figure of a paper. Should two hashed
labels of one report land on the same colour, the second (in sorted order) takes the next
free one: a collision is the only case where a colour depends on the other searchers.

Log axes are labelled at decades only, in the notation papers use (10^-4 rendered as
10<sup>−4</sup>), never with SI prefixes (``100µ``) or bare minor-tick mantissas.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "BASELINE_COLOUR",
    "BUILTIN_COLOURS",
    "searcher_color",
    "searcher_colors",
    "rgba",
    "power_label",
    "log_ticks",
    "linear_ticks",
    "go",
    "layout",
    "with_data",
    "figure_data",
    "log_axis",
]

BASELINE_COLOUR = "#7f7f7f"
# Fixed colours of the built-in searchers: Okabe & Ito (2008) first (colour-blind safe), for
# the searchers most often compared, then Tableau 10 hues. Grey is random search's alone.
BUILTIN_COLOURS: dict[str, str] = {
    "random": BASELINE_COLOUR,
    "gp-ei": "#0072B2",
    "hyperband": "#D55E00",
    "optuna-tpe": "#009E73",
    "asha": "#CC79A7",
    "sh": "#E69F00",
    "optuna-gp": "#56B4E9",
    "skopt-gp": "#000000",
    "optuna-cmaes": "#8C564B",
    "optuna-qmc": "#B07AA1",
    "optuna-random": "#BAB0AC",
    "skopt-rf": "#59A14F",
    "skopt-et": "#EDC948",
    "optuna": "#76B7B2",
    "skopt": "#9C755F",
}
# For every other label (custom searchers, parameter variants such as ``hyperband:eta=2``):
# distinct hues none of the built-ins use.
_HASHED = (
    "#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#E377C2", "#17BECF", "#BCBD22",
    "#393B79", "#AD494A", "#637939", "#8C6D31", "#843C39", "#7B4173", "#3182BD", "#E6550D",
    "#31A354", "#756BB1", "#636363", "#6B6ECF", "#B5CF6B", "#E7BA52", "#D6616B", "#CE6DBD",
)  # fmt: skip


def _hash_index(label: str) -> int:
    """A stable index into the hashed palette (``hash()`` is salted per process; md5 is not)."""
    return int.from_bytes(hashlib.md5(label.encode("utf-8")).digest()[:4], "big") % len(_HASHED)


def searcher_color(label: str) -> str:
    """The colour of one searcher label, independent of any other searcher.

    Args:
        label: the searcher's label as stored (``"gp-ei"``, ``"hyperband:eta=2"``, ``"mine"``).

    Returns:
        A ``#RRGGBB`` colour: the built-in's fixed one, else one chosen by a stable hash.
    """
    return BUILTIN_COLOURS.get(label) or _HASHED[_hash_index(label)]


def searcher_colors(labels: Iterable[str]) -> dict[str, str]:
    """Colours of several labels: :func:`searcher_color` each, hashed collisions moved on.

    Args:
        labels: searcher labels (duplicates and order do not matter).

    Returns:
        label -> colour; two labels never share a colour while the hashed palette has room.
    """
    out: dict[str, str] = {}
    taken = set()
    names = sorted(set(labels))
    for s in names:  # fixed colours first, so a hashed label never takes a built-in's
        if s in BUILTIN_COLOURS:
            out[s] = BUILTIN_COLOURS[s]
            taken.add(out[s])
    for s in names:
        if s in out:
            continue
        i = _hash_index(s)
        for k in range(len(_HASHED)):
            c = _HASHED[(i + k) % len(_HASHED)]
            if c not in taken:
                break
        else:
            c = _HASHED[i]  # more labels than colours: share rather than fail
        out[s] = c
        taken.add(c)
    return {s: out[s] for s in names}


def rgba(hex_colour: str, alpha: float) -> str:
    """``#RRGGBB`` -> ``rgba(r,g,b,alpha)``."""
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def power_label(value: float) -> str:
    """A positive number in paper notation: 1e-4 -> ``10<sup>−4</sup>``, 2e-4 -> ``2×10<sup>−4</sup>``.

    Plotly renders ``<sup>`` in tick and annotation text, in the browser and in exports.
    """
    k = math.floor(math.log10(value) + 1e-9)
    m = value / 10.0**k
    power = f"10<sup>{str(k).replace('-', '−')}</sup>"
    return power if abs(m - 1) < 1e-6 else f"{m:.3g}×{power}"


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Tick values and labels for a log axis over [lo, hi] (both > 0): decades only.

    When fewer than two decades fall inside the range, 2x and 5x ticks are added, labelled
    in full (``2×10<sup>−3</sup>``), so the axis is never left with one label.
    """
    if not (lo > 0 and hi > 0 and np.isfinite(lo) and np.isfinite(hi)):
        return [], []
    lo, hi = min(lo, hi), max(lo, hi)
    k0, k1 = math.ceil(math.log10(lo) - 1e-9), math.floor(math.log10(hi) + 1e-9)
    vals = [10.0**k for k in range(k0, k1 + 1)]
    if len(vals) < 2:
        cand = [m * 10.0**k for k in range(k0 - 1, k1 + 1) for m in (1, 2, 5)]
        vals = [v for v in cand if lo * (1 - 1e-9) <= v <= hi * (1 + 1e-9)]
        if len(vals) < 2:
            vals = [lo, hi]
    step = max(1, math.ceil(len(vals) / 8))  # at most ~8 labels, always whole decades
    vals = vals[::step]
    return vals, [power_label(v) for v in vals]


def linear_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return []
    if hi <= lo:
        return [float(lo)]
    raw = (hi - lo) / max(1, n - 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    vals = np.arange(first, hi + step * 1e-9, step)
    return [float(round(v, 12)) for v in vals]


_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


# A small inline template: plotly's named templates are ~8 kB per figure and slow to validate.
_AXIS_STYLE = {
    "gridcolor": "#ebeef3",
    "linecolor": "#c9ced6",
    "zerolinecolor": "#d5dae1",
    "ticks": "outside",
    "tickcolor": "#c9ced6",
    "automargin": True,
    "title": {"standoff": 8},
    "exponentformat": "power",  # 10^-4, never SI prefixes (a reader takes "100µ" for a unit)
}
_TEMPLATE: dict[str, Any] = {
    "layout": {
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "colorway": list(BUILTIN_COLOURS.values())[1:],
        "xaxis": _AXIS_STYLE,
        "yaxis": _AXIS_STYLE,
        "hoverlabel": {"font": {"family": _FONT}},
    }
}


@functools.lru_cache(maxsize=1)
def _template() -> Any:
    """The template as a validated plotly object, built once: assigning it is then cheap."""
    return go().layout.Template(_TEMPLATE)


def go() -> Any:
    """plotly.graph_objects, imported on first use (analysis users need not pay for it)."""
    import plotly.graph_objects as go

    return go


def with_data(fig: Any, frame: pd.DataFrame) -> Any:
    """Attach the tidy data a figure plots (written beside it as CSV by ``hpbench report --figures``)."""
    fig._hpbench_data = frame.reset_index(drop=True)
    return fig


def figure_data(fig: Any) -> pd.DataFrame:
    """The data a figure plots: what :func:`with_data` attached, else its traces' x and y."""
    attached = getattr(fig, "_hpbench_data", None)
    if attached is not None:
        return attached
    rows = []
    for t in fig.data:
        x, y = getattr(t, "x", None), getattr(t, "y", None)
        if x is None and y is None:
            continue
        n = len(x if x is not None else y)
        rows.append(
            pd.DataFrame(
                {
                    "trace": t.name or t.type,
                    "x": list(x) if x is not None else [None] * n,
                    "y": list(y) if y is not None else [None] * n,
                }
            )
        )
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["trace", "x", "y"])


def log_axis(values: np.ndarray) -> dict[str, Any]:
    """Settings of a log axis over the positive finite ``values``: decade ticks in paper notation."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return {"type": "log"}
    vals, text = log_ticks(float(v.min()), float(v.max()))
    return {"type": "log", "tickvals": vals, "ticktext": text, "minor": {"showgrid": False}}


def layout(fig: Any, *, title: str, height: int = 380, **kw: Any) -> Any:
    """The shared template, title, font, margins and legend placement; ``kw`` go to update_layout."""
    fig.update_layout(
        template=_template(),
        title={"text": title, "x": 0.01, "xanchor": "left", "font": {"size": 15}},
        font={"family": _FONT, "size": 12},
        height=height,
        margin={"l": 60, "r": 20, "t": 72, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 1, "xanchor": "right"},
        **kw,
    )
    return fig
