"""The self-contained HTML report: summary first, then one section per task, then provenance.

``write_report`` reads only the trials and runs frames of the store, runs the analysis,
draws the figures and writes ONE HTML file that opens offline: plotly.js is embedded
once, every figure refers to it, and nothing is fetched (no CDN, no web fonts, no MathJax).
"""

from __future__ import annotations

import html
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpbench.results import analysis as an
from hpbench.results import page, plots

__all__ = ["write_report", "report_figures", "PLOTLY_CONFIG"]

# typesetMath off: plotly.js would otherwise look for MathJax; no logo link, no cloud buttons.
PLOTLY_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "typesetMath": False,
    "showSendToCloud": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
}
_RUN_COLUMNS = ("run_id", "task", "searcher", "seed")
_ALPHA = 0.05
_N_BOOT = 1000
_GRID = 120  # points per curve: smooth at report width, cheap to bootstrap
_TIME = "%Y-%m-%d %H:%M:%S"

_CSS = """
:root { --fg:#1d2430; --muted:#5b6575; --line:#e3e7ee; --bg:#ffffff; --soft:#f6f8fb; --acc:#0072B2;
  --win:#e7f4ec; --winfg:#11663a; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); background:var(--bg); line-height:1.5; font-size:15px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header.top { background:#17324d; color:#fff; padding:22px 32px 16px; }
header.top h1 { margin:0 0 4px; font-size:24px; font-weight:650; }
header.top .meta { color:#c9d6e3; font-size:13.5px; }
nav.toc { position:sticky; top:0; z-index:5; background:#fff; border-bottom:1px solid var(--line);
  padding:8px 32px; font-size:13.5px; white-space:nowrap; overflow-x:auto; }
nav.toc a { color:var(--acc); text-decoration:none; margin-right:16px; }
nav.toc a:hover { text-decoration:underline; }
main { max-width:1180px; margin:0 auto; padding:8px 32px 48px; }
section { margin-top:30px; }
h2 { font-size:20px; border-bottom:2px solid var(--line); padding-bottom:4px; margin:0 0 12px; }
h3 { font-size:16px; margin:22px 0 8px; }
p.note, .muted { color:var(--muted); font-size:13.5px; }
.verdict { background:var(--soft); border-left:4px solid var(--acc); padding:14px 18px; border-radius:6px; }
.verdict p { margin:6px 0; }
.verdict .big { font-size:18px; }
.grid { display:grid; grid-template-columns:repeat(auto-fill, minmax(460px, 1fr)); gap:14px; }
.fig { border:1px solid var(--line); border-radius:8px; padding:6px; background:#fff; min-width:0; }
table { border-collapse:collapse; font-size:13.5px; margin:6px 0 10px; }
th, td { padding:5px 10px; border-bottom:1px solid var(--line); text-align:right; vertical-align:top; }
th { background:var(--soft); font-weight:600; text-align:center; }
td.l, th.l { text-align:left; }
tbody tr:nth-child(even) td { background:#fbfcfe; }
td.win { background:var(--win) !important; color:var(--winfg); font-weight:650; }
td small { color:var(--muted); font-weight:400; }
.scroll { overflow-x:auto; }
.pill { display:inline-block; padding:0 8px; border-radius:10px; font-size:12px; background:#eef2f7; }
.pill.sig { background:var(--win); color:var(--winfg); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12.5px; }
pre { background:var(--soft); padding:8px 10px; border-radius:6px; overflow-x:auto; white-space:pre-wrap; }
footer { color:var(--muted); font-size:12.5px; text-align:center; padding:20px; }
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _fmt(x: Any, digits: int = 4) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _esc(x)
    if not math.isfinite(v):
        return "–"
    return f"{v:.{digits}g}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, left: int = 1) -> str:
    """An HTML table; cells are pre-escaped HTML; the first ``left`` columns are left-aligned."""
    head = "".join(f'<th class="{"l" if i < left else ""}">{h}</th>' for i, h in enumerate(headers))
    body = []
    for r in rows:
        cells = []
        for i, c in enumerate(r):
            cls = "l" if i < left else ""
            if c.startswith("\x00win"):
                cls, c = (cls + " win").strip(), c[4:]
            cells.append(f'<td class="{cls}">{c}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    rows_html = "".join(body)
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table></div>'
    )


def _win(cell: str) -> str:
    return "\x00win" + cell


@dataclass(frozen=True)
class _Analysis:
    """Everything the report shows, computed once."""

    refs: pd.DataFrame
    curves: dict[str, pd.DataFrame]  # axis -> aggregate of regret
    summary_axis: str
    scores: an.NormalisedScore
    score_final: pd.DataFrame  # task, searcher, score (mean over seeds at the end)
    score_curve: pd.DataFrame
    ranks: pd.DataFrame
    final: pd.DataFrame
    table: pd.DataFrame
    pairs: pd.DataFrame
    friedman: an.FriedmanResult | None
    utilisation: pd.DataFrame
    intervals: pd.DataFrame
    allocation: pd.DataFrame
    configs: pd.DataFrame  # top-fidelity trials only: what the configurations panel draws
    ends: dict[str, pd.DataFrame]  # axis -> task, searcher, end (where its curves stop)


def _curve_ends(trials: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per axis, task and searcher: the largest x any of its runs reached.

    The trajectories of each (task, searcher) pair on a two-point grid span exactly its
    runs' range, so the axis definitions stay those of ``analysis.trajectories``.
    """
    key = trials["task"].astype(str) + "\x00" + trials["searcher"].astype(str)
    out = {}
    for ax in an.AXES:
        t = an.trajectories(trials.assign(task=key), axis=ax, n_points=2)
        e = t.groupby("task", as_index=False)["x"].max()
        split = e["task"].str.split("\x00", n=1, expand=True)
        out[ax] = pd.DataFrame({"task": split[0], "searcher": split[1], "end": e["x"]})
    return out


def _ends_for(a: _Analysis, task: str) -> dict[str, dict[str, float]]:
    return {
        ax: dict(zip(e.loc[e["task"] == str(task), "searcher"], e.loc[e["task"] == str(task), "end"]))
        for ax, e in a.ends.items()
    }


def _analyse(trials: pd.DataFrame) -> _Analysis:
    refs = an.regret_references(trials)
    traj = {ax: an.add_regret(an.trajectories(trials, axis=ax, n_points=_GRID), refs) for ax in an.AXES}
    curves = {ax: an.aggregate(t, value="regret", n_boot=_N_BOOT, seed=0) for ax, t in traj.items()}
    # Cost is the fair axis between multi- and full-fidelity searchers; fall back to
    # evaluations when the store has no costs.
    cost_tot = trials.groupby("task")["cost"].sum(min_count=1) if "cost" in trials else pd.Series(dtype=float)
    summary_axis = "cost" if len(cost_tot) and (cost_tot.fillna(0) > 0).all() else "evaluations"
    t = traj[summary_axis]
    scores = an.normalised_scores(t, refs)
    last = scores.per_run[scores.per_run["x"] == scores.per_run.groupby("task")["x"].transform("max")]
    score_final = last.groupby(["task", "searcher"], as_index=False)["score"].mean()
    final = an.final_runs(trials, refs)
    return _Analysis(
        refs=refs,
        curves=curves,
        summary_axis=summary_axis,
        scores=scores,
        score_final=score_final,
        score_curve=an.mean_over_tasks(scores.per_run, value="score"),
        ranks=an.average_rank(t, value="best"),
        final=final,
        table=an.final_table(final),
        pairs=an.pairwise_tests(final, alpha=_ALPHA),
        friedman=an.friedman_nemenyi(final, alpha=_ALPHA),
        utilisation=an.worker_utilisation(trials),
        intervals=an.busy_intervals(trials),
        allocation=an.budget_allocation(trials),
        configs=an.configurations(trials[an.incumbent_eligible(trials)]),
        ends=_curve_ends(trials),
    )


class _Figures:
    """Collects the report's figures: a placeholder div each in the page, their JSON packed once.

    ``section`` names the part of the report being built (a task name, or ``""`` for the
    summary); exported figure files are named after it.
    """

    def __init__(self) -> None:
        self.count = 0
        self.section = ""
        self.figures: list[tuple[str, Any, bool]] = []  # (section, figure, spans the page)
        self.specs: list[dict[str, Any]] = []

    def __call__(self, fig: Any, *, wide: bool = False) -> str:
        self.count += 1
        div_id = f"hpbench-fig-{self.count}"
        self.figures.append((self.section, fig, wide))
        self.specs.append({"id": div_id, **page.plain_figure(fig), "config": PLOTLY_CONFIG})
        h = int(fig.layout.height or 400)
        cls = "fig wide" if wide else "fig"
        return (
            f'<div class="{cls}"><div id="{div_id}" class="plotly-graph-div" '
            f'style="height:{h}px;width:100%"></div></div>'
        )


def _winners(a: _Analysis) -> dict[str, str]:
    """Winner per task: lowest median final regret, ties broken by higher normalised score."""
    out = {}
    sf = a.score_final.set_index(["task", "searcher"])["score"]
    for task, g in a.table.groupby("task"):
        g = g.assign(score=[sf.get((task, s), np.nan) for s in g["searcher"]])
        g = g.assign(_m=g["median"].fillna(np.inf), _s=-g["score"].fillna(-np.inf))
        g = g.sort_values(["_m", "_s", "searcher"])
        if np.isfinite(g["_m"].iloc[0]):
            out[task] = str(g["searcher"].iloc[0])
    return out


def _overall(a: _Analysis, searchers: list[str]) -> tuple[str | None, str]:
    """Overall winner and how it was chosen."""
    if len(searchers) == 1:
        return searchers[0], "the only searcher"
    mean_score = a.score_final.groupby("searcher")["score"].mean().dropna()
    if len(mean_score):
        w = str(mean_score.idxmax())
        return w, f"highest mean normalised score over tasks ({mean_score[w]:.3f})"
    if a.friedman is not None:
        return a.friedman.searchers[0], f"best average rank ({a.friedman.avg_ranks[0]:.2f})"
    return None, "no searcher produced a result"


def _how_sure(a: _Analysis, winners: dict[str, str], searchers: list[str], overall: str | None) -> list[str]:
    """Plain-language statements about the strength of the evidence."""
    out = []
    if len(searchers) < 2:
        return ["Only one searcher ran, so there is nothing to compare."]
    fr = a.friedman
    if fr is None:
        out.append("Too few complete blocks for a Friedman test across tasks.")
    else:
        what = "tasks" if fr.blocks == "task" else "task-seed pairs"
        if fr.p_value <= fr.alpha and overall in fr.searchers:
            r0 = fr.avg_ranks[fr.searchers.index(overall)]
            beaten = [s for s, r in zip(fr.searchers, fr.avg_ranks) if r - r0 >= fr.cd]
            tail = (
                f"{_esc(overall)} is significantly better than {_esc(', '.join(beaten))} "
                f"(Nemenyi, CD = {fr.cd:.2f})."
                if beaten
                else f"but no pair involving {_esc(overall)} is separated by the critical difference "
                f"({fr.cd:.2f})."
            )
            out.append(
                f"Across {fr.n_blocks} {what} the searchers differ (Friedman p = {fr.p_value:.3g}); " + tail
            )
        else:
            out.append(
                f"Across {fr.n_blocks} {what} the differences are not significant (Friedman p = "
                f"{fr.p_value:.3g} &gt; {fr.alpha:g}); more tasks or seeds are needed to rank these "
                "searchers."
            )
    sure = 0
    for task, w in winners.items():
        p = a.pairs[(a.pairs["task"] == task) & ((a.pairs["a"] == w) | (a.pairs["b"] == w))]
        if len(p) and (p["significant"] & (p["better"] == w)).all():
            sure += 1
    out.append(
        f"On {sure} of {len(winners)} task(s) the winner beats every other searcher significantly "
        f"(Wilcoxon signed-rank on paired seeds, else Mann-Whitney U; Holm-corrected, α = {_ALPHA:g})."
    )
    n_min = int(a.final.groupby(["task", "searcher"]).size().min()) if len(a.final) else 0
    if n_min < 6:
        out.append(
            f"With {n_min} seed(s) per searcher a paired test cannot reach p &lt; {_ALPHA:g} "
            f"(smallest attainable two-sided p = {2 / 2**n_min:.3g}); run more seeds for firmer conclusions."
        )
    return out


def _summary(a: _Analysis, trials: pd.DataFrame, fig: _Figures, colors: dict[str, str]) -> str:
    searchers = sorted(trials["searcher"].unique())
    tasks = sorted(trials["task"].unique())
    winners = _winners(a)
    overall, why = _overall(a, searchers)
    parts = ['<section id="summary"><h2>Summary</h2><div class="verdict">']
    if overall is not None:
        parts.append(f'<p class="big">Overall winner: <b>{_esc(overall)}</b> — {_esc(why)}.</p>')
    else:
        parts.append('<p class="big">No searcher produced a successful trial.</p>')
    if winners:
        per = ", ".join(f"{_esc(t)}: <b>{_esc(w)}</b>" for t, w in winners.items())
        parts.append(f"<p>Winner per task (lowest median final regret): {per}.</p>")
    parts += [f"<p>{s}</p>" for s in _how_sure(a, winners, searchers, overall)]
    parts.append(
        f'<p class="note">Normalised score: {_esc(a.scores.note)} Measured on the {a.summary_axis} axis '
        "at the end of the budget; scores below 0 are worse than that baseline.</p></div>"
    )
    # winner table: tasks x searchers
    sf = a.score_final.set_index(["task", "searcher"])["score"]
    tb = a.table.set_index(["task", "searcher"])
    rows = []
    for task in tasks:
        r = [_esc(task), _esc(a.refs.loc[task, "source"])]
        for s in searchers:
            if (task, s) not in tb.index:
                r.append("–")
                continue
            cell = (
                f"{_fmt(tb.loc[(task, s), 'median'], 3)}<br><small>score {_fmt(sf.get((task, s)), 3)}</small>"
            )
            r.append(_win(cell) if winners.get(task) == s else cell)
        rows.append(r)
    mean_score = a.score_final.groupby("searcher")["score"].mean()
    rows.append(["<b>mean score</b>", ""] + [_fmt(mean_score.get(s), 3) for s in searchers])
    if a.friedman is not None:
        rk = dict(zip(a.friedman.searchers, a.friedman.avg_ranks))
        rows.append(["<b>average rank</b>", ""] + [_fmt(rk.get(s), 3) for s in searchers])
    parts.append("<h3>Final median regret per task (normalised score below)</h3>")
    parts.append(_table(["task", "regret vs"] + [_esc(s) for s in searchers], rows, left=2))
    figs = []
    if a.friedman is not None:
        figs.append(fig(plots.cd_diagram(a.friedman)))
    if len(searchers) > 1 and len(a.ranks):
        figs.append(
            fig(
                plots.rank_curves(
                    a.ranks, title=f"Average rank over the budget ({a.summary_axis})", colors=colors
                )
            )
        )
    if a.score_curve["value"].notna().any():
        figs.append(
            fig(
                plots.score_curves(
                    a.score_curve, title="Mean normalised score over the budget", colors=colors
                )
            )
        )
    if figs:
        parts.append('<div class="grid">' + "".join(figs) + "</div>")
    parts.append("</section>")
    return "".join(parts)


def _task_section(
    task: str, i: int, a: _Analysis, trials: pd.DataFrame, fig: _Figures, colors: dict[str, str]
) -> str:
    tt = trials[trials["task"] == task]
    src, ref = a.refs.loc[task, "source"], a.refs.loc[task, "reference"]
    high = pd.to_numeric(tt.get("fidelity_high"), errors="coerce").dropna() if "fidelity_high" in tt else []
    fid = f", fidelity up to {_fmt(high.iloc[0])}" if len(high) else ", no fidelity"
    n_fail = int((tt["status"].astype(str) != "ok").sum())
    parts = [
        f'<section id="task-{i}"><h2>{_esc(task)}</h2>',
        f'<p class="note">Regret against the {_esc(src)} ({_fmt(ref, 6)}){fid}; {len(tt)} trials in '
        f"{tt['run_id'].nunique()} runs, {n_fail} failed or timed out. The incumbent counts only "
        "trials at the top fidelity.</p>",
    ]
    curves = {ax: c[c["task"] == task] for ax, c in a.curves.items()}
    curves = {ax: c for ax, c in curves.items() if c["median"].notna().any()}
    figs = []
    if curves:
        figs.append(
            fig(
                plots.regret_curves(
                    curves,
                    title=f"{task}: median regret of the incumbent, 95% bootstrap CI",
                    y_title=f"regret vs {src}",
                    colors=colors,
                    default_axis=a.summary_axis,
                    ends=_ends_for(a, task),
                )
            )
        )
    parts.append("".join(figs))
    tb = a.table[a.table["task"] == task]
    rows = []
    best = tb["median"].min()
    for _, r in tb.iterrows():
        med = _fmt(r["median"])
        rows.append(
            [
                _esc(r["searcher"]),
                _win(med) if r["median"] == best else med,
                f"{_fmt(r['q25'])} – {_fmt(r['q75'])}",
                f"{_fmt(r['mean'])} ± {_fmt(r['sem'], 2)}",
                _fmt(r["best_median"]),
                _fmt(r["test_loss_median"]),
                f"{int(r['n_valid'])}/{int(r['n_runs'])}",
                str(int(r["n_failed"])),
            ]
        )
    parts.append("<h3>Final performance</h3>")
    parts.append(
        _table(
            [
                "searcher",
                "median regret",
                "IQR",
                "mean ± s.e.",
                "median objective",
                "test loss of incumbent",
                "runs with result",
                "failed trials",
            ],
            rows,
        )
    )
    pr = a.pairs[a.pairs["task"] == task]
    if len(pr):
        prow = []
        for _, r in pr.iterrows():
            sig = '<span class="pill sig">yes</span>' if r["significant"] else '<span class="pill">no</span>'
            prow.append(
                [
                    f"{_esc(r['a'])} vs {_esc(r['b'])}",
                    _esc(r["test"]),
                    f"{r['n_a']}/{r['n_b']}",
                    _fmt(r["p_value"], 3),
                    _fmt(r["p_holm"], 3),
                    sig,
                    _esc(r["better"] or "tie"),
                ]
            )
        parts.append(f"<h3>Pairwise tests on final regret (Holm-corrected, α = {_ALPHA:g})</h3>")
        parts.append(_table(["pair", "test", "n", "p", "p (Holm)", "significant", "lower median"], prow))
    small = []
    fr = a.final[a.final["task"] == task]
    if fr["regret"].notna().any():
        small.append(
            fig(
                plots.final_distribution(
                    fr, title="Final regret per run", y_title=f"regret vs {src}", colors=colors
                )
            )
        )
    al = a.allocation[a.allocation["task"] == task]
    if len(al) and al["budget"].nunique() > 1:
        small.append(fig(plots.budget_allocation(al, title="Cost share per fidelity", colors=colors)))
    small += _test_metric_panel(task, a, fig, colors)
    small += _importance_panel(task, a, tt, fig)
    small += _configurations_panel(task, a, tt, fig, colors)
    if small:
        parts.append('<div class="grid">' + "".join(small) + "</div>")
    parts.append("</section>")
    return "".join(parts)


def _test_metric_panel(task: str, a: _Analysis, fig: _Figures, colors: dict[str, str]) -> list[str]:
    """Held-out test loss of each run's recommendation (its incumbent), per searcher."""
    fr = a.final[a.final["task"] == task]
    if "test_loss" not in fr or not fr["test_loss"].notna().any():
        return []
    v = fr["test_loss"].to_numpy(dtype=float)
    figure = plots.final_distribution(
        fr,
        title="Test loss of each run's recommendation",
        value="test_loss",
        y_title="held-out test loss",
        colors=colors,
        log_y=bool((v[np.isfinite(v)] > 0).all() and np.nanmax(v) >= 100 * np.nanmin(v)),
    )
    return [fig(figure)]


def _importance_panel(task: str, a: _Analysis, tt: pd.DataFrame, fig: _Figures) -> list[str]:
    """Which parameters matter on this task: fANOVA main effects over its top-fidelity trials."""
    from hpbench.results import importance as imp

    params = an.param_columns(tt)
    top = tt[an.incumbent_eligible(tt)]
    if not params or len(top) < 10:
        return []
    scores = imp.importance(top, params, an.param_scales(tt, params))
    if scores.empty:
        return []
    title = f"Parameter importance ({len(top)} top-fidelity trials, random-forest fANOVA)"
    return [fig(plots.importance_bars(scores, title=title))]


def _configurations_panel(
    task: str, a: _Analysis, tt: pd.DataFrame, fig: _Figures, colors: dict[str, str]
) -> list[str]:
    """The full-width configurations figure of one task (top-fidelity trials), or nothing."""
    conf = a.configs[a.configs["task"] == task]
    params = an.param_columns(tt)
    if not (len(conf) and params):
        return []
    figure = plots.configurations(
        conf,
        params=params,
        scales=an.param_scales(tt, params),
        title=f"{task}: configurations tried at the top fidelity (best 10% bold, best one boldest)",
        colors=colors,
    )
    return [fig(figure, wide=True)]


def _workers(a: _Analysis, fig: _Figures) -> str:
    if a.utilisation.empty:
        return ""
    rows = [
        [_esc(r["worker"]), str(int(r["n_trials"])), _fmt(r["busy"], 4), f"{100 * r['share']:.0f}%"]
        for _, r in a.utilisation.iterrows()
    ]
    return (
        '<section id="workers"><h2>Workers</h2>'
        + _table(["worker", "trials", "busy (s)", "busy share"], rows)
        + fig(plots.worker_timeline(a.intervals, a.utilisation, title="Worker utilisation"))
        + "</section>"
    )


def _json_union(values: pd.Series) -> dict[str, str]:
    """Merge JSON dicts; keys with several different values list them all."""
    merged: dict[str, list[str]] = {}
    for d in an.parse_json_column(values):
        for k, v in d.items():
            s = v if isinstance(v, str) else json.dumps(v)
            merged.setdefault(k, [])
            if s not in merged[k]:
                merged[k].append(s)
    return {k: ", ".join(v) for k, v in merged.items()}


def _provenance(a: _Analysis, trials: pd.DataFrame, runs: pd.DataFrame) -> str:
    parts = ['<section id="provenance"><h2>Provenance</h2>']
    if "versions" in runs:
        vers = _json_union(runs["versions"])
        if vers:
            parts.append(
                "<h3>Versions</h3>"
                + _table(["package", "version"], [[_esc(k), _esc(v)] for k, v in vers.items()])
            )
    if "machine" in runs:
        mach = _json_union(runs["machine"])
        if mach:
            parts.append(
                "<h3>Machine</h3>" + _table(["field", "value"], [[_esc(k), _esc(v)] for k, v in mach.items()])
            )
    parts.append("<h3>Regret reference per task</h3>")
    parts.append(
        _table(
            ["task", "reference", "source"],
            [[_esc(t), _fmt(r["reference"], 8), _esc(r["source"])] for t, r in a.refs.iterrows()],
        )
    )
    if len(runs) and all(c in runs for c in _RUN_COLUMNS):
        src = runs
    else:  # no runs table: what the trials say about each run
        src = trials.groupby("run_id", as_index=False).agg(
            task=("task", "first"), searcher=("searcher", "first"), seed=("seed", "first"),
            started=("started", "min"), finished=("finished", "max"),
        )  # fmt: skip
    parts.append("<h3>Runs</h3>")
    parts.append(_runs_table(src))
    if "started" in runs and len(runs):
        t0 = pd.to_numeric(runs["started"], errors="coerce").min()
        t1 = pd.to_numeric(runs["finished"], errors="coerce").max()
        if np.isfinite(t0) and np.isfinite(t1):
            parts.append(
                f'<p class="note">Experiment ran from {_esc(time.strftime(_TIME, time.gmtime(t0)))} '
                f"to {_esc(time.strftime(_TIME, time.gmtime(t1)))} UTC.</p>"
            )
    bad = trials[trials["status"].astype(str) != "ok"]
    if len(bad):
        err = bad["error"].astype(object).where(bad["error"].notna(), "") if "error" in bad else ""
        bad = bad.assign(_err=err)
        frows = []
        for (task, searcher, status), g in bad.groupby(["task", "searcher", "status"], sort=True):
            first = next((e for e in g["_err"] if e), "")
            frows.append(
                [
                    _esc(task),
                    _esc(searcher),
                    _esc(status),
                    str(len(g)),
                    f"<code>{_esc(str(first)[:200])}</code>",
                ]
            )
        parts.append("<h3>Failed trials</h3>")
        parts.append(_table(["task", "searcher", "status", "count", "first error"], frows, left=3))
    parts.append("</section>")
    return "".join(parts)


def _compact_json(values: Any) -> str:
    """Distinct JSON dicts of a column as ``k=v k=v`` (several distinct ones joined by ``;``)."""
    out = []
    for d in an.parse_json_column(pd.Series(list(values), dtype=object)):
        text = " ".join(f"{k}={json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in d.items())
        if text not in out:
            out.append(text)
    return "; ".join(out) or "–"


def _seed_ranges(seeds: Any) -> str:
    """``[0, 1, 2, 5]`` -> ``"0–2, 5"``."""
    vals = sorted(int(s) for s in set(seeds))
    spans: list[str] = []
    start = prev = vals[0]
    for v in [*vals[1:], None]:
        if v is not None and v == prev + 1:
            prev = v
            continue
        spans.append(str(start) if start == prev else f"{start}–{prev}")
        if v is not None:
            start = prev = v
    return ", ".join(spans)


def _runs_table(src: pd.DataFrame) -> str:
    """One row per (task, searcher): seeds, parameters (wrapped), budget, status, run time."""
    rows = []
    for (task, searcher), g in src.groupby(["task", "searcher"], sort=True):
        status = ", ".join(f"{k} {v}" for k, v in g["status"].value_counts().items()) if "status" in g else ""
        if "started" in g and "finished" in g:
            dur = pd.to_numeric(g["finished"], errors="coerce") - pd.to_numeric(g["started"], errors="coerce")
            times = f"{_fmt(dur.median(), 3)} s median, {_fmt(dur.sum(), 4)} s total"
        else:
            times = ""
        rows.append(
            [
                _esc(task),
                _esc(searcher),
                _esc(_seed_ranges(g["seed"])),
                f"<code>{_esc(_compact_json(g.get('budget', [])))}</code>",
                _esc(status),
                _esc(times),
                f"<code>{_esc(_compact_json(g.get('searcher_params', [])))}</code>",
            ]
        )
    head = ["task", "searcher", "seeds", "budget", "status", "run time", "searcher parameters"]
    table = _table(head, rows, left=7)
    return table.replace("<table>", '<table class="runs">', 1).replace(
        '<td class="l"><code>', '<td class="l params"><code>'
    )


def _check(trials: Any, runs: Any) -> None:
    if not isinstance(trials, pd.DataFrame):
        raise TypeError(f"write_report: 'trials' must be a pandas DataFrame, got {type(trials).__name__}")
    if not isinstance(runs, pd.DataFrame):
        raise TypeError(f"write_report: 'runs' must be a pandas DataFrame, got {type(runs).__name__}")
    if trials.empty:
        raise ValueError("write_report: rule 'at least one trial' broken, got an empty trials frame")
    need = (*_RUN_COLUMNS, "trial", "objective", "cost", "status", "started", "finished")
    missing = [c for c in need if c not in trials.columns]
    if missing:
        raise ValueError(f"write_report: rule 'trials has the store's columns' broken, missing {missing}")


def _default_label(name: str, params: dict[str, Any]) -> str:
    """The label a searcher gets when none is given (``spec.SearcherSpec``'s rule)."""
    from hpbench.spec import SearcherSpec

    return SearcherSpec(name, params).label


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def spec_toml(spec: dict[str, Any]) -> str:
    """A stored experiment spec as the TOML spec file that reproduces it (``hpbench run FILE``)."""
    lines = [f"name = {_toml_value(spec.get('name', ''))}", f"tasks = {_toml_value(spec.get('tasks', []))}"]
    lines.append(f"seeds = {_toml_value(spec.get('seeds', []))}")
    searchers = []
    for s in spec.get("searchers", []):
        table = {"name": s.get("name"), **(s.get("params") or {})}
        default = _default_label(s.get("name"), s.get("params") or {})
        if s.get("label") and s.get("label") != default:
            table["label"] = s["label"]
        searchers.append(_toml_value(table) if len(table) > 1 else _toml_value(s.get("name")))
    lines.append("searchers = [" + ", ".join(searchers) + "]")
    lines += ["", "[budget]"]
    lines += [f"{k} = {_toml_value(v)}" for k, v in (spec.get("budget") or {}).items() if v is not None]
    return "\n".join(lines) + "\n"


def _reproduce(specs: dict[str, dict[str, Any]] | None) -> str:
    """How each experiment was made: its command and the spec file that runs it again."""
    if not specs:
        return ""
    parts = ['<section id="reproduce"><h2>Reproduce</h2>']
    for name, spec in specs.items():
        cmd = spec.get("command") or "(not recorded: made before hpbench kept commands)"
        parts.append(f"<h3>{_esc(name)}</h3><p>Made by: <code>{_esc(cmd)}</code></p>")
        history = spec.get("budget_history") or []
        if history:
            parts.append(
                '<p class="note">Budget extended from '
                + " → ".join(_esc(_compact_json([json.dumps(b)])) for b in history)
                + f" → {_esc(_compact_json([json.dumps(spec.get('budget'))]))}.</p>"
            )
        parts.append(
            "<p>The same experiment as a spec file (<code>hpbench run FILE.toml</code> resumes it "
            f"in the same store, or runs it anew elsewhere):</p><pre>{_esc(spec_toml(spec))}</pre>"
        )
    parts.append("</section>")
    return "".join(parts)


def _build(
    trials: pd.DataFrame,
    runs: pd.DataFrame,
    title: str | None,
    specs: dict[str, dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], _Figures]:
    """The page's parts and its figures (the figures are what ``hpbench report --figures`` exports)."""
    _check(trials, runs)
    trials = trials.reset_index(drop=True)
    exps = sorted(trials["experiment"].astype(str).unique()) if "experiment" in trials else []
    title = title or ("hpbench report: " + ", ".join(exps) if exps else "hpbench report")
    a = _analyse(trials)
    searchers = sorted(trials["searcher"].astype(str).unique())
    tasks = sorted(trials["task"].unique())
    colors = plots.searcher_colors(searchers)
    fig = _Figures()
    summary = _summary(a, trials, fig, colors)
    sections = []
    for i, t in enumerate(tasks):
        fig.section = str(t)
        sections.append(_task_section(t, i, a, trials, fig, colors))
    fig.section = "workers"
    workers = _workers(a, fig)
    prov = _provenance(a, trials, runs)
    made = _reproduce(specs)
    toc = [("summary", "Summary")] + [(f"task-{i}", str(t)) for i, t in enumerate(tasks)]
    if workers:
        toc.append(("workers", "Workers"))
    if made:
        toc.append(("reproduce", "Reproduce"))
    toc.append(("provenance", "Provenance"))
    parts = {
        "title": title,
        "meta": _meta_line(trials, tasks, searchers),
        "toc": toc,
        "body": summary + "".join(sections) + workers + made + prov,
        "css": _CSS,
        "specs": fig.specs,
    }
    return parts, fig


def _meta_line(trials: pd.DataFrame, tasks: list, searchers: list[str]) -> str:
    """The line under the title: what the experiment holds."""
    n_seeds = trials.groupby(["task", "searcher"])["seed"].nunique()
    lo, hi = int(n_seeds.min()), int(n_seeds.max())
    seeds = f"{lo} seed{'s' if lo != 1 else ''}" if lo == hi else f"{lo}–{hi} seeds"

    def n(k: int, word: str) -> str:
        return f"{k} {word}{'s' if k != 1 else ''}"

    return (
        f"{n(len(tasks), 'task')} · {n(len(searchers), 'searcher')} · {seeds} per searcher · "
        f"{n(len(trials), 'trial')} · generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


def write_report(
    trials: pd.DataFrame,
    runs: pd.DataFrame,
    path: str | Path,
    *,
    title: str | None = None,
    specs: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Write the HTML report of one experiment.

    Args:
        trials: one row per trial, as returned by ``store.load_results``.
        runs: one row per run, as returned by ``store.load_runs`` (may be empty).
        path: output file; parent folders are created.
        title: page title; defaults to "hpbench report: <experiment>".
        specs: experiment name -> stored spec (``store.experiment_specs``): the report then
            shows the command that made each experiment and its spec file.

    Returns:
        The path written.

    Example:
        >>> write_report(load_results(db), load_runs(db), "results/report.html")  # doctest: +SKIP
    """
    parts, _ = _build(trials, runs, title, specs)
    doc = page.document(**parts)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return out


def report_figures(
    trials: pd.DataFrame, runs: pd.DataFrame, *, title: str | None = None
) -> list[tuple[str, Any, bool]]:
    """Every figure of the report, in page order, as (section, plotly figure, wide) triples.

    ``section`` is ``""`` for the summary, the task name for a task's figures, ``"workers"``;
    ``wide`` marks the figures that span the page (and both columns of a paper).
    """
    return _build(trials, runs, title)[1].figures
