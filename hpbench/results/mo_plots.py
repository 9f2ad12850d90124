"""Plotly figures of multi-objective results: attainment surfaces and the pooled Pareto front.

Both take what ``mo_analysis`` and ``attainment`` computed, in normalised or the task's
own units, and use ``plots.searcher_colors`` so every searcher keeps its colour across
the report.

Shapes glossary: M points of one surface, P points of the pooled front.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hpbench.results.plots import _go, _layout, _rgba, searcher_colors

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["attainment_surfaces", "pareto_front"]

_DASH = {0.25: "dot", 0.5: "solid", 0.75: "dash"}
# Legends below the plot: these figures have many entries and long titles.
_LEGEND_BELOW = {"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0, "xanchor": "left"}


def _steps(points: np.ndarray, ref: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of the attainment staircase through (M, 2) minimal points, closed at ``ref``."""
    if not len(points):
        return np.empty(0), np.empty(0)
    x, y = points[:, 0], points[:, 1]
    # (x0, ref_y) down to (x0, y0), right to (x1, y0), down to (x1, y1), ..., right to (ref_x, y_last)
    return np.r_[np.repeat(x, 2), ref[0]], np.r_[ref[1], np.repeat(y, 2)]


def attainment_surfaces(
    surfaces: dict[str, dict[float, np.ndarray]],
    *,
    title: str,
    names: tuple[str, str],
    ref: tuple[float, float],
    colors: dict[str, str] | None = None,
) -> go.Figure:
    """The 25/50/75% attainment surfaces of every searcher in one plot.

    Args:
        surfaces: searcher -> {level q -> (M, 2) minimal points} (normalised losses).
        names: the two objectives' axis titles.
        ref: the reference point where every staircase is closed.
    """
    go = _go()
    fig = go.Figure()
    colors = colors or searcher_colors(list(surfaces))
    for s in sorted(surfaces):
        for q, pts in sorted(surfaces[s].items()):
            xs, ys = _steps(pts, ref)
            if not len(xs):
                continue
            pct = int(round(q * 100))
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    name=f"{s} {pct}%",
                    legendgroup=s,
                    showlegend=q == 0.5,
                    line={
                        "color": colors[s],
                        "dash": _DASH.get(q, "solid"),
                        "width": 2.2 if q == 0.5 else 1.2,
                    },
                    hovertemplate=f"{s}, {pct}% attained<br>%{{x:.4g}}, %{{y:.4g}}<extra></extra>",
                )
            )
    _layout(fig, title=title, height=480)
    fig.update_layout(legend=_LEGEND_BELOW, margin={"b": 120})
    fig.update_layout(xaxis_title=f"{names[0]} (normalised)", yaxis_title=f"{names[1]} (normalised)")
    fig.update_xaxes(range=[-0.03, ref[0] + 0.02])
    fig.update_yaxes(range=[-0.03, ref[1] + 0.02])
    return fig


def _hover(row: pd.Series, objectives: tuple[str, ...]) -> str:
    cfg = row.get("config")
    cfg = json.loads(cfg) if isinstance(cfg, str) else (cfg or {})
    vals = "<br>".join(f"{n} = {row[f'objective.{n}']:.5g}" for n in objectives)
    conf = "<br>".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}" for k, v in cfg.items())
    return f"<b>{row['searcher']}</b> seed {row['seed']} trial {row['trial']}<br>{vals}<br>{conf}"


def pareto_front(
    front: pd.DataFrame,
    *,
    title: str,
    objectives: tuple[str, ...],
    colors: dict[str, str] | None = None,
    log_x: bool = False,
    log_y: bool = False,
    symbol_by: str | None = None,
) -> go.Figure:
    """The pooled Pareto front in the task's own units; hover shows each configuration.

    Args:
        front: rows of ``mo_analysis.pooled_front`` (first two objectives drawn).
        objectives: objective names (the first two are the axes, the third the colour scale).
        symbol_by: a ``param.<name>`` column whose values get marker symbols (e.g. conv type).
    """
    go = _go()
    fig = go.Figure()
    colors = colors or searcher_colors(sorted(front["searcher"].astype(str).unique()))
    x, y = f"objective.{objectives[0]}", f"objective.{objectives[1]}"
    ordered = front.sort_values(x, kind="mergesort")
    fig.add_trace(
        go.Scatter(
            x=ordered[x],
            y=ordered[y],
            mode="lines",
            line={"color": "#b8bec8", "shape": "hv"},
            showlegend=False,
            hoverinfo="skip",
        )
    )
    symbols = ("circle", "diamond", "square", "triangle-up", "cross", "x")
    groups: list[tuple[Any, pd.DataFrame]] = (
        list(front.groupby(symbol_by, sort=True)) if symbol_by and symbol_by in front else [(None, front)]
    )
    for gi, (gval, g) in enumerate(groups):
        for s, d in g.groupby("searcher", sort=True):
            label = f"{s}" if gval is None else f"{s} · {gval}"
            fig.add_trace(
                go.Scatter(
                    x=d[x],
                    y=d[y],
                    mode="markers",
                    name=label,
                    marker={
                        "color": _rgba(colors[str(s)], 0.85),
                        "size": 9,
                        "symbol": symbols[gi % len(symbols)],
                        "line": {"color": "#333", "width": 0.5},
                    },
                    text=[_hover(r, objectives) for _, r in d.iterrows()],
                    hovertemplate="%{text}<extra></extra>",
                )
            )
    _layout(fig, title=title, height=480)
    fig.update_layout(legend=_LEGEND_BELOW, margin={"b": 120})
    fig.update_layout(xaxis_title=objectives[0], yaxis_title=objectives[1])
    fig.update_xaxes(type="log" if log_x else "linear")
    fig.update_yaxes(type="log" if log_y else "linear")
    return fig
