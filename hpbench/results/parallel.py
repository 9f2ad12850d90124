"""The "configurations tried" panel: parallel coordinates (or a 2-D scatter) in plain SVG.

Built to stay readable with hundreds of trials: the report passes top-fidelity trials only,
each searcher's best 10% is drawn bold and its single best configuration boldest, a menu
highlights one searcher at a time (the others fade to grey), axis names are wrapped at
``_`` and, when the axes stand close, staggered on two rows, so no two titles overlap.
Numeric axes carry round ticks, log-scaled ones decades in paper notation.

Shapes glossary:
    C: configurations drawn, P: axes (parameters shown + the objective).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from hpbench.results import style

__all__ = ["configurations", "axis_values", "wrap_name"]

_FADED = "rgba(170,170,170,0.10)"
_INACTIVE = -0.1
_STAGGER_FROM = 7  # with more axes than this, titles alternate between two rows
_PLOT_PX = 330  # height of the axes themselves


def wrap_name(name: str, width: int = 12) -> str:
    """A parameter name broken at ``_`` into lines of about ``width`` characters (``<br>``)."""
    parts = name.split("_")
    lines: list[str] = []
    for p in parts:
        if lines and len(lines[-1]) + 1 + len(p) <= width:
            lines[-1] += "_" + p
        else:
            lines.append(p if not lines else "_" + p)
    return "<br>".join(lines)


def _numeric_axis(num: np.ndarray, scale: str) -> tuple[np.ndarray, list[float], list[str]]:
    t = np.log10(num) if scale == "log" else num
    lo, hi = float(np.nanmin(t)), float(np.nanmax(t))
    span = hi - lo if hi > lo else 1.0
    if scale == "log":
        vals, labels = style.log_ticks(10**lo, 10**hi)
        pos = [(math.log10(v) - lo) / span for v in vals]
    else:
        vals = style.linear_ticks(lo, hi)
        labels = [f"{v:.4g}" for v in vals]
        pos = [(v - lo) / span for v in vals] if hi > lo else [0.0] * len(vals)
    return (t - lo) / span, pos, labels


def axis_values(v: pd.Series, scale: str) -> tuple[np.ndarray, list[float], list[str]]:
    """Values mapped to [0, 1] (NaN -> -0.1, the "inactive" level), tick positions and labels.

    Args:
        v: one column of configurations.
        scale: ``"log"``, ``"linear"`` or ``"category"`` (see ``analysis.param_scales``).

    Returns:
        (y of shape (C,), tick positions in [0, 1], tick labels).
    """
    if scale == "category":
        cats = sorted(v.dropna().astype(str).unique())
        pos = {c: i / max(1, len(cats) - 1) for i, c in enumerate(cats)}
        y = np.array([pos.get(str(a), np.nan) if pd.notna(a) else np.nan for a in v], dtype=float)
        step = max(1, math.ceil(len(cats) / 12))
        ticks, labels = list(pos.values())[::step], cats[::step]
    else:
        num = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
        if not np.isfinite(num).any():
            return np.full(len(v), _INACTIVE), [], []
        y, ticks, labels = _numeric_axis(num, scale)
    return np.where(np.isnan(y), _INACTIVE, y), ticks, labels


def _scatter(conf: pd.DataFrame, px_: str, py_: str, scales: dict[str, str], title: str, colors: dict) -> Any:
    go = style.go()
    fig = go.Figure()
    for s in sorted(conf["searcher"].unique()):
        d = conf[conf["searcher"] == s]
        for top in (False, True):
            dd = d[d["top"] == top]
            fig.add_trace(
                go.Scatter(
                    x=dd[px_],
                    y=dd[py_],
                    mode="markers",
                    name=s if top else f"{s} (rest)",
                    legendgroup=s,
                    showlegend=top,
                    marker={
                        "color": colors[s],
                        "size": 9 if top else 5,
                        "opacity": 0.95 if top else 0.35,
                        "line": {"width": 1, "color": "#222"} if top else {"width": 0},
                    },
                    customdata=dd["objective"],
                    hovertemplate=(
                        f"{s}<br>%{{x:.4g}}, %{{y:.4g}}<br>objective %{{customdata:.4g}}<extra></extra>"
                    ),
                )
            )
    style.layout(fig, title=title, height=460)
    for key, p in (("xaxis", px_), ("yaxis", py_)):
        ax: dict[str, Any] = {"title": {"text": p.removeprefix("param.")}}
        if scales[p] == "log":
            ax.update(style.log_axis(conf[p].to_numpy(dtype=float)))
        fig.update_layout({key: ax})
    return fig


def _polyline_traces(
    conf: pd.DataFrame, ys: dict[str, np.ndarray], cols: list[str], colors: dict[str, str]
) -> tuple[list[Any], list[str], list[tuple[str, float]]]:
    """Traces (rest, best 10%, best one per searcher), their searcher, and (colour, width) each."""
    go = style.go()
    traces, owner, look = [], [], []
    obj = conf["objective"].to_numpy(dtype=float)
    for s in sorted(conf["searcher"].unique()):
        idx = np.flatnonzero((conf["searcher"] == s).to_numpy())
        top = conf["top"].to_numpy(dtype=bool)[idx]
        best = idx[np.argmin(obj[idx])]
        for kind, rows, colour, width in (
            ("rest", idx[~top], style.rgba(colors[s], 0.16), 1.0),
            ("best 10%", idx[top], style.rgba(colors[s], 0.85), 2.0),
            ("best", np.array([best]), colors[s], 4.0),
        ):
            if len(rows) == 0:
                continue
            # one polyline per configuration, separated by NaN (shape (C, P + 1) -> flat)
            yy = np.column_stack([ys[c][rows] for c in cols] + [np.full(len(rows), np.nan)])
            xx = np.tile(np.r_[np.arange(len(cols), dtype=float), np.nan], (len(rows), 1))
            traces.append(
                go.Scatter(
                    x=xx.ravel(),
                    y=yy.ravel(),
                    mode="lines",
                    name=s if kind == "best 10%" else f"{s} ({kind})",
                    legendgroup=s,
                    showlegend=kind == "best 10%" or (kind == "best" and not top.any()),
                    line={"color": colour, "width": width},
                    hoverinfo="skip",
                )
            )
            owner.append(s)
            look.append((colour, width))
    return traces, owner, look


def _highlight_menu(owner: list[str], look: list[tuple[str, float]], y: float) -> dict[str, Any]:
    """A dropdown: all searchers in colour, or one of them with the others faded to grey."""
    buttons = [
        {
            "label": "all searchers",
            "method": "restyle",
            "args": [{"line.color": [c for c, _ in look], "line.width": [w for _, w in look]}],
        }
    ]
    for s in dict.fromkeys(owner):
        buttons.append(
            {
                "label": f"highlight {s}",
                "method": "restyle",
                "args": [
                    {
                        "line.color": [c if o == s else _FADED for o, (c, _) in zip(owner, look)],
                        "line.width": [w if o == s else 1.0 for o, (_, w) in zip(owner, look)],
                    }
                ],
            }
        )
    return {
        "type": "dropdown",
        "buttons": buttons,
        "x": 0,
        "xanchor": "left",
        "y": y,
        "yanchor": "bottom",
        "pad": {"t": 0, "b": 0},
        "font": {"size": 11},
        "showactive": True,
    }


def _axis_annotations(
    cols: list[str], ticks: dict[str, tuple[list[float], list[str]]], has_inactive: bool
) -> tuple[list[dict[str, Any]], int]:
    """Axis titles (wrapped, staggered when crowded), tick labels, "inactive" levels; title rows' px."""
    stagger = len(cols) > _STAGGER_FROM
    names = [wrap_name(c.removeprefix("param.")) for c in cols]
    line_px = 15
    row_px = line_px * max(n.count("<br>") + 1 for n in names)
    ann: list[dict[str, Any]] = []
    for i, (c, name) in enumerate(zip(cols, names)):
        ann.append(
            {
                "x": i,
                "y": 1.0,
                "yshift": 14 + (row_px + 4 if stagger and i % 2 else 0),
                "text": f"<b>{name}</b>",
                "showarrow": False,
                "yanchor": "bottom",
                "font": {"size": 12},
            }
        )
        for tp, tl in zip(*ticks[c]):
            ann.append(
                {"x": i, "y": tp, "text": tl, "showarrow": False, "xanchor": "left", "xshift": 4,
                 "font": {"size": 10, "color": "#333"}}
            )  # fmt: skip
        if has_inactive and c != "objective":
            ann.append(
                {"x": i, "y": _INACTIVE, "text": "inactive", "showarrow": False, "xanchor": "left",
                 "xshift": 4, "font": {"size": 9, "color": "#888"}}
            )  # fmt: skip
    return ann, 14 + row_px * (2 if stagger else 1) + 8


def _parallel(conf: pd.DataFrame, params: list[str], scales: dict[str, str], title: str, colors: dict) -> Any:
    go = style.go()
    cols = [*params, "objective"]
    obj = conf["objective"].to_numpy(dtype=float)
    # a few diverged runs (loss 20 against 0.1) would squash the others: such spans go on a log axis
    spread = len(obj) and (obj > 0).all() and obj.max() >= 100 * obj.min()
    scales = {**scales, "objective": "log" if spread else "linear"}
    ys, ticks = {}, {}
    for c in cols:
        ys[c], tpos, tlab = axis_values(conf[c], scales.get(c, "linear"))
        ticks[c] = (tpos, tlab)
    has_inactive = any(conf[c].isna().any() for c in params)
    traces, owner, look = _polyline_traces(conf, ys, cols, colors)
    fig = go.Figure(traces)
    shapes = [
        {"type": "line", "x0": i, "x1": i, "y0": 0, "y1": 1, "line": {"color": "#444", "width": 1}}
        for i in range(len(cols))
    ]
    ann, title_px = _axis_annotations(cols, ticks, has_inactive)
    top, bottom = 100 + title_px, 20
    style.layout(fig, title=title, height=_PLOT_PX + top + bottom, shapes=shapes, annotations=ann)
    fig.update_xaxes(visible=False, range=[-0.35, len(cols) - 0.45])
    fig.update_yaxes(visible=False, range=[-0.18 if has_inactive else -0.05, 1.0])
    above = 1 + (title_px + 18) / _PLOT_PX  # a row above the axis titles, in paper coordinates
    fig.update_layout(
        title={"y": 1.0, "yref": "container", "yanchor": "top", "pad": {"t": 14}},
        margin={"t": top, "b": bottom, "l": 20, "r": 20},
        legend={"y": above, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        updatemenus=[_highlight_menu(owner, look, above)] if len(set(owner)) > 1 else [],
    )
    return fig


def configurations(
    conf: pd.DataFrame,
    *,
    params: list[str],
    scales: dict[str, str],
    title: str,
    colors: dict[str, str] | None = None,
) -> Any:
    """The configurations each searcher tried; its best 10% bold, its best one boldest.

    Two numeric parameters give a 2-D scatter (log axes where the parameter is log-scaled);
    otherwise SVG parallel coordinates with one vertical axis per parameter plus the
    objective (inactive conditional parameters sit on an "inactive" level below each axis).

    Args:
        conf: rows of ``analysis.configurations`` for one task (the report passes
            top-fidelity trials only).
        params: ``param.*`` columns to show.
        scales: output of ``analysis.param_scales``.
        title: figure title.
        colors: searcher -> colour (default: ``style.searcher_colors``).

    Returns:
        A plotly figure, with the plotted configurations attached for export.
    """
    colors = colors or style.searcher_colors(conf["searcher"].unique())
    numeric = [p for p in params if scales.get(p) != "category"]
    if len(params) == 2 and len(numeric) == 2:
        fig = _scatter(conf, params[0], params[1], scales, title, colors)
    else:
        fig = _parallel(conf, params, scales, title, colors)
    keep = [c for c in ("searcher", "run_id", "trial", "budget", "top", *params, "objective") if c in conf]
    return style.with_data(fig, conf[keep])
