"""Adapter to scikit-optimize's ``skopt.Optimizer`` (ask/tell).

Surrogates: a Gaussian process (``"GP"``, Matern 5/2 with fitted hyperparameters), a random
forest (``"RF"``, Breiman 2001) or extremely randomised trees (``"ET"``, Geurts et al. 2006), as in
Hutter et al., "Sequential model-based optimization for general algorithm configuration"
(LION 2011). Acquisition by default is Expected Improvement (Jones et al., "Efficient global
optimization of expensive black-box functions", J. Glob. Optim. 1998).

Behaviour worth knowing:

- Conditional spaces: skopt has no conditionals, so every parameter is asked and inactive
  ones are dropped from the configuration; skopt is told the full point it proposed.
- Lazy tells: results are buffered and told to skopt in one call (one model fit) at the next
  ask, so the cost of a step sits in ``ask`` and bursts of results cost one fit.
- Pending asks: ``Optimizer.ask()`` returns the same point until the next tell, so with
  ``k`` asks outstanding a copy of the optimizer is told the pending points with the
  constant liar "min" value and asked (Ginsbourger, Le Riche & Carraro, "Kriging is well-suited
  to parallelize optimization", 2010) - one extra fit, not ``k``; the copy draws from a
  generator seeded by (seed, trial id), so pending asks differ and stay deterministic.
- Failed trials are told the worst objective seen so far (a penalty that steers the model
  away without distorting the scale); failures before any success are skipped, which keeps
  skopt in its random initial design.
- scikit-optimize's ``"GBRT"`` surrogate is refused: see ``_GBRT_BROKEN``.
"""

from __future__ import annotations

import contextlib
import copy
import math
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np

from hpbench.searchers.base import Searcher, check_choice, check_float, check_int, clip_objective
from hpbench.space import Categorical, Fidelity, Float, Int, SearchSpace
from hpbench.trial import Suggestion

__all__ = ["SkoptSearcher", "SkoptGP", "SkoptRF", "SkoptET", "to_dimensions"]

_ESTIMATORS = ("GP", "RF", "ET")
_ACQ_FUNCS = ("EI", "PI", "LCB", "gp_hedge")
_ACQ_OPTIMIZERS = ("auto", "sampling", "lbfgs")
_INITIAL_POINTS = ("random", "sobol", "halton", "hammersly", "lhs", "grid")
_GBRT_BROKEN = (
    "scikit-optimize 0.10's 'GBRT' surrogate (GradientBoostingQuantileRegressor) lists "
    "BaseEstimator before RegressorMixin, so scikit-learn >= 1.6 does not tag it as a regressor and "
    "skopt.Optimizer refuses it ('has to be a regressor'; checked: 1.5.2 works, 1.6.1 to 1.9.1 fail); "
    "use 'RF' or 'ET' for a tree surrogate"
)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence skopt's "evaluated at this point before" and scikit-learn convergence warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def to_dimensions(space: SearchSpace) -> list[Any]:
    """skopt dimensions for ``space``: Real/Integer (log-uniform when ``log``) and Categorical.

    Categoricals become skopt categoricals over the choice indices, so choices of any type
    (bool, int, str) round-trip exactly. A one-choice categorical is fixed and left out
    (skopt cannot model a constant dimension): its entry is ``None``.
    """
    from skopt.space import Categorical as SkCategorical
    from skopt.space import Integer, Real

    dims: list[Any] = []
    for name, p in space.items():
        prior = "log-uniform" if getattr(p, "log", False) else "uniform"
        if isinstance(p, Float):
            dims.append(Real(float(p.low), float(p.high), prior=prior, name=name))
        elif isinstance(p, Int):
            dims.append(Integer(int(p.low), int(p.high), prior=prior, name=name))
        elif len(p.choices) == 1:
            dims.append(None)
        else:
            dims.append(SkCategorical(list(range(len(p.choices))), name=name))
    return dims


class SkoptSearcher(Searcher):
    """scikit-optimize's ``Optimizer`` with a chosen surrogate.

    Args:
        space: the search space.
        fidelity: the task's fidelity; every trial runs at its top (full-fidelity searcher).
        seed: ``random_state`` of the optimizer.
        base_estimator: ``"GP"``, ``"RF"`` or ``"ET"``.
        n_initial_points: random points before the surrogate is used (>= 1).
        acq_func: ``"EI"``, ``"PI"``, ``"LCB"`` or ``"gp_hedge"``.
        acq_optimizer: ``"auto"`` (L-BFGS for the GP, sampling for trees), ``"sampling"`` or
            ``"lbfgs"`` (GP only).
        initial_point_generator: ``"random"``, ``"sobol"``, ``"halton"``, ``"hammersly"``,
            ``"lhs"`` or ``"grid"``.
        xi: exploration margin of EI and PI.
        kappa: exploration weight of LCB.

    Example:
        >>> s = SkoptSearcher(space=SearchSpace({"x": Float(0, 1)}), base_estimator="RF")
        >>> 0 <= s.ask().config["x"] <= 1
        True
    """

    name = "skopt"

    def __init__(
        self,
        *,
        space: SearchSpace,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        base_estimator: str = "GP",
        n_initial_points: int = 10,
        acq_func: str = "EI",
        acq_optimizer: str = "auto",
        initial_point_generator: str = "random",
        xi: float = 0.01,
        kappa: float = 1.96,
    ) -> None:
        super().__init__(space=space, fidelity=fidelity, seed=seed)
        owner = self.name
        if base_estimator == "GBRT":
            raise ValueError(f"{owner}: 'base_estimator' 'GBRT' is not supported: {_GBRT_BROKEN}")
        self.base_estimator = check_choice(owner, "base_estimator", base_estimator, _ESTIMATORS)
        self.n_initial_points = check_int(owner, "n_initial_points", n_initial_points, minimum=1)
        self.acq_func = check_choice(owner, "acq_func", acq_func, _ACQ_FUNCS)
        self.acq_optimizer = check_choice(owner, "acq_optimizer", acq_optimizer, _ACQ_OPTIMIZERS)
        if self.acq_optimizer == "lbfgs" and self.base_estimator != "GP":
            raise ValueError(
                f"{owner}: rule \"acq_optimizer 'lbfgs' needs base_estimator 'GP'\" broken, "
                f"got base_estimator={self.base_estimator!r} (trees have no gradients; use 'sampling')"
            )
        self.initial_point_generator = check_choice(
            owner, "initial_point_generator", initial_point_generator, _INITIAL_POINTS
        )
        self.xi = check_float(owner, "xi", xi, minimum=0.0)
        self.kappa = check_float(owner, "kappa", kappa, minimum=0.0)

        dims = to_dimensions(space)
        self._params = list(space.items())
        self._modelled = [i for i, d in enumerate(dims) if d is not None]
        if not self._modelled:
            raise ValueError(
                f"{owner}: rule 'space has a parameter with more than one value' broken, got {space!r}"
            )
        from skopt import Optimizer

        with _quiet():
            self._opt = Optimizer(
                [dims[i] for i in self._modelled],
                base_estimator=self.base_estimator,
                n_initial_points=self.n_initial_points,
                initial_point_generator=self.initial_point_generator,
                acq_func=self.acq_func,
                acq_optimizer=self.acq_optimizer,
                acq_func_kwargs={"xi": self.xi, "kappa": self.kappa},
                random_state=self.seed,
                model_queue_size=1,  # skopt keeps every fitted model otherwise; only the last is used
            )
        self._points: dict[int, list[Any]] = {}  # trial id -> skopt point (pending)
        self._untold: list[tuple[list[Any], float | None]] = []  # buffered results

    # ------------------------------------------------------------------ helpers
    def _flush(self) -> None:
        """Tell skopt the buffered results in one call (one model fit)."""
        if not self._untold:
            return
        seen = list(self._opt.yi) + [y for _, y in self._untold if y is not None]
        if not seen:
            # Nothing to penalise with yet: drop the failures, skopt stays in its initial design.
            self._untold = []
            return
        worst = max(seen)
        xs = [x for x, _ in self._untold]
        ys = [worst if y is None else y for _, y in self._untold]
        self._untold = []
        with _quiet():
            self._opt.tell(xs, ys)

    def _to_config(self, point: list[Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        by_index = dict(zip(self._modelled, point))
        for i, (name, p) in enumerate(self._params):
            if isinstance(p, Float):
                values[name] = min(max(float(by_index[i]), float(p.low)), float(p.high))
            elif isinstance(p, Int):
                values[name] = min(max(int(by_index[i]), p.low), p.high)
            else:
                assert isinstance(p, Categorical)
                values[name] = p.choices[int(by_index.get(i, 0))]
        config: dict[str, Any] = {}
        for name in self.space:  # parents come first, so activity is decided in order
            if self.space.is_active(name, config):
                config[name] = values[name]
        return config

    # -------------------------------------------------------------------- hooks
    def _ask(self, trial_id: int) -> Suggestion:
        self._flush()
        with _quiet():
            if not self._points:
                point = self._opt.ask()
            else:
                # Constant liar (min) on a throw-away copy; reseeded so the copy's random
                # draws differ from the ones the pending points came from.
                liar = copy.deepcopy(self._opt)
                liar.rng = np.random.RandomState(int(self.rng_for(trial_id).integers(2**31 - 1)))
                lie = min(self._opt.yi) if self._opt.yi else 0.0
                pending = list(self._points.values())
                liar.tell(pending, [lie] * len(pending))
                point = liar.ask()
        point = [v.item() if isinstance(v, np.generic) else v for v in point]
        self._points[trial_id] = point
        budget = None if self.fidelity is None else self.fidelity.high
        return Suggestion(trial_id, self._to_config(point), budget)

    def _tell(self, suggestion: Suggestion, objective: float | None) -> None:
        point = self._points.pop(suggestion.trial_id)
        assert objective is None or math.isfinite(objective)
        self._untold.append((point, None if objective is None else clip_objective(objective)))


class _FixedEstimator(SkoptSearcher):
    """A ``SkoptSearcher`` whose surrogate is fixed by the subclass."""

    estimator: ClassVar[str] = "GP"

    def __init__(
        self,
        *,
        space: SearchSpace,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        n_initial_points: int = 10,
        acq_func: str = "EI",
        acq_optimizer: str = "auto",
        initial_point_generator: str = "random",
        xi: float = 0.01,
        kappa: float = 1.96,
    ) -> None:
        super().__init__(
            space=space,
            fidelity=fidelity,
            seed=seed,
            base_estimator=self.estimator,
            n_initial_points=n_initial_points,
            acq_func=acq_func,
            acq_optimizer=acq_optimizer,
            initial_point_generator=initial_point_generator,
            xi=xi,
            kappa=kappa,
        )


class SkoptGP(_FixedEstimator):
    """scikit-optimize with a Gaussian-process surrogate and Expected Improvement."""

    name = "skopt-gp"
    estimator = "GP"


class SkoptRF(_FixedEstimator):
    """scikit-optimize with a random-forest surrogate (SMAC-style, Hutter et al. 2011)."""

    name = "skopt-rf"
    estimator = "RF"


class SkoptET(_FixedEstimator):
    """scikit-optimize with an extremely-randomised-trees surrogate."""

    name = "skopt-et"
    estimator = "ET"
