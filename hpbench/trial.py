"""Frozen records that flow between searchers, tasks, the runner and the store."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hpbench.checks import is_real

__all__ = ["TrialStatus", "Suggestion", "Evaluation", "TrialRecord"]


class TrialStatus(str, Enum):
    """Outcome of one trial. ``str`` values are what the store keeps."""

    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Suggestion:
    """What a searcher asks the runner to evaluate.

    Attributes:
        trial_id: number of the trial within its run, from 0, assigned by ``Searcher.ask``.
        config: parameter name -> value (inactive conditional parameters absent).
        budget: fidelity value to train to, or ``None`` for tasks without a fidelity.
        continue_from: ``trial_id`` of an earlier trial of the same config whose
            checkpoint this evaluation continues (promotions in Successive Halving);
            the runner then charges only the increment.
    """

    trial_id: int
    config: Mapping[str, Any]
    budget: float | None = None
    continue_from: int | None = None


@dataclass(frozen=True)
class Evaluation:
    """What a task returns.

    Attributes:
        objective: the validation loss, minimised. Never NaN for a successful trial.
        cost: cost in full-fidelity equivalents; ``None`` lets the runner compute it
            from the fidelity ((budget - start) / high, or 1 without a fidelity).
        metrics: everything the searcher must not see (test loss, accuracy, timings).
        checkpoint: opaque bytes that let a later evaluation continue training.
        seconds: the compute time this evaluation stands for, when it is not the time
            it took: a surrogate task's prediction of the real training time. The
            virtual clock advances by it; ``None`` (real tasks) means the measured time.
        objectives: for a task with several objectives, every objective's name -> value as
            the task reports it (see ``hpbench.objectives``); ``objective`` is then the
            first one as a loss. ``None`` for single-objective tasks.
    """

    objective: float
    cost: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    checkpoint: bytes | None = None
    seconds: float | None = None
    objectives: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        obj = self.objective
        if not is_real(obj):
            # A string or a flag is no measurement, even where float() would take it.
            if isinstance(obj, (str, bytes, bytearray, bool)) or "bool" in type(obj).__name__:
                raise TypeError(f"Evaluation: 'objective' must be a real number, got {self.objective!r}")
            try:
                obj = float(obj)  # numpy / torch scalars
            except (TypeError, ValueError):
                raise TypeError(f"Evaluation: 'objective' must be a number, got {self.objective!r}") from None
            object.__setattr__(self, "objective", obj)
        if self.cost is not None and (not math.isfinite(float(self.cost)) or float(self.cost) < 0):
            raise ValueError(f"Evaluation: rule 'cost >= 0 and finite' broken, got {self.cost!r}")
        if type(self.metrics) is not dict and not isinstance(self.metrics, Mapping):
            raise TypeError(f"Evaluation: 'metrics' must be a mapping, got {self.metrics!r}")
        if self.checkpoint is not None and not isinstance(self.checkpoint, (bytes, bytearray)):
            raise TypeError(f"Evaluation: 'checkpoint' must be bytes, got {type(self.checkpoint).__name__}")
        if self.objectives is not None:
            object.__setattr__(self, "objectives", _check_objective_values(self.objectives))


def _check_objective_values(values: Any) -> dict[str, float]:
    """``Evaluation.objectives``: a mapping of names to numbers (NaN allowed: the trial then fails)."""
    if not isinstance(values, Mapping):
        raise TypeError(f"Evaluation: 'objectives' must be a mapping of name -> number, got {values!r}")
    out = {}
    for k, v in values.items():
        if not isinstance(k, str) or isinstance(v, bool):
            raise TypeError(f"Evaluation: 'objectives' must map names to numbers, got {k!r}: {v!r}")
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            raise TypeError(f"Evaluation: 'objectives' must map names to numbers, got {k!r}: {v!r}") from None
    return out


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial as the store keeps it."""

    trial_id: int
    config: Mapping[str, Any]
    budget: float | None
    status: TrialStatus
    objective: float | None
    cost: float
    metrics: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    started: float = 0.0
    finished: float = 0.0
    queued: float | None = None
    worker: str | None = None
    cached: bool = False
    continue_from: int | None = None
    attempts: int = 1
    objectives: Mapping[str, float] | None = None  # name -> value, multi-objective tasks only
