"""Expected Improvement for minimisation, in closed form and in a stable log space.

EI (Jones, Schonlau & Welch, "Efficient global optimization of expensive black-box
functions", J. Global Optim. 1998) of a Gaussian prediction ``N(mu, sigma^2)`` below
the incumbent ``best`` with exploration margin ``xi`` is

    EI = sigma * h(z),   z = (best - xi - mu) / sigma,   h(z) = phi(z) + z Phi(z).

Far from the incumbent ``h(z)`` underflows to 0 and its gradient vanishes, which stalls
gradient-based maximisation. We therefore work with log h(z) computed as in Ament et al.,
"Unexpected Improvements to Expected Improvement for Bayesian Optimization"
(NeurIPS 2023), eq. (9): the direct formula for z > -1, an erfcx-based form for
moderately negative z, and the asymptotic expansion beyond -1/sqrt(eps).

Shape glossary: m: query points, D: input width.
"""

from __future__ import annotations

import math

import numpy as np

from hpbench.searchers.gp.kernel import GPPosterior

__all__ = [
    "h",
    "log_h",
    "log_h_derivative",
    "expected_improvement",
    "log_expected_improvement",
    "log_ei_with_grad",
]

_C1 = 0.5 * math.log(2.0 * math.pi)
_C2 = 0.5 * math.log(math.pi / 2.0)
_INV_SQRT_EPS = 1.0 / math.sqrt(np.finfo(float).eps)


def h(z: np.ndarray) -> np.ndarray:
    """phi(z) + z Phi(z), elementwise (underflows to 0 for z below about -38)."""
    import scipy.special

    z = np.asarray(z, dtype=float)
    return np.exp(-0.5 * z * z - _C1) + z * scipy.special.ndtr(z)


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x < 0, accurate on both sides of -log 2 (Maechler 2012)."""
    return np.where(x > -math.log(2.0), np.log(-np.expm1(x)), np.log1p(-np.exp(x)))


def log_h(z: np.ndarray) -> np.ndarray:
    """log(phi(z) + z Phi(z)) without underflow (Ament et al. 2023, eq. 9)."""
    import scipy.special

    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    upper = z > -1.0
    far = z <= -_INV_SQRT_EPS
    mid = ~upper & ~far
    out[upper] = np.log(h(z[upper]))
    zm = z[mid]
    out[mid] = (
        -0.5 * zm * zm - _C1 + _log1mexp(np.log(scipy.special.erfcx(-zm / math.sqrt(2.0)) * np.abs(zm)) + _C2)
    )
    zf = z[far]
    out[far] = -0.5 * zf * zf - _C1 - 2.0 * np.log(np.abs(zf))
    return out


def log_h_derivative(z: np.ndarray) -> np.ndarray:
    """d log h / dz = Phi(z) / h(z), formed in log space so it stays finite for z << 0."""
    import scipy.special

    z = np.asarray(z, dtype=float)
    # Beyond z = -1e3 both logs are ~z^2/2 and their difference loses all digits; use the
    # asymptotic ratio |z| + 2/|z| from the tails of Phi and h instead.
    far = z < -1e3
    safe = np.where(far, -1.0, z)
    a = np.where(far, np.abs(z), 1.0)
    return np.where(far, a + 2.0 / a, np.exp(scipy.special.log_ndtr(safe) - log_h(safe)))


def _z(mean: np.ndarray, std: np.ndarray, best: float, xi: float) -> np.ndarray:
    return (best - xi - np.asarray(mean, dtype=float)) / np.asarray(std, dtype=float)


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """Closed-form EI of N(mean, std^2) below ``best - xi`` (minimisation)."""
    std = np.asarray(std, dtype=float)
    return std * h(_z(mean, std, best, xi))


def log_expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """log EI, finite wherever ``std > 0`` even when EI itself underflows."""
    std = np.asarray(std, dtype=float)
    return log_h(_z(mean, std, best, xi)) + np.log(std)


def log_ei_with_grad(
    posterior: GPPosterior, Xq: np.ndarray, best: float, xi: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """log EI at Xq (m, D) under ``posterior`` and its gradient w.r.t. the inputs, (m,) and (m, D).

    ``best`` and ``xi`` are in the posterior's (standardised) units.
    """
    mean, var, dmean, dvar = posterior.predict_with_grad(Xq)
    std = np.sqrt(var)
    dstd = dvar / (2.0 * std[:, None])
    z = _z(mean, std, best, xi)
    value = log_h(z) + np.log(std)
    dz = (-dmean - z[:, None] * dstd) / std[:, None]
    grad = log_h_derivative(z)[:, None] * dz + dstd / std[:, None]
    return value, grad
