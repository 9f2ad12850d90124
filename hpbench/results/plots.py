"""Plotly figures for the report, built only from the outputs of ``hpbench.results.analysis``.

Every figure uses plain SVG traces (no WebGL), so it renders in any browser, headless
ones included, and stays light: curves come pre-aggregated on grids of at most a few
hundred points, scatter plots take the bounded sample of ``analysis.configurations``,
and the worker timeline draws merged busy blocks rather than single trials.

Shapes glossary:
    G: grid points of one curve, S: searchers, P: parameters shown, C: configurations drawn.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # plotly is imported lazily: analysis users need not pay for it
    import plotly.graph_objects as go

    from hpbench.results.analysis import FriedmanResult

__all__ = [
    "AXIS_TITLES",
    "searcher_colors",
    "regret_curves",
    "rank_curves",
    "score_curves",
    "final_distribution",
    "cd_diagram",
    "budget_allocation",
    "configurations",
    "worker_timeline",
]

AXIS_TITLES: dict[str, str] = {
    "cost": "cost (full-fidelity evaluations)",
    "evaluations": "evaluations",
    "time": "compute time (s): trials + searcher",
}
# Colour-blind-friendly qualitative palette (Okabe & Ito, 2008), then Tableau 10.
_PALETTE = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442",
    "#4E79A7", "#F28E2B", "#E15759", "#76B7B2", "#59A14F", "#EDC948", "#B07AA1",
)  # fmt: skip
_BASELINE_COLOUR = "#7f7f7f"
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
}
_TEMPLATE: dict[str, Any] = {
    "layout": {
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "colorway": list(_PALETTE),
        "xaxis": _AXIS_STYLE,
        "yaxis": _AXIS_STYLE,
        "hoverlabel": {"font": {"family": _FONT}},
    }
}


@functools.lru_cache(maxsize=1)
def _template() -> Any:
    """The template as a validated plotly object, built once: assigning it is then cheap."""
    return _go().layout.Template(_TEMPLATE)


def _go() -> Any:
    import plotly.graph_objects as go

    return go


def searcher_colors(searchers: list[str] | tuple[str, ...], baseline: str = "random") -> dict[str, str]:
    """A stable colour per searcher label; the baseline (random search) is grey."""
    out: dict[str, str] = {}
    i = 0
    for s in sorted(set(searchers)):
        if s == baseline:
            out[s] = _BASELINE_COLOUR
        else:
            out[s] = _PALETTE[i % len(_PALETTE)]
            i += 1
    return out


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _layout(fig: go.Figure, *, title: str, height: int = 380, **kw: Any) -> go.Figure:
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


def _staircase(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices of a step function held until the next grid point (for filled bands)."""
    xs = np.repeat(x, 2)[1:]
    ys = np.repeat(y, 2)[:-1]
    return xs, ys


def _log_floor(values: np.ndarray) -> float:
    """A positive value below every positive entry, to put zero regrets on a log axis."""
    v = values[np.isfinite(values) & (values > 0)]
    return float(v.min()) / 2 if len(v) else 1e-12


def regret_curves(
    curves: dict[str, pd.DataFrame],
    *,
    title: str,
    y_title: str = "simple regret",
    colors: dict[str, str] | None = None,
    default_axis: str = "cost",
    log_y: bool = True,
) -> go.Figure:
    """Median best-so-far regret and the band of its interval (``analysis.aggregate``), per searcher.

    Buttons switch the x axis between the axes present in ``curves`` (traces for the other
    axes are hidden, not recomputed, so switching is instant and offline).

    Args:
        curves: axis name -> output of ``analysis.aggregate`` for one task.
        title: figure title.
        y_title: label of the y axis.
        colors: searcher -> colour.
        default_axis: axis shown first (cost is the fair one for multi-fidelity searchers).
        log_y: log-scale y; values <= 0 are drawn at a floor below the smallest positive one.
    """
    go = _go()
    fig = go.Figure()
    axes = [a for a in (default_axis, *AXIS_TITLES) if a in curves]
    axes = list(dict.fromkeys(axes))
    allv = np.concatenate([c[["median", "median_lo"]].to_numpy(dtype=float).ravel() for c in curves.values()])
    floor = _log_floor(allv) if log_y else -np.inf
    searchers = sorted({s for c in curves.values() for s in c["searcher"].unique()})
    colors = colors or searcher_colors(searchers)
    owner: list[str] = []
    for axis in axes:
        c = curves[axis]
        for s in searchers:
            d = c[c["searcher"] == s].sort_values("x")
            ok = d["median"].notna().to_numpy()
            if not ok.any():
                continue
            x = d["x"].to_numpy(dtype=float)[ok]
            med = np.maximum(d["median"].to_numpy(dtype=float)[ok], floor)
            lo = np.maximum(d["median_lo"].to_numpy(dtype=float)[ok], floor)
            hi = d["median_hi"].to_numpy(dtype=float)[ok]
            hi = np.maximum(np.where(np.isfinite(hi), hi, med), floor)
            n = int(d["n"].iloc[0])
            xu, yu = _staircase(x, hi)
            xl, yl = _staircase(x, lo)
            visible = axis == axes[0]
            fig.add_trace(
                go.Scatter(
                    x=np.r_[xu, xl[::-1]],
                    y=np.r_[yu, yl[::-1]],
                    fill="toself",
                    fillcolor=_rgba(colors[s], 0.15),
                    line={"width": 0},
                    hoverinfo="skip",
                    legendgroup=s,
                    showlegend=False,
                    visible=visible,
                    name=s,
                )
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=med,
                    mode="lines",
                    line={"color": colors[s], "width": 2, "shape": "hv"},
                    name=s,
                    legendgroup=s,
                    visible=visible,
                    hovertemplate=f"{s}<br>x=%{{x:.4g}}<br>median=%{{y:.4g}}<extra>{n} runs</extra>",
                )
            )
            owner += [axis, axis]
    buttons = [
        {
            "label": a,
            "method": "update",
            "args": [{"visible": [o == a for o in owner]}, {"xaxis.title.text": AXIS_TITLES[a]}],
        }
        for a in axes
    ]
    _layout(fig, title=title)
    fig.update_layout(
        xaxis_title=AXIS_TITLES[axes[0]] if axes else "",
        yaxis_title=y_title,
        yaxis_type="log" if log_y else "linear",
        margin={"t": 90},
        legend={"y": 1.02},
        updatemenus=[
            {
                "type": "buttons",
                "direction": "right",
                "buttons": buttons,
                "x": 0,
                "xanchor": "left",
                "y": 1.02,
                "yanchor": "bottom",
                "showactive": True,
                "pad": {"r": 4, "t": 0},
                "font": {"size": 11},
            }
        ]
        if len(axes) > 1
        else [],
    )
    return fig


def _fraction_curves(
    df: pd.DataFrame, value: str, label: str, fmt: str, colors: dict[str, str] | None
) -> go.Figure:
    """One step line per searcher of ``value`` against the fraction of the budget spent."""
    go = _go()
    fig = go.Figure()
    searchers = sorted(df["searcher"].unique())
    colors = colors or searcher_colors(searchers)
    for s in searchers:
        d = df[df["searcher"] == s].sort_values("fraction")
        fig.add_trace(
            go.Scatter(
                x=100 * d["fraction"],
                y=d[value],
                mode="lines",
                name=s,
                line={"color": colors[s], "width": 2, "shape": "hv"},
                hovertemplate=f"{s}<br>%{{x:.0f}}% of budget<br>{label} %{{y:{fmt}}}<extra></extra>",
            )
        )
    return fig


def rank_curves(ranks: pd.DataFrame, *, title: str, colors: dict[str, str] | None = None) -> go.Figure:
    """Average rank (1 = best) against the fraction of the budget spent.

    Args:
        ranks: output of ``analysis.average_rank``.
    """
    fig = _fraction_curves(ranks, "rank", "rank", ".2f", colors)
    _layout(fig, title=title)
    fig.update_layout(
        xaxis_title="budget spent (% of each task's largest)",
        yaxis_title="average rank (1 = best)",
        yaxis_autorange="reversed",
    )
    return fig


def score_curves(scores: pd.DataFrame, *, title: str, colors: dict[str, str] | None = None) -> go.Figure:
    """Mean normalised score against the fraction of the budget spent.

    Args:
        scores: output of ``analysis.mean_over_tasks`` on normalised scores.
    """
    fig = _fraction_curves(scores, "value", "score", ".3f", colors)
    fig.add_hline(y=0, line={"color": "#999", "dash": "dot", "width": 1})
    fig.add_hline(y=1, line={"color": "#999", "dash": "dot", "width": 1})
    _layout(fig, title=title)
    fig.update_layout(
        xaxis_title="budget spent (% of each task's largest)", yaxis_title="normalised score (1 = optimum)"
    )
    return fig


def final_distribution(
    final: pd.DataFrame,
    *,
    title: str,
    value: str = "regret",
    y_title: str = "final regret",
    colors: dict[str, str] | None = None,
    log_y: bool = True,
) -> go.Figure:
    """Box plot with every run as a point: the final ``value`` per searcher on one task.

    Args:
        final: rows of ``analysis.final_runs`` for one task.
    """
    go = _go()
    fig = go.Figure()
    searchers = sorted(final["searcher"].unique())
    colors = colors or searcher_colors(searchers)
    v_all = final[value].to_numpy(dtype=float)
    floor = _log_floor(v_all) if log_y else -np.inf
    for s in searchers:
        d = final[final["searcher"] == s]
        v = d[value].to_numpy(dtype=float)
        ok = np.isfinite(v)
        fig.add_trace(
            go.Box(
                y=np.maximum(v[ok], floor),
                name=s,
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker={"color": colors[s], "size": 5, "opacity": 0.7},
                line={"color": colors[s]},
                fillcolor=_rgba(colors[s], 0.12),
                text=[f"seed {x}" for x in d["seed"].to_numpy()[ok]],
                hovertemplate="%{text}<br>%{y:.4g}<extra>" + s + "</extra>",
            )
        )
    _layout(fig, title=title, showlegend=False)
    fig.update_layout(yaxis_title=y_title, yaxis_type="log" if log_y else "linear")
    return fig


def cd_diagram(result: FriedmanResult, *, title: str | None = None) -> go.Figure:
    """Critical-difference diagram (Demšar, 2006, Fig. 1), drawn with plotly shapes.

    The axis shows average ranks (1 = best, on the left); each searcher hangs from its
    rank; thick bars join searchers whose ranks differ by less than the Nemenyi critical
    difference (not significantly different); the CD length is drawn above the axis.
    """
    go = _go()
    k = len(result.searchers)
    step = 0.32
    half = math.ceil(k / 2)
    n_bars = len(result.cliques)
    y_bottom = -(max(half, k - half) + 1) * step - 0.1
    shapes: list[dict[str, Any]] = []
    ann: list[dict[str, Any]] = []
    line = {"color": "#333", "width": 1.2}
    shapes.append({"type": "line", "x0": 1, "x1": k, "y0": 0, "y1": 0, "line": line})
    for t in range(1, k + 1):
        shapes.append({"type": "line", "x0": t, "x1": t, "y0": 0, "y1": 0.08, "line": line})
        ann.append({"x": t, "y": 0.1, "text": str(t), "showarrow": False, "yanchor": "bottom"})
    # CD bar above the axis, anchored at rank 1 as in Demšar's figures
    cd_end = min(1 + result.cd, k + 0.5)
    shapes.append(
        {
            "type": "line",
            "x0": 1,
            "x1": cd_end,
            "y0": 0.55,
            "y1": 0.55,
            "line": {"color": "#c0392b", "width": 3},
        }
    )
    ann.append(
        {
            "x": (1 + cd_end) / 2,
            "y": 0.6,
            "text": f"CD = {result.cd:.2f} (α = {result.alpha:g})",
            "showarrow": False,
            "yanchor": "bottom",
            "font": {"color": "#c0392b"},
        }
    )
    left_x, right_x = 0.6, k + 0.4
    for i, (name, r) in enumerate(zip(result.searchers, result.avg_ranks)):
        if i < half:
            y = -(i + 1) * step - n_bars * 0.1
            end, anchor = left_x, "right"
        else:
            y = -(k - i) * step - n_bars * 0.1
            end, anchor = right_x, "left"
        shapes.append({"type": "line", "x0": r, "x1": r, "y0": 0, "y1": y, "line": line})
        shapes.append({"type": "line", "x0": r, "x1": end, "y0": y, "y1": y, "line": line})
        ann.append(
            {
                "x": end,
                "y": y,
                "text": f"{name} ({r:.2f})",
                "showarrow": False,
                "xanchor": anchor,
                "xshift": 0,
            }
        )
    for j, members in enumerate(result.cliques):
        rs = [result.avg_ranks[result.searchers.index(m)] for m in members]
        y = -0.12 - j * 0.1
        shapes.append(
            {
                "type": "line",
                "x0": min(rs) - 0.04,
                "x1": max(rs) + 0.04,
                "y0": y,
                "y1": y,
                "line": {"color": "#111", "width": 5},
            }
        )
    fig = go.Figure(
        go.Scatter(
            x=list(result.avg_ranks),
            y=[0] * k,
            mode="markers",
            marker={"size": 7, "color": "#333"},
            text=list(result.searchers),
            hovertemplate="%{text}: average rank %{x:.2f}<extra></extra>",
            showlegend=False,
        )
    )
    label_room = max(len(s) for s in result.searchers) * 0.09 + 0.6
    _layout(
        fig,
        title=title or f"Critical difference (Nemenyi, {result.n_blocks} {result.blocks} blocks)",
        height=int(170 + 38 * max(half, k - half) + 10 * n_bars),
        shapes=shapes,
        annotations=ann,
        showlegend=False,
    )
    fig.update_xaxes(visible=False, range=[left_x - label_room, right_x + label_room], fixedrange=True)
    fig.update_yaxes(visible=False, range=[y_bottom, 1.0], fixedrange=True)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 40, "b": 10}, hovermode="closest")
    return fig


def budget_allocation(alloc: pd.DataFrame, *, title: str, colors: dict[str, str] | None = None) -> go.Figure:
    """Share of each searcher's cost spent at each fidelity level (grouped bars).

    Args:
        alloc: rows of ``analysis.budget_allocation`` for one task.
    """
    go = _go()
    fig = go.Figure()
    searchers = sorted(alloc["searcher"].unique())
    colors = colors or searcher_colors(searchers)
    levels = np.sort(alloc["budget"].unique())
    labels = [f"{b:g}" for b in levels]
    for s in searchers:
        d = alloc[alloc["searcher"] == s].set_index("budget").reindex(levels)
        fig.add_trace(
            go.Bar(
                x=labels,
                y=100 * d["cost_share"].fillna(0).to_numpy(),
                name=s,
                marker_color=colors[s],
                customdata=np.c_[
                    d["n_trials"].fillna(0).to_numpy(), 100 * d["trial_share"].fillna(0).to_numpy()
                ],
                hovertemplate=(
                    f"{s}<br>fidelity %{{x}}<br>%{{y:.1f}}% of cost<br>"
                    "%{customdata[0]:.0f} trials (%{customdata[1]:.1f}%)<extra></extra>"
                ),
            )
        )
    _layout(fig, title=title, barmode="group")
    fig.update_layout(xaxis_title="fidelity (budget) of the trial", yaxis_title="% of the searcher's cost")
    fig.update_xaxes(type="category")
    return fig


def _axis_values(v: pd.Series, scale: str) -> tuple[np.ndarray, list[float], list[str]]:
    """Values mapped to [0, 1] (NaN -> -0.1 'inactive'), with tick positions and labels."""
    if scale == "category":
        cats = sorted(v.dropna().astype(str).unique())
        pos = {c: i / max(1, len(cats) - 1) for i, c in enumerate(cats)}
        y = np.array([pos.get(str(a), np.nan) if pd.notna(a) else np.nan for a in v], dtype=float)
        ticks, labels = list(pos.values()), cats
    else:
        num = pd.to_numeric(v, errors="coerce").to_numpy(dtype=float)
        t = np.log10(num) if scale == "log" else num
        lo, hi = np.nanmin(t), np.nanmax(t)
        span = hi - lo if hi > lo else 1.0
        y = (t - lo) / span
        ticks = [0.0, 1.0]
        labels = [
            f"{10**lo:.3g}" if scale == "log" else f"{lo:.3g}",
            f"{10**hi:.3g}" if scale == "log" else f"{hi:.3g}",
        ]
    y = np.where(np.isnan(y), -0.1, y)
    return y, ticks, labels


def configurations(
    conf: pd.DataFrame,
    *,
    params: list[str],
    scales: dict[str, str],
    title: str,
    colors: dict[str, str] | None = None,
) -> go.Figure:
    """The configurations each searcher tried; its best 10% drawn bold.

    Two numeric parameters give a 2-D scatter (log axes where the parameter is log-scaled);
    otherwise SVG parallel coordinates with one vertical axis per parameter plus the
    objective (inactive conditional parameters sit on an "inactive" level below each axis).

    Args:
        conf: rows of ``analysis.configurations`` for one task.
        params: ``param.*`` columns to show.
        scales: output of ``analysis.param_scales``.
    """
    go = _go()
    fig = go.Figure()
    searchers = sorted(conf["searcher"].unique())
    colors = colors or searcher_colors(searchers)
    numeric = [p for p in params if scales.get(p) != "category"]
    if len(params) == 2 and len(numeric) == 2:
        px_, py_ = params
        for s in searchers:
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
        _layout(fig, title=title, height=420)
        fig.update_layout(
            xaxis={"title": px_.removeprefix("param."), "type": "log" if scales[px_] == "log" else "linear"},
            yaxis={"title": py_.removeprefix("param."), "type": "log" if scales[py_] == "log" else "linear"},
        )
        return fig
    cols = [*params, "objective"]
    obj_scale = "linear"
    ys, ticks = {}, {}
    for c in cols:
        sc = scales.get(c, obj_scale)
        ys[c], tpos, tlab = _axis_values(conf[c], sc)
        ticks[c] = (tpos, tlab)
    has_inactive = any((conf[c].isna()).any() for c in params)
    for s in searchers:
        d_idx = np.flatnonzero((conf["searcher"] == s).to_numpy())
        for top in (False, True):
            rows = d_idx[conf["top"].to_numpy()[d_idx] == top]
            if len(rows) == 0:
                continue
            # one polyline per configuration, separated by NaN (shape (C, P + 2) -> flat)
            yy = np.column_stack([ys[c][rows] for c in cols] + [np.full(len(rows), np.nan)])
            xx = np.tile(np.r_[np.arange(len(cols), dtype=float), np.nan], (len(rows), 1))
            fig.add_trace(
                go.Scatter(
                    x=xx.ravel(),
                    y=yy.ravel(),
                    mode="lines",
                    name=s if top else f"{s} (rest)",
                    legendgroup=s,
                    showlegend=top,
                    line={"color": _rgba(colors[s], 0.9 if top else 0.18), "width": 2 if top else 1},
                    hoverinfo="skip",
                )
            )
    shapes = [
        {"type": "line", "x0": i, "x1": i, "y0": 0, "y1": 1, "line": {"color": "#444", "width": 1}}
        for i in range(len(cols))
    ]
    ann = []
    for i, c in enumerate(cols):
        ann.append(
            {
                "x": i,
                "y": 1.04,
                "text": f"<b>{c.removeprefix('param.')}</b>",
                "showarrow": False,
                "yanchor": "bottom",
            }
        )
        for tp, tl in zip(*ticks[c]):
            ann.append(
                {
                    "x": i,
                    "y": tp,
                    "text": tl,
                    "showarrow": False,
                    "xanchor": "left",
                    "xshift": 3,
                    "font": {"size": 10},
                }
            )
        if has_inactive and c != "objective":
            ann.append(
                {
                    "x": i,
                    "y": -0.1,
                    "text": "inactive",
                    "showarrow": False,
                    "xanchor": "left",
                    "xshift": 3,
                    "font": {"size": 9, "color": "#888"},
                }
            )
    _layout(fig, title=title, height=440, shapes=shapes, annotations=ann)
    fig.update_xaxes(visible=False, range=[-0.2, len(cols) - 0.5])
    fig.update_yaxes(visible=False, range=[-0.18 if has_inactive else -0.05, 1.12])
    fig.update_layout(margin={"t": 80})
    return fig


def worker_timeline(intervals: pd.DataFrame, utilisation: pd.DataFrame, *, title: str) -> go.Figure:
    """Busy blocks of each worker over the experiment, with its busy share in the label.

    Args:
        intervals: output of ``analysis.busy_intervals``.
        utilisation: output of ``analysis.worker_utilisation``.
    """
    go = _go()
    fig = go.Figure()
    share = utilisation.set_index("worker")["share"]
    for w in sorted(intervals["worker"].unique()):
        d = intervals[intervals["worker"] == w]
        label = f"{w} ({100 * share.get(w, np.nan):.0f}% busy)"
        fig.add_trace(
            go.Bar(
                base=d["start"],
                x=d["end"] - d["start"],
                y=[label] * len(d),
                orientation="h",
                marker_color="#0072B2",
                showlegend=False,
                hovertemplate="busy from %{base:.1f} s for %{x:.1f} s<extra></extra>",
            )
        )
    n = intervals["worker"].nunique()
    _layout(fig, title=title, height=int(140 + 28 * n), barmode="overlay")
    fig.update_layout(xaxis_title="seconds since the first trial started", bargap=0.3)
    return fig
