"""The report's multi-objective sections: one per task with two or more objectives.

Each shows how the task is measured (normalisation, reference point, regret reference),
the 25/50/75% attainment surfaces of every searcher in one plot, the pooled Pareto front
with its configurations on hover, hypervolume regret over the budget (median and its order-statistic
interval with the coverage it has, as the single-objective curves), the final table and the
pairwise tests on final hypervolume regret with their effect sizes; a last block ranks the searchers over all
multi-objective tasks (Friedman test, CD diagram).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hpbench.results import analysis as an
from hpbench.results import mo_analysis as mo
from hpbench.results import mo_plots, plots
from hpbench.results import report_verdict as rv
from hpbench.results.attainment import attainment_surface
from hpbench.results.html import Cell
from hpbench.results.html import esc as _esc
from hpbench.results.html import fmt as _fmt
from hpbench.results.html import table as _table

__all__ = ["MOAnalysis", "analyse_mo", "mo_sections", "LEVELS"]

LEVELS = (0.25, 0.5, 0.75)
_GRID = 120
_ALPHA = 0.05


@dataclass(frozen=True)
class MOAnalysis:
    """Everything the multi-objective sections show, computed once."""

    problems: dict[str, mo.Problem]
    curves: dict[str, pd.DataFrame]  # axis -> aggregate of hypervolume regret
    final: pd.DataFrame  # per run: best = -hypervolume, regret
    table: pd.DataFrame
    pairs: pd.DataFrame
    friedman: an.FriedmanResult | None
    surfaces: dict[str, dict[str, dict[float, np.ndarray]]]  # task -> searcher -> q -> points
    fronts: dict[str, pd.DataFrame]


def analyse_mo(trials: pd.DataFrame, runs: pd.DataFrame | None = None) -> MOAnalysis | None:
    """The multi-objective analysis of every task with two or more objectives, or ``None``."""
    probs = mo.problems(trials, runs)
    if not probs:
        return None
    hv = mo.hypervolume_trials(trials, probs)
    refs = mo.references(probs)
    curves = {}
    for ax in an.AXES:
        traj = an.add_regret(an.trajectories(hv, axis=ax, n_points=_GRID), refs)
        curves[ax] = an.aggregate(traj, value="regret")
    keys = {"task", "searcher", "seed", "run_id"}
    every = runs[runs["task"].isin(list(probs))] if runs is not None and keys <= set(runs) else None
    final = an.final_runs(hv, refs, all_runs=every)  # a run without a trial counts, without a result
    surfaces = {}
    for task, p in probs.items():
        runs_by = mo.run_fronts(trials, p)
        surfaces[task] = {
            s: {q: attainment_surface([r[:, :2] for r in rs], q) for q in LEVELS} for s, rs in runs_by.items()
        }
    return MOAnalysis(
        problems=probs,
        curves=curves,
        final=final,
        table=an.final_table(final),
        pairs=an.pairwise_tests(final, value="regret", alpha=_ALPHA),
        friedman=an.friedman_ranks(final, value="regret", alpha=_ALPHA),
        surfaces=surfaces,
        fronts={t: mo.pooled_front(trials, p) for t, p in probs.items()},
    )


def _how_measured(p: mo.Problem, n_trials: int, n_runs: int) -> str:
    objs = ", ".join(
        f"{_esc(n)} ({'max' if d == 'max' else 'min'})" for n, d in zip(p.objectives, p.directions)
    )
    ideal = ", ".join(_fmt(v) for v in p.ideal)
    nadir = ", ".join(_fmt(v) for v in p.nadir)
    return (
        f'<p class="note">Objectives: {objs}. Normalised per objective from the {_esc(p.normalisation)}: '
        f"ideal ({ideal}) -> 0, nadir ({nadir}) -> 1 (losses; maximised objectives negated). Hypervolume "
        f"from the reference point {p.reference_point[0]:g} in every normalised objective; regret against "
        f"the {_esc(p.reference_source)}'s hypervolume {_fmt(p.reference_hv, 6)}. Only ok trials at the top "
        f"fidelity with every objective count; {n_trials} trials in {n_runs} runs. Single-objective "
        "searchers optimised the first objective; their points are compared all the same.</p>"
    )


def _final_rows(tb: pd.DataFrame) -> list[list[str | Cell]]:
    best = tb["median"].min()
    rows = []
    for _, r in tb.iterrows():
        med = _fmt(r["median"])
        rows.append(
            [
                _esc(r["searcher"]),
                Cell(med, "lead") if r["median"] == best else med,  # ahead; the tests below say how sure
                f"[{_fmt(r['lo'])}, {_fmt(r['hi'])}]<br><small>{_esc(r['interval'])}</small>",
                f"{_fmt(r['q25'])} – {_fmt(r['q75'])}",
                _fmt(0.0 - r["best_median"]),
                f"{int(r['n_with_result'])}/{int(r['n_runs'])}",
                str(int(r["n_failed"])),
            ]
        )
    return rows


def _symbol_column(front: pd.DataFrame) -> str | None:
    """A categorical parameter to mark on the front (e.g. the convolution type), if any."""
    for c in front.columns:
        numeric = pd.api.types.is_numeric_dtype(front[c])
        if c.startswith("param.") and not numeric and 1 < front[c].nunique() <= 6:
            return c
    return None


def _task_figures(
    task: str, a: MOAnalysis, fig: Callable[[object], str], colors: dict[str, str]
) -> list[str]:
    p = a.problems[task]
    names = (p.objectives[0], p.objectives[1])
    proj = "" if len(p.objectives) == 2 else f" (projected on {names[0]}, {names[1]})"
    out = [
        fig(
            mo_plots.attainment_surfaces(
                a.surfaces[task],
                title=f"Median (solid), 25% (dotted), 75% (dashed) attainment surfaces{proj}",
                names=names,
                ref=(p.reference_point[0], p.reference_point[1]),
                colors=colors,
            )
        )
    ]
    front = a.fronts[task]
    if len(front):
        x, y = (front[f"objective.{n}"].to_numpy(dtype=float) for n in names)
        out.append(
            fig(
                mo_plots.pareto_front(
                    front,
                    title=f"The pooled Pareto front: {len(front)} trials (hover: configuration)",
                    objectives=p.objectives,
                    colors=colors,
                    log_x=bool(np.all(x > 0) and x.max() > 50 * x.min()),
                    log_y=bool(np.all(y > 0) and y.max() > 50 * y.min()),
                    symbol_by=_symbol_column(front),
                )
            )
        )
    curves = {ax: c[c["task"] == task] for ax, c in a.curves.items()}
    curves = {ax: c for ax, c in curves.items() if c["median"].notna().any()}
    if curves:
        default = "cost" if "cost" in curves else next(iter(curves))
        out.append(
            fig(
                plots.regret_curves(
                    curves,
                    title=f"{task}: median hypervolume regret, "
                    + rv.band_label(a.table.loc[a.table["task"] == task, "n_runs"]),
                    y_title="hypervolume regret",
                    colors=colors,
                    default_axis=default,
                )
            )
        )
    return out


def _task_section(
    task: str,
    anchor: str,
    a: MOAnalysis,
    trials: pd.DataFrame,
    fig: Callable[[object], str],
    colors: dict[str, str],
) -> str:
    tt = trials[trials["task"] == task]
    parts = [
        f'<section id="{anchor}"><h2>{_esc(task)}: several objectives</h2>',
        _how_measured(a.problems[task], len(tt), tt["run_id"].nunique()),
        '<div class="grid">' + "".join(_task_figures(task, a, fig, colors)) + "</div>",
        "<h3>Final hypervolume</h3>",
        _table(
            [
                "searcher",
                "median HV regret",
                "interval of the median",
                "IQR",
                "median hypervolume",
                "runs with result",
                "failed trials",
            ],
            _final_rows(a.table[a.table["task"] == task]),
        ),
    ]
    pr = a.pairs[a.pairs["task"] == task]
    if len(pr):
        parts.append(
            f"<h3>Pairwise tests on final hypervolume regret (Holm-corrected, α = {_ALPHA:g})</h3>"
            f'<p class="note">{_esc(an.PAIRED_TEST)}; {rv.EFFECT_NOTE}</p>'
        )
        parts.append(_table(rv.PAIR_HEADS, rv.pair_rows(pr)))
    parts.append("</section>")
    return "".join(parts)


def mo_sections(
    trials: pd.DataFrame,
    runs: pd.DataFrame | None,
    fig: Callable[[object], str],
    colors: dict[str, str],
) -> tuple[list[str], list[tuple[str, str]]]:
    """HTML sections and table-of-contents entries (anchor, label) for the multi-objective tasks."""
    a = analyse_mo(trials, runs)
    if a is None:
        return [], []
    html, toc = [], []
    for i, task in enumerate(sorted(a.problems)):
        anchor = f"mo-{i}"
        html.append(_task_section(task, anchor, a, trials, fig, colors))
        toc.append((anchor, f"{task} (MO)"))
    if a.friedman is not None:
        f = a.friedman
        ranks = ", ".join(f"{_esc(s)} {r:.2f}" for s, r in zip(f.searchers, f.avg_ranks))
        html.append(
            '<section id="mo-ranks"><h2>Several objectives: ranks on final hypervolume regret</h2>'
            f'<p class="note">Friedman test over {f.n_blocks} blocks ({_esc(f.blocks)}): '
            f"p = {_fmt(f.p_value, 3)}; average ranks {ranks}; Nemenyi CD = {_fmt(f.cd, 3)}.</p>"
            + fig(plots.cd_diagram(f, title="Critical difference, final hypervolume regret"))
            + "</section>"
        )
        toc.append(("mo-ranks", "MO ranks"))
    return html, toc
