"""The contract every registered searcher keeps, checked over ``registry.searcher_names()``.

Searchers added later (built-in or plug-in) are checked automatically. A searcher that
cannot be imported makes its tests fail, not skip.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import pickle
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from conftest import mixed_task

from hpbench.registry import get_searcher_class, get_task, make_searcher, searcher_names
from hpbench.searchers.base import Searcher
from hpbench.searchers.proposers import full_fidelity_searchers
from hpbench.tasks.base import Task
from hpbench.trial import Suggestion

N_TRIALS = 12
SEED = 1234
HALVING = ("sh", "hyperband", "asha")

# Non-default parameters of every built-in searcher that takes any: the contract holds for
# configured searchers too, not only for their defaults (a proposer's overflow once hid there).
NON_DEFAULT: dict[str, dict[str, Any]] = {
    "gp-ei": {
        "n_init": 3,
        "xi": 0.05,
        "n_candidates": 256,
        "n_restarts": 1,
        "max_fit_points": 10,
        "y_transform": "none",
        "explore": 0.2,
    },
    "sh": {"eta": 2, "n_configs": 5, "min_budget": 3, "continuation": False},
    "hyperband": {"eta": 4, "max_iterations": 2, "continuation": False},
    "asha": {
        "eta": 2,
        "min_budget": 9,
        "continuation": False,
        "proposer": "gp-ei",
        "proposer_params": {"n_init": 3},
    },
    "optuna": {"sampler": "CmaEsSampler", "sampler_params": {"n_startup_trials": 3}},
    "optuna-tpe": {"sampler_params": {"n_startup_trials": 3, "multivariate": True}},
    "optuna-gp": {"sampler_params": {"n_startup_trials": 4}},
    "optuna-cmaes": {"sampler_params": {"n_startup_trials": 3, "sigma0": 0.1}},
    "optuna-qmc": {"sampler_params": {"qmc_type": "halton"}},
    "optuna-random": {"sampler_params": {}},
    "optuna-nsga2": {"sampler_params": {"population_size": 6, "mutation_prob": 0.2}},
    "parego": {"rho": 0.1, "n_init": 3, "n_candidates": 256, "n_restarts": 1, "max_fit_points": 10},
    "skopt": {"base_estimator": "ET", "acq_func": "LCB", "n_initial_points": 3},
    "skopt-gp": {"n_initial_points": 3, "acq_func": "gp_hedge", "acq_optimizer": "sampling"},
    "skopt-rf": {"n_initial_points": 3, "acq_func": "PI", "initial_point_generator": "sobol"},
    "skopt-et": {"n_initial_points": 3, "xi": 0.1},
    "smac-bb": {"n_initial": 20},
    "smac-hpo": {"n_initial": 20, "n_trees": 5},
}


def _task(name: str) -> Task:
    return mixed_task() if name == "mixed" else get_task(name)


def _task_names_for(searcher: str) -> list[str]:
    cls = get_searcher_class(searcher)
    return ["branin-mf"] if cls.needs_fidelity else ["branin", "mixed"]


def _variants() -> list[tuple[str, str]]:
    """(searcher, parameters as JSON): defaults, the non-default set, every proposer of each policy."""
    names = searcher_names()
    out = [(n, "{}") for n in names]
    out += [(n, json.dumps(p, sort_keys=True)) for n, p in NON_DEFAULT.items() if n in names]
    proposers = [n for n in full_fidelity_searchers() if n != "random"]
    out += [(h, json.dumps({"proposer": p})) for h in HALVING if h in names for p in proposers]
    return out


def _label(name: str, params: str) -> str:
    pairs = ",".join(f"{k}={v}" for k, v in json.loads(params).items())
    return f"{name}:{pairs}" if pairs else name


def _cases() -> list[Any]:
    cases = []
    for name, params in _variants():
        try:
            tasks = _task_names_for(name)
        except Exception:  # noqa: BLE001 - import errors must show as failures of the tests below
            tasks = ["branin"]
        if params != "{}":
            tasks = tasks[:1]  # configured variants: one task each (the defaults cover the others)
        cases += [pytest.param(name, params, t, id=f"{_label(name, params)}-{t}") for t in tasks]
    return cases


# CASES: every variant, for the checks a configuration can break (the round trip, replay,
# the float limit); CORE leaves out the variants that differ only in their proposer
# (each proposer is itself checked as a full-fidelity searcher); DEFAULTS: default parameters.
CASES = _cases()
DEFAULTS = [c for c in CASES if c.values[1] == "{}"]
CORE = [c for c in CASES if not (c.values[0] in HALVING and list(json.loads(c.values[1])) == ["proposer"])]


def _make(name: str, task: Task, seed: int = SEED, params: str = "{}", **extra: Any) -> Searcher:
    kwargs = {**json.loads(params), **extra}
    return make_searcher(name, space=task.space, fidelity=task.fidelity, seed=seed, **kwargs)


def _objective(task: Task, s: Suggestion) -> float:
    return task.evaluate(s.config, budget=s.budget, seed=0).objective


def _key(s: Suggestion) -> tuple[Any, ...]:
    return (s.trial_id, json.dumps(dict(s.config), sort_keys=True), s.budget, s.continue_from)


def _steps(searcher: Searcher, task: Task, n: int) -> Iterator[Suggestion]:
    """Sequential ask/tell; stops early only when the searcher is finished."""
    for _ in range(n):
        s = searcher.ask()
        if s is None:
            assert not searcher.pending, "sequential use: None with nothing pending means finished"
            return
        searcher.tell(s, _objective(task, s))
        yield s


def sequence(name: str, params: str, task_name: str, n: int, seed: int = SEED) -> list[tuple[Any, ...]]:
    """Module level so a spawned process can run it."""
    task = _task(task_name)
    return [_key(s) for s in _steps(_make(name, task, seed, params), task, n)]


@functools.cache
def reference(name: str, params: str, task_name: str) -> tuple[Suggestion, ...]:
    """The first ``N_TRIALS`` suggestions under ``SEED``, computed once per module (GP asks are slow)."""
    task = _task(task_name)
    searcher = _make(name, task, params=params)
    out = tuple(_steps(searcher, task, N_TRIALS))
    assert searcher.n_told == len(out) and not searcher.pending
    return out


@pytest.fixture(scope="module")
def spawned() -> Iterator[ProcessPoolExecutor]:
    # One spawned worker for every searcher: the interpreter start-up is paid once.
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


# ----------------------------------------------------------------------------- tests
def test_every_registered_searcher_imports() -> None:
    for name in searcher_names():
        cls = get_searcher_class(name)
        assert issubclass(cls, Searcher)
        json.dumps(cls.param_defaults())  # `hpbench list searchers --json` and the store need this


@pytest.mark.parametrize(("name", "params", "task_name"), CASES)
def test_ask_tell_round_trip_inside_the_space(name: str, params: str, task_name: str) -> None:
    task = _task(task_name)
    seen = list(reference(name, params, task_name))
    assert len(seen) == N_TRIALS
    assert [s.trial_id for s in seen] == list(range(N_TRIALS))
    for s in seen:
        assert task.space.validate(s.config) == dict(s.config)
        if task.fidelity is None:
            assert s.budget is None
        else:
            assert task.fidelity.validate(s.budget) == s.budget
        if s.continue_from is not None:
            earlier = seen[s.continue_from]
            assert dict(earlier.config) == dict(s.config) and earlier.budget < s.budget
    # not stuck on one point
    assert len({json.dumps(dict(s.config), sort_keys=True) for s in seen}) > 1


@pytest.mark.parametrize(("name", "params", "task_name"), CASES)
def test_same_seed_same_sequence(name: str, params: str, task_name: str) -> None:
    a = [_key(s) for s in reference(name, params, task_name)]
    assert sequence(name, params, task_name, N_TRIALS) == a
    assert sequence(name, params, task_name, 3, seed=SEED + 1) != a[:3]


@pytest.mark.parametrize(("name", "params", "task_name"), CORE)
def test_same_sequence_in_a_spawned_process(
    name: str, params: str, task_name: str, spawned: ProcessPoolExecutor
) -> None:
    n = 5
    want = [_key(s) for s in reference(name, params, task_name)[:n]]
    assert spawned.submit(sequence, name, params, task_name, n).result(timeout=120) == want


@pytest.mark.parametrize(("name", "params", "task_name"), CASES)
def test_params_rebuild_the_same_searcher(name: str, params: str, task_name: str) -> None:
    task = _task(task_name)
    original = _make(name, task, params=params)
    got = original.get_params()
    stored = json.loads(json.dumps(got))  # what the store keeps
    rebuilt = _make(name, task, params=json.dumps(stored))
    assert rebuilt.get_params() == got
    want = reference(name, params, task_name)[:6]
    assert [_key(s) for s in _steps(rebuilt, task, 6)] == [_key(s) for s in want]


@pytest.mark.parametrize(("name", "params", "task_name"), CORE)
def test_pickle_mid_run_then_same_next_suggestions(name: str, params: str, task_name: str) -> None:
    task = _task(task_name)
    original = _make(name, task, params=params)
    assert len(list(_steps(original, task, 7))) == 7
    copy = pickle.loads(pickle.dumps(original))
    assert copy.n_told == original.n_told == 7
    # the copy goes on exactly as the uninterrupted searcher did
    want = reference(name, params, task_name)[7:11]
    assert [_key(s) for s in _steps(copy, task, 4)] == [_key(s) for s in want]


@pytest.mark.parametrize(("name", "params", "task_name"), DEFAULTS)
def test_recommendation_is_none_or_an_ok_top_fidelity_trial_and_changes_nothing(
    name: str, params: str, task_name: str
) -> None:
    task = _task(task_name)
    searcher = _make(name, task, params=params)
    assert len(list(_steps(searcher, task, 7))) == 7
    rec = searcher.recommend()
    top = None if task.fidelity is None else task.fidelity.high
    allowed = {s.trial_id for s, y in searcher.history if y is not None and s.budget == top}
    assert rec is None or rec in allowed
    # asking for it changes nothing the searcher proposes afterwards (the runner asks at the end)
    want = reference(name, params, task_name)[7:11]
    assert [_key(s) for s in _steps(searcher, task, 4)] == [_key(s) for s in want]


@pytest.mark.parametrize(("name", "params", "task_name"), CORE)
def test_several_pending_asks(name: str, params: str, task_name: str) -> None:
    task = _task(task_name)
    searcher = _make(name, task, params=params)
    asked = [searcher.ask() for _ in range(3)]
    got = [s for s in asked if s is not None]
    assert got, "the first ask of a fresh searcher must propose something"
    if not searcher.synchronous:
        assert len(got) == 3
    assert len({s.trial_id for s in got}) == len(got)
    assert sorted(s.trial_id for s in searcher.pending) == sorted(s.trial_id for s in got)
    for s in got:
        assert task.space.validate(s.config) == dict(s.config)
    for s in reversed(got):  # results come back in any order
        searcher.tell(s, _objective(task, s))
    assert not searcher.pending
    assert len(list(_steps(searcher, task, 3))) == 3


@pytest.mark.parametrize(("name", "params", "task_name"), CORE)
def test_failed_trials_are_accepted(name: str, params: str, task_name: str) -> None:
    task = _task(task_name)
    searcher = _make(name, task, params=params)
    for i in range(8):
        s = searcher.ask()
        assert s is not None
        # every third trial fails (None), one reports NaN, the rest succeed
        searcher.tell(s, None if i % 3 == 0 else float("nan") if i == 4 else _objective(task, s))
        assert task.space.validate(s.config) == dict(s.config)
    assert [obj for _, obj in searcher.history].count(None) == 4


@pytest.mark.parametrize(("name", "params", "task_name"), CASES)
def test_objectives_near_the_float_limit_keep_the_searcher_working(
    name: str, params: str, task_name: str
) -> None:
    """Finite but extreme objectives (a diverged loss) must not overflow a model or stop the run."""
    task = _task(task_name)
    searcher = _make(name, task, params=params)
    extremes = [1e308, -1e308, 1e300, 1e-300, 0.0, -1e307]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for i in range(14):
            s = searcher.ask()
            assert s is not None
            searcher.tell(s, extremes[i % len(extremes)] if i % 2 == 0 else _objective(task, s))
        s = searcher.ask()
    assert s is not None and task.space.validate(s.config) == dict(s.config)


@pytest.mark.parametrize(("name", "params", "task_name"), CORE)
def test_tell_of_unknown_or_repeated_suggestion_raises(name: str, params: str, task_name: str) -> None:
    task = _task(task_name)
    searcher = _make(name, task, params=params)
    s = searcher.ask()
    assert s is not None
    with pytest.raises(ValueError, match="pending"):
        searcher.tell(Suggestion(999, s.config, s.budget), 1.0)
    searcher.tell(s, 1.0)
    with pytest.raises(ValueError, match="pending"):
        searcher.tell(s, 1.0)
    with pytest.raises(TypeError, match="Suggestion"):
        searcher.tell({"trial_id": 0}, 1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "params", "task_name"), DEFAULTS)
def test_bad_parameters_rejected_with_a_clear_message(name: str, params: str, task_name: str) -> None:
    task = _task(task_name)
    with pytest.raises(ValueError, match="'bogus_param'"):
        _make(name, task, bogus_param=1)
    known = get_searcher_class(name).param_names()
    if known:
        typo = known[0][:-1] + "x" if len(known[0]) > 3 else known[0] + "x"
        with pytest.raises(ValueError, match=f"did you mean '{known[0]}'"):
            _make(name, task, **{typo: 1})
    with pytest.raises(ValueError, match="seed"):
        _make(name, task, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        _make(name, task, seed="1")  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [n for n in searcher_names() if n not in ("random",)])
def test_fidelity_requirement_is_explicit(name: str) -> None:
    cls = get_searcher_class(name)
    branin = get_task("branin")
    if cls.needs_fidelity:
        with pytest.raises(ValueError, match="fidelity"):
            _make(name, branin)
    else:
        # a full-fidelity searcher on a multi-fidelity task trains every trial to the top
        mf = get_task("branin-mf")
        searcher = _make(name, mf)
        s = searcher.ask()
        assert s is not None and s.budget == mf.fidelity.high


def test_every_built_in_searcher_with_parameters_is_checked_configured_too() -> None:
    for name in searcher_names():
        cls = get_searcher_class(name)
        if not cls.__module__.startswith("hpbench.") or not cls.param_names():
            continue
        assert name in NON_DEFAULT, f"add non-default parameters of {name!r} to NON_DEFAULT"
        defaults = cls.param_defaults()
        assert all(defaults[k] != v for k, v in NON_DEFAULT[name].items()), name


class _Broken(Searcher):
    """A plug-in that breaks the ``_ask`` contract in the way ``mistake`` says."""

    name = "broken"
    mistake = "id"

    def _ask(self, trial_id: int) -> Any:
        if self.mistake == "type":
            return {"x1": 0.0}
        budget = 1.0 if self.mistake == "budget" else None
        return Suggestion(
            trial_id + (self.mistake == "id"), self.space.sample(self.rng_for(trial_id)), budget
        )


@pytest.mark.parametrize(
    ("mistake", "error", "match"),
    [
        ("id", ValueError, "trial_id == the id passed to _ask"),
        ("budget", ValueError, "budget is None for a task without a fidelity"),
        ("type", TypeError, "must return a Suggestion"),
    ],
)
def test_plug_in_ask_mistakes_raise_clear_errors_not_asserts(mistake: str, error: type, match: str) -> None:
    broken = type("B", (_Broken,), {"mistake": mistake})(space=get_task("branin").space)
    with pytest.raises(error, match=match):
        broken.ask()
    assert not broken.pending and broken._next_id == 0  # nothing half-registered
