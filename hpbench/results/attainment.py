"""The empirical attainment function (EAF) and its attainment surfaces.

Grunert da Fonseca, Fonseca & Hall ("Inferential performance assessment of stochastic
optimisers and the attainment function", EMO 2001); López-Ibáñez, Paquete & Stützle
("Exploratory analysis of stochastic local search algorithms in biobjective
optimization", 2010). Over R runs of one searcher, the EAF at a point z is the share of
runs whose set of points weakly dominates z. The q-attainment surface bounds the region
attained by at least ceil(q * R) runs: q = 0.5 is the median surface; 0.25 and 0.75 the
quartile surfaces.

In two objectives the surfaces are exact: between two consecutive first-objective values
of any run's points every run's front is flat, so the ceil(q R)-th smallest of the runs'
staircase heights, evaluated at each such value, is the surface. For three objectives the
report draws the surfaces of the first two (each run's points projected onto them).

Shapes glossary: R runs, N_r points of run r, M surface points, k objectives.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["attainment_function", "attainment_surface"]


def _check_runs(runs: Sequence[np.ndarray], k: int) -> list[np.ndarray]:
    out = []
    for i, P in enumerate(runs):
        P = np.asarray(P, dtype=float)
        if P.ndim != 2 or P.shape[1] != k:
            raise ValueError(f"runs[{i}]: rule 'points of shape (N, {k})' broken, got shape {P.shape}")
        out.append(P[np.all(np.isfinite(P), axis=1)])
    return out


def attainment_function(runs: Sequence[np.ndarray], Z: np.ndarray) -> np.ndarray:
    """EAF at the points ``Z``: share of runs with a point weakly dominating each z.

    Args:
        runs: R arrays of losses, each (N_r, k).
        Z: (M, k) points where the EAF is evaluated.

    Returns:
        (M,) values in {0, 1/R, ..., 1}.
    """
    Z = np.asarray(Z, dtype=float)
    if Z.ndim != 2:
        raise ValueError(f"attainment_function: rule 'Z of shape (M, k)' broken, got shape {Z.shape}")
    P = _check_runs(runs, Z.shape[1])
    if not P:
        raise ValueError("attainment_function: rule 'at least one run' broken, got none")
    hit = np.zeros(len(Z))
    for pts in P:
        if len(pts):
            hit += np.any(np.all(pts[None, :, :] <= Z[:, None, :], axis=2), axis=1)
    return hit / len(P)


def attainment_surface(runs: Sequence[np.ndarray], q: float) -> np.ndarray:
    """The q-attainment surface of two-objective runs, as its minimal points.

    Args:
        runs: R arrays of losses, each (N_r, 2).
        q: level in (0, 1]; the surface is attained by at least ceil(q * R) runs.

    Returns:
        (M, 2) points, first objective increasing and second strictly decreasing: the
        surface is the staircase through them (empty when fewer runs have any point).
    """
    if not 0 < q <= 1:
        raise ValueError(f"attainment_surface: rule '0 < q <= 1' broken, got {q!r}")
    P = _check_runs(runs, 2)
    if not P:
        raise ValueError("attainment_surface: rule 'at least one run' broken, got none")
    t = max(1, math.ceil(q * len(P) - 1e-9))
    xs = np.unique(np.concatenate([p[:, 0] for p in P])) if any(len(p) for p in P) else np.empty(0)
    if not len(xs):
        return np.empty((0, 2))
    heights = np.full((len(P), len(xs)), np.inf)  # run r's best second objective with first <= x
    for r, pts in enumerate(P):
        if len(pts):
            pts = pts[np.argsort(pts[:, 0], kind="mergesort")]
            best = np.minimum.accumulate(pts[:, 1])
            idx = np.searchsorted(pts[:, 0], xs, side="right") - 1
            heights[r] = np.where(idx >= 0, best[np.clip(idx, 0, None)], np.inf)
    level = np.sort(heights, axis=0)[t - 1]  # the t-th smallest height at every x
    keep = np.isfinite(level) & np.r_[True, level[1:] < level[:-1]]
    return np.column_stack([xs[keep], level[keep]])
