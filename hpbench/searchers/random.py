"""Random search (Bergstra & Bengio, JMLR 2012): the baseline every comparison needs."""

from __future__ import annotations

from hpbench.searchers.base import Searcher
from hpbench.space import Fidelity, SearchSpace
from hpbench.trial import Suggestion

__all__ = ["RandomSearch"]


class RandomSearch(Searcher):
    """Independent draws from the prior, each at the top fidelity.

    Trial ``i`` depends only on ``(seed, i)``, so the sequence is the same however many
    asks are pending and after a resume. It ignores what it is told, so it runs on
    any number of objectives.
    """

    name = "random"
    multi_objective = True

    def __init__(
        self, *, space: SearchSpace, fidelity: Fidelity | None = None, seed: int = 0, n_objectives: int = 1
    ) -> None:
        super().__init__(space=space, fidelity=fidelity, seed=seed, n_objectives=n_objectives)

    def _ask(self, trial_id: int) -> Suggestion:
        config = self.space.sample(self.reused_rng(trial_id))
        budget = None if self.fidelity is None else self.fidelity.high
        return Suggestion(trial_id, config, budget)
