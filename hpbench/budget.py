"""The budget of one run: evaluations, cost in full-fidelity equivalents, seconds."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Budget"]


@dataclass(frozen=True)
class Budget:
    """Whichever limit is reached first ends the run.

    Attributes:
        max_evals: number of evaluations (each trial counts one, whatever its fidelity).
        max_cost: total cost in full-fidelity equivalents: an evaluation at the top
            fidelity costs 1; continuing from budget a to b costs (b - a) / high.
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
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"max_evals: must be an integer, got {v!r}")
            if v < 1:
                raise ValueError(f"max_evals: rule 'max_evals >= 1' broken, got {v!r}")
        for name in ("max_cost", "max_seconds"):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)):
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
