"""Which trials of a rung are promoted when they have several objectives.

The halving searchers rank a rung and promote its top ``1/eta``. With one objective the
ranking is by that objective (``successive_halving.rank_key``). With several, this module
ranks as MO-ASHA does with its non-dominated-sorting selection (Schmucker, Donini,
Perrone & Archambeau, "Multi-objective asynchronous successive halving", arXiv:2106.12639,
2021), which is NSGA-II's survivor order (Deb, Pratap, Agarwal & Meyarivan, IEEE TEVC
2002):

1. successes before failures;
2. by non-dominated front (the Pareto-optimal points of the rung first, then the front
   that remains when those are taken away, and so on);
3. within a front, by crowding distance, larger first (boundary points first), so the
   promoted set spreads along the front instead of crowding one end;
4. then by trial id, so the order is deterministic.

``promotion_order`` takes scalar objectives too and then gives exactly the
single-objective order (``rank_key``), so a halving searcher can call it whatever the
task. Proposers (random, gp-ei) learn from the first objective.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hpbench.pareto import crowding_distance, non_dominated_ranks

__all__ = ["promotion_order", "rank_key", "first_objective"]


def rank_key(trial_id: int, objective: float | None) -> tuple[bool, float, int]:
    """Single-objective sort key: successes by objective, failures last, ties by trial id."""
    return (objective is None, 0.0 if objective is None else objective, trial_id)


def first_objective(objective: Any) -> float | None:
    """What a proposer models: the first objective of a vector (a scalar as it is)."""
    return objective[0] if isinstance(objective, tuple) else objective


def promotion_order(items: Sequence[tuple[int, Any]]) -> list[int]:
    """Trial ids of one rung, best first.

    Args:
        items: (trial id, objective) pairs; an objective is a number, a tuple of k losses,
            or ``None`` for a failed trial.

    Returns:
        The trial ids in promotion order (failures last).
    """
    done = [(tid, y) for tid, y in items if y is not None]
    failed = sorted(tid for tid, y in items if y is None)
    if not done or not isinstance(done[0][1], (tuple, list, np.ndarray)):
        return [tid for tid, _ in sorted(items, key=lambda r: rank_key(*r))]
    ids = np.array([tid for tid, _ in done])
    F = np.array([list(y) for _, y in done], dtype=float)
    ranks = non_dominated_ranks(F)
    crowd = np.zeros(len(F))
    for r in np.unique(ranks):
        m = ranks == r
        crowd[m] = crowding_distance(F[m])
    order = np.lexsort((ids, -crowd, ranks))  # last key is primary
    return [int(i) for i in ids[order]] + failed
