"""Adapter to SMAC3 (Lindauer et al., "SMAC3: A versatile Bayesian optimization package for
hyperparameter optimization", JMLR 2022) through its ask/tell interface.

Two facades:

- ``smac-bb``: ``BlackBoxFacade``, a Gaussian process (Matern-5/2 with fitted
  hyperparameters) with EI, for low-dimensional continuous problems.
- ``smac-hpo``: ``HyperparameterOptimizationFacade``, a random forest (Hutter, Hoos &
  Leyton-Brown, "Sequential model-based optimization for general algorithm
  configuration", LION 2011) with log-transformed costs and EI, for mixed and conditional
  spaces.

Both interleave random configurations and maximise the acquisition function by local
search around the best points plus random sampling. That makes a SMAC suggestion
expensive: measured by ``benchmarks/landscapes.py`` (one thread; ``hpbench list
searchers`` repeats the figure), ``smac-bb`` costs 1.4 s per suggestion (median over the suite's
runs of 20-100 evaluations) and ``smac-hpo`` 2 ms except one ask in 8, which refits the
forest and costs 1-5 s; ``gp-ei`` 0.027 s.

Behaviour worth knowing:

- SMAC is an optional extra: ``pip install hpbench[smac]``. The conversion of the search
  space to ConfigSpace lives here (``to_configspace``): log scales kept, categoricals over
  choice indices (so choices of any type round-trip), conditions as ``InCondition``.
- The scenario is deterministic (one evaluation per configuration, no intensification over
  seeds) with an unbounded trial count; the initial design is a Sobol design of
  ``n_initial`` points (``None`` = the facade's default of SMAC's own rule).
- Failed trials are told as ``StatusType.CRASHED`` with the worst cost seen so far (SMAC
  models crashed trials with that cost); failures before any success are told with cost 0
  as crashed, which SMAC's encoder then replaces as soon as a success exists.
- Objectives are clipped to +-1e100 as for every peer library (``clip_objective``).
- SMAC's optimiser holds a generator and cannot be pickled: a pickled searcher stores its
  ask/tell log and, when unpickled, rebuilds SMAC and replays the log (SMAC is
  deterministic given its seed), so it continues with exactly the suggestions the
  original would have made. The replay costs the asks again.
- SMAC writes its scenario to an output directory when it starts: a temporary directory,
  removed at once (``tell`` is called with ``save=False``; nothing else is written).
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from typing import Any

from hpbench.searchers.base import Searcher, check_choice, check_int, clip_objective
from hpbench.space import Categorical, Fidelity, Float, Int, SearchSpace
from hpbench.trial import Suggestion

__all__ = ["SmacSearcher", "SmacBB", "SmacHPO", "to_configspace"]

_FACADES = ("bb", "hpo")
_INSTALL = "SMAC3 is an optional extra: pip install 'hpbench[smac]'"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence SMAC's warnings and INFO lines (one per trial otherwise)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _smac() -> Any:
    try:
        import smac
    except ImportError as exc:
        raise ImportError(f"{_INSTALL} ({exc})") from None
    logging.getLogger("smac").setLevel(logging.ERROR)
    return smac


def to_configspace(space: SearchSpace, seed: int = 0) -> Any:
    """The ConfigSpace ``ConfigurationSpace`` of ``space`` (log scales, conditions kept).

    Categoricals become categoricals over the choice indices ``0..k-1``, so bool, int and
    str choices all round-trip exactly; ``from_configuration`` maps back.
    """
    import ConfigSpace as cs

    out = cs.ConfigurationSpace(seed=seed)
    hps: dict[str, Any] = {}
    for name, p in space.items():
        if isinstance(p, Float):
            hps[name] = cs.Float(name, (float(p.low), float(p.high)), log=p.log)
        elif isinstance(p, Int):
            hps[name] = cs.Integer(name, (int(p.low), int(p.high)), log=p.log)
        else:
            hps[name] = cs.Categorical(name, list(range(len(p.choices))))
    out.add(list(hps.values()))
    conditions = []
    for name, p in space.items():
        if p.active_if is not None:
            parent, values = p.active_if
            choices = space[parent].choices
            indices = [choices.index(v) for v in values]
            conditions.append(cs.InCondition(hps[name], hps[parent], indices))
    if conditions:
        out.add(conditions)
    return out


def from_configuration(space: SearchSpace, values: dict[str, Any]) -> dict[str, Any]:
    """An hpbench configuration from ConfigSpace values (active parameters only)."""
    config: dict[str, Any] = {}
    for name, p in space.items():
        if name not in values:
            continue
        v = values[name]
        if isinstance(p, Categorical):
            config[name] = p.choices[int(v)]
        elif isinstance(p, Int):
            config[name] = min(max(int(v), p.low), p.high)
        else:
            config[name] = min(max(float(v), float(p.low)), float(p.high))
    return config


class SmacSearcher(Searcher):
    """SMAC3 with the black-box (GP) or the hyperparameter-optimisation (random forest) facade.

    Args:
        space: the search space (any mix of Float, Int, Categorical, conditional or not).
        fidelity: the task's fidelity; every trial runs at its top (full-fidelity searcher).
        seed: SMAC's scenario seed.
        facade: ``"bb"`` (``BlackBoxFacade``) or ``"hpo"`` (``HyperparameterOptimizationFacade``).
        n_initial: size of the Sobol initial design; ``None`` = SMAC's default (8 per
            parameter for ``bb``, 10 per parameter for ``hpo``, at most 25% of the trials,
            which are unbounded here).
        n_trees: trees of the random forest (``hpo`` only; SMAC's default 10).

    Raises:
        ImportError: when SMAC3 is not installed (``pip install 'hpbench[smac]'``).
    """

    name = "smac"

    def __init__(
        self,
        *,
        space: SearchSpace,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        facade: str = "bb",
        n_initial: int | None = None,
        n_trees: int = 10,
    ) -> None:
        super().__init__(space=space, fidelity=fidelity, seed=seed)
        owner = type(self).__name__
        self.facade = check_choice(owner, "facade", facade, _FACADES)
        self.n_initial = None if n_initial is None else check_int(owner, "n_initial", n_initial, minimum=1)
        self.n_trees = check_int(owner, "n_trees", n_trees, minimum=1)
        _smac()
        self._log: list[tuple[int, float | None, bool]] = []  # (trial id, value, is_tell) in order
        self._start()

    # ------------------------------------------------------------------ SMAC state
    def _start(self) -> None:
        smac = _smac()
        cls = smac.BlackBoxFacade if self.facade == "bb" else smac.HyperparameterOptimizationFacade
        out = tempfile.mkdtemp(prefix="hpbench-smac-")
        try:
            with _quiet():
                scenario = smac.Scenario(
                    to_configspace(self.space, self.seed),
                    deterministic=True,
                    n_trials=2**31 - 1,
                    seed=self.seed,
                    output_directory=out,
                )
                kwargs: dict[str, Any] = {}
                if self.n_initial is not None:
                    kwargs["initial_design"] = cls.get_initial_design(scenario, n_configs=self.n_initial)
                if self.facade == "hpo":
                    kwargs["model"] = cls.get_model(scenario, n_trees=self.n_trees)
                self._opt = cls(scenario, target_function=None, overwrite=True, logging_level=40, **kwargs)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        self._infos: dict[int, Any] = {}  # trial id -> SMAC TrialInfo (pending)
        self._worst: float | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_opt"], state["_infos"], state["_worst"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._start()
        for trial_id, value, is_tell in self._log:  # SMAC is deterministic: replay the run
            if is_tell:
                self._tell_smac(trial_id, value)
            else:
                self._ask_smac(trial_id)

    def _ask_smac(self, trial_id: int) -> Any:
        with _quiet():
            info = self._opt.ask()
        self._infos[trial_id] = info
        return info

    def _tell_smac(self, trial_id: int, value: float | None) -> None:
        from smac.runhistory.dataclasses import TrialValue
        from smac.runhistory.enumerations import StatusType

        info = self._infos.pop(trial_id)
        if value is None:
            cost, status = (0.0 if self._worst is None else self._worst), StatusType.CRASHED
        else:
            cost, status = value, StatusType.SUCCESS
            self._worst = value if self._worst is None else max(self._worst, value)
        with _quiet():
            self._opt.tell(info, TrialValue(cost=cost, status=status), save=False)

    # -------------------------------------------------------------------- hooks
    def _ask(self, trial_id: int) -> Suggestion:
        info = self._ask_smac(trial_id)
        self._log.append((trial_id, None, False))
        config = from_configuration(self.space, dict(info.config))
        budget = None if self.fidelity is None else self.fidelity.high
        return Suggestion(trial_id, config, budget)

    def _tell(self, suggestion: Suggestion, objective: float | None) -> None:
        value = None if objective is None or not math.isfinite(objective) else clip_objective(objective)
        self._tell_smac(suggestion.trial_id, value)
        self._log.append((suggestion.trial_id, value, True))


class SmacBB(SmacSearcher):
    """SMAC3's BlackBoxFacade: a Gaussian process with EI (about a second per suggestion)."""

    name = "smac-bb"

    def __init__(
        self,
        *,
        space: SearchSpace,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        n_initial: int | None = None,
    ) -> None:
        super().__init__(space=space, fidelity=fidelity, seed=seed, facade="bb", n_initial=n_initial)


class SmacHPO(SmacSearcher):
    """SMAC3's HyperparameterOptimizationFacade: a random forest with EI (tenths of a second per ask)."""

    name = "smac-hpo"

    def __init__(
        self,
        *,
        space: SearchSpace,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        n_initial: int | None = None,
        n_trees: int = 10,
    ) -> None:
        super().__init__(
            space=space, fidelity=fidelity, seed=seed, facade="hpo", n_initial=n_initial, n_trees=n_trees
        )
