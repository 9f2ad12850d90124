"""``parego``: ParEGO (Knowles, "ParEGO: a hybrid algorithm with on-line landscape
approximation for expensive multiobjective optimization problems", IEEE TEVC 2006).

Each iteration:

1. Normalise every observed objective to [0, 1] by its observed minimum and maximum.
2. Draw one weight vector uniformly from the simplex lattice
   ``{lambda : sum(lambda) = 1, lambda_j in {0, 1/s, ..., 1}}`` (s = 10 for two objectives,
   11 vectors; s = 4 for three, 15 vectors, as in the paper).
3. Scalarise every observation with the augmented Chebyshev function
   ``f_lambda(x) = max_j(lambda_j f_j(x)) + rho * sum_j(lambda_j f_j(x))``, rho = 0.05.
4. Take one step of our GP Bayesian optimisation on the scalarised values: the same
   Matern-5/2 GP, marginal-likelihood fit and log-EI maximisation as ``gp-ei``
   (the paper maximises plain EI with an evolutionary algorithm; log EI, Ament et al.
   2023, has the same maximisers and is easier to optimise).

The GP step is the one of ``gp-ei`` (``_GPStep`` below is the only seam: ParEGO sets the
scalarised values it models before each step and reuses everything else), so improvements
to the GP reach both.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from hpbench.searchers.base import check_float, check_int
from hpbench.searchers.gp.searcher import GPEISearcher as _GPStep
from hpbench.space import Fidelity, SearchSpace
from hpbench.trial import Suggestion

__all__ = ["ParEGO", "simplex_lattice", "augmented_chebyshev"]

_STREAM_WEIGHTS = 11  # beyond the GP searcher's own streams (1..5)


def simplex_lattice(k: int, s: int) -> np.ndarray:
    """All weight vectors with k components in {0, 1/s, ..., 1} summing to 1.

    Shapes: returns (C(s + k - 1, k - 1), k).
    """
    rows = [c for c in itertools.product(range(s + 1), repeat=k) if sum(c) == s]
    return np.array(rows, dtype=float) / s


def augmented_chebyshev(F: np.ndarray, weights: np.ndarray, rho: float = 0.05) -> np.ndarray:
    """Knowles' augmented Chebyshev scalarisation of normalised objectives.

    Shapes: F (N, k) normalised losses, weights (k,); returns (N,).
    """
    wf = F * weights
    return wf.max(axis=1) + rho * wf.sum(axis=1)


def default_lattice(k: int) -> int:
    """The paper's lattice resolution: s = 10 for two objectives, 4 for three, 3 beyond."""
    return {1: 1, 2: 10, 3: 4}.get(k, 3)


class ParEGO(_GPStep):
    """ParEGO on our GP with log EI: one random scalarisation per iteration.

    Args:
        space, fidelity, seed: as for every searcher.
        n_objectives: number of objectives (given by the runner from the task).
        rho: weight of the linear term of the augmented Chebyshev function.
        lattice: resolution s of the weight lattice; ``None`` takes the paper's.
        n_init, xi, n_candidates, n_restarts, max_fit_points, n_fit_starts: the GP step's
            parameters (see ``gp-ei``).

    Example:
        >>> from hpbench.space import Float, SearchSpace
        >>> s = ParEGO(space=SearchSpace({"x": Float(0, 1)}), n_objectives=2, seed=0)
        >>> sug = s.ask(); s.tell(sug, (sug.config["x"], 1 - sug.config["x"]))
    """

    name = "parego"
    multi_objective = True

    def __init__(
        self,
        *,
        space: SearchSpace,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        n_objectives: int = 2,
        rho: float = 0.05,
        lattice: int | None = None,
        n_init: int | None = None,
        xi: float = 0.0,
        n_candidates: int = 2048,
        n_restarts: int = 5,
        max_fit_points: int = 250,
        n_fit_starts: int = 2,
    ) -> None:
        super().__init__(
            space=space,
            fidelity=fidelity,
            seed=seed,
            n_init=n_init,
            xi=xi,
            n_candidates=n_candidates,
            n_restarts=n_restarts,
            max_fit_points=max_fit_points,
            n_fit_starts=n_fit_starts,
        )
        owner = type(self).__name__
        self.n_objectives = check_int(owner, "n_objectives", n_objectives, minimum=1)
        self.rho = check_float(owner, "rho", rho, minimum=0.0)
        self.lattice = None if lattice is None else check_int(owner, "lattice", lattice, minimum=1)
        self._weights = simplex_lattice(self.n_objectives, self.lattice or default_lattice(self.n_objectives))
        self._F: list[tuple[float, ...] | None] = []

    def _tell(self, suggestion: Suggestion, objective: Any) -> None:
        super()._tell(suggestion, None)  # the row of X; its modelled value is set per step
        if objective is not None and not isinstance(objective, tuple):
            objective = (float(objective),)
        self._F.append(objective)

    def weights_for(self, trial_id: int) -> np.ndarray:
        """The weight vector of one iteration: uniform over the lattice, from (seed, trial)."""
        rng = self.rng_for(trial_id, _STREAM_WEIGHTS)
        return self._weights[int(rng.integers(len(self._weights)))]

    def scalarised(self, trial_id: int) -> list[float | None]:
        """Every observation's augmented Chebyshev value under this iteration's weights."""
        ok = [f for f in self._F if f is not None]
        if not ok:
            return [None] * len(self._F)
        F = np.array(ok, dtype=float)
        lo, hi = F.min(axis=0), F.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        values = augmented_chebyshev((F - lo) / span, self.weights_for(trial_id), self.rho)
        it = iter(values.tolist())
        return [None if f is None else next(it) for f in self._F]

    def _ask_model(self, trial_id: int) -> Suggestion:
        self._y = self.scalarised(trial_id)
        return super()._ask_model(trial_id)
