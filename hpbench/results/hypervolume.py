"""Exact hypervolume in one, two and three dimensions.

The hypervolume of a set of loss vectors is the measure of the region they dominate and
that dominates the reference point ``ref`` (Zitzler & Thiele, "Multiobjective
optimization using evolutionary algorithms — a comparative case study", PPSN 1998).

* 2-D: sort by the first objective and sum the rectangles of the staircase, O(N log N).
* 3-D: the dimension sweep of Fonseca, Paquete & López-Ibáñez ("An improved
  dimension-sweep algorithm for the hypervolume indicator", CEC 2006) and Beume et al.
  (IEEE TEVC 2009): points in increasing third objective are inserted into a 2-D front
  kept sorted, whose area is updated by what each insertion adds; the volume is the sum
  of area times slab height. O(N log N) comparisons (the sorted-list insertions move
  memory in O(N) each, fast at the sizes benchmarks produce).

Points that do not strictly dominate ``ref`` contribute nothing and are dropped.

Shapes glossary: N points, k objectives (1 <= k <= 3).
"""

from __future__ import annotations

import bisect

import numpy as np

__all__ = ["hypervolume", "hypervolume_2d", "hypervolume_3d"]


def _inside(F: np.ndarray, ref: np.ndarray) -> np.ndarray:
    pts = np.asarray(F, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != len(ref):
        raise ValueError(f"hypervolume: rule 'points of shape (N, {len(ref)})' broken, got shape {pts.shape}")
    if not np.all(np.isfinite(ref)):
        raise ValueError(f"hypervolume: rule 'finite reference point' broken, got {ref.tolist()}")
    ok = np.all(np.isfinite(pts), axis=1) & np.all(pts < ref, axis=1)
    return pts[ok]


def hypervolume_2d(F: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume of (N, 2) losses against ``ref`` (2,)."""
    ref = np.asarray(ref, dtype=float)
    P = _inside(F, ref)
    if not len(P):
        return 0.0
    P = P[np.lexsort((P[:, 1], P[:, 0]))]
    best_y = np.minimum.accumulate(P[:, 1])
    x_next = np.r_[P[1:, 0], ref[0]]
    return float(np.sum((x_next - P[:, 0]) * (ref[1] - best_y)))


class _Front2D:
    """A 2-D non-dominated staircase (x ascending, y descending) with its dominated area."""

    def __init__(self, ref: np.ndarray) -> None:
        self.r1, self.r2 = float(ref[0]), float(ref[1])
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.area = 0.0

    def insert(self, x: float, y: float) -> None:
        xs, ys = self.xs, self.ys
        i = bisect.bisect_left(xs, x)
        if (i > 0 and ys[i - 1] <= y) or (i < len(xs) and xs[i] == x and ys[i] <= y):
            return  # weakly dominated: adds nothing
        height = ys[i - 1] if i > 0 else self.r2  # dominated boundary just right of x
        j = i
        gained = 0.0
        left = x
        while j < len(xs) and ys[j] >= y:  # points p dominates: their steps above y are gained
            gained += (xs[j] - left) * (height - y)
            left, height = xs[j], ys[j]
            j += 1
        right = xs[j] if j < len(xs) else self.r1
        gained += (right - left) * (height - y)
        del xs[i:j], ys[i:j]
        xs.insert(i, x)
        ys.insert(i, y)
        self.area += gained


def hypervolume_3d(F: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume of (N, 3) losses against ``ref`` (3,), by dimension sweep."""
    ref = np.asarray(ref, dtype=float)
    P = _inside(F, ref)
    if not len(P):
        return 0.0
    P = P[np.argsort(P[:, 2], kind="mergesort")]
    front = _Front2D(ref[:2])
    z_next = np.r_[P[1:, 2], ref[2]]
    total = 0.0
    for (x, y, _), zn, z in zip(P.tolist(), z_next.tolist(), P[:, 2].tolist()):
        front.insert(x, y)
        total += front.area * (zn - z)
    return float(total)


def hypervolume(F: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume of (N, k) losses against ``ref`` (k,), for k = 1, 2 or 3.

    Example:
        >>> hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([3.0, 3.0]))
        3.0
    """
    ref = np.asarray(ref, dtype=float).ravel()
    k = len(ref)
    if k == 1:
        P = _inside(F, ref)
        return float(ref[0] - P[:, 0].min()) if len(P) else 0.0
    if k == 2:
        return hypervolume_2d(F, ref)
    if k == 3:
        return hypervolume_3d(F, ref)
    raise ValueError(f"hypervolume: rule 'exact in 1 to 3 objectives' broken, got {k} objectives")
