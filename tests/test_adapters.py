"""Tests of the Optuna and scikit-optimize adapters (hpbench/searchers/{optuna,skopt}_adapter.py).

Evaluation counts are small and the surrogate searchers start modelling after 3 points, so
every test exercises the model-based phase while the file stays fast.
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import json
import math
import multiprocessing
import pickle
from typing import Any

import pytest

from hpbench.registry import get_searcher_class, get_task, make_searcher
from hpbench.searchers.base import Searcher
from hpbench.searchers.optuna_adapter import OptunaSearcher, sampler_names
from hpbench.searchers.skopt_adapter import SkoptGP, SkoptSearcher
from hpbench.space import Categorical, Float, Int, SearchSpace

_NO_CMAES = importlib.util.find_spec("cmaes") is None

# name -> small parameters: models start after 3 observations; skopt's GP samples its
# acquisition instead of running L-BFGS (the default L-BFGS path is tested once below).
ADAPTERS: dict[str, dict[str, Any]] = {
    "optuna-tpe": {"sampler_params": {"n_startup_trials": 3}},
    "optuna-gp": {"sampler_params": {"n_startup_trials": 3}},
    "optuna-cmaes": {"sampler_params": {"n_startup_trials": 3}},
    "optuna-qmc": {},
    "optuna-random": {},
    "optuna": {"sampler": "NSGAIISampler", "sampler_params": {"population_size": 4}},
    "skopt-gp": {"n_initial_points": 3, "acq_optimizer": "sampling"},
    "skopt-rf": {"n_initial_points": 3},
    "skopt-et": {"n_initial_points": 3},
}


_SKIP_CMAES = pytest.mark.skipif(_NO_CMAES, reason="CmaEsSampler needs the 'cmaes' package")
PARAMS = [pytest.param(n, marks=_SKIP_CMAES if n == "optuna-cmaes" else ()) for n in ADAPTERS]

MIXED = SearchSpace(
    {
        "lr": Float(1e-4, 1e-1, log=True),
        "width": Int(2, 64, log=True),
        "layers": Int(1, 4),
        "opt": Categorical(["sgd", "adam"]),
        "momentum": Float(0.0, 0.99, active_if=("opt", ["sgd"])),
        "flag": Categorical([True, False, 3]),
    }
)


def _mixed_objective(config: dict[str, Any]) -> float:
    value = (math.log10(config["lr"]) + 2.5) ** 2 + 0.1 * abs(config["width"] - 16) + config["layers"]
    value += 0.5 if config["opt"] == "adam" else (config["momentum"] - 0.9) ** 2
    return value + (0.0 if config["flag"] is True else 0.3)


def _branin(config: dict[str, Any]) -> float:
    return get_task("branin").evaluate(config).objective


def _make(name: str, space: SearchSpace, seed: int = 0, fidelity: Any = None) -> Searcher:
    return make_searcher(name, space=space, fidelity=fidelity, seed=seed, **ADAPTERS[name])


def _run(searcher: Searcher, objective: Any, n: int, batch: int = 1) -> list[dict[str, Any]]:
    """Ask ``batch`` at a time, tell them in reverse order; return every config proposed."""
    configs: list[dict[str, Any]] = []
    while len(configs) < n:
        asked = [searcher.ask() for _ in range(min(batch, n - len(configs)))]
        for s in asked:
            assert s is not None
            configs.append(dict(s.config))
        for s in reversed(asked):
            searcher.tell(s, objective(s.config))
    return configs


def _check_valid(space: SearchSpace, configs: list[dict[str, Any]]) -> None:
    for config in configs:
        assert space.validate(config) == config
        for name, value in config.items():
            p = space[name]
            if isinstance(p, Float):
                assert type(value) is float
            elif isinstance(p, Int):
                assert type(value) is int
            else:
                assert any(type(c) is type(value) and c == value for c in p.choices)


# ---------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("name", PARAMS)
def test_branin_round_trip_gives_valid_distinct_configs(name: str) -> None:
    task = get_task("branin")
    searcher = _make(name, task.space, seed=3)
    configs = _run(searcher, _branin, 6, batch=2)
    _check_valid(task.space, configs)
    assert searcher.n_told == 6 and not searcher.pending
    values = [y for _, y in searcher.history]
    assert all(isinstance(y, float) for y in values)
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 6


@pytest.mark.parametrize("name", PARAMS)
def test_mixed_conditional_space_gives_valid_configs(name: str) -> None:
    searcher = _make(name, MIXED, seed=1)
    configs = _run(searcher, _mixed_objective, 6, batch=2)
    _check_valid(MIXED, configs)
    for config in configs:
        assert ("momentum" in config) == (config["opt"] == "sgd")


def test_optuna_asks_only_active_parameters_define_by_run() -> None:
    searcher = make_searcher("optuna-tpe", space=MIXED, seed=0)
    configs = _run(searcher, _mixed_objective, 12)
    assert {c["opt"] for c in configs} == {"sgd", "adam"}  # 12 random draws: both branches
    trials = searcher._study.trials  # noqa: SLF001 - checking what Optuna saw
    for config, trial in zip(configs, trials):
        assert set(trial.params) == set(config)
        assert trial.params == config


def test_full_fidelity_budget_on_a_multi_fidelity_task() -> None:
    task = get_task("branin-mf")
    for name in ("optuna-tpe", "skopt-rf"):
        searcher = _make(name, task.space, fidelity=task.fidelity)
        s = searcher.ask()
        assert s is not None and s.budget == task.fidelity.high


def test_skopt_gp_default_lbfgs_path_runs() -> None:
    task = get_task("branin")
    searcher = SkoptGP(space=task.space, seed=0, n_initial_points=3)
    _check_valid(task.space, _run(searcher, _branin, 5))


# ------------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", PARAMS)
def test_same_seed_same_sequence_other_seed_other_sequence(name: str) -> None:
    task = get_task("branin")
    a = _run(_make(name, task.space, seed=5), _branin, 7, batch=2)
    b = _run(_make(name, task.space, seed=5), _branin, 7, batch=2)
    c = _run(_make(name, task.space, seed=6), _branin, 7, batch=2)
    assert a == b
    assert a != c


def _sequence_in_this_process(name: str) -> list[dict[str, Any]]:
    return _run(_make(name, MIXED, seed=2), _mixed_objective, 5, batch=2)


def test_same_sequence_in_a_spawned_process() -> None:
    names = ["optuna-gp", "skopt-gp"]
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        remote = list(pool.map(_sequence_in_this_process, names))
    for name, configs in zip(names, remote):
        assert configs == _sequence_in_this_process(name), name


@pytest.mark.parametrize("name", PARAMS)
def test_pickle_mid_run_continues_identically(name: str) -> None:
    task = get_task("branin")
    original = _make(name, task.space, seed=4)
    _run(original, _branin, 5)
    pending = [original.ask(), original.ask()]
    copy = pickle.loads(pickle.dumps(original))
    assert copy.get_params() == original.get_params()
    assert [s.trial_id for s in copy.pending] == [s.trial_id for s in pending]
    for searcher in (original, copy):
        for s in pending:
            searcher.tell(s, _branin(s.config))
    assert _run(copy, _branin, 3, batch=2) == _run(original, _branin, 3, batch=2)


# ------------------------------------------------------------------------- pending and failures
@pytest.mark.parametrize("name", PARAMS)
def test_pending_asks_differ_in_initial_and_model_phases(name: str) -> None:
    task = get_task("branin")
    searcher = _make(name, task.space, seed=0)
    first = [searcher.ask() for _ in range(3)]
    assert len({json.dumps(dict(s.config), sort_keys=True) for s in first}) == 3
    for s in first:
        searcher.tell(s, _branin(s.config))
    _run(searcher, _branin, 3)
    later = [searcher.ask() for _ in range(3)]
    assert len({json.dumps(dict(s.config), sort_keys=True) for s in later}) == 3


@pytest.mark.parametrize("name", PARAMS)
def test_failed_trials_are_told_and_the_search_goes_on(name: str) -> None:
    task = get_task("branin")
    searcher = _make(name, task.space, seed=0)
    n = 0

    def sometimes_fails(config: dict[str, Any]) -> float | None:
        nonlocal n
        n += 1
        return None if n in (1, 4, 6) else _branin(config)

    _check_valid(task.space, _run(searcher, sometimes_fails, 8))
    assert [y is None for _, y in searcher.history].count(True) == 3


def test_optuna_records_failures_as_failed_trials() -> None:
    from optuna.trial import TrialState

    searcher = make_searcher("optuna-tpe", space=get_task("branin").space, seed=0)
    s = searcher.ask()
    searcher.tell(s, None)
    s = searcher.ask()
    searcher.tell(s, 1.5)
    states = [t.state for t in searcher._study.trials]  # noqa: SLF001
    assert states == [TrialState.FAIL, TrialState.COMPLETE]


def test_skopt_penalises_failures_with_the_worst_value_and_skips_early_ones() -> None:
    searcher = SkoptSearcher(space=get_task("branin").space, seed=0, base_estimator="RF", n_initial_points=2)
    s = searcher.ask()
    searcher.tell(s, None)  # no success yet: nothing to penalise with, skipped
    for value in (3.0, None, 7.0, None):
        s = searcher.ask()
        searcher.tell(s, value)
    searcher.ask()  # flushes the buffered results
    assert sorted(searcher._opt.yi) == [3.0, 3.0, 7.0, 7.0]  # noqa: SLF001


# ------------------------------------------------------------------------ parameters and errors
@pytest.mark.parametrize("name", PARAMS)
def test_params_are_json_and_rebuild_the_same_searcher(name: str) -> None:
    task = get_task("branin")
    searcher = _make(name, task.space, seed=9)
    params = searcher.get_params()
    assert json.loads(json.dumps(params)) == params
    rebuilt = get_searcher_class(name)(space=task.space, seed=9, **params)
    assert _run(rebuilt, _branin, 4) == _run(searcher, _branin, 4)


def test_subclasses_fix_the_sampler_and_estimator() -> None:
    space = get_task("branin").space
    expected = {
        "optuna-tpe": "TPESampler",
        "optuna-gp": "GPSampler",
        "optuna-qmc": "QMCSampler",
        "optuna-random": "RandomSampler",
    }
    for name, sampler in expected.items():
        searcher = make_searcher(name, space=space)
        assert type(searcher._study.sampler).__name__ == sampler  # noqa: SLF001
        assert "sampler" not in searcher.get_params()
    for name, estimator in {"skopt-gp": "GP", "skopt-rf": "RF", "skopt-et": "ET"}.items():
        searcher = make_searcher(name, space=space)
        assert searcher.base_estimator == estimator and "base_estimator" not in searcher.get_params()
    assert SkoptGP.param_defaults()["acq_func"] == "EI"


def test_generic_optuna_searcher_takes_any_sampler_by_name() -> None:
    assert {"TPESampler", "GPSampler", "NSGAIISampler", "RandomSampler"} <= set(sampler_names())
    assert "BaseSampler" not in sampler_names()
    space = get_task("branin").space
    searcher = OptunaSearcher(space=space, seed=0, sampler="BruteForceSampler")
    assert type(searcher._study.sampler).__name__ == "BruteForceSampler"  # noqa: SLF001
    assert searcher.get_params() == {"sampler": "BruteForceSampler", "sampler_params": None}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sampler": "TPESampeler"}, ValueError, "did you mean 'TPESampler'"),
        ({"sampler": "BaseSampler"}, ValueError, "optuna.samplers"),
        ({"sampler": 3}, TypeError, "'sampler'"),
        ({"sampler_params": {"n_startup_trial": 3}}, ValueError, "did you mean 'n_startup_trials'"),
        ({"sampler_params": {"seed": 1}}, ValueError, "'seed'"),
        ({"sampler_params": [("n_startup_trials", 3)]}, TypeError, "'sampler_params'"),
        ({"sampler_params": {"gamma": len}}, TypeError, "JSON"),
        ({"sampler_params": {"n_startup_trials": "ten"}}, TypeError, "'n_startup_trials'.*integer"),
        ({"sampler_params": {"group": 1}}, TypeError, "True or False"),
        ({"sampler": "GridSampler"}, ValueError, "rejected"),
        ({"sampler": "QMCSampler", "sampler_params": {"qmc_type": "bogus"}}, ValueError, "bogus"),
        (
            {"sampler": "NSGAIISampler", "sampler_params": {"population_size": 1}},
            ValueError,
            "population_size",
        ),
    ],
)
def test_optuna_bad_parameters_are_rejected(kwargs: dict[str, Any], error: Any, match: str) -> None:
    space = get_task("branin").space
    with pytest.raises(error, match=match):
        searcher = OptunaSearcher(space=space, **kwargs)
        searcher.ask()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"base_estimator": "GBRT"}, ValueError, "RegressorMixin"),
        ({"base_estimator": "gp2"}, ValueError, "base_estimator"),
        ({"n_initial_points": 0}, ValueError, "n_initial_points >= 1"),
        ({"n_initial_points": 2.5}, TypeError, "n_initial_points"),
        ({"acq_func": "EIps"}, ValueError, "acq_func"),
        ({"acq_optimizer": "adam"}, ValueError, "acq_optimizer"),
        ({"base_estimator": "RF", "acq_optimizer": "lbfgs"}, ValueError, "lbfgs"),
        ({"initial_point_generator": "lhs2"}, ValueError, "initial_point_generator"),
        ({"xi": -1.0}, ValueError, "xi"),
    ],
)
def test_skopt_bad_parameters_are_rejected(kwargs: dict[str, Any], error: Any, match: str) -> None:
    with pytest.raises(error, match=match):
        SkoptSearcher(space=get_task("branin").space, **kwargs)


def test_registry_unknown_parameter_is_refused() -> None:
    with pytest.raises(ValueError, match="did you mean 'sampler_params'"):
        make_searcher("optuna-gp", space=get_task("branin").space, sampler_param={})


# ----------------------------------------------------------------------------- SMAC3
# SMAC is an optional extra (hpbench[smac]); the test extra installs it, so CI runs these.
_NO_SMAC = importlib.util.find_spec("smac") is None


@pytest.mark.skipif(_NO_SMAC, reason="SMAC3 not installed (pip install 'hpbench[smac]')")
def test_configspace_conversion_keeps_types_scales_and_conditions() -> None:
    import ConfigSpace as cs

    from hpbench.searchers.smac_adapter import from_configuration, to_configspace

    space = SearchSpace(
        {
            "lr": Float(1e-4, 1.0, log=True),
            "depth": Int(1, 8),
            "opt": Categorical([True, "sgd", 3]),
            "momentum": Float(0.0, 0.99, active_if=("opt", ["sgd"])),
        }
    )
    conf = to_configspace(space, seed=0)
    assert conf["lr"].log and isinstance(conf["depth"], cs.UniformIntegerHyperparameter)
    assert list(conf["opt"].choices) == [0, 1, 2]
    for c in conf.sample_configuration(40):
        config = from_configuration(space, dict(c))
        assert space.validate(config) == config  # inactive momentum absent exactly when opt != "sgd"
        assert ("momentum" in config) == (config["opt"] == "sgd")


@pytest.mark.skipif(_NO_SMAC, reason="SMAC3 not installed (pip install 'hpbench[smac]')")
def test_smac_model_phase_survives_failures_and_extreme_objectives() -> None:
    import warnings

    task = get_task("branin")
    searcher = make_searcher("smac-hpo", space=task.space, seed=5, n_initial=3, n_trees=4)
    values = [None, 1e308, 3.0, -1e308, None, 2.0, 1e-300, 5.0, 4.0, 0.5]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        for v in values:
            s = searcher.ask()
            searcher.tell(s, v)
        s = searcher.ask()
    assert task.space.validate(s.config) == dict(s.config)
    runhistory = searcher._opt.runhistory
    told = [runhistory[k] for k in runhistory if runhistory[k].status.name != "RUNNING"]  # the last ask
    assert [v.status.name == "CRASHED" for v in told] == [v is None for v in values]
    assert max(v.cost for v in told) == 1e100  # clipped like every peer


def test_smac_missing_is_a_clear_import_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from hpbench.searchers import smac_adapter

    monkeypatch.setitem(sys.modules, "smac", None)  # import smac -> ImportError
    with pytest.raises(ImportError, match=r"pip install 'hpbench\[smac\]'"):
        smac_adapter.SmacBB(space=get_task("branin").space)
