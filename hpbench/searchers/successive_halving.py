"""Successive Halving (Jamieson & Talwalkar, AISTATS 2016) and the rung schedule it shares
with Hyperband and ASHA.

Successive Halving starts ``n`` configurations at a small budget, keeps the best ``1/eta``
of them, multiplies their budget by ``eta``, and repeats until the survivors reach the top
budget. We use the rung layout of Hyperband's inner loop (Li et al., JMLR 2018): bracket
``s`` has rungs ``i = 0..s`` with ``n_i = floor(n * eta^-i)`` configurations trained to
``r_i = R * eta^(i - s)``.

Glossary: ``R`` = top budget (``fidelity.high``), ``r_min`` = lowest budget allowed,
``eta`` = reduction factor, ``s`` = bracket index (number of reductions), ``s_max`` =
largest bracket that fits in ``[r_min, R]``, ``(n_i, r_i)`` = size and budget of rung ``i``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hpbench.searchers.base import Searcher, check_float, check_int
from hpbench.searchers.mo_promotion import first_objective, promotion_order
from hpbench.searchers.proposers import Proposals
from hpbench.space import Fidelity, SearchSpace
from hpbench.trial import Suggestion

__all__ = [
    "HalvingSearcher",
    "SuccessiveHalving",
    "SynchronousBrackets",
    "max_bracket",
    "rung_budgets",
    "bracket_rungs",
]

# Relative slack when comparing r_min * eta^s with R, so that e.g. 0.1 * 10 <= 1.0 holds.
_REL_TOL = 1e-9
# Stream of ``rng_for`` used to propose new configurations (0 stays free for subclasses).
PROPOSE_STREAM = 1


def max_bracket(r_min: float, r_max: float, eta: int) -> int:
    """``s_max = floor(log_eta(R / r_min))``, computed without floating-point log error."""
    if not (0 < r_min < r_max and isinstance(eta, int) and eta >= 2):
        raise ValueError(
            f"max_bracket: rule '0 < r_min < r_max and integer eta >= 2' broken, got "
            f"r_min={r_min!r}, r_max={r_max!r}, eta={eta!r}"
        )
    s = 0
    while r_min * eta ** (s + 1) <= r_max * (1 + _REL_TOL):
        s += 1
    return s


def _snap(value: float, fidelity: Fidelity, r_min: float) -> float:
    """Put a budget on the fidelity grid: nearest integer for integer fidelities, inside [r_min, R]."""
    if fidelity.integer:
        value = math.floor(value + 0.5)
    value = min(max(value, r_min), fidelity.high)
    return int(value) if fidelity.integer else float(value)


def rung_budgets(s: int, fidelity: Fidelity, r_min: float, eta: int) -> list[float]:
    """Budgets ``r_i = R * eta^(i - s)`` of the ``s + 1`` rungs of bracket ``s``, snapped to the grid."""
    r_max = float(fidelity.high)
    budgets = [_snap(r_max / eta ** (s - i), fidelity, r_min) for i in range(s + 1)]
    # eta >= 2 and r_0 >= r_min > 0 keep consecutive budgets at least r_0 apart, and
    # rounding moves each by at most 1/2, so promotions always train further.
    assert all(a < b for a, b in zip(budgets, budgets[1:])), budgets
    return budgets


def bracket_rungs(s: int, n: int, fidelity: Fidelity, r_min: float, eta: int) -> list[tuple[int, float]]:
    """Rungs ``(n_i, r_i)`` of a bracket that starts ``n`` configurations and reduces ``s`` times.

    ``n_i = floor(n / eta^i)`` (at least 1, so a small ``n`` still reaches the top budget).
    """
    return [(max(1, n // eta**i), r) for i, r in enumerate(rung_budgets(s, fidelity, r_min, eta))]


def check_min_budget(owner: str, fidelity: Fidelity, min_budget: Any, eta: int) -> float:
    """Validate ``min_budget`` (``None`` = ``fidelity.low``) and that one reduction by ``eta`` fits."""
    if min_budget is None:
        r_min = float(fidelity.low)
    else:
        r_min = check_float(owner, "min_budget", min_budget, minimum=0.0, strict=True)
        if not fidelity.low <= r_min < fidelity.high:
            raise ValueError(
                f"{owner}: rule 'fidelity.low <= min_budget < fidelity.high' broken, "
                f"got min_budget={min_budget!r} for {fidelity.name} in [{fidelity.low}, {fidelity.high}]"
            )
    if r_min * eta > fidelity.high * (1 + _REL_TOL):
        raise ValueError(
            f"{owner}: rule 'min_budget * eta <= fidelity.high' broken (no room for one promotion), got "
            f"min_budget={r_min:g}, eta={eta}, {fidelity.name} up to {fidelity.high}"
        )
    return r_min


@dataclass
class _Bracket:
    """Progress of one synchronous bracket (mutable state, plain data so it pickles)."""

    rungs: list[tuple[int, float]]
    level: int = 0
    # Promotions waiting to be handed out at ``level`` > 0: (config, trial id it continues).
    todo: list[tuple[dict[str, Any], int]] = field(default_factory=list)
    quota: int = 0
    handed: int = 0
    outstanding: set[int] = field(default_factory=set)
    results: list[tuple[int, dict[str, Any], float | None]] = field(default_factory=list)
    done: bool = False

    def __post_init__(self) -> None:
        self.quota = self.rungs[0][0]

    @property
    def budget(self) -> float:
        return self.rungs[self.level][1]


class HalvingSearcher(Searcher):
    """Base of the budget policies (``sh``, ``hyperband``, ``asha``): their shared parameters
    and their proposer.

    New configurations come from ``proposer``, any full-fidelity searcher, through its
    ask/tell interface (see ``hpbench.searchers.proposers``); subclasses call
    ``_propose`` for every new configuration and ``_observe`` for every finished trial.

    Args:
        eta: reduction factor, >= 2.
        min_budget: lowest budget; ``None`` = ``fidelity.low``.
        proposer: registry name of a full-fidelity searcher: ``"random"`` (the papers'
            choice), ``"gp-ei"``, ``"optuna-tpe"`` (BOHB-like), a plug-in, ...
        proposer_params: that searcher's parameters, ``None`` = its defaults.
        continuation: promotions continue the checkpoint of the previous rung; ``False``
            retrains from scratch (for comparisons).
    """

    needs_fidelity = True
    multi_objective = True  # several objectives: promotion by mo_promotion.promotion_order
    fidelity: Fidelity

    def __init__(
        self,
        *,
        space: SearchSpace,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        eta: int = 3,
        min_budget: float | None = None,
        proposer: str = "random",
        proposer_params: dict[str, Any] | None = None,
        continuation: bool = True,
        n_objectives: int = 1,
    ) -> None:
        super().__init__(space=space, fidelity=fidelity, seed=seed, n_objectives=n_objectives)
        owner = type(self).__name__
        self.eta = check_int(owner, "eta", eta, minimum=2)
        self.min_budget = min_budget
        self._r_min = check_min_budget(owner, self.fidelity, min_budget, self.eta)
        if not isinstance(continuation, bool):
            raise TypeError(f"{owner}: 'continuation' must be True or False, got {continuation!r}")
        self.continuation = continuation
        self._proposals = Proposals(owner, proposer, proposer_params, space=space, seed=self.seed)
        self.proposer = self._proposals.name
        self.proposer_params = dict(self._proposals.params) if proposer_params is not None else None

    def _propose(self, trial_id: int, budget: float) -> dict[str, Any]:
        """A new configuration from the proposer of starting budget ``budget``."""
        return self._proposals.propose(trial_id, budget, self.rng_for(trial_id, PROPOSE_STREAM))

    def _observe(self, suggestion: Suggestion, objective: Any) -> None:
        """Tell the proposer the result of a configuration it proposed (promotions are ignored).

        With several objectives the proposer (a full-fidelity searcher) learns the first.
        """
        self._proposals.observe(suggestion.trial_id, first_objective(objective))


class SynchronousBrackets(HalvingSearcher):
    """Runs brackets of Successive Halving one after the other; subclasses choose the brackets.

    A rung is complete when all its trials are told; only then are its best ``n_{i+1}``
    promoted. While trials of an incomplete rung are pending, ``ask`` returns ``None``.
    Failed trials rank last and are never promoted (there is no checkpoint to continue,
    and retraining a failing configuration would most likely fail again); if a rung has
    fewer successes than promotion slots, only the successes go on.
    """

    synchronous = True

    def __init__(self, *, max_iterations: int | None = None, **params: Any) -> None:
        """``max_iterations``: iterations (see ``_brackets_per_iteration``), ``None`` = until the
        budget ends; ``params``: those of ``HalvingSearcher``."""
        super().__init__(**params)
        self._s_max = max_bracket(self._r_min, float(self.fidelity.high), self.eta)
        if max_iterations is not None:
            max_iterations = check_int(self.name, "max_iterations", max_iterations, minimum=1)
        self.max_iterations = max_iterations
        self._bracket: _Bracket | None = None
        self._n_started = 0  # brackets started so far

    # ------------------------------------------------------------- for subclasses
    def _brackets_per_iteration(self) -> int:
        """How many brackets make one iteration (``max_iterations`` counts iterations)."""
        return 1

    def _bracket_schedule(self, index: int) -> list[tuple[int, float]]:
        """Rungs ``(n_i, r_i)`` of the ``index``-th bracket of the run (from 0)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ machinery
    def _bracket_limit(self) -> int | None:
        return None if self.max_iterations is None else self.max_iterations * self._brackets_per_iteration()

    def is_finished(self) -> bool:
        limit = self._bracket_limit()
        current_over = self._bracket is None or self._bracket.done
        return limit is not None and current_over and self._n_started >= limit

    def _ask(self, trial_id: int) -> Suggestion | None:
        if self._bracket is None or self._bracket.done:
            self._bracket = _Bracket(self._bracket_schedule(self._n_started))
            self._n_started += 1
        b = self._bracket
        if b.handed >= b.quota:
            return None  # wait for the rung to complete
        continue_from: int | None = None
        if b.level == 0:
            config = self._propose(trial_id, b.budget)
        else:
            config, source = b.todo[b.handed]
            continue_from = source if self.continuation else None
        b.handed += 1
        b.outstanding.add(trial_id)
        return Suggestion(trial_id, config, b.budget, continue_from)

    def _tell(self, suggestion: Suggestion, objective: float | None) -> None:
        b = self._bracket
        # Internal invariant: the base class only passes pending trials, all of the current bracket.
        assert b is not None and suggestion.trial_id in b.outstanding, "a synchronous bracket runs alone"
        b.outstanding.discard(suggestion.trial_id)
        b.results.append((suggestion.trial_id, dict(suggestion.config), objective))
        self._observe(suggestion, objective)
        if b.handed == b.quota and not b.outstanding:
            self._complete_rung(b)

    def _complete_rung(self, b: _Bracket) -> None:
        if b.level == len(b.rungs) - 1:
            b.done = True
            return
        n_next = b.rungs[b.level + 1][0]
        results = {tid: (config, y) for tid, config, y in b.results}
        ranked = promotion_order([(tid, y) for tid, (_, y) in results.items()])
        chosen = [(results[tid][0], tid) for tid in ranked[:n_next] if results[tid][1] is not None]
        if not chosen:
            b.done = True  # every trial of the rung failed
            return
        b.level += 1
        b.todo, b.quota, b.handed, b.results = chosen, len(chosen), 0, []


class SuccessiveHalving(SynchronousBrackets):
    """Successive Halving (Jamieson & Talwalkar, AISTATS 2016), one bracket repeated.

    Each bracket starts ``n_configs`` new configurations at ``R * eta^-s_max`` (the lowest
    budget in ``[min_budget, R]`` on the ``eta`` grid), keeps the best ``1/eta`` at each
    rung, and trains the survivors up to the top fidelity. Brackets repeat until the
    runner's budget ends or ``max_iterations`` brackets are done.

    Args:
        eta: reduction factor (keep the best ``1/eta``, multiply budgets by ``eta``), >= 2.
        n_configs: configurations started per bracket; ``None`` = ``eta^s_max`` (one survivor
            at the top, as in Hyperband's most aggressive bracket).
        min_budget: lowest budget to train to; ``None`` = ``fidelity.low``.
        max_iterations: number of brackets, ``None`` = repeat until the budget ends.
        proposer: any full-fidelity searcher (``"random"`` = prior samples, ``"gp-ei"``,
            ``"optuna-tpe"``, ...), see ``hpbench.searchers.proposers``.
        proposer_params: the proposer's parameters, ``None`` = its defaults.
        continuation: promotions continue the checkpoint of the previous rung; ``False``
            retrains from scratch (for comparisons).

    Example:
        >>> from hpbench.tasks.synthetic import Hartmann
        >>> task = Hartmann(dim=6, multi_fidelity=True)
        >>> sh = SuccessiveHalving(space=task.space, fidelity=task.fidelity, eta=3)
        >>> [sh.ask().budget for _ in range(2)]
        [1, 1]
    """

    name = "sh"

    def __init__(self, *, n_configs: int | None = None, **params: Any) -> None:
        super().__init__(**params)
        if n_configs is not None:
            n_configs = check_int(self.name, "n_configs", n_configs, minimum=1)
        self.n_configs = n_configs
        n = self.eta**self._s_max if n_configs is None else n_configs
        self._rungs = bracket_rungs(self._s_max, n, self.fidelity, self._r_min, self.eta)

    def _bracket_schedule(self, index: int) -> list[tuple[int, float]]:
        return list(self._rungs)

    @property
    def rungs(self) -> list[tuple[int, float]]:
        """The bracket's rungs ``(n_i, r_i)``."""
        return list(self._rungs)
