"""The recording design: a scrambled Sobol design, each configuration trained along the fidelity grid.

``DesignSearcher`` is the searcher behind ``hpbench record``. It proposes the
configurations ``first .. first + n_configs - 1`` of one scrambled Sobol design (Owen
1998; ``design_seed`` fixes it, the run seed does not move it, so runs of different
seeds record the same configurations) and trains each one as a continuation chain over
the fidelity levels (1 -> 3 -> 9 -> 27 epochs): level ``j`` of a configuration continues
from the checkpoint of its level ``j - 1``.

Chains are interleaved in blocks of ``chains``: all first levels of a block, then all
second levels, ... The trial order is a function of the schedule and of which steps
failed only (a failed step ends its chain), never of when results arrive, so several
trials of one run can be in flight on a pool or on Dask and a resumed run replays its
stored trials exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpbench.searchers.base import Searcher, check_int
from hpbench.searchers.gp.optimizer import sobol_points
from hpbench.space import Fidelity, SearchSpace
from hpbench.trial import Suggestion

__all__ = ["DesignSearcher", "fidelity_levels", "design_configs"]


def fidelity_levels(fidelity: Fidelity | None, eta: int = 3) -> list[float | None]:
    """The grid a recording trains along: ``low * eta^k`` below ``high``, then ``high``.

    ``[None]`` for a task without a fidelity (one full evaluation per configuration).

    Example:
        >>> fidelity_levels(Fidelity("epochs", 1, 27))
        [1, 3, 9, 27]
    """
    if fidelity is None:
        return [None]
    levels: list[float | None] = []
    b = float(fidelity.low)
    while b < fidelity.high * (1 - 1e-9):
        levels.append(fidelity.validate(round(b) if fidelity.integer else b))
        b *= eta
    levels.append(fidelity.high)
    return list(dict.fromkeys(levels))  # integer rounding may repeat a level


def design_configs(space: SearchSpace, n: int, design_seed: int = 0) -> list[dict[str, Any]]:
    """The first ``n`` configurations of the scrambled Sobol design of ``design_seed``.

    One design dimension per parameter, mapped through the prior like ``space.sample``.
    The first ``m`` configurations of the design of ``n`` are the design of ``m``.
    """
    # Always the prefix of one block of at least 2^16 points: the design of n is then a
    # prefix of the design of any larger n (up to 65,536).
    block = max(2**16, 2 ** math.ceil(math.log2(max(n, 1))))
    rng = np.random.default_rng(np.random.SeedSequence([design_seed, 0x5EC0]))
    u = sobol_points(block, len(space), rng)[:n]
    return [space.from_uniform(row.tolist()) for row in u]


@dataclass(frozen=True)
class _Step:
    config: int  # index into this searcher's configurations
    level: int  # index into the levels
    dep: int | None  # schedule index of the previous step of the same chain


def _schedule(n_configs: int, n_levels: int, chains: int) -> list[_Step]:
    steps: list[_Step] = []
    for start in range(0, n_configs, chains):
        block = range(start, min(start + chains, n_configs))
        first = len(steps)
        for j in range(n_levels):
            for i, c in enumerate(block):
                dep = None if j == 0 else first + (j - 1) * len(block) + i
                steps.append(_Step(c, j, dep))
    return steps


class DesignSearcher(Searcher):
    """Record a Sobol design along the fidelity grid (see the module docstring).

    Args:
        n_configs: configurations to record.
        first: index of the first one in the design (a seeded subset is ``first=0``).
        design_seed: which scrambled Sobol design.
        levels: fidelity levels of each chain; ``None`` = ``fidelity_levels(fidelity)``.
        chains: chains interleaved per block (enough to keep the workers of one run busy).
        extra: configurations recorded after the design's (e.g. those already in a store);
            their design index continues after ``first + n_configs``.
    """

    name = "design"

    def __init__(
        self,
        *,
        space: SearchSpace,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        n_configs: int = 100,
        first: int = 0,
        design_seed: int = 0,
        levels: Sequence[float] | None = None,
        chains: int = 16,
        extra: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        super().__init__(space=space, fidelity=fidelity, seed=seed)
        owner = type(self).__name__
        self.n_configs = check_int(owner, "n_configs", n_configs, minimum=1)
        self.first = check_int(owner, "first", first, minimum=0)
        self.design_seed = check_int(owner, "design_seed", design_seed, minimum=0)
        self.chains = check_int(owner, "chains", chains, minimum=1)
        if levels is None:
            grid = fidelity_levels(fidelity)
        elif fidelity is None:
            raise ValueError(f"{owner}: 'levels' needs a task with a fidelity, got {list(levels)!r}")
        else:
            grid = [fidelity.validate(b) for b in levels]
            if not grid or any(a >= b for a, b in zip(grid, grid[1:])):
                raise ValueError(
                    f"{owner}: rule 'levels increasing, at least one' broken, got {list(levels)!r}"
                )
        self.levels = None if levels is None else list(grid)
        self._grid = grid
        if extra is not None and (isinstance(extra, (str, Mapping)) or not isinstance(extra, Sequence)):
            raise TypeError(f"{owner}: 'extra' must be a list of configurations, got {extra!r}")
        self.extra = None if extra is None else [space.validate(c) for c in extra]
        self.configs = design_configs(space, self.first + self.n_configs, self.design_seed)[self.first :]
        self.configs += self.extra or []
        self._steps = _schedule(len(self.configs), len(grid), self.chains)
        self._pos = 0  # next schedule index to consider
        self._trial_of: dict[int, int] = {}  # schedule index -> trial id
        self._ok: dict[int, bool] = {}  # schedule index -> finished ok (absent: pending or skipped)
        self._skipped: set[int] = set()
        self._step_of: dict[int, int] = {}  # trial id -> schedule index

    def is_finished(self) -> bool:
        self._skip_failed_chains()
        return self._pos >= len(self._steps)

    def _skip_failed_chains(self) -> None:
        while self._pos < len(self._steps):
            dep = self._steps[self._pos].dep
            if dep is None or not (dep in self._skipped or self._ok.get(dep) is False):
                return
            self._skipped.add(self._pos)  # its chain failed earlier: nothing to continue
            self._pos += 1

    def _ask(self, trial_id: int) -> Suggestion | None:
        self._skip_failed_chains()
        if self._pos >= len(self._steps):
            return None
        step = self._steps[self._pos]
        if step.dep is not None and step.dep not in self._ok:
            return None  # the previous step of this chain is still running: wait
        self._trial_of[self._pos] = trial_id
        self._step_of[trial_id] = self._pos
        self._pos += 1
        continue_from = None if step.dep is None else self._trial_of[step.dep]
        return Suggestion(trial_id, self.configs[step.config], self._grid[step.level], continue_from)

    def _tell(self, suggestion: Suggestion, objective: float | None) -> None:
        self._ok[self._step_of[suggestion.trial_id]] = objective is not None

    def design_index(self, trial_id: int) -> int:
        """Index in the whole design of the configuration of ``trial_id``."""
        return self.first + self._steps[self._step_of[trial_id]].config
