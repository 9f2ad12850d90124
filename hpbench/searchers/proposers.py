"""Where multi-fidelity searchers get new configurations from: any full-fidelity searcher.

Successive Halving, Hyperband and ASHA are budget policies: they decide which
configuration trains to which budget, not which configurations to try. The *proposer*
supplies the new ones, and it is an ordinary registered searcher with
``needs_fidelity = False`` (a built-in such as ``"random"``, ``"gp-ei"``, ``"optuna-tpe"``
or ``"skopt-rf"``, or a plug-in), driven through its own ask/tell interface and nothing
else. That is the whole interface a proposer has to offer:

- every new configuration of a bracket is ``proposer.ask()`` (budget ignored);
- when that trial finishes, the proposer is told its objective with ``proposer.tell``
  (``None`` for a failure), exactly once;
- promotions are decided by the budget policy and never told to the proposer.

Objectives at different budgets are on different scales (a loss after 1 epoch is not a
loss after 81), so a proposer must only ever see one budget. Each *starting budget* gets
its own proposer instance: Successive Halving and ASHA start every configuration at the
same budget and have one; Hyperband has one per bracket (``s_max + 1``), each learning the
objective at the budget its bracket starts at. Instance ``k`` (the ``k``-th starting
budget met, from 0) is seeded from ``(seed, k)``.

``proposer="random"`` is the paper's Hyperband (Li et al., JMLR 2018). A model-based
proposer gives model-based Hyperband in the spirit of BOHB (Falkner, Klein & Hutter,
"BOHB: Robust and efficient hyperparameter optimization at scale", ICML 2018);
``hyperband:proposer=optuna-tpe`` is the closest, and it differs from BOHB in three ways:

1. BOHB fits one multivariate kernel density estimate on the *highest budget with enough
   observations*, promoted configurations' results included, and proposes for every
   bracket from it; here each bracket's proposer learns only from the configurations it
   proposed, at its own starting budget, because a searcher's ask/tell contract has no way
   to tell it about configurations it did not propose.
2. Optuna's TPE (Bergstra et al., NeurIPS 2011) models each parameter with its own
   univariate Parzen estimator by default (``sampler_params`` of the generic ``optuna``
   searcher can switch ``multivariate`` on); BOHB's KDE is multivariate.
3. BOHB proposes a fixed third of its configurations at random and widens the chosen
   KDE's bandwidth; TPE's own start-up trials and prior weight take that role here.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np

from hpbench.space import SearchSpace
from hpbench.trial import Suggestion

if TYPE_CHECKING:
    from hpbench.searchers.base import Searcher

__all__ = ["Proposals", "full_fidelity_searchers"]


def full_fidelity_searchers() -> list[str]:
    """Registered searchers that can propose: those with ``needs_fidelity = False``."""
    from hpbench.registry import get_searcher_class, searcher_names

    out = []
    for name in searcher_names():
        try:
            if not get_searcher_class(name).needs_fidelity:
                out.append(name)
        except Exception:  # noqa: BLE001 - a broken plug-in cannot propose, and must not hide the others
            continue
    return out


def _check_name(owner: str, name: Any) -> str:
    from hpbench.registry import get_searcher_class, searcher_names

    if not isinstance(name, str):
        raise TypeError(f"{owner}: 'proposer' must be a registered searcher name, got {name!r}")
    if name not in searcher_names():
        import difflib

        known = full_fidelity_searchers()
        hint = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
        suffix = f"; did you mean {hint[0]!r}?" if hint else ""
        raise ValueError(
            f"{owner}: rule 'proposer in full-fidelity searchers {known}' broken, got {name!r}{suffix}"
        )
    if get_searcher_class(name).needs_fidelity:
        raise ValueError(
            f"{owner}: rule 'proposer is a full-fidelity searcher (needs_fidelity False)' broken, "
            f"got {name!r}, itself a budget policy"
        )
    return name


def _check_params(owner: str, name: str, params: Any) -> dict[str, Any]:
    from hpbench.registry import check_searcher_params

    if params is None:
        return {}
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        raise TypeError(f"{owner}: 'proposer_params' must be a dict of parameters or None, got {params!r}")
    try:
        json.dumps(params)
    except (TypeError, ValueError):
        raise TypeError(
            f"{owner}: 'proposer_params' values must be JSON-serialisable (the store keeps them), "
            f"got {params!r}"
        ) from None
    try:
        check_searcher_params(name, params)
    except ValueError as exc:
        raise ValueError(f"{owner}: 'proposer_params' rejected: {exc}") from None
    return dict(params)


class Proposals:
    """The proposer instances of one budget policy, keyed by starting budget.

    Args:
        owner: name of the budget policy, for error messages.
        name: registry name of a full-fidelity searcher.
        params: its parameters (``None`` = defaults).
        space: the search space.
        seed: the policy's seed; instance ``k`` gets a seed derived from ``(seed, k)``.

    Raises:
        TypeError, ValueError: an unknown name, a searcher that needs a fidelity itself, or
            parameters the searcher refuses (checked by building the first instance now).
    """

    def __init__(self, owner: str, name: Any, params: Any, *, space: SearchSpace, seed: int) -> None:
        self.name = _check_name(owner, name)
        self.params = _check_params(owner, self.name, params)
        self._space = space
        self._seed = seed
        self._by_budget: dict[float, Searcher] = {}
        self._first = self._build(0)  # fails now, not at the first ask, on bad parameters
        self._asked: dict[int, tuple[Searcher, Suggestion]] = {}  # policy trial id -> (instance, its ask)

    def _build(self, index: int) -> Searcher:
        from hpbench.registry import make_searcher

        seed = int(np.random.SeedSequence([self._seed, index]).generate_state(1)[0])
        return make_searcher(self.name, space=self._space, fidelity=None, seed=seed, **self.params)

    def instance(self, budget: float) -> Searcher:
        """The proposer that learns the objective at starting budget ``budget``."""
        found = self._by_budget.get(float(budget))
        if found is None:
            index = len(self._by_budget)
            found = self._first if index == 0 else self._build(index)
            self._by_budget[float(budget)] = found
        return found

    def propose(self, trial_id: int, budget: float, rng: np.random.Generator) -> dict[str, Any]:
        """A new configuration for the policy's trial ``trial_id``, to start at ``budget``.

        A proposer that has nothing to offer now (``ask`` returns ``None``: it waits or has
        finished) is passed over: the configuration is drawn from the prior with ``rng``.
        """
        searcher = self.instance(budget)
        s = searcher.ask()
        if s is None:
            return self._space.sample(rng)
        self._asked[trial_id] = (searcher, s)
        return dict(s.config)

    def observe(self, trial_id: int, objective: float | None) -> None:
        """Tell the proposer of trial ``trial_id`` its objective; other trials are ignored."""
        entry = self._asked.pop(trial_id, None)
        if entry is not None:
            searcher, s = entry
            searcher.tell(s, objective)
