"""The self-contained HTML report: summary first, then one section per task, then provenance.

``write_report`` reads only the trials and runs frames of the store, runs the analysis once
(``hb.analyse``: every statement of the verdict comes from that ``Analysis``, see
``report_verdict``), draws the figures and writes ONE HTML file that opens offline: plotly.js is embedded
once, every figure refers to it, and nothing is fetched (no CDN, no web fonts, no MathJax).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpbench.results import analysis as an
from hpbench.results import plots
from hpbench.results import report_verdict as rv
from hpbench.results.html import esc, fmt, table
from hpbench.results.verdict import Analysis, analyse

__all__ = ["write_report", "PLOTLY_CONFIG"]

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
td.lead { background:#f3f6fa !important; font-weight:600; }
.warn { background:#fff6e5; border-left:4px solid #d98c00; padding:8px 14px; border-radius:6px;
  margin:8px 0; }
.warn ul { margin:4px 0; padding-left:20px; }
td small { color:var(--muted); font-weight:400; }
.scroll { overflow-x:auto; }
.pill { display:inline-block; padding:0 8px; border-radius:10px; font-size:12px; background:#eef2f7; }
.pill.sig { background:var(--win); color:var(--winfg); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size:12.5px; }
pre { background:var(--soft); padding:8px 10px; border-radius:6px; overflow-x:auto; white-space:pre-wrap; }
footer { color:var(--muted); font-size:12.5px; text-align:center; padding:20px; }
"""


_esc, _fmt, _table = esc, fmt, table  # short names used throughout this module


class _Figures:
    """Turns figures into HTML divs that share the single embedded plotly.js."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig: Any) -> str:
        self.count += 1
        h = int(fig.layout.height or 400)
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            include_mathjax=False,
            config=PLOTLY_CONFIG,
            div_id=f"hpbench-fig-{self.count}",
            default_height=f"{h}px",
            default_width="100%",
            validate=False,
        )
        return f'<div class="fig">{div}</div>'


def _task_section(task: str, i: int, a: Analysis, fig: _Figures, colors: dict[str, str]) -> str:
    tt = a.trials[a.trials["task"] == task]
    src, ref = a.references.loc[task, "source"], a.references.loc[task, "reference"]
    high = pd.to_numeric(tt.get("fidelity_high"), errors="coerce").dropna() if "fidelity_high" in tt else []
    fid = f", fidelity up to {_fmt(high.iloc[0])}" if len(high) else ", no fidelity"
    n_fail = int((tt["status"].astype(str) != "ok").sum())
    n_runs = int((a.final["task"] == task).sum())
    parts = [
        f'<section id="task-{i}"><h2>{_esc(task)}</h2>',
        f'<p class="note">Regret against the {_esc(src)} ({_fmt(ref, 6)}){fid}; {len(tt)} trials '
        f"within budget in {n_runs} runs, {n_fail} failed or timed out. The incumbent counts only "
        "trials at the top fidelity.</p>",
    ]
    curves = {ax: c[c["task"] == task] for ax, c in a.curves.items()}
    curves = {ax: c for ax, c in curves.items() if c["median"].notna().any()}
    if curves:
        parts.append(
            fig(
                plots.regret_curves(
                    curves,
                    title=rv.curve_title(a, task),
                    y_title=f"regret vs {src}",
                    colors=colors,
                    default_axis=a.summary_axis,
                )
            )
        )
    parts.append(rv.task_tables(a, task))
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
    al = an.budget_allocation(tt)
    if len(al) and al["budget"].nunique() > 1:
        small.append(fig(plots.budget_allocation(al, title="Cost share per fidelity", colors=colors)))
    conf = an.configurations(tt)
    params = an.param_columns(tt)
    if len(conf) and params:
        scales = an.param_scales(tt, params, an.task_spaces(a.runs).get(task))
        small.append(
            fig(
                plots.configurations(
                    conf,
                    params=params,
                    scales=scales,
                    title="Configurations tried (best 10% bold)",
                    colors=colors,
                )
            )
        )
    if small:
        parts.append('<div class="grid">' + "".join(small) + "</div>")
    parts.append("</section>")
    return "".join(parts)


def _workers(trials: pd.DataFrame, fig: _Figures) -> str:
    utilisation = an.worker_utilisation(trials)
    if utilisation.empty:
        return ""
    rows = [
        [_esc(r["worker"]), str(int(r["n_trials"])), _fmt(r["busy"], 4), f"{100 * r['share']:.0f}%"]
        for _, r in utilisation.iterrows()
    ]
    return (
        '<section id="workers"><h2>Workers</h2>'
        + _table(["worker", "trials", "busy (s)", "busy share"], rows)
        + fig(plots.worker_timeline(an.busy_intervals(trials), utilisation, title="Worker utilisation"))
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


def _provenance(a: Analysis, trials: pd.DataFrame, runs: pd.DataFrame) -> str:
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
            [[_esc(t), _fmt(r["reference"], 8), _esc(r["source"])] for t, r in a.references.iterrows()],
        )
    )
    if len(runs) and all(c in runs for c in _RUN_COLUMNS):
        src = runs
    else:  # no runs table: what the trials say about each run
        src = trials.groupby("run_id", as_index=False).agg(
            task=("task", "first"), searcher=("searcher", "first"), seed=("seed", "first"),
            started=("started", "min"), finished=("finished", "max"),
        )  # fmt: skip
    rows = []
    for (task, searcher), g in src.groupby(["task", "searcher"], sort=True):
        seeds = ", ".join(str(s) for s in sorted(g["seed"].unique()))
        params = "; ".join(sorted({v for v in g.get("searcher_params", []) if isinstance(v, str)}))
        budget = "; ".join(sorted({v for v in g.get("budget", []) if isinstance(v, str)}))
        status = (
            ", ".join(f"{k}: {v}" for k, v in g["status"].value_counts().items()) if "status" in g else ""
        )
        if "started" in g and "finished" in g:
            dur = pd.to_numeric(g["finished"], errors="coerce") - pd.to_numeric(g["started"], errors="coerce")
            times = f"{_fmt(dur.median(), 3)} s median, {_fmt(dur.sum(), 4)} s total"
        else:
            times = ""
        rows.append(
            [
                _esc(task),
                _esc(searcher),
                _esc(seeds),
                f"<code>{_esc(params)}</code>",
                f"<code>{_esc(budget)}</code>",
                _esc(status),
                _esc(times),
            ]
        )
    parts.append("<h3>Runs</h3>")
    parts.append(
        _table(
            ["task", "searcher", "seeds", "searcher parameters", "budget", "status", "run time"], rows, left=7
        )
    )
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


def _budget_groups(trials: pd.DataFrame, runs: pd.DataFrame) -> list[list[str]]:
    """Experiments grouped by equal budgets, the group with the most runs first."""
    exps = sorted(trials["experiment"].astype(str).unique()) if "experiment" in trials else []
    keys = rv.budget_key(runs)
    if len(exps) < 2 or not keys:
        return [exps]
    groups: dict[str, list[str]] = {}
    for e in exps:
        groups.setdefault(keys.get(e, ""), []).append(e)
    size = trials.groupby(trials["experiment"].astype(str))["run_id"].nunique()
    return sorted(groups.values(), key=lambda g: (-int(size[g].sum()), g))


def _of(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    if not names or "experiment" not in frame or not len(frame):
        return frame
    return frame[frame["experiment"].astype(str).isin(names)]


def write_report(
    trials: pd.DataFrame,
    runs: pd.DataFrame,
    path: str | Path,
    *,
    title: str | None = None,
    pool_from: pd.DataFrame | None = None,
) -> Path:
    """Write the HTML report of one experiment (or of several with equal budgets).

    Experiments with different budgets are not pooled: the largest group of experiments
    with equal budgets is the main comparison, each other group gets its own verdict in a
    section "Experiments with another budget".

    Args:
        trials: one row per trial, as returned by ``store.load_results``.
        runs: one row per run, as returned by ``store.load_runs`` (may be empty).
        path: output file; parent folders are created.
        title: page title; defaults to "hpbench report: <experiment>".
        pool_from: more trials whose random-search evaluations the normalised score may pool
            (see ``hb.analyse``).

    Returns:
        The path written.

    Example:
        >>> write_report(load_results(db), load_runs(db), "results/report.html")  # doctest: +SKIP
    """
    _check(trials, runs)
    trials = trials.reset_index(drop=True)
    groups = _budget_groups(trials, runs)
    exps = groups[0]
    title = title or ("hpbench report: " + ", ".join(exps) if exps else "hpbench report")
    a = analyse(_of(trials, exps), _of(runs, exps), pool_from=pool_from)
    others = [(g, analyse(_of(trials, g), _of(runs, g), pool_from=pool_from)) for g in groups[1:]]
    colors = plots.searcher_colors(sorted(trials["searcher"].astype(str).unique()))
    fig = _Figures()
    mo_html, mo_toc = _multi_objective(_of(trials, exps), _of(runs, exps), fig, colors)
    body = (
        rv.summary_section(a, fig, colors)
        + "".join(_task_section(t, i, a, fig, colors) for i, t in enumerate(a.tasks))
        + "".join(mo_html)
        + rv.other_budgets_section(others, fig, colors)
        + _workers(a.trials, fig)
        + _provenance(a, _of(trials, exps), _of(runs, exps))
    )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_document(title, a, body, bool(others), mo_toc), encoding="utf-8")
    return out


def _multi_objective(
    trials: pd.DataFrame, runs: pd.DataFrame, fig: _Figures, colors: dict[str, str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """The multi-objective sections (``mo_report``), for tasks with two or more objectives."""
    from hpbench.results.mo_report import mo_sections

    return mo_sections(trials, runs if len(runs) else None, fig, colors)


def _document(
    title: str, a: Analysis, body: str, other_budgets: bool, extra_toc: tuple[tuple[str, str], ...] = ()
) -> str:
    """The whole page around ``body``: head with the one embedded plotly.js, header, table of contents."""
    from plotly.offline import get_plotlyjs

    n_seeds = a.final.groupby(["task", "searcher"])["seed"].nunique()
    meta = (
        f"{len(a.tasks)} task(s) · {len(a.searchers)} searcher(s) · "
        f"{int(n_seeds.min())}–{int(n_seeds.max())} seed(s) · "
        f"{len(a.trials)} trials · generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    toc = ['<a href="#summary">Summary</a>'] + [
        f'<a href="#task-{i}">{_esc(t)}</a>' for i, t in enumerate(a.tasks)
    ]
    toc += [f'<a href="#{anchor}">{_esc(label)}</a>' for anchor, label in extra_toc]
    if other_budgets:
        toc.append('<a href="#other-budgets">Other budgets</a>')
    if 'id="workers"' in body:
        toc.append('<a href="#workers">Workers</a>')
    toc.append('<a href="#provenance">Provenance</a>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style>"
        # plotly.js is embedded exactly once; MathJax stays off (no network, no fonts).
        "<script>window.PlotlyConfig = {MathJaxConfig: 'local'};</script>"
        f'<script type="text/javascript">{get_plotlyjs()}</script>'
        "</head><body>"
        f'<header class="top"><h1>{_esc(title)}</h1><div class="meta">{_esc(meta)}</div></header>'
        f'<nav class="toc">{"".join(toc)}</nav><main>' + body + "</main>"
        # figures drawn before the grid had all its items got a stale width: resize once laid out
        "<script>window.addEventListener('load',function(){document.querySelectorAll('.plotly-graph-div')"
        ".forEach(function(d){if(window.Plotly){Plotly.Plots.resize(d);}});});</script>"
        "<footer>Made with hpbench. Open offline; all figures are interactive "
        "(hover, zoom, click legend entries to hide searchers).</footer></body></html>\n"
    )
