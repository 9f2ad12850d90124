"""The incumbent rule, in one place: which trials may become a run's best so far.

A trial counts towards the incumbent only if it finished ``ok`` with a finite
objective and was evaluated at the top fidelity (or on a task without one). A
low-fidelity loss of a multi-fidelity searcher is not comparable with a full-fidelity
one, so counting it would flatter those searchers.

The runner (a run's live best), the analysis (trajectories, final values) and
``hpbench status`` all call these two functions; nothing else decides it.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["TOP_TOLERANCE", "at_top_fidelity", "eligible", "eligible_mask"]

TOP_TOLERANCE = 1e-9  # relative: a budget within this of the top counts as the top


def at_top_fidelity(budget: float | None, high: float | None) -> bool:
    """True when ``budget`` is the top fidelity ``high`` (or either is unknown/absent)."""
    if budget is None or high is None:
        return True
    if math.isnan(budget) or math.isnan(high):
        return True
    return budget >= high * (1 - TOP_TOLERANCE)


def eligible(status: str, objective: float | None, budget: float | None, high: float | None) -> bool:
    """Whether one trial may become the incumbent (scalar form, for the runner and ``status``)."""
    if status != "ok" or objective is None or not math.isfinite(objective):  # TrialStatus.OK == "ok"
        return False
    return at_top_fidelity(budget, high)


def eligible_mask(
    status: np.ndarray, objective: np.ndarray, budget: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """Vectorised ``eligible`` over aligned arrays (NaN budget/high = no fidelity).

    Shapes: all (T,) for T trials; returns bool (T,).
    """
    obj = np.asarray(objective, dtype=float)
    b = np.asarray(budget, dtype=float)
    h = np.asarray(high, dtype=float)
    ok = (np.asarray(status).astype(str) == "ok") & np.isfinite(obj)
    with np.errstate(invalid="ignore"):
        top = np.isnan(b) | np.isnan(h) | (b >= h * (1 - TOP_TOLERANCE))
    return ok & top
