"""The report's verdict: summary, final tables, pairwise tests and seeds needed, from an ``Analysis`` only.

Every number here is read from :class:`hpbench.results.verdict.Analysis` (what
``hb.analyse`` returns), so the report and the API cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from hpbench.results import plots
from hpbench.results import statistics as st
from hpbench.results.comparisons import PAIRED_TEST, RECOMMENDED_BY
from hpbench.results.html import Cell, esc, fmt, table
from hpbench.results.verdict import VALUE_LABELS, Analysis

__all__ = [
    "summary_section",
    "task_tables",
    "curve_title",
    "band_label",
    "pair_rows",
    "PAIR_HEADS",
    "EFFECT_NOTE",
    "other_budgets_section",
]

Figure = Callable[[Any], str]
EFFECT_NOTE = (
    "effect sizes: median paired difference a − b with its interval, and P(a better) (Vargha-Delaney A12)."
)


def _interval(lo: float, hi: float, digits: int = 3) -> str:
    return f"[{fmt(lo, digits)}, {fmt(hi, digits)}]"


def _n_with(a: Analysis, searcher: str) -> str:
    ok, n = a.verdict.n_with_result.get(searcher, (0, 0))
    return f"{ok}/{n} runs with a result"


def _headline(a: Analysis) -> list[str]:
    v = a.verdict
    if v.overall is not None:
        return [
            f'<p class="big">Overall winner: <b>{esc(v.overall)}</b> — {esc(v.basis)} '
            f"({esc(_n_with(a, v.overall))}).</p>"
        ]
    out = ['<p class="big">No clear winner</p>']
    if v.leader is not None and len(a.searchers) > 1:
        out.append(
            f"<p>Ahead: <b>{esc(v.leader)}</b> — {esc(v.basis)} ({esc(_n_with(a, v.leader))}), but not "
            "separated from every other searcher with confidence.</p>"
        )
    elif v.leader is None:
        out.append("<p>No searcher produced a successful trial within its budget.</p>")
    return out


def _n_with_on(a: Analysis, task: str, searcher: str) -> str:
    r = a.table[(a.table["task"] == task) & (a.table["searcher"] == searcher)].iloc[0]
    return f"{int(r['n_with_result'])}/{int(r['n_runs'])} runs with a result"


def _per_task_line(a: Analysis) -> str:
    parts = []
    for t in a.tasks:
        w, lead = a.verdict.per_task.get(t), a.verdict.leader_per_task.get(t)
        if w is not None:
            parts.append(f"{esc(t)}: <b>{esc(w)}</b> ({esc(_n_with_on(a, t, w))})")
        elif lead is not None:
            parts.append(f"{esc(t)}: no clear winner ({esc(lead)} ahead, {esc(_n_with_on(a, t, lead))})")
        else:
            parts.append(f"{esc(t)}: no result")
    return f"<p>Winner per task (paired test, Holm-corrected, α = {a.alpha:g}): {'; '.join(parts)}.</p>"


def _notes(a: Analysis) -> str:
    used = sorted({VALUE_LABELS[s] for s in a.value_sources.values()})
    return (
        f'<p class="note">Value compared: {esc("; ".join(used))}. {esc(recommendation_note(a.final))} '
        f"Paired tests: {esc(PAIRED_TEST)}. Normalised score: {esc(a.score_note)} Measured on the "
        f"{esc(a.summary_axis)} axis at the end of the budget.</p>"
    )


def recommendation_note(final: pd.DataFrame) -> str:
    """Which configuration of each run is compared: the searcher's own recommendation, where it
    stored one (e.g. gp-ei: the best posterior mean), else the best observed top-fidelity trial."""
    default = "the best observed top-fidelity trial"
    col = final["recommended_by"] if "recommended_by" in final else pd.Series(dtype=object)
    own = final[col == RECOMMENDED_BY[1]]
    if own.empty:
        return f"Recommendation of each run: {default}."
    n_runs = final.groupby("searcher").size()
    parts = [f"{s} ({len(g)}/{n_runs[s]} runs)" for s, g in own.groupby("searcher", sort=True)]
    return f"Recommendation: the searcher's own for {', '.join(parts)}; otherwise {default}."


def _mark(a: Analysis, task: str, searcher: str) -> str:
    """CSS class of a searcher's cell on a task: ``win`` (the winner), ``lead`` (ahead, not sure) or none."""
    if a.verdict.per_task.get(task) == searcher:
        return "win"
    return "lead" if a.verdict.leader_per_task.get(task) == searcher else ""


def _winner_table(a: Analysis) -> str:
    tb = a.table.set_index(["task", "searcher"])
    rows: list[list[str | Cell]] = []
    for task in a.tasks:
        row: list[str | Cell] = [esc(task), esc(a.references.loc[task, "source"])]
        for s in a.searchers:
            if (task, s) not in tb.index:
                row.append("–")
                continue
            r = tb.loc[(task, s)]
            text = (
                f"{fmt(r['median'], 3)} <small>{_interval(r['lo'], r['hi'])}</small><br>"
                f"<small>score {fmt(r.get('score_median'), 3)}</small>"
            )
            row.append(Cell(text, _mark(a, task, s)))
        rows.append(row)
    if "score_median" in a.table:
        mean = a.table.groupby("searcher")["score_median"].mean()
        rows.append(["<b>mean of median scores</b>", ""] + [fmt(mean.get(s), 3) for s in a.searchers])
    rk = dict(zip(a.ranks["searcher"], a.ranks["avg_rank"]))
    if rk:
        rows.append(["<b>average rank</b>", ""] + [fmt(rk.get(s), 3) for s in a.searchers])
    return table(["task", "regret vs"] + [esc(s) for s in a.searchers], rows, left=2)


def _figures(a: Analysis, fig: Figure, colors: dict[str, str]) -> str:
    figs = []
    if a.friedman is not None:
        figs.append(fig(plots.cd_diagram(a.friedman)))
    if len(a.searchers) > 1 and len(a.rank_curves):
        figs.append(
            fig(
                plots.rank_curves(
                    a.rank_curves, title=f"Average rank over the budget ({a.summary_axis})", colors=colors
                )
            )
        )
    if len(a.score_curves) and a.score_curves["value"].notna().any():
        figs.append(
            fig(
                plots.score_curves(
                    a.score_curves,
                    title="Median normalised score over the budget, mean over tasks",
                    colors=colors,
                )
            )
        )
    return '<div class="grid">' + "".join(figs) + "</div>" if figs else ""


def summary_section(
    a: Analysis, fig: Figure, colors: dict[str, str], *, section_id: str = "summary", heading: str = "Summary"
) -> str:
    """The summary: the verdict, its evidence, the warnings, the winner table and the summary figures."""
    parts = [f'<section id="{esc(section_id)}"><h2>{esc(heading)}</h2><div class="verdict">', *_headline(a)]
    parts.append(_per_task_line(a))
    if a.warnings:
        parts.append(
            '<div class="warn"><b>Warnings</b><ul>'
            + "".join(f"<li>{esc(w)}</li>" for w in a.warnings)
            + "</ul></div>"
        )
    parts += [f"<p>{esc(s)}</p>" for s in a.verdict.statements]
    parts.append(_notes(a) + "</div>")
    parts.append("<h3>Final median regret per task, its interval, and the normalised score</h3>")
    parts.append(_winner_table(a))
    parts.append(_figures(a, fig, colors))
    parts.append("</section>")
    return "".join(parts)


def band_label(n_runs: pd.Series, confidence: float = 0.95) -> str:
    """How the band of a median curve over ``n_runs`` runs is built, with its coverage."""
    labels = sorted({st.interval_label(int(k), confidence) for k in n_runs})
    return f"band = median's interval ({'; '.join(labels)})"


def curve_title(a: Analysis, task: str) -> str:
    """Title of a task's regret curves, with how the band is built and its coverage."""
    return (
        f"{task}: median regret, {band_label(a.table.loc[a.table['task'] == task, 'n_runs'], a.confidence)}"
    )


def _final_rows(a: Analysis, task: str) -> list[list[str | Cell]]:
    rows: list[list[str | Cell]] = []
    for _, r in a.table[a.table["task"] == task].iterrows():
        s = r["searcher"]
        css = _mark(a, task, s)
        rows.append(
            [
                esc(s),
                Cell(fmt(r["median"]), css),
                f"{_interval(r['lo'], r['hi'], 4)}<br><small>{esc(r['interval'])}</small>",
                f"{fmt(r['q25'])} – {fmt(r['q75'])}",
                f"{fmt(r['mean'])} ± {fmt(r['sem'], 2)}",
                fmt(r["best_median"]),
                f"{fmt(r.get('score_median'), 3)} "
                f"<small>{_interval(r.get('score_lo'), r.get('score_hi'))}</small>",
                f"{int(r['n_with_result'])}/{int(r['n_runs'])}",
                str(int(r["n_failed"])),
            ]
        )
    return rows


PAIR_HEADS = [
    "pair",
    "n",
    "p",
    "p (Holm)",
    "significant",
    "better",
    "median difference a − b",
    "P(a better)",
]


def pair_rows(pairs: pd.DataFrame) -> list[list[str]]:
    """Rows under :data:`PAIR_HEADS`: each p-value with its effect sizes (``comparisons.pairwise_tests``)."""
    rows = []
    for _, r in pairs.iterrows():
        sig = '<span class="pill sig">yes</span>' if r["significant"] else '<span class="pill">no</span>'
        rows.append(
            [
                f"{esc(r['a'])} vs {esc(r['b'])}",
                str(int(r["n"])),
                fmt(r["p_value"], 3),
                fmt(r["p_holm"], 3),
                sig,
                esc(r["better"] or "tie"),
                f"{fmt(r['median_diff'], 3)} <small>{_interval(r['diff_lo'], r['diff_hi'])}, "
                f"{100 * r['diff_coverage']:.0f}%</small>"
                if r["n"]
                else "–",
                fmt(r["a12"], 2),
            ]
        )
    return rows


def _seeds_rows(a: Analysis, task: str) -> list[list[str]]:
    sn = a.seeds_needed[a.seeds_needed["task"] == task]
    return [
        [
            f"{esc(r['a'])} vs {esc(r['b'])}",
            esc(r["ahead"] or "tie"),
            str(int(r["n_seeds"])),
            str(int(r["seeds_needed"])) if np.isfinite(r["seeds_needed"]) else "no difference seen",
        ]
        for _, r in sn.iterrows()
    ]


def task_tables(a: Analysis, task: str) -> str:
    """A task's final-performance table, its pairwise tests and the seeds its close pairs need."""
    src = a.value_sources.get(task, "objective")
    parts = [
        f'<h3>Final performance</h3><p class="note">Value compared: {esc(VALUE_LABELS[src])}. '
        f"{esc(recommendation_note(a.final[a.final['task'] == task]))} "
        "A run without a result counts as worse than every run with one; the median's interval is "
        "distribution-free, its coverage is the one achieved at that number of runs.</p>"
    ]
    heads = [
        "searcher",
        "median regret",
        "interval of the median",
        "IQR",
        "mean ± s.e.",
        "median objective",
        "median score",
        "runs with result",
        "failed trials",
    ]
    parts.append(table(heads, _final_rows(a, task)))
    prow = pair_rows(a.pairs[a.pairs["task"] == task])
    if prow:
        parts.append(
            f"<h3>Pairwise tests on final regret (Holm-corrected, α = {a.alpha:g})</h3>"
            f'<p class="note">{esc(PAIRED_TEST)}; {EFFECT_NOTE}</p>'
        )
        parts.append(table(PAIR_HEADS, prow))
    srow = _seeds_rows(a, task)
    if srow:
        parts.append(
            '<h3>Seeds needed</h3><p class="note">For pairs not yet separated: seeds a paired test would '
            f"need for 80% power at α = {a.alpha:g}, estimated from the observed paired differences.</p>"
        )
        parts.append(table(["pair", "ahead", "seeds now", "seeds needed"], srow))
    return "".join(parts)


def other_budgets_section(
    others: list[tuple[list[str], Analysis]], fig: Figure, colors: dict[str, str]
) -> str:
    """Experiments left out of the main comparison because their budget differs: a summary each."""
    if not others:
        return ""
    parts = [
        '<section id="other-budgets"><h2>Experiments with another budget</h2><p class="note">These '
        "experiments ran with a different budget, so they are not pooled with the main comparison; each "
        "gets its own verdict here.</p>"
    ]
    for i, (names, an) in enumerate(others):
        parts.append(
            summary_section(
                an, fig, colors, section_id=f"budget-{i}", heading=f"Experiment(s) {', '.join(names)}"
            )
        )
    parts.append("</section>")
    return "".join(parts)


def budget_key(runs: pd.DataFrame) -> dict[str, str]:
    """experiment -> its runs' budgets as one canonical string (experiments with equal keys may be pooled)."""
    import json

    out: dict[str, str] = {}
    if not len(runs) or "experiment" not in runs or "budget" not in runs:
        return out
    for exp, g in runs.groupby("experiment", sort=False):
        kinds = sorted({json.dumps(json.loads(b), sort_keys=True) for b in g["budget"] if isinstance(b, str)})
        out[str(exp)] = "; ".join(kinds)
    return out
