"""Where multi-fidelity searchers get new configurations from.

Successive Halving, Hyperband and ASHA are budget policies: they decide which
configuration trains to which budget, not which configurations to try. A proposer
supplies the new ones:

- ``"random"``: draws from the prior of the search space (Li et al., JMLR 2018).
- ``"gp-ei"``: model-based Hyperband in the spirit of BOHB (Falkner et al., ICML 2018),
  with a Gaussian process and Expected Improvement in place of the TPE model: the GP is
  fitted on the highest budget that has at least ``D + 2`` successful observations
  (``D`` = encoded width of the space) and proposes where EI is highest; until some
  budget has that many, configurations are drawn from the prior.

The GP lives in ``hpbench.searchers.gp`` and is imported only when ``"gp-ei"`` proposes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpbench.space import SearchSpace
from hpbench.trial import Suggestion

__all__ = ["PROPOSERS", "Proposer", "RandomProposer", "GPEIProposer", "make_proposer"]

PROPOSERS: tuple[str, ...] = ("random", "gp-ei")


class Proposer(ABC):
    """Proposes new configurations; may learn from every finished trial at any budget."""

    def __init__(self, *, space: SearchSpace) -> None:
        self.space = space

    @abstractmethod
    def propose(self, rng: np.random.Generator) -> dict[str, Any]:
        """A new configuration; all randomness comes from ``rng``."""

    def observe(self, config: Mapping[str, Any], budget: float, objective: float | None) -> None:  # noqa: B027
        """Learn that ``config`` trained to ``budget`` scored ``objective`` (``None`` = failed)."""


class RandomProposer(Proposer):
    """Samples the prior of the search space."""

    def propose(self, rng: np.random.Generator) -> dict[str, Any]:
        return self.space.sample(rng)


class GPEIProposer(Proposer):
    """A GP with Expected Improvement fitted on the highest budget with enough data.

    Only that budget's observations are used, as in BOHB: objectives at different budgets
    are on different scales, and the highest well-populated budget is the best proxy of
    the top fidelity.

    Args:
        space: the search space.
        min_points: observations a budget needs before its model is used; ``None`` = ``D + 2``.
    """

    def __init__(self, *, space: SearchSpace, min_points: int | None = None) -> None:
        super().__init__(space=space)
        self.min_points = space.width + 2 if min_points is None else min_points
        # budget -> [(config, objective)] in the order told; failures are kept for the GP.
        self.observations: dict[float, list[tuple[dict[str, Any], float | None]]] = {}

    def observe(self, config: Mapping[str, Any], budget: float, objective: float | None) -> None:
        self.observations.setdefault(float(budget), []).append((dict(config), objective))

    def model_budget(self) -> float | None:
        """The budget the next proposal's model is fitted on, or ``None`` (sample the prior)."""
        ready = [
            b for b, obs in self.observations.items() if sum(y is not None for _, y in obs) >= self.min_points
        ]
        return max(ready) if ready else None

    def propose(self, rng: np.random.Generator) -> dict[str, Any]:
        budget = self.model_budget()
        if budget is None:
            return self.space.sample(rng)
        seed = int(rng.integers(2**31 - 1))
        return gp_ei_propose(self.space, self.observations[budget], seed=seed)


def gp_ei_propose(
    space: SearchSpace, observations: list[tuple[dict[str, Any], float | None]], *, seed: int
) -> dict:
    """Fit a fresh ``GPEISearcher`` on ``observations`` and return its next configuration.

    A fresh searcher per proposal keeps the proposer stateless apart from its data (so it
    pickles and replays exactly); the observations are registered as if the searcher had
    proposed them, without running its acquisition for each.
    """
    from hpbench.searchers.gp.searcher import GPEISearcher  # heavy, and optional until asked for

    gp = GPEISearcher(space=space, seed=seed)
    for config, objective in observations:
        s = Suggestion(gp._next_id, config)
        # Registering a pending suggestion by hand skips one acquisition optimisation per
        # past observation; ``tell`` then does its normal bookkeeping.
        gp._pending[s.trial_id] = s
        gp._next_id += 1
        gp.tell(s, objective)
    s = gp.ask()
    assert s is not None, "GPEISearcher always proposes"
    return dict(s.config)


def make_proposer(name: str, *, space: SearchSpace) -> Proposer:
    """Build the proposer called ``name`` (one of ``PROPOSERS``)."""
    if name == "random":
        return RandomProposer(space=space)
    if name == "gp-ei":
        return GPEIProposer(space=space)
    raise ValueError(f"proposer: rule 'name in {list(PROPOSERS)}' broken, got {name!r}")
