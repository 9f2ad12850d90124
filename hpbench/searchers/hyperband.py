"""Hyperband (Li, Jamieson, DeSalvo, Rostamizadeh & Talwalkar, JMLR 2018).

Hyperband hedges over how aggressively to early-stop by running Successive Halving
brackets ``s = s_max, ..., 0``, from many configurations at a tiny budget to a few at the
full budget. With ``R`` the top budget and ``r_min`` the lowest (the paper measures ``R``
in units of ``r_min``), bracket ``s`` starts

    n = ceil((s_max + 1) / (s + 1) * eta^s)   configurations at   r = R * eta^-s,

and its rung ``i`` trains ``n_i = floor(n * eta^-i)`` of them to ``r_i = r * eta^i``, where
``s_max = floor(log_eta(R / r_min))``. For ``R / r_min = 81`` and ``eta = 3`` this is the
paper's Table 1.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hpbench.searchers.base import check_int
from hpbench.searchers.successive_halving import (
    SynchronousBrackets,
    bracket_rungs,
    check_min_budget,
    max_bracket,
)
from hpbench.space import Fidelity

__all__ = ["Hyperband", "hyperband_schedule"]


def hyperband_schedule(
    fidelity: Fidelity, eta: int = 3, min_budget: float | None = None
) -> list[list[tuple[int, float]]]:
    """The brackets of one Hyperband iteration, ``s = s_max`` first: a list of rungs ``(n_i, r_i)``.

    ``n`` is computed with exact rational arithmetic, so ``ceil`` never suffers from a
    product like ``5/4 * 27`` landing a hair above an integer.
    """
    if not isinstance(fidelity, Fidelity):
        raise TypeError(f"hyperband_schedule: 'fidelity' must be a Fidelity, got {fidelity!r}")
    eta = check_int("hyperband_schedule", "eta", eta, minimum=2)
    r_min = check_min_budget("hyperband_schedule", fidelity, min_budget, eta)
    s_max = max_bracket(r_min, float(fidelity.high), eta)
    brackets = []
    for s in range(s_max, -1, -1):
        n = -(-Fraction(s_max + 1, s + 1) * eta**s // 1)  # exact ceil
        brackets.append(bracket_rungs(s, int(n), fidelity, r_min, eta))
    return brackets


class Hyperband(SynchronousBrackets):
    """Hyperband: Successive Halving brackets of every aggressiveness, in turn, repeated.

    One iteration runs the ``s_max + 1`` brackets of ``hyperband_schedule`` one after the
    other (each bracket synchronously: a rung's best ``1/eta`` are promoted once all its
    trials are told). Iterations repeat until the runner's budget ends, or until
    ``max_iterations`` of them are done.

    Args:
        eta: reduction factor, >= 2 (the paper uses 3).
        min_budget: lowest budget ``r_min``; ``None`` = ``fidelity.low``.
        max_iterations: number of passes over all brackets, ``None`` = repeat until the budget ends.
        proposer: any full-fidelity searcher: ``"random"`` (the paper), ``"gp-ei"``
            (model-based Hyperband), ``"optuna-tpe"`` (BOHB-like, Falkner et al. 2018; how it
            differs from BOHB is in ``hpbench.searchers.proposers``), a plug-in. Each bracket
            has its own proposer instance, which learns at the bracket's starting budget.
        proposer_params: the proposer's parameters, ``None`` = its defaults.
        continuation: promotions continue the checkpoint of the previous rung; ``False``
            retrains from scratch.

    Example:
        >>> from hpbench.space import Fidelity
        >>> [b[0] for b in hyperband_schedule(Fidelity("epochs", 1, 27), eta=3)]
        [(27, 1), (12, 3), (6, 9), (4, 27)]
    """

    name = "hyperband"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._schedule = hyperband_schedule(self.fidelity, self.eta, self._r_min)

    @property
    def schedule(self) -> list[list[tuple[int, float]]]:
        """The brackets of one iteration, as rungs ``(n_i, r_i)``."""
        return [list(b) for b in self._schedule]

    def _brackets_per_iteration(self) -> int:
        return len(self._schedule)

    def _bracket_schedule(self, index: int) -> list[tuple[int, float]]:
        return list(self._schedule[index % len(self._schedule)])
