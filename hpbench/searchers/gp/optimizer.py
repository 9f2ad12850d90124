"""Maximisation of log EI over the unit cube: quasi-random screening, then gradient polishing.

The strategy is the common one of modern BO libraries (e.g. Balandat et al., "BoTorch",
NeurIPS 2020, sec. 4): score many scrambled Sobol points (Owen 1998) plus Gaussian
perturbations of the best observed points, then run L-BFGS-B from the best few with the
analytic gradient of log EI (Ament et al. 2023). The few starts are polished as one
batched problem, which is valid because the summed objective is separable, and saves
the per-call overhead of the optimiser.

Integer and categorical columns are handled by relaxation and projection: only the
``polish_mask`` columns move during polishing, and every returned point has gone through
``project`` (rounded integers, one-hot categoricals) and is scored after projection.

Shape glossary: D: encoded width, c: candidates, k: polished starts, a: anchor points.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from hpbench.searchers.gp.acquisition import log_ei_with_grad, log_expected_improvement
from hpbench.searchers.gp.kernel import GPPosterior

__all__ = ["maximize_log_ei", "sobol_points", "score"]

Projector = Callable[[np.ndarray], np.ndarray]


def sobol_points(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` scrambled Sobol points in [0, 1]^dim, shape (n, dim), drawn from a balanced 2^m block."""
    from scipy.stats import qmc

    m = max(0, math.ceil(math.log2(max(n, 1))))
    return qmc.Sobol(d=dim, scramble=True, seed=rng).random_base2(m)[:n]


def score(posterior: GPPosterior, U: np.ndarray, best: float, xi: float) -> np.ndarray:
    """log EI at U (c, D), shape (c,)."""
    mean, var = posterior.predict(U)
    return log_expected_improvement(mean, np.sqrt(var), best, xi)


def _polish(
    posterior: GPPosterior,
    starts: np.ndarray,
    mask: np.ndarray,
    best: float,
    xi: float,
    maxiter: int,
) -> np.ndarray:
    """L-BFGS-B on the masked columns of the k starts at once; returns (k, D)."""
    import scipy.optimize

    k = len(starts)
    cols = np.flatnonzero(mask)
    base = starts.copy()

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        U = base.copy()
        U[:, cols] = flat.reshape(k, len(cols))
        value, grad = log_ei_with_grad(posterior, U, best, xi)
        if not (np.all(np.isfinite(value)) and np.all(np.isfinite(grad))):
            return 1e25, np.zeros_like(flat)
        return -float(np.sum(value)), -grad[:, cols].ravel()

    x0 = starts[:, cols].ravel()
    res = scipy.optimize.minimize(
        objective,
        x0,
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * len(x0),
        options={"maxiter": maxiter},
    )
    out = base.copy()
    out[:, cols] = np.clip(res.x, 0.0, 1.0).reshape(k, len(cols))
    return out


def maximize_log_ei(
    posterior: GPPosterior,
    *,
    best: float,
    xi: float,
    rng: np.random.Generator,
    project: Projector,
    polish_mask: np.ndarray,
    anchors: np.ndarray,
    n_candidates: int,
    n_restarts: int,
    perturb_scales: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1),
    n_perturb: int | None = None,
    maxiter: int = 100,
    snap: Projector | None = None,
    n_exact: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates ranked by log EI, best first.

    Args:
        posterior: the fitted GP (standardised units).
        best: incumbent value in standardised units; ``xi`` the EI margin in the same units.
        rng: source of the Sobol scrambling and the perturbations.
        project: maps (c, D) points to valid encodings.
        polish_mask: (D,) bool, the columns that gradient polishing may move.
        anchors: (a, D) points to perturb (best observed first); may be empty.
        n_candidates: Sobol points screened.
        n_restarts: best screened points polished with L-BFGS-B (0 disables polishing).
        perturb_scales: standard deviations of the perturbations, cycled over.
        n_perturb: number of perturbations (default ``n_candidates // 4``).
        maxiter: L-BFGS-B iterations.
        snap: a cheap approximation of ``project`` used for screening; when given, only the
            ``n_exact`` best screened points are projected exactly and kept.
        n_exact: see ``snap``.

    Returns:
        ``(U, values)``: (c', D) valid encodings sorted by decreasing log EI, and (c',) values.
    """
    dim = posterior.X.shape[1]
    pieces = [sobol_points(n_candidates, dim, rng)]
    n_perturb = n_candidates // 4 if n_perturb is None else n_perturb
    if len(anchors) and n_perturb > 0:
        idx = np.arange(n_perturb) % len(anchors)
        scales = np.asarray(perturb_scales, dtype=float)[np.arange(n_perturb) % len(perturb_scales)]
        noise = rng.standard_normal((n_perturb, dim)) * scales[:, None] * polish_mask[None, :]
        pieces.append(np.clip(anchors[idx] + noise, 0.0, 1.0))
    cand = np.vstack(pieces)
    if snap is None:
        cand = project(cand)
        values = score(posterior, cand, best, xi)
    else:
        # Exact projection can be slow (a Python loop per row); screen cheaply snapped
        # points and project only the most promising ones, then score them again.
        values = score(posterior, snap(cand), best, xi)
        top = np.argsort(-values, kind="stable")[:n_exact]
        cand = project(cand[top])
        values = score(posterior, cand, best, xi)
    if n_restarts > 0 and np.any(polish_mask):
        order = np.argsort(-values, kind="stable")
        starts = []
        for i in order:  # distinct starts only: duplicates would waste a restart
            if all(np.max(np.abs(cand[i] - s)) > 1e-9 for s in starts):
                starts.append(cand[i])
            if len(starts) == n_restarts:
                break
        polished = project(_polish(posterior, np.array(starts), polish_mask, best, xi, maxiter))
        cand = np.vstack([polished, cand])
        values = np.r_[score(posterior, polished, best, xi), values]
    order = np.argsort(-values, kind="stable")
    return cand[order], values[order]
