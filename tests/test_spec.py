"""Benchmark spec files: TOML parsing, searcher strings and tables, refusal of unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpbench.budget import Budget
from hpbench.spec import (
    BenchmarkSpec,
    RunOptions,
    SearcherSpec,
    load_spec,
    parse_searcher,
    seeds_from,
    spec_differences,
    spec_from_dict,
)


def _write(tmp_path: Path, text: str, name: str = "demo.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_full_spec_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
name = "study"
tasks = ["branin", "hartmann6-mf"]
seeds = 4
searchers = ["random", "hyperband:eta=3,proposer=gp-ei"]

[budget]
max_evals = 50
max_cost = 20

[run]
workers = 2
trial_timeout = 60
""",
    )
    spec, options = load_spec(path)
    assert spec.name == "study"
    assert spec.tasks == ("branin", "hartmann6-mf")
    assert spec.seeds == (0, 1, 2, 3)
    assert spec.searchers[0] == SearcherSpec("random")
    hb = spec.searchers[1]
    assert hb.name == "hyperband" and hb.params == {"eta": 3, "proposer": "gp-ei"}
    assert hb.label == "hyperband:eta=3,proposer=gp-ei"
    assert spec.budget == Budget(max_evals=50, max_cost=20.0)
    assert options == RunOptions(workers=2, trial_timeout=60)


def test_name_defaults_to_file_stem_and_seeds_to_one(tmp_path: Path) -> None:
    spec, options = load_spec(
        _write(
            tmp_path, 'tasks = "branin"\nsearchers = "random"\n[budget]\nmax_evals = 3\n', name="my-exp.toml"
        )
    )
    assert spec.name == "my-exp" and spec.tasks == ("branin",) and spec.seeds == (0,)
    assert options == RunOptions()


def test_seeds_count_or_list() -> None:
    assert seeds_from(3) == (0, 1, 2)
    assert seeds_from([7, 11]) == (7, 11)
    for bad, error in ((0, ValueError), (True, TypeError), ("3", TypeError), (2.5, TypeError)):
        with pytest.raises(error, match="seeds"):
            seeds_from(bad)
    base = {"tasks": ["branin"], "searchers": ["random"], "budget": {"max_evals": 2}}
    assert spec_from_dict({**base, "seeds": [3, 1]})[0].seeds == (3, 1)
    with pytest.raises(ValueError, match="duplicates"):
        spec_from_dict({**base, "seeds": [1, 1]})
    with pytest.raises(ValueError, match=r"integers in \[0, 2\*\*63\)"):
        spec_from_dict({**base, "seeds": [-1]})


def test_searcher_tables(tmp_path: Path) -> None:
    spec, _ = load_spec(
        _write(
            tmp_path,
            """
tasks = ["branin-mf"]
[[searchers]]
name = "hyperband"
eta = 4
[[searchers]]
name = "asha"
label = "asha-fast"
params = { eta = 2, min_budget = 3 }
[budget]
max_cost = 10
""",
        )
    )
    a, b = spec.searchers
    assert (a.name, dict(a.params), a.label) == ("hyperband", {"eta": 4}, "hyperband:eta=4")
    assert (b.name, dict(b.params), b.label) == ("asha", {"eta": 2, "min_budget": 3}, "asha-fast")


@pytest.mark.parametrize(
    ("text", "name", "params"),
    [
        ("random", "random", {}),
        ("hyperband:eta=3", "hyperband", {"eta": 3}),
        ("hyperband:eta=3,proposer=gp-ei", "hyperband", {"eta": 3, "proposer": "gp-ei"}),
        ("gp-ei:xi=0.01,n_init=5", "gp-ei", {"xi": 0.01, "n_init": 5}),
        ("sh:continuation=false", "sh", {"continuation": False}),
        ("optuna:sampler_params={n_startup_trials=3}", "optuna", {"sampler_params": {"n_startup_trials": 3}}),
        ('x:k=[1,2],j="a,b"', "x", {"k": [1, 2], "j": "a,b"}),
    ],
)
def test_searcher_strings(text: str, name: str, params: dict) -> None:
    s = parse_searcher(text)
    assert s.name == name and dict(s.params) == params


@pytest.mark.parametrize("text", ["hyperband:eta", "hyperband:=3", "hyperband:eta=3,,=4"])
def test_malformed_searcher_strings(text: str) -> None:
    with pytest.raises(ValueError, match="key=value"):
        parse_searcher(text)


@pytest.mark.parametrize(
    ("data", "error", "fragment"),
    [
        (
            {"tasks": ["branin"], "searchers": ["random"], "budget": {"max_evals": 2}, "seedz": 3},
            ValueError,
            "'seedz'",
        ),
        (
            {"tasks": ["branin"], "searchers": ["random"], "budget": {"max_evals": 2, "max_evalz": 3}},
            ValueError,
            "'max_evalz'",
        ),
        (
            {"tasks": ["branin"], "searchers": ["random"], "budget": {"max_evals": 2}, "run": {"wrokers": 2}},
            ValueError,
            "'wrokers'",
        ),
        ({"tasks": ["branin"], "searchers": ["random"]}, ValueError, "'budget'"),
        ({"searchers": ["random"], "budget": {"max_evals": 2}}, ValueError, "'tasks'"),
        ({"tasks": [1], "searchers": ["random"], "budget": {"max_evals": 2}}, TypeError, "tasks"),
        (
            {"tasks": ["branin"], "searchers": ["random"], "budget": {"max_evals": "10"}},
            TypeError,
            "max_evals",
        ),
        (
            {"tasks": ["branin"], "searchers": ["random"], "budget": {"max_evals": -1}},
            ValueError,
            "max_evals",
        ),
        ({"tasks": ["branin"], "searchers": ["random"], "budget": {"max_cost": 0}}, ValueError, "max_cost"),
        ({"tasks": ["branin"], "searchers": ["random"], "budget": {}}, ValueError, "at least one"),
        ({"tasks": ["branin"], "searchers": ["random"], "budget": 5}, TypeError, "budget"),
        ({"tasks": ["branin"], "searchers": [{"eta": 3}], "budget": {"max_evals": 2}}, ValueError, "'name'"),
        ({"tasks": ["branin"], "searchers": [3], "budget": {"max_evals": 2}}, TypeError, "searchers"),
        (
            {"tasks": ["branin", "branin"], "searchers": ["random"], "budget": {"max_evals": 2}},
            ValueError,
            "duplicates",
        ),
        (
            {"tasks": ["branin"], "searchers": ["random"], "budget": {"max_evals": 2}, "name": "a b"},
            ValueError,
            "name",
        ),
        (
            {
                "tasks": ["branin"],
                "searchers": ["random"],
                "budget": {"max_evals": 2},
                "run": {"workers": -1},
            },
            ValueError,
            "workers",
        ),
        (
            {
                "tasks": ["branin"],
                "searchers": ["random"],
                "budget": {"max_evals": 2},
                "run": {"trial_timeout": 0},
            },
            ValueError,
            "trial_timeout",
        ),
    ],
)
def test_bad_specs_are_refused_with_names(data: dict, error: type, fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        spec_from_dict(data)


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, 'tasks = ["branin"\nsearchers = \n')
    with pytest.raises(ValueError, match="not valid TOML"):
        load_spec(path)
    with pytest.raises(ValueError, match="no such file"):
        load_spec(tmp_path / "missing.toml")


def test_spec_round_trips_through_to_dict() -> None:
    spec, _ = spec_from_dict(
        {
            "name": "e",
            "tasks": ["branin"],
            "searchers": ["random", "hyperband:eta=3"],
            "seeds": 2,
            "budget": {"max_cost": 5},
        }
    )
    d = spec.to_dict()
    again, _ = spec_from_dict(
        {**d, "searchers": [{"name": s["name"], **s["params"]} for s in d["searchers"]]}
    )
    assert again == spec


def test_spec_differences() -> None:
    base = BenchmarkSpec("e", ("branin",), (SearcherSpec("random"),), (0, 1), Budget(max_evals=10)).to_dict()
    assert spec_differences(base, dict(base)) == []
    # 10 and 10.0 are the same budget (TOML and JSON round trips change the type)
    assert spec_differences(base, {**base, "budget": {"max_evals": 10.0}}) == []
    more_seeds = {**base, "seeds": [0, 1, 2]}
    (diff,) = spec_differences(base, more_seeds)
    assert diff.startswith("seeds") and "[0, 1, 2]" in diff
    other = BenchmarkSpec(
        "e", ("branin", "hartmann3"), (SearcherSpec("hyperband", {"eta": 3}),), (0, 1), Budget(max_cost=5)
    ).to_dict()
    keys = [d.split(":")[0] for d in spec_differences(base, other)]
    assert keys == ["tasks", "searchers", "budget"]
    # searcher parameters are part of the identity
    eta2 = BenchmarkSpec(
        "e", ("branin",), (SearcherSpec("hyperband", {"eta": 2}, label="hb"),), (0, 1), Budget(max_evals=10)
    ).to_dict()
    eta3 = BenchmarkSpec(
        "e", ("branin",), (SearcherSpec("hyperband", {"eta": 3}, label="hb"),), (0, 1), Budget(max_evals=10)
    ).to_dict()
    assert [d.split(":")[0] for d in spec_differences(eta2, eta3)] == ["searchers"]
