"""``gp-ei``: Bayesian optimisation with a Matern-5/2 GP and log Expected Improvement.

Each model step (Jones et al. 1998; Snoek et al., "Practical Bayesian optimization of
machine learning algorithms", NeurIPS 2012); steps 1-3 are ``hpbench.searchers.gp.model``,
shared with every other GP-based searcher:

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

Cost control for long runs: the refit policy of ``GPModel`` (every step below 100
successes, then when the data grew by 4%, on at most ``max_fit_points`` points). The
posterior itself always conditions on every observation.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
from typing import Any

import numpy as np

from hpbench.searchers.base import Searcher, check_choice, check_float, check_int
from hpbench.searchers.gp.kernel import GPPosterior
from hpbench.searchers.gp.model import TRANSFORMS, GPModel, ModelState
from hpbench.searchers.gp.optimizer import maximize_log_ei, sobol_points
from hpbench.space import Categorical, Fidelity, Float, SearchSpace
from hpbench.trial import Suggestion

__all__ = ["GPEISearcher"]

# Random-number streams of one trial (see Searcher.rng_for).
_STREAM_FALLBACK, _STREAM_FIT, _STREAM_ACQ, _STREAM_SUBSET, _STREAM_INIT, _STREAM_EXPLORE = 1, 2, 3, 4, 5, 6
_STREAM_RECOMMEND = 7


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
        y_transform: ``"power"`` (the default: Yeo-Johnson on the standardised objectives,
            its exponent by maximum likelihood within ``POWER_EXPONENT_BOUNDS``, see
            ``hpbench.searchers.gp.model``) or ``"none"``. Measured by
            ``benchmarks/landscapes.py`` (13 functions, 10 seeds): seed-paired mean rank 2.49
            against 3.00 for ``"none"``, which is the worst GP on 2 of the 13 (griewank-6,
            dixon-price-8: rippled plateaus, heavy-tailed valleys). ``benchmarks/searchers.py``
            (20 seeds, one run), against ``"none"``: Branin 5.5e-6 / 6.8e-6, Hartmann6
            6.9e-5 / 1.4e-4, svm-digits 4.7e-3 / 4.9e-3.
        explore: share of model steps replaced by a draw from the prior (as SMAC
            interleaves random configurations, Hutter et al. 2011), in [0, 1).

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
        y_transform: str = "power",
        explore: float = 0.0,
    ) -> None:
        super().__init__(space=space, fidelity=fidelity, seed=seed)
        owner = self.name
        # Upper bounds keep a typo (n_init=1000000000) from exhausting memory.
        self.n_init = (
            None if n_init is None else check_int(owner, "n_init", n_init, minimum=1, maximum=100_000)
        )
        self.xi = check_float(owner, "xi", xi, minimum=0.0)
        self.n_candidates = check_int(owner, "n_candidates", n_candidates, minimum=1, maximum=1_000_000)
        self.n_restarts = check_int(owner, "n_restarts", n_restarts, minimum=0, maximum=10_000)
        self.max_fit_points = check_int(owner, "max_fit_points", max_fit_points, minimum=10)
        self.n_fit_starts = check_int(owner, "n_fit_starts", n_fit_starts, minimum=1)
        self.y_transform = check_choice(owner, "y_transform", y_transform, TRANSFORMS)
        self.explore = check_float(owner, "explore", explore, minimum=0.0)
        if self.explore >= 1.0:
            raise ValueError(f"{owner}: rule 'explore < 1' broken, got {explore!r}")
        self._gp = GPModel(
            n_fit_starts=self.n_fit_starts, max_fit_points=self.max_fit_points, transform=self.y_transform
        )
        self._X: list[np.ndarray] = []
        self._y: list[float | None] = []
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
        if n_ok < 2 or (self.explore and self.rng_for(trial_id, _STREAM_EXPLORE).random() < self.explore):
            return self._random_new(trial_id, seen)
        try:
            state = self._model(trial_id)
        except np.linalg.LinAlgError:
            return self._random_new(trial_id, seen)
        U, _ = maximize_log_ei(
            state.posterior,
            best=state.best,
            xi=self.xi,
            rng=self.rng_for(trial_id, _STREAM_ACQ),
            project=self._project,
            polish_mask=self._polish_mask,
            anchors=state.anchors,
            n_candidates=self.n_candidates,
            n_restarts=self.n_restarts,
            snap=None if self._simple else self._snap,
        )
        for u in U:
            if self._is_new(u, seen):
                return self._suggest(trial_id, u)
        return self._random_new(trial_id, seen)

    # ------------------------------------------------------------------ model
    def _model(self, trial_id: int) -> ModelState:
        """Posterior (with pending fantasies), incumbent and anchors, all in standardised units."""
        y = np.array([math.nan if v is None else v for v in self._y])
        pend = [self.space.encode(s.config) for s in self.pending]
        return self._gp.condition(
            np.array(self._X),
            y,
            rng_fit=self.rng_for(trial_id, _STREAM_FIT),
            rng_subset=self.rng_for(trial_id, _STREAM_SUBSET),
            pending=np.array(pend) if pend else None,
        )

    # ------------------------------------------------------------ recommendation
    def recommend(self) -> int | None:
        """The evaluated configuration with the lowest posterior mean (``None``: fewer than 2 successes).

        On a noisy objective the best *observation* is partly luck; the posterior mean at
        the evaluated points averages that noise out (BoTorch's and Ax's "best in-sample
        point"). Ties go to the earliest trial.
        """
        fitted = self.in_sample_posterior()
        if fitted is None:
            return None
        trial_ids, posterior = fitted
        with _single_threaded_blas():
            mean, _ = posterior.predict(posterior.X)
        return trial_ids[int(np.argmin(mean))]

    def in_sample_posterior(self) -> tuple[list[int], GPPosterior] | None:
        """The posterior ``recommend`` reads: conditioned on every success (no pending fantasies).

        Hyperparameters are fitted as the next model step would fit them, on a copy of the
        run's model, so its warm start and its proposals stay as they were.

        Returns:
            The successes' trial ids (n,) and the posterior on their encodings (n, D) in
            standardised units; ``None`` with fewer than 2 successes or no Cholesky.
        """
        ok = [i for i, v in enumerate(self._y) if v is not None]
        if len(ok) < 2:
            return None
        rng = self.rng_for(self.n_told, _STREAM_RECOMMEND)
        try:
            with _single_threaded_blas():
                state = copy.deepcopy(self._gp).condition(
                    np.array([self._X[i] for i in ok]),
                    np.array([self._y[i] for i in ok], dtype=float),
                    rng_fit=rng,
                    rng_subset=rng,
                )
        except np.linalg.LinAlgError:
            return None
        return [self.history[i][0].trial_id for i in ok], state.posterior
