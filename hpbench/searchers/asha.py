"""Asynchronous Successive Halving, ASHA (Li, Jamieson, Rostamizadeh, Gonina, Ben-tzur, Hardt,
Recht & Talwalkar, MLSys 2020).

Rungs ``k = 0..K`` train to ``r_k = R * eta^(k - K)`` with ``K = s_max``. Whenever a worker
asks, ASHA looks from the second-highest rung down for a configuration that is in the top
``floor(|rung k| / eta)`` of the *finished* trials of its rung and has not been promoted
yet; the best such one is promoted to rung ``k + 1``. If there is none, a new
configuration starts at rung 0. So ASHA never waits, and every worker stays busy; a
promotion decision may be made on incomplete rungs, which the paper shows costs little.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpbench.searchers.mo_promotion import promotion_order
from hpbench.searchers.successive_halving import (
    HalvingSearcher,
    max_bracket,
    rung_budgets,
)
from hpbench.trial import Suggestion

__all__ = ["ASHA"]


@dataclass
class _Entry:
    """One finished trial in a rung."""

    trial_id: int
    config_id: int  # trial id of the configuration's first trial
    config: dict[str, Any]
    objective: float | None
    promoted: bool = False


class ASHA(HalvingSearcher):
    """Asynchronous Successive Halving: promote when in the top ``1/eta`` of a rung, else start new.

    Args:
        eta: reduction factor, >= 2.
        min_budget: budget of rung 0 is the lowest ``R * eta^-K`` >= ``min_budget``;
            ``None`` = ``fidelity.low``.
        proposer: any full-fidelity searcher (``"random"``, ``"gp-ei"``, ``"optuna-tpe"``, a
            plug-in), see ``hpbench.searchers.proposers``; it learns the rung-0 objective.
        proposer_params: the proposer's parameters, ``None`` = its defaults.
        continuation: promotions continue the checkpoint of the previous rung; ``False``
            retrains from scratch.

    Failed trials count in the size of their rung but rank last and are never promoted.

    Example:
        >>> from hpbench.tasks.synthetic import Hartmann
        >>> task = Hartmann(dim=6, multi_fidelity=True)
        >>> asha = ASHA(space=task.space, fidelity=task.fidelity)
        >>> asha.rung_budgets
        [1, 3, 9, 27, 81]
    """

    name = "asha"

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        r_min = self._r_min
        self._budgets = rung_budgets(
            max_bracket(r_min, float(self.fidelity.high), self.eta), self.fidelity, r_min, self.eta
        )
        self._rungs: list[list[_Entry]] = [[] for _ in self._budgets]
        # trial id -> (rung, config id) of trials handed out and not yet told
        self._running: dict[int, tuple[int, int]] = {}

    @property
    def rung_budgets(self) -> list[float]:
        """Budget of each rung, lowest first."""
        return list(self._budgets)

    def rung_sizes(self) -> list[int]:
        """Finished trials per rung."""
        return [len(r) for r in self._rungs]

    def _promotable(self, k: int) -> _Entry | None:
        """Best unpromoted success in the top ``floor(|rung k| / eta)`` of rung ``k``, if any."""
        rung = self._rungs[k]
        by_id = {e.trial_id: e for e in rung}
        order = promotion_order([(e.trial_id, e.objective) for e in rung])
        for entry in (by_id[t] for t in order[: len(rung) // self.eta]):
            if not entry.promoted and entry.objective is not None:
                return entry
        return None

    def _ask(self, trial_id: int) -> Suggestion:
        for k in range(len(self._budgets) - 2, -1, -1):
            entry = self._promotable(k)
            if entry is not None:
                entry.promoted = True
                self._running[trial_id] = (k + 1, entry.config_id)
                continue_from = entry.trial_id if self.continuation else None
                return Suggestion(trial_id, entry.config, self._budgets[k + 1], continue_from)
        config = self._propose(trial_id, self._budgets[0])
        self._running[trial_id] = (0, trial_id)
        return Suggestion(trial_id, config, self._budgets[0])

    def _tell(self, suggestion: Suggestion, objective: float | None) -> None:
        k, config_id = self._running.pop(suggestion.trial_id)
        self._rungs[k].append(_Entry(suggestion.trial_id, config_id, dict(suggestion.config), objective))
        self._observe(suggestion, objective)
