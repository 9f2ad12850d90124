"""Normalised scores: 0 = what random search reaches at the same budget, 1 = the regret reference.

Bayesmark's normalised median score (Turner et al., 2021, "Bayesian optimization is
superior to random search for machine learning hyperparameter tuning", NeurIPS 2020 BBO
challenge; its docs/scoring.rst), in hpbench's orientation (higher is better):

    score = 1 - (min(v, clip) - ref) / (base(n) - ref)

* ``v`` is a run's compared value (``curves.value_sources``) at the point compared, a run
  without a result counting as ``clip``; ``ref`` the task's regret reference.
* ``base(n)`` is the median value of the configuration random search recommends after
  ``n`` evaluations (the best observed one), ``n`` being the number of random evaluations
  that fit the budget at that point. Random draws are i.i.d., so it is estimated from
  *every* random-search evaluation of the task pooled, not from the median of a few random
  runs: over the N pooled evaluations sorted by objective, the i-th best is the one
  recommended after n draws with replacement with probability
  ``w_i = ((N - i + 1) / N)^n - ((N - i) / N)^n``, and base(n) is the median of v under
  these weights (for a noise-free value, the ``1 - 2^(-1/n)`` quantile of the pooled
  values: Bayesmark's pooled min-quantile estimator). Failed evaluations are part of the
  pool, as +inf.
* ``clip`` = base(1), the median of a single random evaluation (Bayesmark's clip): no run
  scores below what one random guess typically gets, so one diverged seed or a missing
  result weighs like a poor result, never like minus infinity.

Aggregated with the median over seeds, random search's own score is 0 within its
interval by construction (its runs are draws of the distribution base(n) is the median of).

Shapes glossary:
    N: pooled random evaluations of a task, K: budget points asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hpbench.results import curves as cv

__all__ = ["BASELINE", "RandomPool", "random_pools", "score_values", "add_scores"]

BASELINE = "random"


@dataclass(frozen=True)
class RandomPool:
    """Pooled random-search evaluations of one task.

    Attributes:
        objective: (N,) objectives sorted ascending (+inf for failed evaluations).
        value: (N,) the compared value of the same evaluations (+inf where missing).
        units: axis -> mean x-increment of one random evaluation (1 on evaluations, the
            mean cost, the mean compute seconds).
        from_random: False when no random search ran on the task and every searcher's
            top-fidelity evaluations were pooled instead (not a random baseline).
    """

    objective: np.ndarray
    value: np.ndarray
    units: Mapping[str, float]
    from_random: bool

    def base(self, n: np.ndarray) -> np.ndarray:
        """base(n) for each n in ``n`` (K,); NaN where n < 1 or the median is a failure."""
        n = np.asarray(n, dtype=float)
        total = len(self.objective)
        out = np.full(n.shape, np.nan)
        if total == 0:
            return out
        order = np.argsort(self.value, kind="mergesort")
        v_sorted = self.value[order]
        i = np.arange(1, total + 1, dtype=float)
        for k in np.unique(n[np.isfinite(n) & (n >= 1)]):
            w = ((total - i + 1) / total) ** k - ((total - i) / total) ** k  # by objective rank
            cum = np.cumsum(w[order])
            j = int(np.searchsorted(cum, 0.5 * cum[-1] - 1e-12))
            out[n == k] = v_sorted[min(j, total - 1)]
        return np.where(np.isfinite(out), out, np.nan)

    def n_at(self, axis: str, x: np.ndarray) -> np.ndarray:
        """Number of random evaluations that fit x on ``axis`` (at least 1 once x > 0)."""
        unit = self.units.get(axis, np.nan)
        x = np.asarray(x, dtype=float)
        if not (np.isfinite(unit) and unit > 0):
            return np.full(x.shape, np.nan)
        return np.where(x > 0, np.maximum(1.0, np.floor(x / unit + 1e-9)), np.nan)


def _pool(df: pd.DataFrame, values: pd.Series, from_random: bool) -> RandomPool:
    elig = cv.incumbent_eligible(df).to_numpy()
    obj = np.where(elig, cv.numeric(df, "objective").to_numpy(), np.inf)
    val = np.where(elig, values.loc[df.index].to_numpy(dtype=float), np.inf)
    val = np.where(np.isfinite(val), val, np.inf)
    order = np.argsort(obj, kind="mergesort")
    units = {
        "evaluations": 1.0,
        "cost": float(cv.numeric(df, "cost").fillna(0.0).mean()),
        "time": float(cv.compute_seconds(df).mean()),
    }
    return RandomPool(obj[order], val[order], units, from_random)


def random_pools(
    trials: pd.DataFrame, values: pd.Series, *, baseline: str = BASELINE
) -> dict[str, RandomPool]:
    """The pool of random-search evaluations of each task.

    Every top-fidelity trial (failed ones included) of the searcher labelled ``baseline``
    on the task, whether or not it fits its run's budget: the draws are i.i.d. Callers
    choose what to pool (``verdict.analyse`` passes every experiment of the store with the
    same task version when it has them).

    Args:
        trials: one row per trial (may hold more experiments than the ones analysed).
        values: the compared value of each trial, aligned with ``trials``.
        baseline: label of the random-search searcher.

    Returns:
        task -> :class:`RandomPool`; tasks without ``baseline`` pool every searcher's
        top-fidelity evaluations and say so (``from_random=False``).
    """
    cv.require(trials, ("task", "searcher", "objective", "status"), "trials")
    top = pd.Series(cv._top_fidelity(trials), index=trials.index)
    out = {}
    for task, tdf in trials[top].groupby("task", sort=True):
        rand = tdf[tdf["searcher"].astype(str) == baseline]
        out[str(task)] = _pool(rand, values, True) if len(rand) else _pool(tdf, values, False)
    return out


def score_values(v: np.ndarray, ref: float, base: np.ndarray, clip: float) -> np.ndarray:
    """``1 - (min(v, clip) - ref) / (base - ref)``; NaN v (no result) scores as ``clip``.

    NaN where the baseline is undefined or not above the reference (nothing to normalise by).
    """
    v = np.asarray(v, dtype=float)
    base = np.broadcast_to(np.asarray(base, dtype=float), v.shape)
    capped = np.minimum(np.where(np.isnan(v), np.inf, v), clip if np.isfinite(clip) else np.inf)
    with np.errstate(invalid="ignore", divide="ignore"):
        s = 1 - (capped - ref) / (base - ref)
    ok = np.isfinite(base) & (base - ref > 0) & np.isfinite(s)
    return np.where(ok, s, np.nan)


def add_scores(
    frame: pd.DataFrame,
    pools: Mapping[str, RandomPool],
    references: pd.DataFrame,
    *,
    axis: str,
    x: str = "x",
) -> pd.DataFrame:
    """``frame`` with a ``score`` column: each row's ``value`` scored at budget ``frame[x]`` on ``axis``.

    Args:
        frame: rows with task, value and the budget point ``x`` (trajectories, or final runs
            with their budget in ``x``).
        pools: output of :func:`random_pools`.
        references: output of ``curves.regret_references``.
        axis: the axis ``x`` is measured on.
    """
    cv.require(frame, ("task", "value", x), "frame")
    score = np.full(len(frame), np.nan)
    tasks = frame["task"].astype(str).to_numpy()
    for task in np.unique(tasks):
        pool = pools.get(task)
        ref = float(references["reference"].get(task, np.nan))
        if pool is None or not np.isfinite(ref):
            continue
        sel = tasks == task
        xs = frame[x].to_numpy(dtype=float)[sel]
        uniq, inv = np.unique(xs, return_inverse=True)
        base = pool.base(pool.n_at(axis, uniq))[inv]
        clip = float(pool.base(np.array([1.0]))[0])
        score[sel] = score_values(frame["value"].to_numpy(dtype=float)[sel], ref, base, clip)
    return frame.assign(score=score)
