"""Pareto dominance, in one place: the non-dominated filter, non-dominated sorting, crowding.

Used by the multi-objective promotion rule of the halving searchers and by the analysis
(pooled fronts, hypervolume, attainment). All objectives are losses (minimised; see
``hpbench.objectives.as_losses``). Point ``a`` dominates ``b`` when ``a <= b`` in every
objective and ``a < b`` in at least one.

Shapes glossary: N points, k objectives.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dominates", "non_dominated_mask", "non_dominated_ranks", "crowding_distance", "normalise"]


def _points(F: np.ndarray, name: str = "F") -> np.ndarray:
    F = np.asarray(F, dtype=float)
    if F.ndim != 2:
        raise ValueError(f"{name}: rule 'shape (N, k)' broken, got shape {F.shape}")
    return F


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether point ``a`` Pareto-dominates point ``b`` (both (k,))."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_mask(F: np.ndarray) -> np.ndarray:
    """Boolean (N,) mask of the points no other point dominates (duplicates all kept).

    Sorted sweep: a point can only be dominated by one that comes before it in
    lexicographic order, so each point is compared with the front found so far.
    """
    F = _points(F)
    n = len(F)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    order = np.lexsort(F.T[::-1])
    front: list[int] = []
    for i in order:
        f = F[i]
        if front:
            kept = F[front]
            if np.any(np.all(kept <= f, axis=1) & np.any(kept < f, axis=1)):
                continue
        front.append(int(i))
    keep[front] = True
    return keep


def non_dominated_ranks(F: np.ndarray) -> np.ndarray:
    """Front number of every point, 0 for the non-dominated ones (Deb et al., NSGA-II, 2002).

    Returns int (N,): peel off the non-dominated set, then the next, and so on.
    """
    F = _points(F)
    ranks = np.full(len(F), -1, dtype=int)
    left = np.arange(len(F))
    r = 0
    while len(left):
        mask = non_dominated_mask(F[left])
        ranks[left[mask]] = r
        left = left[~mask]
        r += 1
    return ranks


def crowding_distance(F: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance of points on one front (Deb et al., IEEE TEVC 2002).

    Per objective, the gap between each point's two neighbours divided by the
    objective's range; boundary points get ``inf``. Returns (N,); larger is lonelier.
    """
    F = _points(F)
    n, k = F.shape
    out = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(k):
        order = np.argsort(F[:, j], kind="mergesort")
        v = F[order, j]
        span = v[-1] - v[0]
        out[order[0]] = out[order[-1]] = np.inf
        if span > 0:
            out[order[1:-1]] += (v[2:] - v[:-2]) / span
    return out


def normalise(F: np.ndarray, ideal: np.ndarray, nadir: np.ndarray) -> np.ndarray:
    """Map objectives to ideal -> 0, nadir -> 1 (a zero range maps to 0).

    Shapes: F (N, k), ideal (k,), nadir (k,); returns (N, k).
    """
    F = _points(F)
    ideal, nadir = np.asarray(ideal, dtype=float), np.asarray(nadir, dtype=float)
    span = np.where(nadir > ideal, nadir - ideal, 1.0)
    return (F - ideal) / span
