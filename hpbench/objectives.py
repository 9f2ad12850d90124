"""Several objectives per task: their declaration and the one rule that turns values into losses.

A task declares its objectives as a tuple of :class:`Objective` (name, direction). The
first is the task's *default* single objective: ``Evaluation.objective`` is its value
as a loss, so every single-objective searcher still runs on a multi-objective task.
``Evaluation.objectives`` maps every objective's name to its value as the task reports
it (a MAC count, an accuracy); the store keeps those, and ``load_results`` shows them
as ``objective.<name>`` columns.

Everything that compares objective vectors (multi-objective searchers, hypervolume,
attainment) sees them through :func:`as_losses`: minimised objectives as they are,
maximised ones negated. Nothing else flips signs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Objective",
    "DIRECTIONS",
    "REFERENCE_POINT",
    "check_objectives",
    "as_losses",
    "searcher_feedback",
]

DIRECTIONS = ("min", "max")
# Hypervolume is measured in objectives normalised to [0, 1] (ideal -> 0, nadir -> 1)
# from this reference point in every coordinate: points on the nadir's faces still count.
REFERENCE_POINT = 1.1


@dataclass(frozen=True)
class Objective:
    """One objective of a task.

    Attributes:
        name: identifier (the store's ``objective.<name>`` column); letters, digits, ``_``.
        direction: ``"min"`` (a loss, a size, a time) or ``"max"`` (an accuracy).
    """

    name: str
    direction: str = "min"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or not self.name.replace("_", "a").isalnum():
            raise ValueError(f"Objective: rule 'name is letters, digits and _' broken, got {self.name!r}")
        if self.direction not in DIRECTIONS:
            raise ValueError(
                f"Objective: rule 'direction in {list(DIRECTIONS)}' broken, got {self.direction!r}"
            )

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "direction": self.direction}


def check_objectives(owner: str, objectives: Any) -> tuple[Objective, ...]:
    """Validate a declaration: a sequence of ``Objective`` (or dicts), names unique."""
    if objectives is None:
        return ()
    if isinstance(objectives, (str, bytes)) or not isinstance(objectives, Sequence):
        raise TypeError(f"{owner}: 'objectives' must be a sequence of Objective, got {objectives!r}")
    out = tuple(o if isinstance(o, Objective) else Objective(**o) for o in objectives)
    names = [o.name for o in out]
    if len(set(names)) != len(names):
        raise ValueError(f"{owner}: rule 'objective names unique' broken, got {names}")
    return out


def as_losses(objectives: Sequence[Objective], values: Mapping[str, Any] | None) -> tuple[float, ...] | None:
    """The objective vector as losses (maximised objectives negated), in declaration order.

    Returns ``None`` when ``values`` is missing, lacks an objective, or holds a value that
    is not a finite number: such a trial has no point in objective space.
    """
    if values is None:
        return None
    out = []
    for o in objectives:
        v = values.get(o.name)
        if v is None or isinstance(v, bool):
            return None
        try:
            v = float(v)
        except (TypeError, ValueError):
            return None
        if not math.isfinite(v):
            return None
        out.append(-v if o.direction == "max" else v)
    return tuple(out)


def searcher_feedback(
    n_objectives: int, objectives: Sequence[Objective], ok: bool, objective: float | None, values: Any
) -> float | tuple[float, ...] | None:
    """What a searcher is told about one finished trial.

    A searcher built with ``n_objectives > 1`` gets the loss vector (``None`` for a failed
    trial or one without every objective); any other gets the scalar default objective.
    """
    if not ok:
        return None
    if n_objectives <= 1:
        return objective
    return as_losses(objectives, values)
