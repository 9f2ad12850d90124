"""Plotly figures for the report, built only from the outputs of ``hpbench.results.analysis``.

Every figure uses plain SVG traces (no WebGL), so it renders in any browser, headless
ones included, and stays light: curves come pre-aggregated on grids of at most a few
hundred points, scatter plots take the bounded sample of ``analysis.configurations``,
and the worker timeline draws merged busy blocks rather than single trials.

Shapes glossary:
    G: grid points of one curve, S: searchers, P: parameters shown, C: configurations drawn.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hpbench.results import style
from hpbench.results.parallel import configurations

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
    "importance_bars",
]

AXIS_TITLES: dict[str, str] = {
    "cost": "cost (full-fidelity evaluations)",
    "evaluations": "evaluations",
    "time": "compute time (s): trials + searcher",
}
_go = style.go
_layout = style.layout
_rgba = style.rgba
searcher_colors = style.searcher_colors
with_data = style.with_data
figure_data = style.figure_data
log_axis = style.log_axis


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
    ends: dict[str, dict[str, float]] | None = None,
) -> go.Figure:
    """Median best-so-far regret and the band of its interval (``analysis.aggregate``), per searcher.

    Buttons switch the x axis between the axes present in ``curves`` (traces for the other
    axes are hidden, not recomputed, so switching is instant and offline). Each curve ends
    where its searcher's data ends (``ends``): a full-fidelity searcher that made 40
    evaluations is not drawn as a flat line out to Hyperband's 400.

    Args:
        curves: axis name -> output of ``analysis.aggregate`` for one task.
        title: figure title.
        y_title: label of the y axis.
        colors: searcher -> colour.
        default_axis: axis shown first (cost is the fair one for multi-fidelity searchers).
        log_y: log-scale y; values <= 0 are drawn at a floor below the smallest positive one.
        ends: axis -> searcher -> the largest x any of its runs reached (no clipping if absent).
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
    plotted = []
    for axis in axes:
        c = curves[axis]
        for s in searchers:
            d = _clip_to_end(c[c["searcher"] == s].sort_values("x"), (ends or {}).get(axis, {}).get(s))
            plotted.append(d.assign(axis=axis))
            if not d["median"].notna().any():
                continue
            fig.add_traces(_band_and_median(d, s, colors[s], floor, visible=axis == axes[0]))
            owner += [axis, axis]
    _layout(fig, title=title)
    if log_y:
        shown = np.concatenate([np.asarray(t.y, dtype=float) for t in fig.data]) if fig.data else allv
        fig.update_yaxes(**log_axis(shown))
    fig.update_layout(
        xaxis_title=AXIS_TITLES[axes[0]] if axes else "",
        yaxis_title=y_title,
        margin={"t": 90},
        legend={"y": 1.02},
        updatemenus=_axis_menu(axes, owner),
    )
    cols = ["axis", "searcher", "x", "n", "median", "median_lo", "median_hi"]
    data = pd.concat(plotted, ignore_index=True) if plotted else pd.DataFrame(columns=cols)
    return with_data(fig, data[[c for c in cols if c in data]])


def _axis_menu(axes: list[str], owner: list[str]) -> list[dict[str, Any]]:
    """Buttons that show the traces of one x axis (``owner[i]`` = axis of trace ``i``); none for one axis."""
    if len(axes) <= 1:
        return []
    buttons = [
        {
            "label": a,
            "method": "update",
            "args": [{"visible": [o == a for o in owner]}, {"xaxis.title.text": AXIS_TITLES[a]}],
        }
        for a in axes
    ]
    menu = {"type": "buttons", "direction": "right", "buttons": buttons, "x": 0, "xanchor": "left"}
    menu |= {
        "y": 1.02,
        "yanchor": "bottom",
        "showactive": True,
        "pad": {"r": 4, "t": 0},
        "font": {"size": 11},
    }
    return [menu]


def _band_and_median(d: pd.DataFrame, s: str, colour: str, floor: float, *, visible: bool) -> list[Any]:
    """The 95% band (a filled staircase) and the median line of one searcher on one axis."""
    go = _go()
    ok = d["median"].notna().to_numpy()
    x = d["x"].to_numpy(dtype=float)[ok]
    med = np.maximum(d["median"].to_numpy(dtype=float)[ok], floor)
    lo = np.maximum(d["median_lo"].to_numpy(dtype=float)[ok], floor)
    hi = d["median_hi"].to_numpy(dtype=float)[ok]
    hi = np.maximum(np.where(np.isfinite(hi), hi, med), floor)
    n = int(d["n"].iloc[0])
    xu, yu = _staircase(x, hi)
    xl, yl = _staircase(x, lo)
    band = go.Scatter(
        x=np.r_[xu, xl[::-1]], y=np.r_[yu, yl[::-1]], fill="toself", fillcolor=_rgba(colour, 0.15),
        line={"width": 0}, hoverinfo="skip", legendgroup=s, showlegend=False, visible=visible, name=s,
    )  # fmt: skip
    line = go.Scatter(
        x=x, y=med, mode="lines", line={"color": colour, "width": 2, "shape": "hv"}, name=s, legendgroup=s,
        visible=visible, hovertemplate=f"{s}<br>x=%{{x:.4g}}<br>median=%{{y:.4g}}<extra>{n} runs</extra>",
    )  # fmt: skip
    return [band, line]


def _clip_to_end(d: pd.DataFrame, end: float | None) -> pd.DataFrame:
    """Grid rows of one curve up to ``end``, plus a last point at ``end`` holding the value there."""
    if end is None or not len(d) or not np.isfinite(end):
        return d
    x = d["x"].to_numpy(dtype=float)
    keep = d[x <= end + 1e-9 * max(1.0, abs(end))]
    if len(keep) == len(d) or not len(keep):
        return keep if len(keep) else d.iloc[:1]
    if float(keep["x"].iloc[-1]) < end:
        keep = pd.concat([keep, keep.iloc[-1:].assign(x=float(end))], ignore_index=True)
    return keep


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
    return with_data(fig, df[["searcher", "fraction", value]])


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
    fig.update_layout(yaxis_title=y_title, xaxis_title="searcher")
    if log_y:
        fig.update_yaxes(**log_axis(np.maximum(v_all[np.isfinite(v_all)], floor)))
    cols = [c for c in ("searcher", "seed", "run_id", value) if c in final]
    return with_data(fig, final[cols])


def cd_diagram(result: FriedmanResult, *, title: str | None = None) -> go.Figure:
    """Critical-difference diagram (Demšar, 2006, Fig. 1), drawn with plotly shapes.

    The axis shows average ranks (1 = best, on the left); each searcher hangs from its
    rank; thick bars join searchers whose ranks differ by less than the Nemenyi critical
    difference (not significantly different); the CD length is drawn above the axis.
    """
    go = _go()
    k = len(result.searchers)
    half = math.ceil(k / 2)
    n_bars = len(result.cliques)
    y_bottom = -(max(half, k - half) + 1) * _CD_STEP - 0.1
    left_x, right_x = 0.6, k + 0.4
    shapes, ann = _cd_axis(result)
    for part in (_cd_labels(result, left_x, right_x), _cd_cliques(result)):
        shapes += part[0]
        ann += part[1]
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
    return with_data(fig, _cd_data(result))


_CD_STEP = 0.32  # vertical distance between two searchers' labels
_CD_LINE = {"color": "#333", "width": 1.2}
_Drawing = tuple[list[dict[str, Any]], list[dict[str, Any]]]  # plotly shapes, annotations


def _cd_axis(result: FriedmanResult) -> _Drawing:
    """The rank axis with its ticks, and the CD bar above it, anchored at rank 1 as in Demšar's figures."""
    k = len(result.searchers)
    line = _CD_LINE
    shapes: list[dict[str, Any]] = [{"type": "line", "x0": 1, "x1": k, "y0": 0, "y1": 0, "line": line}]
    ann: list[dict[str, Any]] = []
    for t in range(1, k + 1):
        shapes.append({"type": "line", "x0": t, "x1": t, "y0": 0, "y1": 0.08, "line": line})
        ann.append({"x": t, "y": 0.1, "text": str(t), "showarrow": False, "yanchor": "bottom"})
    cd_end = min(1 + result.cd, k + 0.5)
    red = "#c0392b"
    shapes.append(
        {"type": "line", "x0": 1, "x1": cd_end, "y0": 0.55, "y1": 0.55, "line": {"color": red, "width": 3}}
    )
    text = f"CD = {result.cd:.2f} (α = {result.alpha:g})"
    ann.append(
        {
            "x": (1 + cd_end) / 2,
            "y": 0.6,
            "text": text,
            "showarrow": False,
            "yanchor": "bottom",
            "font": {"color": red},
        }
    )
    return shapes, ann


def _cd_labels(result: FriedmanResult, left_x: float, right_x: float) -> _Drawing:
    """Each searcher hangs from its average rank: the better half labelled on the left, the rest right."""
    k = len(result.searchers)
    half = math.ceil(k / 2)
    n_bars = len(result.cliques)
    shapes: list[dict[str, Any]] = []
    ann: list[dict[str, Any]] = []
    for i, (name, r) in enumerate(zip(result.searchers, result.avg_ranks)):
        if i < half:
            y = -(i + 1) * _CD_STEP - n_bars * 0.1
            end, anchor = left_x, "right"
        else:
            y = -(k - i) * _CD_STEP - n_bars * 0.1
            end, anchor = right_x, "left"
        shapes.append({"type": "line", "x0": r, "x1": r, "y0": 0, "y1": y, "line": _CD_LINE})
        shapes.append({"type": "line", "x0": r, "x1": end, "y0": y, "y1": y, "line": _CD_LINE})
        label = f"{name} ({r:.2f})"
        ann.append({"x": end, "y": y, "text": label, "showarrow": False, "xanchor": anchor, "xshift": 0})
    return shapes, ann


def _cd_cliques(result: FriedmanResult) -> _Drawing:
    """Thick bars joining searchers not separated by the critical difference."""
    shapes: list[dict[str, Any]] = []
    for j, members in enumerate(result.cliques):
        rs = [result.avg_ranks[result.searchers.index(m)] for m in members]
        y = -0.12 - j * 0.1
        bar = {"color": "#111", "width": 5}
        shapes.append(
            {"type": "line", "x0": min(rs) - 0.04, "x1": max(rs) + 0.04, "y0": y, "y1": y, "line": bar}
        )
    return shapes, []


def _cd_data(result: FriedmanResult) -> pd.DataFrame:
    """What the CD diagram shows: average ranks, the CD, the groups not separated by it."""
    clique = {s: ";".join("+".join(c) for c in result.cliques if s in c) for s in result.searchers}
    return pd.DataFrame(
        {
            "searcher": list(result.searchers),
            "average_rank": list(result.avg_ranks),
            "cd": result.cd,
            "not_separated_from": [clique[s] for s in result.searchers],
        }
    )


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
    cols = [c for c in ("searcher", "budget", "cost_share", "n_trials", "trial_share") if c in alloc]
    return with_data(fig, alloc[cols])


def importance_bars(imp: pd.DataFrame, *, title: str) -> go.Figure:
    """Horizontal bars: each parameter's share of the objective's variance (largest on top).

    Args:
        imp: output of ``importance.importance`` (parameter, importance).
    """
    go = _go()
    d = imp.iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=100 * d["importance"].to_numpy(dtype=float),
            y=d["parameter"].astype(str).tolist(),
            orientation="h",
            marker_color="#4E79A7",
            showlegend=False,
            hovertemplate="%{y}: %{x:.1f}% of the variance<extra></extra>",
        )
    )
    _layout(fig, title=title, height=int(150 + 26 * len(d)))
    fig.update_layout(xaxis_title="main effect (% of the surrogate's variance)", yaxis_title="parameter")
    return with_data(fig, imp)


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
    fig.update_layout(xaxis_title="seconds since the first trial started", yaxis_title="worker", bargap=0.3)
    return with_data(fig, intervals)
