"""A run's limits (``Budget``) and its accounting against them (``RunBudget``).

Words: a *budget* here is what a whole run may spend; the level one trial trains to is
its *fidelity level* (``Suggestion.budget`` in the task API, ``level`` inside the runner).

The accounting rules, each written once, in ``RunBudget``:

- **Cost.** A trial's nominal cost is ``Fidelity.cost`` (the affine cost model, with the
  task's ``overhead`` c0); a trial that does not continue from a checkpoint is charged from
  zero, whatever its searcher asked. A task's own ``Evaluation.cost`` replaces the nominal
  cost when the trial settles. Every trial is charged at least ``min_cost`` (see
  ``MIN_COST``): a task that reports ``cost=0`` cannot keep a cost budget open forever.
- **No overshoot.** A trial starts only if its nominal cost fits in what is left of
  ``max_cost`` after the settled trials and the trials in flight; the first one that does
  not fit ends the run (``closed``).
- **Evaluations and seconds.** Each started trial counts one evaluation, whatever its
  fidelity; the run's seconds are its trials' run times plus its searcher's own ask/tell
  time.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from hpbench.checks import is_integer, is_real

if TYPE_CHECKING:
    from hpbench.space import Fidelity

__all__ = ["Budget", "RunBudget", "MIN_COST"]

# Smallest charge of one trial, in full-fidelity equivalents (lowered to the cost of one
# lowest-fidelity trial from scratch for tasks whose fidelity axis is finer than that).
# A run under max_cost therefore holds at most max_cost / min_cost trials.
MIN_COST = 1e-3
_EPS = 1e-9  # float rounding of summed costs: 9 x 9/81 fits in a budget of 1


@dataclass(frozen=True)
class Budget:
    """The limits of one run; whichever is reached first ends it.

    Attributes:
        max_evals: number of evaluations (each trial counts one, whatever its fidelity).
        max_cost: total cost in full-fidelity equivalents (``Fidelity.cost``: a
            top-fidelity evaluation from scratch costs 1). No trial starts that would
            take the run over it.
        max_seconds: time spent by the run: its trials' run times plus the searcher's
            own ask/tell time (not wall-clock, so it does not depend on how many other
            runs share the workers).
    """

    max_evals: int | None = None
    max_cost: float | None = None
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.max_evals is None and self.max_cost is None and self.max_seconds is None:
            raise ValueError(
                "budget: rule 'set at least one of max_evals, max_cost, max_seconds' broken, got none"
            )
        if self.max_evals is not None:
            v = self.max_evals
            if not is_integer(v):
                raise TypeError(f"max_evals: must be an integer, got {v!r}")
            if v < 1:
                raise ValueError(f"max_evals: rule 'max_evals >= 1' broken, got {v!r}")
            object.__setattr__(self, "max_evals", int(v))
        for name in ("max_cost", "max_seconds"):
            v = getattr(self, name)
            if v is None:
                continue
            if not is_real(v):
                raise TypeError(f"{name}: must be a number, got {v!r}")
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name}: rule '{name} > 0 and finite' broken, got {v!r}")
            object.__setattr__(self, name, float(v))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Budget:
        known = {"max_evals", "max_cost", "max_seconds"}
        for k in data:
            if k not in known:
                raise ValueError(f"budget: unknown key {k!r} (known: {sorted(known)})")
        return cls(**dict(data))

    def describe(self) -> str:
        parts = []
        if self.max_evals is not None:
            parts.append(f"{self.max_evals} evals")
        if self.max_cost is not None:
            parts.append(f"cost {self.max_cost:g}")
        if self.max_seconds is not None:
            parts.append(f"{self.max_seconds:g} s")
        return ", ".join(parts)


class RunBudget:
    """What one run has spent, and has in flight, against its limits: the run's one ledger.

    Args:
        limits: the run's ``Budget``.
        fidelity: the task's fidelity axis, or ``None`` (every trial then costs 1).
        overhead: the task's fixed per-trial overhead c0, in fidelity units.
        cost_factor: the task's ``cost_factor(config)`` (``None``: every configuration 1).

    Attributes:
        started: trials started (what ``max_evals`` counts).
        spent: settled cost of the finished trials.
        seconds: the run's time so far (trials plus the searcher's own time).
        closed: a trial did not fit in what was left: the run starts no other.
        min_cost: the least any trial is charged.
    """

    def __init__(
        self,
        limits: Budget,
        fidelity: Fidelity | None = None,
        overhead: float = 0.0,
        cost_factor: Callable[[Mapping[str, Any]], float] | None = None,
    ) -> None:
        self.limits = limits
        self.fidelity = fidelity
        self.overhead = float(overhead)
        self.cost_factor = cost_factor
        self.started = 0
        self.spent = 0.0
        self.seconds = 0.0
        self.closed = False
        self._reserved: dict[int, float] = {}
        self._in_flight = 0.0
        low = MIN_COST if fidelity is None else fidelity.cost(fidelity.low, 0.0, self.overhead)
        self.min_cost = min(MIN_COST, low)

    def trial_cost(
        self, level: float | None, start: float | None, config: Mapping[str, Any] | None = None
    ) -> float:
        """Nominal cost of training ``config`` to ``level`` from a checkpoint at ``start``
        (``None``: from zero): its share of a full evaluation times the task's cost factor."""
        share = 1.0
        if self.fidelity is not None and level is not None:
            share = self.fidelity.cost(level, start or 0.0, self.overhead)
        if self.cost_factor is not None and config is not None:
            factor = self.cost_factor(config)
            if not is_real(factor) or not 0 < float(factor) < math.inf:
                raise ValueError(
                    f"cost_factor: rule 'a finite number > 0' broken, got {factor!r} for {dict(config)!r}"
                )
            share *= float(factor)
        return max(share, self.min_cost)

    @property
    def reserved(self) -> float:
        """Nominal cost of the trials in flight."""
        return self._in_flight

    def left(self) -> float | None:
        """Cost left for new trials (``None`` without a cost limit)."""
        if self.limits.max_cost is None:
            return None
        return self.limits.max_cost - self.spent - self._in_flight

    def exhausted(self) -> bool:
        """True when no further trial may start (a limit reached, or the run closed)."""
        b = self.limits
        if self.closed:
            return True
        if b.max_evals is not None and self.started >= b.max_evals:
            return True
        left = self.left()
        if left is not None and left < self.min_cost - _EPS:
            return True
        return b.max_seconds is not None and self.seconds >= b.max_seconds

    def reserve(self, trial_id: int, cost: float) -> bool:
        """Start trial ``trial_id`` of nominal ``cost`` if it fits; else close the run and say False."""
        left = self.left()
        if left is not None and cost > left + _EPS:
            self.closed = True
            return False
        self.started += 1
        self._reserved[trial_id] = cost
        self._in_flight += cost
        return True

    def settle(self, trial_id: int, cost: float | None) -> float:
        """Trial ``trial_id`` finished: charge ``cost`` (``None``: its reserved cost); return the charge."""
        reserved = self._reserved.pop(trial_id)
        self._in_flight = max(0.0, self._in_flight - reserved) if self._reserved else 0.0
        charged = reserved if cost is None else max(float(cost), self.min_cost)
        self.spent += charged
        return charged

    def charge(self, *, cost: float = 0.0, seconds: float = 0.0, started: int = 0) -> None:
        """Add what was spent outside a reservation: a replayed trial, the searcher's own time."""
        self.started += started
        self.spent += cost
        self.seconds += seconds
