"""The verdict in words: the evidence behind it and what makes a comparison unfair or fragile.

Plain sentences (no HTML) built from the frames of ``hpbench.results.verdict``; the report
escapes and shows them, ``print(analysis.verdict.statements)`` reads them too.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hpbench.results import comparisons as cmp
from hpbench.results import curves as cv
from hpbench.results import statistics as st

if TYPE_CHECKING:
    from hpbench.results.verdict import Verdict

__all__ = ["warnings_for", "statements_for", "fmt"]


def fmt(x: float, digits: int = 3) -> str:
    """A number for a sentence: 3 significant digits, "inf" for a missing bound."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if not math.isfinite(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


# --- warnings -----------------------------------------------------------------------------------


def _multi_fidelity_under_max_evals(trials: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    budgets = cv.run_budgets(runs)
    evals = {rid for rid, b in budgets.items() if b.get("max_evals") is not None}
    if not evals:
        return []
    b, h = cv.numeric(trials, "budget"), cv.numeric(trials, "fidelity_high")
    low = trials[trials["run_id"].isin(evals) & (b < h * (1 - 1e-9))]
    names = sorted(low["searcher"].astype(str).unique())
    if not names:
        return []
    return [
        f"Multi-fidelity searcher(s) {', '.join(names)} ran under max_evals: each low-fidelity trial counted "
        "as a full evaluation, so they had less compute than the others and their comparisons, significance "
        "claims included, are not on equal terms. Compare them under max_cost."
    ]


def _budgets_differ(runs: pd.DataFrame) -> list[str]:
    if not len(runs) or "budget" not in runs:
        return []
    kinds = {json.dumps(b, sort_keys=True) for b in cv.run_budgets(runs).values()}
    if len(kinds) < 2:
        return []
    return [
        f"Runs with different budgets are analysed together ({'; '.join(sorted(kinds))}): "
        "the comparison is not at one budget."
    ]


def _axes_disagree(
    trials: pd.DataFrame, values: pd.Series, final: pd.DataFrame, verdict: Verdict
) -> list[str]:
    if final["searcher"].nunique() < 2 or not (cv.compute_seconds(trials) > 0).any():
        return []
    horizon = final[final["n_trials"] > 0].groupby("task")["seconds"].min()  # the shortest run's total
    at = cv.values_at(trials, values, axis="time", at={str(t): float(h) for t, h in horizon.items()})
    eq = final.drop(columns=["value"]).merge(at, on="run_id", how="left")
    eq = eq.assign(has_result=np.isfinite(eq["value"].to_numpy(dtype=float)))
    out = []
    for task, g in eq.groupby("task", sort=True):
        on_time, on_cost = cmp.leader(g), verdict.leader_per_task.get(str(task))
        if on_time is not None and on_cost is not None and on_time != on_cost:
            out.append(
                f"On {task} the cost axis puts {on_cost} ahead, but at equal measured compute "
                f"({fmt(float(horizon[task]))} s, the shortest run's total) {on_time} is ahead: the nominal "
                "cost does not track the compute these searchers used."
            )
    return out


def warnings_for(
    trials: pd.DataFrame,
    counted: pd.DataFrame,
    runs: pd.DataFrame,
    final: pd.DataFrame,
    verdict: Verdict,
    values: pd.Series,
    axis: str,
) -> tuple[str, ...]:
    """What makes this comparison unfair or fragile (each a sentence)."""
    out = _budgets_differ(runs) + _multi_fidelity_under_max_evals(counted, runs)
    if axis == "cost":
        out += _axes_disagree(counted, values, final, verdict)
    n_over = len(trials) - len(counted)
    if n_over:
        out.append(
            f"{n_over} trial(s) ran past their run's budget and are left out (a run ends at its budget)."
        )
    missing = final.groupby("searcher")["has_result"].agg(["sum", "size"])
    for s, r in missing[missing["sum"] < missing["size"]].iterrows():
        out.append(
            f"{s}: {int(r['size'] - r['sum'])} of {int(r['size'])} runs have no result (no successful "
            "top-fidelity trial within budget); they count as worse than every run with one."
        )
    return tuple(out)


# --- statements ---------------------------------------------------------------------------------


def _task_sentence(task: str, verdict: Verdict, pairs: pd.DataFrame, final: pd.DataFrame) -> str:
    lead = verdict.leader_per_task.get(task)
    g = final[final["task"] == task]
    if lead is None:
        return f"On {task} no searcher produced a result."
    n_ok = int(g.loc[g["searcher"] == lead, "has_result"].sum())
    n = int((g["searcher"] == lead).sum())
    if g["searcher"].nunique() == 1:
        return f"On {task} only {lead} ran ({n_ok}/{n} runs with a result)."
    mine = pairs[(pairs["task"] == task) & ((pairs["a"] == lead) | (pairs["b"] == lead))]
    worst = mine.sort_values("p_holm", ascending=False).iloc[0]
    other = worst["b"] if worst["a"] == lead else worst["a"]
    sign = 1 if worst["a"] == lead else -1
    a12 = worst["a12"] if sign == 1 else 1 - worst["a12"]
    lo, hi = sorted((sign * worst["diff_lo"], sign * worst["diff_hi"]))
    effect = (
        f"against {other}, its closest rival: median paired difference {fmt(sign * worst['median_diff'])} "
        f"[{fmt(lo)}, {fmt(hi)}] ({100 * worst['diff_coverage']:.0f}% interval), "
        f"P({lead} better) = {fmt(a12, 2)}, Holm-adjusted p = {fmt(worst['p_holm'])}"
    )
    if verdict.per_task.get(task) == lead:
        return (
            f"On {task} {lead} wins ({n_ok}/{n} runs with a result), ahead of every other searcher; {effect}."
        )
    return f"On {task} {lead} is ahead ({n_ok}/{n} runs with a result) but not with confidence; {effect}."


def _friedman_sentence(fr: st.FriedmanResult | None, n_tasks: int) -> str:
    if fr is None:
        return "Too few complete blocks for a Friedman test."
    what = f"{fr.n_blocks} tasks" if fr.blocks == "task" else f"{fr.n_blocks} seeds of the one task"
    head = (
        f"Friedman test over {what} (tie-corrected chi2 = {fmt(fr.statistic)}, p = {fmt(fr.p_value)}; "
        f"Iman-Davenport F = {fmt(fr.iman_davenport)}, p = {fmt(fr.p_iman_davenport)}): "
    )
    if fr.significant:
        return head + f"the searchers differ; Nemenyi critical difference {fmt(fr.cd)} (see the diagram)."
    more = (
        "more tasks would make it decisive (its blocks are tasks: more seeds per task do not change it)"
        if fr.blocks == "task"
        else "more seeds would make it decisive (with one task its blocks are seeds)"
    )
    return head + f"no significant difference at {fr.alpha:g}; {more}."


def _seeds_sentence(r: pd.Series, alpha: float) -> str:
    need, now = r["seeds_needed"], int(r["n_seeds"])
    if not math.isfinite(need):
        return (
            f"{r['a']} and {r['b']} on {r['task']}: no difference seen in {now} seeds; "
            "more seeds are unlikely to separate them."
        )
    how = f"80% power, paired test at alpha {alpha:g}"
    if need <= now:
        return (
            f"To separate {r['a']} from {r['b']} on {r['task']} at this budget you need about {int(need)} "
            f"seeds ({how}); the {now} run did not separate them, as happens at that power (one time in "
            "five) and under Holm's correction: run more."
        )
    return (
        f"To separate {r['a']} from {r['b']} on {r['task']} at this budget you need about {int(need)} "
        f"seeds (now {now}; {how})."
    )


def _seeds_sentences(seeds: pd.DataFrame, verdict: Verdict, alpha: float, limit: int = 6) -> list[str]:
    """Seeds needed for the pairs not yet separated that involve a task's leader."""
    if not len(seeds):
        return []
    lead = seeds["task"].map(verdict.leader_per_task)
    close = seeds[(seeds["a"] == lead) | (seeds["b"] == lead)]
    return [_seeds_sentence(r, alpha) for _, r in close.head(limit).iterrows()]


def statements_for(
    verdict: Verdict,
    pairs: pd.DataFrame,
    seeds: pd.DataFrame,
    fr: st.FriedmanResult | None,
    final: pd.DataFrame,
    alpha: float,
) -> tuple[str, ...]:
    """The evidence behind ``verdict``, one sentence each."""
    if final["searcher"].nunique() < 2:
        return ("Only one searcher ran, so there is nothing to compare.",)
    out = [_task_sentence(str(t), verdict, pairs, final) for t in sorted(final["task"].astype(str).unique())]
    tests = verdict.overall_tests
    if len(tests):
        worst = tests.sort_values("p_holm", ascending=False).iloc[0]
        out.append(
            f"Over all {int(worst['n'])} (task, seed) blocks, {verdict.leader} against {worst['b']} "
            "(the closest): "
            f"P({verdict.leader} better) = {fmt(worst['a12'], 2)}, Holm-adjusted p = {fmt(worst['p_holm'])}."
        )
    out.append(_friedman_sentence(fr, final["task"].nunique()))
    out += _seeds_sentences(seeds, verdict, alpha)
    n_min = int(final.groupby(["task", "searcher"]).size().min())
    if n_min and 2 / 2**n_min > alpha:
        out.append(
            f"With {n_min} seed(s) a paired test cannot reach p <= {alpha:g} (smallest attainable two-sided "
            f"p = {2 / 2**n_min:.3g}): no task can have a clear winner at this number of seeds."
        )
    return tuple(out)
