"""The GP model step of every GP-based searcher: targets, hyperparameter fit, posterior.

One home for the rule, so that a fix (e.g. for objectives near the float limit) reaches
``gp-ei``, every multi-fidelity policy that proposes with it, and any new searcher built
on the same model. A searcher with targets of its own (e.g. ParEGO, Knowles 2006, which
models a fresh random scalarisation of several objectives at every step) uses it so:

    model = GPModel()                                   # one per run: keeps the last fit
    state = model.condition(X, y, rng_fit=r1, rng_subset=r2, pending=P)
    U, _ = maximize_log_ei(state.posterior, best=state.best, anchors=state.anchors, ...)

- ``X`` (n, D): encodings in the unit cube (``SearchSpace.encode``); ``y`` (n,): raw
  objectives to *minimise*, NaN for failed trials; ``P`` (p, D) or ``None``: pending
  encodings, fantasised at the posterior mean ("kriging believer", Ginsbourger, Le Riche &
  Carraro 2010) so a batch of asks spreads out.
- ``standardise(y)`` gives the targets the GP sees: scaled by ``max |y|`` first (no overflow
  near 1e308), then to zero mean and unit variance; failures take the worst value, so their
  region is avoided, but are left out of the hyperparameter fit.
- Refit policy: the hyperparameters (MAP, ``fit_hyperparameters``) are refitted, warm-started
  from the last fit, whenever the number of successes changed while it is below 100, and
  afterwards when it grew by 4%, on at most ``max_fit_points`` points (the best half of that
  cap plus a random sample of the rest, drawn with ``rng_subset``). Pass ``refit=True`` to
  ``condition`` when the targets changed meaning (a new scalarisation): the warm start is
  still used, the policy is bypassed.
- ``state.best`` is the incumbent in standardised units (pending fantasies included) and
  ``state.anchors`` (a, D) the best observed encodings, for local perturbation.

Shape glossary: n: observations, p: pending, D: encoded width, a: anchors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hpbench.searchers.gp.kernel import GPPosterior, HyperPrior, default_theta, fit_hyperparameters

__all__ = ["GPModel", "ModelState", "standardise", "TRANSFORMS"]

# Yeo-Johnson exponents allowed (see ``power_exponent``).
POWER_EXPONENT_BOUNDS = (-0.5, 2.0)

_REFIT_ALWAYS_BELOW = 100
_REFIT_GROWTH = 0.04


TRANSFORMS = ("none", "power")


def standardise(y: np.ndarray, transform: str = "none") -> tuple[np.ndarray, np.ndarray]:
    """GP targets (n,) and success mask (n,) from raw objectives ``y`` (n,), NaN = failed.

    ``transform="power"`` applies a Yeo-Johnson power transform (Yeo & Johnson 2000; its
    exponent by maximum likelihood, as HEBO does, Cowen-Rivers et al. 2022) to the
    standardised successes and standardises again: heavy-tailed objectives (a valley whose
    values span orders of magnitude) then look closer to Gaussian to the GP. The transform
    is monotone, so the incumbent and EI's ordering are kept.

    Raises:
        ValueError: when no objective is finite (there is nothing to model).
    """
    y = np.asarray(y, dtype=float)
    ok = np.isfinite(y)
    if not ok.any():
        raise ValueError("standardise: rule 'at least one finite objective' broken, got none")
    # Divided by the largest |y| first: the same targets, without overflow for objectives
    # near the float limit (the variance of 1e300s is inf).
    scaled = np.where(ok, y, 0.0) / (float(np.max(np.abs(y[ok]))) or 1.0)
    mu, sd = float(np.mean(scaled[ok])), float(np.std(scaled[ok]))
    ys = (scaled - mu) / (sd if sd > 1e-12 else 1.0)
    if transform == "power" and ok.sum() >= 3 and sd > 1e-12:
        ys[ok] = _power(ys[ok])
    ys[~ok] = np.max(ys[ok])
    return ys, ok


def power_exponent(z: np.ndarray) -> float:
    """The Yeo-Johnson exponent for standardised values ``z`` (n,): the maximum-likelihood
    one, clipped to ``POWER_EXPONENT_BOUNDS``.

    Unbounded, the estimate runs away once a searcher refines one point: a spike of nearly
    equal values at the incumbent pulls it towards -3 and beyond, which flattens every
    other value and keeps the search where it is (measured: Branin seed 9 of
    ``benchmarks/searchers.py`` sat at regret 1.5 on the box edge from evaluation 10 to
    40, exponent -0.35 -> -3.4; bounded, it reaches 4e-6). The log-likelihood is unimodal
    in the exponent, so the clipped estimate is the constrained maximum.
    """
    import scipy.stats

    lo, hi = POWER_EXPONENT_BOUNDS
    return min(max(float(scipy.stats.yeojohnson_normmax(z)), lo), hi)


def _power(z: np.ndarray) -> np.ndarray:
    """Yeo-Johnson transform of standardised values ``z`` (n,), standardised again."""
    import scipy.stats

    with np.errstate(all="ignore"):
        try:
            t = scipy.stats.yeojohnson(z, lmbda=power_exponent(z))
        except (ValueError, FloatingPointError, OverflowError):
            return z
    sd = float(np.std(t))
    if not (np.all(np.isfinite(t)) and sd > 1e-12):
        return z
    return (t - float(np.mean(t))) / sd


@dataclass(frozen=True)
class ModelState:
    """What one model step hands to the acquisition maximiser.

    Attributes:
        posterior: the GP conditioned on every observation (and the pending fantasies).
        best: incumbent in standardised units.
        anchors: (a, D) best observed encodings, best first.
    """

    posterior: GPPosterior
    best: float
    anchors: np.ndarray


class GPModel:
    """Matern-5/2 GP with MAP hyperparameters, refitted by the policy in the module docstring.

    Args:
        prior: hyperparameter bounds and priors (default ``HyperPrior()``).
        n_fit_starts: L-BFGS-B starts of a fit (warm start, prior mean, then prior draws).
        max_fit_points: cap on the points a fit uses (>= 10).
        n_anchors: best points returned as anchors.
        transform: ``"none"`` or ``"power"`` (see ``standardise``).
    """

    def __init__(
        self,
        *,
        prior: HyperPrior | None = None,
        n_fit_starts: int = 2,
        max_fit_points: int = 250,
        n_anchors: int = 5,
        transform: str = "none",
    ) -> None:
        self.prior = prior or HyperPrior()
        self.transform = transform
        self.n_fit_starts = n_fit_starts
        self.max_fit_points = max_fit_points
        self.n_anchors = n_anchors
        self.theta: np.ndarray | None = None  # (D + 2,) last successful fit
        self._n_at_fit = 0

    def condition(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        rng_fit: np.random.Generator,
        rng_subset: np.random.Generator,
        pending: np.ndarray | None = None,
        refit: bool = False,
    ) -> ModelState:
        """Refit when due, then the posterior on ``X`` (n, D), ``y`` (n,) and the ``pending`` fantasies.

        Raises:
            numpy.linalg.LinAlgError: when even the default hyperparameters give no Cholesky.
        """
        X = np.asarray(X, dtype=float)
        ys, ok = standardise(y, self.transform)
        self.fit(X[ok], ys[ok], rng_fit=rng_fit, rng_subset=rng_subset, force=refit)
        theta = self.theta if self.theta is not None else default_theta(X.shape[1], self.prior)
        try:
            posterior = GPPosterior(X, ys, theta)
        except np.linalg.LinAlgError:
            theta = default_theta(X.shape[1], self.prior)
            posterior = GPPosterior(X, ys, theta)
        best = float(np.min(ys[ok]))
        if pending is not None and len(pending):
            P = np.asarray(pending, dtype=float)
            fantasy, _ = posterior.predict(P)
            posterior = GPPosterior(np.vstack([X, P]), np.r_[ys, fantasy], theta)
            best = min(best, float(np.min(fantasy)))
        order = np.flatnonzero(ok)[np.argsort(ys[ok], kind="stable")]
        return ModelState(posterior, best, X[order[: self.n_anchors]])

    def fit_due(self, n: int) -> bool:
        """Whether ``n`` successes call for a new fit under the refit policy."""
        if n == self._n_at_fit and self.theta is not None:
            return False
        return (
            self.theta is None
            or n < _REFIT_ALWAYS_BELOW
            or n - self._n_at_fit >= max(1, int(_REFIT_GROWTH * n))
        )

    def fit(
        self,
        X: np.ndarray,
        ys: np.ndarray,
        *,
        rng_fit: np.random.Generator,
        rng_subset: np.random.Generator,
        force: bool = False,
    ) -> None:
        """Refit the hyperparameters on successes ``X`` (n, D), standardised ``ys`` (n,) when due."""
        n = len(ys)
        if n == 0 or not (force or self.fit_due(n)):
            return
        if n > self.max_fit_points:
            order = np.argsort(ys, kind="stable")
            keep = order[: self.max_fit_points // 2]
            rest = rng_subset.choice(
                order[self.max_fit_points // 2 :], self.max_fit_points - len(keep), replace=False
            )
            idx = np.sort(np.r_[keep, rest])
            X, ys = X[idx], ys[idx]
        theta, ok = fit_hyperparameters(
            X, ys, rng=rng_fit, prior=self.prior, warm_start=self.theta, n_starts=self.n_fit_starts
        )
        if ok and all(math.isfinite(t) for t in theta):
            self.theta = theta
            self._n_at_fit = n
