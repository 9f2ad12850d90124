"""Where multi-fidelity searchers get new configurations from.

Successive Halving, Hyperband and ASHA are budget policies: they decide which
configuration trains to which budget, not which configurations to try. A proposer
supplies the new ones:

- ``"random"``: draws from the prior of the search space (Li et al., JMLR 2018).
- ``"gp-ei"``: model-based Hyperband in the spirit of BOHB (Falkner et al., ICML 2018),
  with a Gaussian process and Expected Improvement in place of the TPE model: the GP is
  fitted on the highest budget that has at least ``D + 2`` successful observations
  (``D`` = encoded width of the space) and proposes where EI is highest; until some
  budget has that many, configurations are drawn from the prior.

The GP lives in ``hpbench.searchers.gp`` and is imported only when ``"gp-ei"`` proposes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpbench.space import Categorical, Float, SearchSpace

__all__ = ["PROPOSERS", "Proposer", "RandomProposer", "GPEIProposer", "make_proposer"]

PROPOSERS: tuple[str, ...] = ("random", "gp-ei")


class Proposer(ABC):
    """Proposes new configurations; may learn from every finished trial at any budget."""

    def __init__(self, *, space: SearchSpace) -> None:
        self.space = space

    @abstractmethod
    def propose(self, rng: np.random.Generator) -> dict[str, Any]:
        """A new configuration; all randomness comes from ``rng``."""

    def observe(self, config: Mapping[str, Any], budget: float, objective: float | None) -> None:  # noqa: B027
        """Learn that ``config`` trained to ``budget`` scored ``objective`` (``None`` = failed)."""


class RandomProposer(Proposer):
    """Samples the prior of the search space."""

    def propose(self, rng: np.random.Generator) -> dict[str, Any]:
        return self.space.sample(rng)


class GPEIProposer(Proposer):
    """A GP with Expected Improvement fitted on the highest budget with enough data.

    Only that budget's observations are used, as in BOHB: objectives at different budgets
    are on different scales, and the highest well-populated budget is the best proxy of
    the top fidelity. The GP machinery is ``hpbench.searchers.gp`` (Matern-5/2, MAP
    hyperparameters, log EI); this class adds what a budget policy needs:

    - Many configurations are proposed between two observations at the model's budget
      (a whole bottom rung). Each proposal is fantasised at its posterior mean until that
      budget gets new data ("kriging believer", Ginsbourger et al. 2010), so a rung gets
      distinct configurations instead of one EI maximiser repeated.
    - Hyperparameters are refitted only when the model's data changed, warm-started from
      the previous fit at that budget, so a rung of proposals costs one fit.

    Args:
        space: the search space.
        min_points: successful observations a budget needs before its model is used;
            ``None`` = ``D + 2`` (``D`` = encoded width).
        n_candidates: Sobol points screened per proposal.
    """

    def __init__(self, *, space: SearchSpace, min_points: int | None = None, n_candidates: int = 512) -> None:
        super().__init__(space=space)
        self.min_points = space.width + 2 if min_points is None else min_points
        self.n_candidates = n_candidates
        # budget -> [(config, objective)] in the order told; failures are kept for the GP.
        self.observations: dict[float, list[tuple[dict[str, Any], float | None]]] = {}
        self._theta: dict[float, np.ndarray] = {}  # budget -> last fitted hyperparameters
        self._fitted_on: dict[float, int] = {}  # budget -> number of observations of that fit
        self._batch: list[np.ndarray] = []  # encodings proposed since the model's data last changed
        self._batch_key: tuple[float, int] | None = None
        self._proposed: list[np.ndarray] = []  # every encoding proposed, so none is proposed twice
        self._floats_only = all(isinstance(p, Float) for p in space.values()) and not space.is_conditional
        self._polish_mask = np.ones(space.width, dtype=bool)
        for name, p in space.items():
            if isinstance(p, Categorical):
                self._polish_mask[space.columns(name)] = False

    def observe(self, config: Mapping[str, Any], budget: float, objective: float | None) -> None:
        self.observations.setdefault(float(budget), []).append((dict(config), objective))

    def model_budget(self) -> float | None:
        """The budget the next proposal's model is fitted on, or ``None`` (sample the prior)."""
        ready = [
            b for b, obs in self.observations.items() if sum(y is not None for _, y in obs) >= self.min_points
        ]
        return max(ready) if ready else None

    def _project(self, U: np.ndarray) -> np.ndarray:
        U = np.clip(np.atleast_2d(U), 0.0, 1.0)
        return U if self._floats_only else self.space.project(U)

    def propose(self, rng: np.random.Generator) -> dict[str, Any]:
        budget = self.model_budget()
        if budget is None:
            return self._sample(rng)
        from hpbench.searchers.gp.kernel import GPPosterior  # heavy, and only needed once a model exists
        from hpbench.searchers.gp.optimizer import maximize_log_ei

        obs = self.observations[budget]
        if self._batch_key != (budget, len(obs)):
            self._batch_key, self._batch = (budget, len(obs)), []
        X, ys, ok = _standardised(self.space, obs)
        theta = self._fit(budget, X[ok], ys[ok], rng)
        try:
            posterior = GPPosterior(X, ys, theta)
            best = float(np.min(ys[ok]))
            if self._batch:
                P = np.array(self._batch)
                fantasy, _ = posterior.predict(P)
                posterior = GPPosterior(np.vstack([X, P]), np.r_[ys, fantasy], theta)
                best = min(best, float(np.min(fantasy)))
        except np.linalg.LinAlgError:
            return self._sample(rng)
        anchors = X[np.flatnonzero(ok)[np.argsort(ys[ok], kind="stable")][:5]]
        U, _ = maximize_log_ei(
            posterior,
            best=best,
            xi=0.0,
            rng=rng,
            project=self._project,
            polish_mask=self._polish_mask,
            anchors=anchors,
            n_candidates=self.n_candidates,
            n_restarts=1,
            maxiter=25,
        )
        # A configuration evaluated only below the model's budget is not in the model, and EI
        # could pick it again: exclude every earlier proposal as well.
        seen = np.vstack([posterior.X, *self._proposed]) if self._proposed else posterior.X
        for u in U:
            if np.min(np.max(np.abs(seen - u), axis=1)) > 1e-9:
                self._batch.append(u)
                self._proposed.append(u)
                return self.space.decode(u)
        return self._sample(rng)  # EI found nothing new (tiny discrete space)

    def _sample(self, rng: np.random.Generator) -> dict[str, Any]:
        config = self.space.sample(rng)
        self._proposed.append(self.space.encode(config))
        return config

    def _fit(self, budget: float, X: np.ndarray, ys: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        from hpbench.searchers.gp.kernel import HyperPrior, default_theta, fit_hyperparameters

        if self._fitted_on.get(budget) != len(ys):
            warm = self._theta.get(budget)
            theta, ok = fit_hyperparameters(
                X, ys, rng=rng, warm_start=warm, n_starts=1 if warm is not None else 2
            )
            if ok:
                self._theta[budget] = theta
            self._fitted_on[budget] = len(ys)
        return self._theta.get(budget, default_theta(X.shape[1], HyperPrior()))


def _standardised(
    space: SearchSpace, observations: list[tuple[dict[str, Any], float | None]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Encodings (n, D), standardised objectives (n,) and success mask (n,).

    Failures get the worst standardised value, so the model steers away from them (as
    ``GPEISearcher`` does); they are left out of the hyperparameter fit by the caller.
    """
    X = space.encode_many([c for c, _ in observations])
    ok = np.array([y is not None for _, y in observations])
    y = np.array([np.nan if v is None else v for _, v in observations], dtype=float)
    mu, sd = float(np.mean(y[ok])), float(np.std(y[ok]))
    ys = (y - mu) / (sd if sd > 1e-12 else 1.0)
    ys[~ok] = np.max(ys[ok])
    return X, ys, ok


def make_proposer(name: str, *, space: SearchSpace) -> Proposer:
    """Build the proposer called ``name`` (one of ``PROPOSERS``)."""
    if name == "random":
        return RandomProposer(space=space)
    if name == "gp-ei":
        return GPEIProposer(space=space)
    raise ValueError(f"proposer: rule 'name in {list(PROPOSERS)}' broken, got {name!r}")
