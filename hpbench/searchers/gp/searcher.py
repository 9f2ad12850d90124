"""``gp-ei``: Bayesian optimisation with a Matern-5/2 GP and log Expected Improvement.

Each model step (Jones et al. 1998; Snoek et al., "Practical Bayesian optimization of
machine learning algorithms", NeurIPS 2012):

1. Standardise the successful objectives; failed trials enter the posterior at the worst
   value seen (so their region is avoided and they are never proposed again) but are
   left out of the hyperparameter fit.
2. Fit the hyperparameters by MAP (multi-start L-BFGS-B, warm-started from the last fit).
3. Fantasise every pending suggestion at its posterior mean ("kriging believer",
   Ginsbourger et al., "Kriging is well-suited to parallelize optimization", 2010), so
   asks made before the matching tells land in different places.
4. Maximise log EI (Ament et al. 2023) over Sobol points and perturbations of the best
   points, polish the best few with gradients, project to a valid configuration, and skip
   encodings already evaluated or pending.

Cost control for long runs: while fewer than 100 trials succeeded the hyperparameters are
refitted at every step; after that only when the data grew by 4% since the last fit, and
on at most ``max_fit_points`` points (the best half of that cap plus a seeded random
sample of the rest). The posterior itself always conditions on every observation.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Any

import numpy as np

from hpbench.searchers.base import Searcher, check_float, check_int
from hpbench.searchers.gp.kernel import GPPosterior, HyperPrior, default_theta, fit_hyperparameters
from hpbench.searchers.gp.optimizer import maximize_log_ei, sobol_points
from hpbench.space import Categorical, Fidelity, Float, SearchSpace
from hpbench.trial import Suggestion

__all__ = ["GPEISearcher"]

# Random-number streams of one trial (see Searcher.rng_for).
_STREAM_FALLBACK, _STREAM_FIT, _STREAM_ACQ, _STREAM_SUBSET, _STREAM_INIT = 1, 2, 3, 4, 5
_REFIT_ALWAYS_BELOW = 100
_REFIT_GROWTH = 0.04
_N_ANCHORS = 5


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    try:
        import threadpoolctl
    except ImportError:  # optional: only a speed-up
        return None
    return threadpoolctl.ThreadpoolController()


def _single_threaded_blas() -> contextlib.AbstractContextManager[Any]:
    """One BLAS thread: for matrices this small, thread start-up and contention with
    parallel workers cost far more than they save (10x slower on a loaded 2-core box)."""
    controller = _blas_controller()
    return contextlib.nullcontext() if controller is None else controller.limit(limits=1, user_api="blas")


class GPEISearcher(Searcher):
    """Gaussian-process BO with Expected Improvement, for full-fidelity evaluations.

    Args:
        space: the search space (any mix of Float, Int, Categorical, conditional or not).
        fidelity: ignored except that every suggestion is made at its top value.
        seed: run seed; same seed, same sequence of suggestions.
        n_init: size of the initial scrambled Sobol design; ``None`` picks
            ``min(max(4, d + 1), 20)`` for ``d`` parameters.
        xi: EI exploration margin, in standard deviations of the observed objectives.
        n_candidates: Sobol points scored per step (a perturbation set of a quarter of
            that size around the best points is added).
        n_restarts: best candidates polished by L-BFGS-B on log EI.
        max_fit_points: cap on the points used to fit the hyperparameters.
        n_fit_starts: L-BFGS-B starts of the hyperparameter fit (warm start, prior mean,
            then prior draws).

    Example:
        >>> from hpbench.space import Float, SearchSpace
        >>> s = GPEISearcher(space=SearchSpace({"x": Float(0, 1)}), seed=0)
        >>> sug = s.ask(); s.tell(sug, (sug.config["x"] - 0.3) ** 2)
    """

    name = "gp-ei"

    def __init__(
        self,
        *,
        space: SearchSpace,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        n_init: int | None = None,
        xi: float = 0.0,
        n_candidates: int = 2048,
        n_restarts: int = 5,
        max_fit_points: int = 250,
        n_fit_starts: int = 2,
    ) -> None:
        super().__init__(space=space, fidelity=fidelity, seed=seed)
        owner = self.name
        self.n_init = None if n_init is None else check_int(owner, "n_init", n_init, minimum=1)
        self.xi = check_float(owner, "xi", xi, minimum=0.0)
        self.n_candidates = check_int(owner, "n_candidates", n_candidates, minimum=1)
        self.n_restarts = check_int(owner, "n_restarts", n_restarts, minimum=0)
        self.max_fit_points = check_int(owner, "max_fit_points", max_fit_points, minimum=10)
        self.n_fit_starts = check_int(owner, "n_fit_starts", n_fit_starts, minimum=1)
        self._prior = HyperPrior()
        self._X: list[np.ndarray] = []
        self._y: list[float | None] = []
        self._theta: np.ndarray | None = None
        self._n_at_fit = 0
        params = list(space.values())
        self._simple = all(isinstance(p, Float) for p in params) and not space.is_conditional
        mask = np.ones(space.width, dtype=bool)
        self._onehot: list[slice] = []
        for pname, p in space.items():
            if isinstance(p, Categorical):
                mask[space.columns(pname)] = False
                self._onehot.append(space.columns(pname))
        self._polish_mask = mask
        n0 = self.effective_n_init
        self._init_design = self._project(sobol_points(n0, space.width, self.rng_for(0, _STREAM_INIT)))

    # ------------------------------------------------------------------ helpers
    @property
    def effective_n_init(self) -> int:
        """The initial design size actually used (resolves ``n_init=None``)."""
        return self.n_init if self.n_init is not None else min(max(4, len(self.space) + 1), 20)

    def _project(self, U: np.ndarray) -> np.ndarray:
        U = np.clip(np.atleast_2d(U), 0.0, 1.0)
        # Floats without conditions encode/decode as the identity on [0, 1]: skip the
        # per-row Python loop of SearchSpace.project.
        return U if self._simple else self.space.project(U)

    def _snap(self, U: np.ndarray) -> np.ndarray:
        """Clip and one-hot the categorical columns: ``_project`` without its per-row loop."""
        U = np.clip(np.atleast_2d(U), 0.0, 1.0)
        for sl in self._onehot:
            block = U[:, sl]
            U[:, sl] = block == block.max(axis=1, keepdims=True)
        return U

    def _suggest(self, trial_id: int, u: np.ndarray) -> Suggestion:
        budget = None if self.fidelity is None else self.fidelity.high
        return Suggestion(trial_id, self.space.decode(u), budget)

    def _seen(self) -> np.ndarray:
        rows = list(self._X) + [self.space.encode(s.config) for s in self.pending]
        return np.array(rows) if rows else np.empty((0, self.space.width))

    @staticmethod
    def _is_new(u: np.ndarray, seen: np.ndarray) -> bool:
        return len(seen) == 0 or bool(np.min(np.max(np.abs(seen - u), axis=1)) > 1e-9)

    def _random_new(self, trial_id: int, seen: np.ndarray) -> Suggestion:
        rng = self.rng_for(trial_id, _STREAM_FALLBACK)
        u = self.space.encode(self.space.sample(rng))
        for _ in range(100):  # tiny discrete spaces may be exhausted: then repeat is allowed
            if self._is_new(u, seen):
                break
            u = self.space.encode(self.space.sample(rng))
        return self._suggest(trial_id, u)

    # ------------------------------------------------------------------ hooks
    def _tell(self, suggestion: Suggestion, objective: float | None) -> None:
        self._X.append(self.space.encode(suggestion.config))
        self._y.append(objective)

    def _ask(self, trial_id: int) -> Suggestion:
        with _single_threaded_blas():
            return self._ask_model(trial_id)

    def _ask_model(self, trial_id: int) -> Suggestion:
        seen = self._seen()
        n_ok = sum(v is not None for v in self._y)
        if trial_id < len(self._init_design):
            u = self._init_design[trial_id]
            return self._suggest(trial_id, u) if self._is_new(u, seen) else self._random_new(trial_id, seen)
        if n_ok < 2:
            return self._random_new(trial_id, seen)
        try:
            posterior, best, anchors = self._model(trial_id)
        except np.linalg.LinAlgError:
            return self._random_new(trial_id, seen)
        U, _ = maximize_log_ei(
            posterior,
            best=best,
            xi=self.xi,
            rng=self.rng_for(trial_id, _STREAM_ACQ),
            project=self._project,
            polish_mask=self._polish_mask,
            anchors=anchors,
            n_candidates=self.n_candidates,
            n_restarts=self.n_restarts,
            snap=None if self._simple else self._snap,
        )
        for u in U:
            if self._is_new(u, seen):
                return self._suggest(trial_id, u)
        return self._random_new(trial_id, seen)

    # ------------------------------------------------------------------ model
    def _model(self, trial_id: int) -> tuple[GPPosterior, float, np.ndarray]:
        """Posterior (with pending fantasies), incumbent and anchors, all in standardised units."""
        X = np.array(self._X)
        ok = np.array([v is not None for v in self._y])
        y = np.array([math.nan if v is None else v for v in self._y])
        # Standardised after dividing by the largest |y|: the same ys, without overflow
        # for objectives near the float limit (the variance of 1e300s is inf).
        y = y / (float(np.max(np.abs(y[ok]))) or 1.0)
        mu, sd = float(np.mean(y[ok])), float(np.std(y[ok]))
        sd = sd if sd > 1e-12 else 1.0
        ys = (y - mu) / sd
        ys[~ok] = np.max(ys[ok])
        self._maybe_refit(trial_id, X[ok], ys[ok])
        theta = self._theta if self._theta is not None else default_theta(X.shape[1], self._prior)
        try:
            posterior = GPPosterior(X, ys, theta)
        except np.linalg.LinAlgError:
            theta = default_theta(X.shape[1], self._prior)
            posterior = GPPosterior(X, ys, theta)
        best = float(np.min(ys[ok]))
        pend = [self.space.encode(s.config) for s in self.pending]
        if pend:
            P = np.array(pend)
            fantasy, _ = posterior.predict(P)
            posterior = GPPosterior(np.vstack([X, P]), np.r_[ys, fantasy], theta)
            best = min(best, float(np.min(fantasy)))
        order = np.flatnonzero(ok)[np.argsort(ys[ok], kind="stable")]
        return posterior, best, X[order[:_N_ANCHORS]]

    def _maybe_refit(self, trial_id: int, X: np.ndarray, ys: np.ndarray) -> None:
        n = len(ys)
        due = (
            self._theta is None
            or n < _REFIT_ALWAYS_BELOW
            or n - self._n_at_fit >= max(1, int(_REFIT_GROWTH * n))
        )
        if not due or n == self._n_at_fit:
            return
        if n > self.max_fit_points:
            order = np.argsort(ys, kind="stable")
            keep = order[: self.max_fit_points // 2]
            rest = self.rng_for(trial_id, _STREAM_SUBSET).choice(
                order[self.max_fit_points // 2 :], self.max_fit_points - len(keep), replace=False
            )
            idx = np.sort(np.r_[keep, rest])
            X, ys = X[idx], ys[idx]
        theta, ok = fit_hyperparameters(
            X,
            ys,
            rng=self.rng_for(trial_id, _STREAM_FIT),
            prior=self._prior,
            warm_start=self._theta,
            n_starts=self.n_fit_starts,
        )
        if ok:
            self._theta = theta
            self._n_at_fit = n
