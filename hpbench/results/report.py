"""The self-contained HTML report: summary first, then one section per task, then provenance.

``write_report`` reads only the trials and runs frames of the store, runs the analysis once
(``hb.analyse``: every statement of the verdict comes from that ``Analysis``, see
``report_verdict``), draws the figures and writes ONE HTML file that opens offline: plotly.js is embedded
once, every figure refers to it, and nothing is fetched (no CDN, no web fonts, no MathJax).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpbench.results import analysis as an
from hpbench.results import page, plots
from hpbench.results import provenance as pv
from hpbench.results import report_verdict as rv
from hpbench.results.html import esc, fmt, table
from hpbench.results.output import atomic_write, check_output
from hpbench.results.provenance import RUN_COLUMNS as _RUN_COLUMNS
from hpbench.results.provenance import spec_toml
from hpbench.results.verdict import Analysis, analyse

__all__ = ["write_report", "report_figures", "baseline_pool", "others_of", "spec_toml", "PLOTLY_CONFIG"]

# typesetMath off: plotly.js would otherwise look for MathJax; no logo link, no cloud buttons.
PLOTLY_CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "typesetMath": False,
    "showSendToCloud": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
}
_ALPHA = 0.05
_GRID = 120  # points per curve: smooth at report width, cheap to aggregate

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


def _ends_for(ends: dict[str, pd.DataFrame], task: str) -> dict[str, dict[str, float]]:
    return {
        ax: dict(zip(e.loc[e["task"] == str(task), "searcher"], e.loc[e["task"] == str(task), "end"]))
        for ax, e in ends.items()
    }


def _task_section(
    task: str, i: int, a: Analysis, fig: _Figures, colors: dict[str, str], ends: dict[str, pd.DataFrame]
) -> str:
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
                    ends=_ends_for(ends, task),
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
    small += _test_metric_panel(task, a, fig, colors)
    small += _importance_panel(task, a, tt, fig)
    small += _configurations_panel(task, a, tt, fig, colors)
    if small:
        parts.append('<div class="grid">' + "".join(small) + "</div>")
    parts.append("</section>")
    return "".join(parts)


def _test_metric_panel(task: str, a: Analysis, fig: _Figures, colors: dict[str, str]) -> list[str]:
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


def _importance_panel(task: str, a: Analysis, tt: pd.DataFrame, fig: _Figures) -> list[str]:
    """Which parameters matter on this task: fANOVA main effects over its top-fidelity trials."""
    from hpbench.results import importance as imp

    params = an.param_columns(tt)
    top = tt[an.incumbent_eligible(tt)]
    if not params or len(top) < 10:
        return []
    scores = imp.importance(top, params, an.param_scales(tt, params, an.task_spaces(a.runs).get(task)))
    if scores.empty:
        return []
    title = f"Parameter importance ({len(top)} top-fidelity trials, random-forest fANOVA)"
    return [fig(plots.importance_bars(scores, title=title))]


def _configurations_panel(
    task: str, a: Analysis, tt: pd.DataFrame, fig: _Figures, colors: dict[str, str]
) -> list[str]:
    """The full-width configurations figure of one task (top-fidelity trials), or nothing."""
    conf = an.configurations(tt[an.incumbent_eligible(tt)])
    params = an.param_columns(tt)
    if not (len(conf) and params):
        return []
    figure = plots.configurations(
        conf,
        params=params,
        scales=an.param_scales(tt, params, an.task_spaces(a.runs).get(task)),
        title=f"{task}: configurations tried at the top fidelity (best 10% bold, best one boldest)",
        colors=colors,
    )
    return [fig(figure, wide=True)]


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


def _build(
    trials: pd.DataFrame,
    runs: pd.DataFrame,
    title: str | None,
    pool_from: pd.DataFrame | None,
    specs: dict[str, dict[str, Any]] | None,
) -> tuple[dict[str, Any], _Figures]:
    """The page's parts and its figures (the figures are what ``hpbench report --figures`` exports)."""
    _check(trials, runs)
    trials = trials.reset_index(drop=True)
    groups = _budget_groups(trials, runs)
    exps = groups[0]
    title = title or ("hpbench report: " + ", ".join(exps) if exps else "hpbench report")
    a = analyse(_of(trials, exps), _of(runs, exps), pool_from=pool_from)
    others = [(g, analyse(_of(trials, g), _of(runs, g), pool_from=pool_from)) for g in groups[1:]]
    colors = plots.searcher_colors(sorted(trials["searcher"].astype(str).unique()))
    ends = _curve_ends(a.trials)
    fig = _Figures()
    body = [rv.summary_section(a, fig, colors)]
    for i, t in enumerate(a.tasks):
        fig.section = str(t)
        body.append(_task_section(t, i, a, fig, colors, ends))
    fig.section = "multi-objective"
    mo_html, mo_toc = _multi_objective(_of(trials, exps), _of(runs, exps), fig, colors)
    body += mo_html
    fig.section = "other budgets"
    body.append(rv.other_budgets_section(others, fig, colors))
    fig.section = "workers"
    body.append(_workers(a.trials, fig))
    made = pv.reproduce_section(specs)
    body += [made, pv.provenance_section(a, _of(trials, exps), _of(runs, exps))]
    toc = [("summary", "Summary")] + [(f"task-{i}", str(t)) for i, t in enumerate(a.tasks)]
    toc += list(mo_toc)
    if others:
        toc.append(("other-budgets", "Other budgets"))
    if 'id="workers"' in body[-3]:
        toc.append(("workers", "Workers"))
    if made:
        toc.append(("reproduce", "Reproduce"))
    toc.append(("provenance", "Provenance"))
    searchers = sorted(a.trials["searcher"].astype(str).unique())
    parts = {
        "title": title,
        "meta": _meta_line(a.final, list(a.tasks), searchers, len(a.trials)),
        "toc": toc,
        "body": "".join(body),
        "css": _CSS,
        "specs": fig.specs,
    }
    return parts, fig


def _meta_line(final: pd.DataFrame, tasks: list, searchers: list[str], n_trials: int) -> str:
    """The line under the title: what the experiment holds (``final``: one row per run)."""
    n_seeds = final.groupby(["task", "searcher"])["seed"].nunique()
    lo, hi = int(n_seeds.min()), int(n_seeds.max())
    seeds = f"{lo} seed{'s' if lo != 1 else ''}" if lo == hi else f"{lo}–{hi} seeds"

    def n(k: int, word: str) -> str:
        return f"{k} {word}{'s' if k != 1 else ''}"

    return (
        f"{n(len(tasks), 'task')} · {n(len(searchers), 'searcher')} · {seeds} per searcher · "
        f"{n(n_trials, 'trial')} · generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )


def write_report(
    trials: pd.DataFrame,
    runs: pd.DataFrame,
    path: str | Path,
    *,
    title: str | None = None,
    pool_from: pd.DataFrame | None = None,
    specs: dict[str, dict[str, Any]] | None = None,
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
        specs: experiment name -> stored spec (``store.experiment_specs``): the report then
            shows the command that made each experiment and its spec file.

    Returns:
        The path written.

    Example:
        >>> write_report(load_results(db), load_runs(db), "results/report.html")  # doctest: +SKIP
    """
    out = check_output("report", path)  # before the analysis: a bad path fails at once
    parts, _ = _build(trials, runs, title, pool_from, specs)
    doc = page.document(**parts)
    with atomic_write(out) as tmp:  # a failed write leaves the previous report whole
        tmp.write_text(doc, encoding="utf-8")
    return out


def baseline_pool(store: str | Path, experiments: list[str]) -> pd.DataFrame:
    """The store's trials of every experiment but ``experiments``, with their runs' ``task_version``.

    What ``hb.analyse(..., pool_from=...)`` and :func:`write_report` pool random search's
    evaluations from, so that the normalised score's baseline uses every random-search
    evaluation of the analysed task versions in the store.
    """
    from hpbench.results.store import load_results, load_runs

    return others_of(load_results(store), load_runs(store), experiments)


def others_of(trials: pd.DataFrame, runs: pd.DataFrame, experiments: list[str]) -> pd.DataFrame:
    """``baseline_pool`` from frames already loaded (every trial and run of the store)."""
    other = trials[~trials["experiment"].astype(str).isin(list(experiments))]
    return other.merge(runs[["run_id", "task_version"]], on="run_id")


def report_figures(
    trials: pd.DataFrame,
    runs: pd.DataFrame,
    *,
    title: str | None = None,
    pool_from: pd.DataFrame | None = None,
) -> list[tuple[str, Any, bool]]:
    """Every figure of the report, in page order, as (section, plotly figure, wide) triples.

    ``section`` is ``""`` for the summary, the task name for a task's figures, ``"workers"``;
    ``wide`` marks the figures that span the page (and both columns of a paper).
    """
    return _build(trials, runs, title, pool_from, None)[1].figures


def _multi_objective(
    trials: pd.DataFrame, runs: pd.DataFrame, fig: _Figures, colors: dict[str, str]
) -> tuple[list[str], list[tuple[str, str]]]:
    """The multi-objective sections (``mo_report``), for tasks with two or more objectives."""
    from hpbench.results.mo_report import mo_sections

    return mo_sections(trials, runs if len(runs) else None, fig, colors)
