"""Adapter to Optuna's samplers through its ask-and-tell interface.

Each searcher owns one in-memory ``optuna.Study``. ``ask`` calls
``study.ask(distributions)`` for the parameters that are always active and then, define-by-run,
suggests each conditional parameter only when its parent takes an activating value, so Optuna
sees exactly the active parameters of every trial. ``tell`` finishes the trial by number; a
failed trial (objective ``None``) is told as ``TrialState.FAIL``, which Optuna's samplers leave
out of their models.

Several asks may be pending: Optuna handles running trials itself (TPE's ``constant_liar``
option, on by default, treats them as poor; GPSampler switches to q-batch log EI over them;
the other samplers' generators simply move on).

Importing Optuna through this module sets Optuna's logger to ERROR (its per-trial INFO lines and
independent-sampling warnings would otherwise flood a benchmark run).

The study (storage, sampler and its random state) pickles as it is, so a searcher pickled mid-run
continues with exactly the suggestions the original would have made.

Several objectives: on a multi-objective task (``n_objectives > 1``) the study is created
with one ``"minimize"`` direction per objective and told the loss vector, so TPE runs as
multi-objective TPE (Ozaki et al., "Multiobjective tree-structured Parzen estimator",
JAIR 2022), ``GPSampler`` with its multi-objective acquisition, and ``NSGAIISampler``
(Deb et al., "A fast and elitist multiobjective genetic algorithm: NSGA-II", IEEE TEVC
2002) as designed. CMA-ES takes one objective only and refuses several.

Samplers:
    TPE (Bergstra et al., "Algorithms for hyper-parameter optimization", NeurIPS 2011),
    GP with log EI (Optuna's ``GPSampler``), CMA-ES (Hansen, "The CMA evolution strategy:
    a tutorial", 2016), quasi-Monte Carlo (``QMCSampler``, scrambled Sobol by default) and
    random search.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import importlib.util
import inspect
import json
import threading
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from hpbench.searchers.base import Searcher, clip_objective
from hpbench.space import Categorical, Fidelity, Float, Int, Param, SearchSpace
from hpbench.trial import Suggestion

if TYPE_CHECKING:
    import optuna

__all__ = [
    "OptunaSearcher",
    "OptunaTPE",
    "OptunaGP",
    "OptunaCMAES",
    "OptunaNSGAII",
    "OptunaQMC",
    "OptunaRandom",
    "sampler_names",
    "to_distribution",
]

# Abstract bases that cannot sample on their own.
_ABSTRACT_SAMPLERS = frozenset({"BaseSampler", "BaseGASampler"})
# Optuna imports these lazily, at the first sample; check them when the searcher is built instead.
_SAMPLER_NEEDS = {"CmaEsSampler": "cmaes", "GPSampler": "torch", "QMCSampler": "scipy"}
_SINGLE_OBJECTIVE_SAMPLERS = frozenset({"CmaEsSampler"})


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence Optuna's Python warnings (experimental features, independent-sampling fallbacks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@functools.cache
def _optuna() -> Any:
    """Import Optuna on first use (``hpbench list`` must not pay for it) and quieten its logger."""
    import optuna

    # A benchmark runs thousands of trials; Optuna's per-trial INFO lines and fallback
    # WARNINGs (e.g. CMA-ES sampling categoricals independently) would drown the output.
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    return optuna


def sampler_names() -> list[str]:
    """Names of the concrete sampler classes in ``optuna.samplers``."""
    samplers = _optuna().samplers
    return sorted(
        n
        for n in dir(samplers)
        if n not in _ABSTRACT_SAMPLERS
        and isinstance(getattr(samplers, n), type)
        and issubclass(getattr(samplers, n), samplers.BaseSampler)
    )


def to_distribution(param: Param) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of one hpbench parameter (log scale kept)."""
    dist = _optuna().distributions
    if isinstance(param, Float):
        return dist.FloatDistribution(float(param.low), float(param.high), log=param.log)
    if isinstance(param, Int):
        return dist.IntDistribution(int(param.low), int(param.high), log=param.log)
    if isinstance(param, Categorical):
        return dist.CategoricalDistribution(param.choices)
    raise TypeError(f"to_distribution: 'param' must be Float, Int or Categorical, got {param!r}")


def _suggest(trial: optuna.Trial, name: str, param: Param) -> Any:
    """Suggest one parameter define-by-run through the public ``Trial.suggest_*`` API."""
    if isinstance(param, Float):
        return trial.suggest_float(name, float(param.low), float(param.high), log=param.log)
    if isinstance(param, Int):
        return trial.suggest_int(name, int(param.low), int(param.high), log=param.log)
    return trial.suggest_categorical(name, param.choices)


def _check_sampler(owner: str, sampler: Any) -> str:
    if not isinstance(sampler, str):
        raise TypeError(f"{owner}: 'sampler' must be a class name in optuna.samplers, got {sampler!r}")
    known = sampler_names()
    if sampler not in known:
        hint = difflib.get_close_matches(sampler, known, n=1, cutoff=0.5)
        suffix = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(known)})"
        raise ValueError(f"{owner}: rule 'sampler in optuna.samplers' broken, got {sampler!r}{suffix}")
    return sampler


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# Values Optuna takes unchecked and fails on (or misbehaves with) only at a later sample.
_VALUE_RULES: dict[str, tuple[str, Any]] = {
    "sigma0": ("sigma0 > 0", lambda v: _number(v) and v > 0),
    "popsize": ("popsize >= 1", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1),
    "n_startup_trials": ("n_startup_trials >= 0", lambda v: _number(v) and v >= 0),
    "n_ei_candidates": ("n_ei_candidates >= 1", lambda v: _number(v) and v >= 1),
}


def _check_sampler_params(owner: str, sampler: str, params: Any) -> dict[str, Any] | None:
    """Check keys against the sampler's signature and values for JSON (the store keeps them)."""
    if params is None:
        return None
    if not isinstance(params, Mapping):
        raise TypeError(
            f"{owner}: 'sampler_params' must be a dict of keyword arguments or None, got {params!r}"
        )
    params = dict(params)
    sig = inspect.signature(getattr(_optuna().samplers, sampler).__init__)
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    known = [n for n in sig.parameters if n != "self"]
    for key in params:
        if not isinstance(key, str):
            raise TypeError(f"{owner}: 'sampler_params' keys must be strings, got {key!r}")
        if key == "seed":
            raise ValueError(
                f"{owner}: 'sampler_params' must not set 'seed' (the searcher's seed is passed on), "
                f"got seed={params[key]!r}"
            )
        if not takes_any and key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            suffix = f"; did you mean {hint[0]!r}?" if hint else f" (takes: {', '.join(known)})"
            raise ValueError(f"{owner}: 'sampler_params' has unknown {sampler} argument {key!r}{suffix}")
        if key in sig.parameters:
            _check_like_default(owner, sampler, key, params[key], sig.parameters[key].default)
        rule = _VALUE_RULES.get(key)
        if rule is not None and params[key] is not None and not rule[1](params[key]):
            raise ValueError(f"{owner}: sampler_params rule '{rule[0]}' broken, got {key}={params[key]!r}")
    try:
        json.dumps(params)
    except (TypeError, ValueError):
        raise TypeError(
            f"{owner}: 'sampler_params' values must be JSON-serialisable so the run can be rebuilt "
            f"from the store, got {params!r}"
        ) from None
    return params


def _check_like_default(owner: str, sampler: str, key: str, value: Any, default: Any) -> None:
    """Optuna checks most argument types only at the first sample; catch the obvious ones now."""
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "True or False"
    elif isinstance(default, int):
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "a string"
    else:
        return
    if not ok:
        raise TypeError(f"{owner}: sampler_params[{key!r}] of {sampler} must be {kind}, got {value!r}")


def _make_sampler(owner: str, sampler: str, params: dict[str, Any] | None, seed: int) -> Any:
    needs = _SAMPLER_NEEDS.get(sampler)
    if needs is not None and importlib.util.find_spec(needs) is None:
        raise ImportError(
            f"{owner}: optuna.samplers.{sampler} needs the '{needs}' package: pip install {needs}"
        )
    cls = getattr(_optuna().samplers, sampler)
    kwargs = dict(params or {})
    if "seed" in inspect.signature(cls.__init__).parameters:
        kwargs["seed"] = seed
    try:
        with _quiet():
            return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{owner}: optuna.samplers.{sampler} rejected sampler_params={params!r}: {exc}"
        ) from None


_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


class OptunaSearcher(Searcher):
    """Any Optuna sampler, chosen by class name.

    Args:
        space: the search space; each parameter becomes an Optuna distribution (log kept).
        fidelity: the task's fidelity; every trial runs at its top (full-fidelity searcher).
        seed: passed to the sampler as ``seed`` when its constructor takes one.
        sampler: a class name in ``optuna.samplers``, e.g. ``"TPESampler"``, ``"GPSampler"``,
            ``"NSGAIISampler"``.
        sampler_params: keyword arguments of the sampler (JSON values only, no ``seed``), e.g.
            ``{"n_startup_trials": 5}``.

    Example:
        >>> s = OptunaSearcher(space=SearchSpace({"x": Float(0, 1)}), sampler="RandomSampler")
        >>> s.ask().config["x"] <= 1
        True
    """

    name = "optuna"
    multi_objective = True

    def __init__(
        self,
        *,
        space: SearchSpace,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        n_objectives: int = 1,
        sampler: str = "TPESampler",
        sampler_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(space=space, fidelity=fidelity, seed=seed, n_objectives=n_objectives)
        owner = self.name
        self.sampler = _check_sampler(owner, sampler)
        self.sampler_params = _check_sampler_params(owner, self.sampler, sampler_params)
        if self.n_objectives > 1 and self.sampler in _SINGLE_OBJECTIVE_SAMPLERS:
            raise ValueError(
                f"{owner}: optuna.samplers.{self.sampler} optimises one objective, got a task with "
                f"{self.n_objectives}; use --objective NAME or another sampler"
            )
        optuna = _optuna()
        self._study = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(),
            sampler=_make_sampler(owner, self.sampler, self.sampler_params, self.seed),
            directions=["minimize"] * self.n_objectives,
        )
        # Always-active parameters are asked in one go; conditional ones define-by-run.
        self._fixed = {n: to_distribution(p) for n, p in space.items() if p.active_if is None}
        self._conditional = [(n, p) for n, p in space.items() if p.active_if is not None]
        self._numbers: dict[int, int] = {}  # hpbench trial id -> Optuna trial number

    def __getstate__(self) -> dict[str, Any]:
        # Some samplers (the genetic ones: NSGA-II/III) hold a threading.Lock, which cannot be
        # pickled; the pickled copy drops it and the unpickled searcher gets a fresh one.
        state = self.__dict__.copy()
        sampler = self._study.sampler
        locks = [k for k, v in vars(sampler).items() if isinstance(v, _LOCK_TYPES)]
        if locks:
            study, sampler = copy.copy(self._study), copy.copy(sampler)
            for key in locks:
                setattr(sampler, key, None)
            study.sampler = sampler
            state["_study"] = study
        state["_sampler_locks"] = locks
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        locks = state.pop("_sampler_locks", [])
        self.__dict__.update(state)
        for key in locks:
            setattr(self._study.sampler, key, threading.Lock())

    def _ask(self, trial_id: int) -> Suggestion:
        with _quiet():
            trial = self._study.ask(self._fixed)
            values = dict(trial.params)
            for name, param in self._conditional:
                if self.space.is_active(name, values):
                    values[name] = _suggest(trial, name, param)
        self._numbers[trial_id] = trial.number
        config = {n: values[n] for n in self.space if n in values}
        budget = None if self.fidelity is None else self.fidelity.high
        return Suggestion(trial_id, config, budget)

    def _tell(self, suggestion: Suggestion, objective: float | None) -> None:
        number = self._numbers.pop(suggestion.trial_id)
        state = _optuna().trial.TrialState
        with _quiet():
            if objective is None:
                self._study.tell(number, state=state.FAIL)
            elif isinstance(objective, tuple):
                self._study.tell(number, [clip_objective(v) for v in objective])
            else:
                self._study.tell(number, clip_objective(objective))


class _FixedSampler(OptunaSearcher):
    """An ``OptunaSearcher`` whose sampler class is fixed by the subclass."""

    sampler_class: ClassVar[str] = "TPESampler"

    def __init__(
        self,
        *,
        space: SearchSpace,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        n_objectives: int = 1,
        sampler_params: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            space=space,
            fidelity=fidelity,
            seed=seed,
            n_objectives=n_objectives,
            sampler=self.sampler_class,
            sampler_params=sampler_params,
        )


class OptunaTPE(_FixedSampler):
    """Optuna's Tree-structured Parzen Estimator (Bergstra et al., NeurIPS 2011)."""

    name = "optuna-tpe"
    sampler_class = "TPESampler"


class OptunaGP(_FixedSampler):
    """Optuna's Gaussian-process sampler (log Expected Improvement)."""

    name = "optuna-gp"
    sampler_class = "GPSampler"


class OptunaCMAES(_FixedSampler):
    """Optuna's CMA-ES (Hansen 2016); categoricals are sampled independently (at random)."""

    name = "optuna-cmaes"
    sampler_class = "CmaEsSampler"
    multi_objective = False


class OptunaNSGAII(_FixedSampler):
    """Optuna's NSGA-II (Deb et al., IEEE TEVC 2002); Optuna's default population is 50."""

    name = "optuna-nsga2"
    sampler_class = "NSGAIISampler"


class OptunaQMC(_FixedSampler):
    """Optuna's quasi-Monte Carlo sampler (scrambled Sobol by default)."""

    name = "optuna-qmc"
    sampler_class = "QMCSampler"


class OptunaRandom(_FixedSampler):
    """Optuna's random sampler (a cross-check of hpbench's own random search)."""

    name = "optuna-random"
    sampler_class = "RandomSampler"
