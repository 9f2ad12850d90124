"""The verdict: who wins, by how much and how sure, as one object (``hb.analyse``).

:func:`analyse` runs the whole analysis once and returns an :class:`Analysis` whose frames
are exactly what the HTML report shows. The rules of the verdict:

* **Per task** the *leader* is the searcher with the lowest median compared value, a run
  without a result counting as the worst (ties: lower mean within-seed rank, then name).
  It is the task's *winner* only when it beats every other searcher in the paired
  signed-rank test after Holm's correction (``comparisons.pairwise_tests``); otherwise the
  task has no clear winner (``None``).
* **Overall**, on one task, the task's winner (the two never contradict). On several, the
  leader is the highest mean over tasks of the per-task median normalised score
  (``scores``: 0 = random search at the same budget, 1 = the reference; each run clipped,
  the median over seeds, so no single seed decides); it is the overall winner only when a
  paired signed-rank test over all (task, seed) blocks of scores separates it from every
  other searcher (Holm over those k - 1 tests). Else ``None``: no clear winner.

Shapes glossary:
    k: searchers, B: (task, seed) blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from hpbench.results import comparisons as cmp
from hpbench.results import curves as cv
from hpbench.results import evidence as ev
from hpbench.results import scores as sc
from hpbench.results import statistics as st

__all__ = ["Verdict", "Analysis", "analyse", "VALUE_LABELS"]

VALUE_LABELS = {
    "objective": "objective (validation loss) of the recommended configuration",
    "noiseless": "noiseless value of the recommended configuration",
    "test_loss": "held-out test loss of the recommended configuration",
}
_NEED = (*cv.TRIAL_COLUMNS, "cost")


@dataclass(frozen=True)
class Verdict:
    """Who wins.

    Attributes:
        overall: the overall winner, or ``None`` for no clear winner.
        per_task: task -> its winner, or ``None`` for no clear winner there.
        leader: the searcher ahead overall, sure or not (``None`` if no searcher has a result).
        leader_per_task: task -> the searcher ahead there.
        basis: how the overall leader was chosen, in words.
        n_with_result: searcher -> (runs with a result, runs), over all tasks.
        overall_tests: the leader against each other searcher over (task, seed) blocks
            (columns as ``comparisons.pairwise_tests``); empty on one task.
        statements: the evidence in plain sentences, for the report and for ``print``.
    """

    overall: str | None
    per_task: dict[str, str | None]
    leader: str | None
    leader_per_task: dict[str, str | None]
    basis: str
    n_with_result: dict[str, tuple[int, int]]
    overall_tests: pd.DataFrame
    statements: tuple[str, ...] = ()

    def headline(self) -> str:
        """``"Overall winner: NAME"`` or ``"No clear winner"``."""
        return f"Overall winner: {self.overall}" if self.overall is not None else "No clear winner"


@dataclass(frozen=True)
class Analysis:
    """Everything the report shows, computed once by :func:`analyse`.

    Attributes:
        final: one row per run: task, searcher, seed, run_id, value (the value compared,
            NaN = no result), regret, score, has_result, best (incumbent objective), ...
        table: per task and searcher: median regret, its interval (lo, hi), the interval's
            coverage and how it was built, n_with_result, n_runs, median score, ...
        pairs: per task, every pair: paired test, p, Holm-adjusted p, effect sizes.
        ranks: average rank per searcher (Friedman blocks), best first.
        friedman: the Friedman test behind ``ranks`` (``None`` with too few blocks).
        seeds_needed: pairs not yet separated and the seeds a paired test would need.
        verdict: the :class:`Verdict`.
        references: per task: reference, its source, the value compared.
        value_sources: task -> ``"objective"``, ``"noiseless"`` or ``"test_loss"``.
        summary_axis: the axis of the verdict and the score (``"cost"`` or ``"evaluations"``).
        curves: axis -> per task, searcher and grid point: median regret and interval.
        score_curves: mean over tasks of the median score, against the budget fraction.
        rank_curves: average rank against the budget fraction.
        score_note: what 0 and 1 of the normalised score mean here.
        warnings: what makes this comparison unfair or fragile, in sentences.
        trials: the trials that count (within their run's budget).
        runs: the runs frame given (may be empty).
        n_over_budget: trials left out because they ran past their run's budget.
        alpha, confidence: level of the tests and coverage aimed at by intervals.
    """

    final: pd.DataFrame
    table: pd.DataFrame
    pairs: pd.DataFrame
    ranks: pd.DataFrame
    friedman: st.FriedmanResult | None
    seeds_needed: pd.DataFrame
    verdict: Verdict
    references: pd.DataFrame
    value_sources: dict[str, str]
    summary_axis: str
    curves: dict[str, pd.DataFrame]
    score_curves: pd.DataFrame
    rank_curves: pd.DataFrame
    score_note: str
    warnings: tuple[str, ...]
    trials: pd.DataFrame = field(repr=False)
    runs: pd.DataFrame = field(repr=False)
    n_over_budget: int = 0
    alpha: float = 0.05
    confidence: float = 0.95

    @property
    def tasks(self) -> list[str]:
        return sorted(self.final["task"].astype(str).unique())

    @property
    def searchers(self) -> list[str]:
        return sorted(self.final["searcher"].astype(str).unique())


# --- the verdict's rules ------------------------------------------------------------------------


def _confident(leader: str | None, tests: pd.DataFrame) -> bool:
    """True when ``leader`` is significantly better than every searcher it is compared with."""
    if leader is None:
        return False
    mine = tests[(tests["a"] == leader) | (tests["b"] == leader)]
    return bool(len(mine)) and bool((mine["significant"] & (mine["better"] == leader)).all())


def _block_tests(final: pd.DataFrame, leader: str, column: str, alpha: float) -> pd.DataFrame:
    """The leader against each other searcher over (task, seed) blocks of ``-column``, Holm over them."""
    blocks = final.assign(_v=-final[column].astype(float), _b=list(zip(final["task"], final["seed"])))
    rows = []
    for other in sorted(set(final["searcher"].astype(str)) - {leader}):
        wa = blocks[blocks["searcher"] == leader].drop_duplicates("_b").set_index("_b")["_v"]
        wb = blocks[blocks["searcher"] == other].drop_duplicates("_b").set_index("_b")["_v"]
        common = [b for b in wa.index if b in set(wb.index)]
        r = cmp.compare_pair(wa.loc[common].to_numpy(dtype=float), wb.loc[common].to_numpy(dtype=float))
        better = {"a": leader, "b": other}.get(r.pop("better") or "")
        rows.append(
            {"task": "(all)", "a": leader, "b": other, **r, "better": better, "test": cmp.PAIRED_TEST}
        )
    out = pd.DataFrame(rows)
    if len(out):
        out["p_holm"] = st.holm(out["p_value"].to_numpy(dtype=float))
        out["significant"] = (out["p_holm"] <= alpha) & out["better"].notna()
    return out


def _overall(
    final: pd.DataFrame, table: pd.DataFrame, pairs: pd.DataFrame, per_task: dict, leaders: dict, alpha: float
) -> tuple[str | None, str | None, str, pd.DataFrame]:
    """(overall winner, overall leader, basis, block tests)."""
    searchers = sorted(final["searcher"].astype(str).unique())
    if not final["has_result"].any():
        return None, None, "no searcher produced a result", pd.DataFrame()
    if len(searchers) == 1:
        return searchers[0], searchers[0], "the only searcher", pd.DataFrame()
    if len(leaders) == 1:
        ((task, lead),) = leaders.items()
        return per_task[task], lead, f"the winner of the only task, {task}", pd.DataFrame()
    scores = (
        table.pivot_table(index="task", columns="searcher", values="score_median")
        if "score_median" in table
        else None
    )
    if scores is not None and scores.notna().all().all() and "score" in final:
        mean = scores.mean(axis=0).sort_values(ascending=False, kind="mergesort")
        lead, column = str(mean.index[0]), "score"
        basis = f"highest mean over tasks of the median normalised score ({mean.iloc[0]:.3f})"
    else:  # no score on some task: the within-block rank of the value compared
        ranked = final.assign(
            _r=final.assign(_v=final["value"].fillna(np.inf))
            .groupby(["task", "seed"])["_v"]
            .rank(method="average")
        )
        mean = ranked.groupby("searcher")["_r"].mean().sort_values(kind="mergesort")
        lead, column = str(mean.index[0]), "_neg_rank"
        final = ranked.assign(_neg_rank=-ranked["_r"])
        basis = (
            f"best mean rank over (task, seed) blocks ({mean.iloc[0]:.2f}); no normalised score on every task"
        )
    tests = _block_tests(final, lead, column, alpha)
    return (lead if _confident(lead, tests) else None), lead, basis, tests


def decide(final: pd.DataFrame, table: pd.DataFrame, pairs: pd.DataFrame, *, alpha: float = 0.05) -> Verdict:
    """Apply the verdict's rules (module docstring) to the final runs and their comparisons."""
    leaders = {str(t): cmp.leader(g) for t, g in final.groupby("task", sort=True)}
    per_task = {}
    for t, lead in leaders.items():
        n_s = final.loc[final["task"] == t, "searcher"].nunique()
        per_task[t] = lead if n_s == 1 else (lead if _confident(lead, pairs[pairs["task"] == t]) else None)
    overall, lead, basis, tests = _overall(final, table, pairs, per_task, leaders, alpha)
    counts = final.groupby("searcher")["has_result"].agg(["sum", "size"])
    n_with = {str(s): (int(r["sum"]), int(r["size"])) for s, r in counts.iterrows()}
    return Verdict(overall, per_task, lead, leaders, basis, n_with, tests)


# --- analyse ------------------------------------------------------------------------------------


def _runs_index(trials: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Every run to report: those in ``trials`` and those in ``runs`` (of the same experiments)."""
    keys = ["task", "searcher", "seed", "run_id"]
    idx = trials[keys].drop_duplicates("run_id")
    if len(runs) and all(k in runs for k in keys):
        r = runs
        if "experiment" in runs and "experiment" in trials:
            r = runs[runs["experiment"].isin(set(trials["experiment"]))]
        idx = pd.concat([idx, r[keys]]).drop_duplicates("run_id")
    return idx


def _summary_axis(trials: pd.DataFrame) -> str:
    cost = cv.numeric(trials, "cost").fillna(0.0).groupby(trials["task"]).sum()
    return "cost" if len(cost) and (cost > 0).all() else "evaluations"


def _same_versions(pool_from: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The trials of ``pool_from`` whose (task, task_version) is one of the analysed runs'."""
    if "task_version" not in pool_from or "task_version" not in runs:
        raise ValueError(
            "pool_from: rule 'pool_from and runs both have a task_version column (only evaluations of the "
            "analysed task versions are pooled)' broken, got "
            f"{'pool_from' if 'task_version' not in pool_from else 'runs'} without it"
        )
    versions = set(zip(runs["task"].astype(str), runs["task_version"].astype(str)))
    keys = zip(pool_from["task"].astype(str), pool_from["task_version"].astype(str))
    return pool_from[[k in versions for k in keys]]


def _pools(
    trials: pd.DataFrame, pool_from: pd.DataFrame | None, runs: pd.DataFrame, sources: dict[str, str]
) -> dict[str, sc.RandomPool]:
    """Random search's evaluations per task: of ``trials`` and of ``pool_from`` (same task versions).

    A task on which random search ran nowhere falls back to every searcher's evaluations of
    ``trials`` (``RandomPool.from_random`` False), never to other experiments' searchers.
    """
    own = sc.random_pools(trials, cv.compared_values(trials, sources))
    if pool_from is None or not len(pool_from):
        return own
    extra = _same_versions(pool_from, runs)
    base = pd.concat([trials, extra]).drop_duplicates(["run_id", "trial"]).reset_index(drop=True)
    pooled = sc.random_pools(base, cv.compared_values(base, sources))
    return {t: (pooled[t] if pooled[t].from_random else p) for t, p in own.items()}


def analyse(
    trials: pd.DataFrame,
    runs: pd.DataFrame | None = None,
    *,
    alpha: float = 0.05,
    confidence: float = 0.95,
    value: str = "auto",
    n_points: int = 120,
    pool_from: pd.DataFrame | None = None,
) -> Analysis:
    """The verdict and everything behind it, as the report shows it.

    Args:
        trials: one row per trial (``hb.load_results``).
        runs: one row per run (``hb.load_runs``): their budgets (trials past a run's budget
            are left out), runs without any trial (they count, without a result), the tasks'
            spaces. Optional; without it nothing is truncated.
        alpha: level of the paired tests and of Friedman's test.
        confidence: the coverage intervals aim at (each states the coverage it achieves).
        value: the value compared: ``"auto"`` (noiseless, else test loss, else objective,
            per task), or ``"objective"``, ``"noiseless"``, ``"test_loss"``.
        n_points: grid points per curve.
        pool_from: more trials to pool random search's evaluations from: the store's other
            experiments (``hpbench.results.report.baseline_pool``), with a ``task_version``
            column; only evaluations of the analysed runs' task versions are pooled (``runs``
            must then be given).

    Returns:
        An :class:`Analysis`.

    Example:
        >>> a = hb.analyse(hb.load_results("results/hpbench.db", "smoke"))  # doctest: +SKIP
        >>> a.verdict.overall, a.table[["task", "searcher", "median", "lo", "hi"]]  # doctest: +SKIP
    """
    runs = _checked(trials, runs, alpha)
    trials = trials.reset_index(drop=True)
    keep = cv.within_budget(trials, cv.run_budgets(runs))
    counted = trials[keep].reset_index(drop=True)
    sources = cv.value_sources(counted if len(counted) else trials, value)
    values = cv.compared_values(counted, sources)
    refs = cv.regret_references(counted, values, sources)
    axis = _summary_axis(counted)
    traj = _trajectories(counted, values, refs, n_points)
    pools = _pools(trials, pool_from, runs, sources)
    final = cmp.final_runs(counted, refs, values=values, all_runs=_runs_index(trials, runs))
    refs = _with_every_task(refs, final)
    horizon = traj[axis].groupby("task")["x"].max() if len(traj[axis]) else pd.Series(dtype=float)
    final = sc.add_scores(final.assign(x=final["task"].map(horizon).astype(float)), pools, refs, axis=axis)
    table = cmp.final_table(final, confidence=confidence)
    pairs = cmp.pairwise_tests(final, alpha=alpha, confidence=confidence)
    fr = cmp.friedman_ranks(final, alpha=alpha)
    verdict = decide(final, table, pairs, alpha=alpha)
    seeds = cmp.seeds_needed_table(final, pairs, alpha=alpha)
    warnings = ev.warnings_for(trials, counted, runs, final, verdict, values, axis)
    verdict = replace(verdict, statements=ev.statements_for(verdict, pairs, seeds, fr, final, alpha))
    return Analysis(
        final=final.drop(columns="x"),
        table=table,
        pairs=pairs,
        ranks=_ranks_frame(fr),
        friedman=fr,
        seeds_needed=seeds,
        verdict=verdict,
        references=refs,
        value_sources=sources,
        summary_axis=axis,
        curves={ax: cv.aggregate(t, value="regret", confidence=confidence) for ax, t in traj.items()},
        score_curves=cv.task_mean_of_medians(sc.add_scores(traj[axis], pools, refs, axis=axis)),
        rank_curves=cv.average_rank(traj[axis], value="value"),
        score_note=_score_note(pools),
        warnings=warnings,
        trials=counted,
        runs=runs,
        n_over_budget=int((~keep).sum()),
        alpha=alpha,
        confidence=confidence,
    )


def _with_every_task(refs: pd.DataFrame, final: pd.DataFrame) -> pd.DataFrame:
    """References of every task with a run, ``"none"`` for a task none of whose runs made a trial."""
    tasks = sorted(set(refs.index) | set(final["task"].astype(str)))
    out = refs.reindex(tasks)
    return out.fillna({"source": "none", "value": "objective"})


def _checked(trials: pd.DataFrame, runs: pd.DataFrame | None, alpha: float) -> pd.DataFrame:
    """Raise on unusable input; return the runs frame (empty when not given)."""
    cv.require(trials, _NEED, "trials")
    if trials.empty:
        raise ValueError("analyse: rule 'at least one trial' broken, got an empty trials frame")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: rule '0 < alpha < 1' broken, got {alpha!r}")
    runs = runs if runs is not None else pd.DataFrame()
    cv.require(runs, (), "runs")
    return runs


def _trajectories(
    trials: pd.DataFrame, values: pd.Series, refs: pd.DataFrame, n: int
) -> dict[str, pd.DataFrame]:
    out = {}
    for ax in cv.AXES:
        if ax == "time" and not (cv.compute_seconds(trials) > 0).any():
            continue
        out[ax] = cv.add_regret(cv.trajectories(trials, axis=ax, n_points=n, values=values), refs)
    return out


def _ranks_frame(fr: st.FriedmanResult | None) -> pd.DataFrame:
    if fr is None:
        return pd.DataFrame(columns=["searcher", "avg_rank", "blocks", "n_blocks"])
    return pd.DataFrame(
        {"searcher": fr.searchers, "avg_rank": fr.avg_ranks, "blocks": fr.blocks, "n_blocks": fr.n_blocks}
    )


def _score_note(pools: Mapping[str, sc.RandomPool]) -> str:
    note = (
        "0 = the median result of random search at the same budget (from all its evaluations of the "
        "task pooled), 1 = the regret reference; each run is clipped at what one random evaluation "
        "typically gets, and a run without a result counts as that clip (Bayesmark's normalised median "
        "score)."
    )
    missing = sorted(t for t, p in pools.items() if not p.from_random)
    if missing:
        note += (
            f" No 'random' searcher on {', '.join(missing)}: there 0 is the same statistic over every "
            "searcher's evaluations pooled, not a random-search baseline."
        )
    return note
