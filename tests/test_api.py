"""The library surface: searcher forms, hb.run_search, on_trial, budget extension, names, progress."""

from __future__ import annotations

import functools
import importlib
import json

import numpy as np
import pytest

import hpbench as hb
from hpbench.api import as_searcher_spec
from hpbench.experiment import budget_extension, content_name
from hpbench.progress import ProgressDisplay
from hpbench.spec import SearcherSpec, parse_searcher


class Jitter(hb.Searcher):
    """Random search whose draws shrink towards the centre by ``sigma`` (a parameter to pass)."""

    name = "jitter-test"

    def __init__(self, *, space, fidelity=None, seed=0, sigma: float = 1.0):
        super().__init__(space=space, fidelity=fidelity, seed=seed)
        self.sigma = sigma

    def _ask(self, trial_id):
        u = 0.5 + self.sigma * (self.rng_for(trial_id).random(self.space.width) - 0.5)
        return hb.Suggestion(trial_id, self.space.decode(u))

    def _tell(self, suggestion, objective):
        pass


@pytest.mark.parametrize(
    "form",
    [(Jitter, {"sigma": 0.3}), functools.partial(Jitter, sigma=0.3), {"name": "jitter-test", "sigma": 0.3}],
)
def test_searcher_with_parameters_in_every_accepted_form(form, tmp_path):
    hb.register_searcher("jitter-test", Jitter)
    res = hb.benchmark(["branin"], [form], seeds=1, max_evals=6, store=tmp_path / "s.db", progress=False)
    runs = res.runs
    assert list(runs["searcher"]) == ["jitter-test:sigma=0.3"]
    assert json.loads(runs["searcher_params"].iloc[0]) == {"sigma": 0.3}
    cfg = res.trials["param.x1"].to_numpy()  # sigma=0.3 keeps x1 within 0.35..0.65 of its range
    assert ((cfg >= -5 + 0.34 * 15) & (cfg <= -5 + 0.66 * 15)).all()


def test_searcher_forms_refused_with_a_clear_type_error():
    with pytest.raises(TypeError, match="partial with keyword arguments only"):
        as_searcher_spec(functools.partial(Jitter, 0.3))
    with pytest.raises(TypeError, match=r"\(class or name"):
        as_searcher_spec((Jitter, 0.3))
    with pytest.raises(TypeError, match="functools.partial"):
        as_searcher_spec(lambda **kw: None)
    assert as_searcher_spec(("gp-ei", {"n_init": 4})) == SearcherSpec("gp-ei", {"n_init": 4})


def test_run_search_takes_names_and_a_budget_in_keywords():
    recs = hb.run_search("branin-mf", "hyperband:eta=3", max_cost=3, seed=1)
    assert recs and min(r.budget for r in recs) < 81  # Hyperband starts at low fidelities
    again = hb.run_search("branin-mf", ("hyperband", {"eta": 3}), budget=hb.Budget(max_cost=3), seed=1)
    assert [r.objective for r in again] == [r.objective for r in recs]
    with pytest.raises(TypeError, match="either 'budget' or"):
        hb.run_search("branin", "random", budget=hb.Budget(max_evals=2), max_evals=2)


def test_builtin_searcher_classes_importable_from_hpbench_searchers():
    import hpbench.searchers as S
    from hpbench.registry import _BUILTIN_SEARCHERS, get_searcher_class

    assert sorted(S.__all__) == sorted(["Searcher", *(t.split(":")[1] for t in _BUILTIN_SEARCHERS.values())])
    for name, target in _BUILTIN_SEARCHERS.items():
        assert getattr(S, target.split(":")[1]) is get_searcher_class(name)
    with pytest.raises(AttributeError):
        S.NoSuchSearcher  # noqa: B018


def test_messages_use_the_registry_name_not_the_class_name():
    from hpbench.registry import get_task, make_searcher

    t = get_task("branin")
    with pytest.raises(ValueError, match=r"^gp-ei:"):
        make_searcher("gp-ei", space=t.space, n_init=-1)
    with pytest.raises(ValueError, match=r"^optuna-tpe:"):
        make_searcher("optuna-tpe", space=t.space, seed=-1)


def test_optuna_sampler_params_as_a_toml_inline_table():
    spec = parse_searcher("optuna-tpe:sampler_params={n_startup_trials = 5, multivariate = true}")
    assert spec.params == {"sampler_params": {"n_startup_trials": 5, "multivariate": True}}
    recs = hb.run_search("branin", spec, max_evals=7)
    assert len(recs) == 7


def test_on_trial_sees_every_trial_and_can_stop_and_the_same_call_resumes(tmp_path):
    events: list[hb.TrialEvent] = []

    def stop_after_five(ev):
        events.append(ev)
        return len(events) < 5

    kw = {"seeds": 2, "max_evals": 6, "store": tmp_path / "s.db", "name": "cb", "progress": False}
    res = hb.benchmark(["branin"], ["random"], on_trial=stop_after_five, **kw)
    assert res.stopped and len(res.trials) == 5 == len(events)
    assert events[-1].trials_done == 5 and events[0].run_fraction == pytest.approx(1 / 6)
    assert {e.seed for e in events} <= {0, 1} and all(e.status == "ok" for e in events)
    done = hb.benchmark(["branin"], ["random"], **kw)  # resumes: the stored five are kept
    straight = hb.benchmark(["branin"], ["random"], **{**kw, "store": tmp_path / "t.db"})
    assert not done.stopped and len(done.trials) == 12
    key = ["seed", "trial"]
    a, b = done.trials.sort_values(key), straight.trials.sort_values(key)
    assert np.array_equal(a["objective"].to_numpy(), b["objective"].to_numpy())


def test_a_larger_budget_extends_a_finished_experiment_like_one_straight_run(tmp_path):
    kw = {"seeds": 1, "store": tmp_path / "s.db", "name": "grow", "progress": False}
    hb.benchmark(["branin"], ["random", "gp-ei"], max_evals=6, **kw)
    grown = hb.benchmark(["branin"], ["random", "gp-ei"], max_evals=9, **kw)
    straight = hb.benchmark(["branin"], ["random", "gp-ei"], max_evals=9, **{**kw, "name": "straight"})
    key = ["searcher", "trial"]
    a, b = grown.trials.sort_values(key), straight.trials.sort_values(key)
    assert len(a) == 18 and np.allclose(a["objective"].to_numpy(), b["objective"].to_numpy())
    assert (
        set(grown.runs["status"]) == {"finished"}
        and [json.loads(b) for b in grown.runs["budget"]] == [{"max_evals": 9}] * 2
    )
    from hpbench.results.store import Store

    with Store(str(tmp_path / "s.db"), readonly=True) as st:
        assert st.get_experiment("grow")[1]["budget_history"] == [{"max_evals": 6}]
    with pytest.raises(ValueError, match="exists with another spec"):  # smaller: refused
        hb.benchmark(["branin"], ["random", "gp-ei"], max_evals=4, **kw)


def test_budget_extension_rule():
    old = {"tasks": ["a"], "searchers": [], "seeds": [0], "budget": {"max_evals": 5, "max_cost": None}}
    assert budget_extension(old, {**old, "budget": {"max_evals": 8}})
    assert not budget_extension(old, {**old, "budget": {"max_evals": 4}})
    assert not budget_extension(old, {**old, "budget": {"max_cost": 8}})  # another limit
    assert not budget_extension(old, {**old, "seeds": [0, 1], "budget": {"max_evals": 8}})
    assert not budget_extension(old, old)


def test_content_names_are_stable_valid_and_leave_out_the_budget():
    s = (parse_searcher("random"), parse_searcher("hyperband:eta=3"))
    a = content_name(("branin", "svm-digits"), s, (0, 1, 2))
    assert a == content_name(("branin", "svm-digits"), s, (0, 1, 2)) and a.startswith("branin-and-1-more-")
    assert a != content_name(("branin",), s, (0, 1, 2)) != content_name(("branin",), s[:1], (0, 1, 2))
    from hpbench.spec import BenchmarkSpec

    BenchmarkSpec(a, ("branin",), s, (0,), hb.Budget(max_evals=1))  # a valid experiment name


class _Run:
    """What the progress display reads of a ``RunState``."""

    def __init__(self, task, label, best, n, budget, cost=0.0):
        self.task = type("T", (), {"name": task})()
        self.label, self.best, self.records, self.limits = label, best, [None] * n, budget
        self.ledger = type("L", (), {"spent": cost, "seconds": 0.0})()
        self.finished = False


def test_progress_shows_budget_in_its_unit_trials_and_the_leader_per_task():
    runs = [
        _Run("mlp", "random", 0.30, 10, hb.Budget(max_cost=12), cost=6.0),
        _Run("mlp", "hyperband", 0.20, 40, hb.Budget(max_cost=12), cost=3.0),
        _Run("branin", "gp-ei", float("inf"), 5, hb.Budget(max_evals=20)),
    ]
    line, leaders = ProgressDisplay(runs, {}, bar=False).summary()
    assert line == "cost 9/24 · evals 5/20 · 55 trials · 0/3 runs done"
    assert leaders == "best so far  mlp: hyperband 0.2, random 0.3"


def test_hpbench_namespace_is_lazy_and_complete():
    mod = importlib.reload(hb)
    for name in mod.__all__:
        assert getattr(mod, name) is not None
