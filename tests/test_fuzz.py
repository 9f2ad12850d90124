"""Fuzzing: random specs, spaces, configs and objectives never escape as unexpected exceptions.

Every input either succeeds or raises ``ValueError``/``TypeError`` with a non-empty
message; anything else (KeyError, AttributeError, AssertionError...) is a bug.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpbench.registry import make_searcher
from hpbench.space import Categorical, Float, Int, SearchSpace
from hpbench.spec import spec_from_dict
from hpbench.trial import Suggestion

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _expect_clean(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; only ValueError/TypeError with a message may come out."""
    try:
        return fn(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return None


# ------------------------------------------------------------------------------- spec files
spec_keys = st.sampled_from(["name", "tasks", "searchers", "seeds", "budget", "run", "other"])
task_values = st.one_of(
    values, st.lists(st.sampled_from(["branin", "hartmann6", "nope", ""]), max_size=3), st.just("branin")
)
searcher_values = st.one_of(
    values,
    st.lists(st.sampled_from(["random", "gp-ei", "hyperband:eta=3", "random:x=[1,2", "sh:eta=abc", ":"])),
    st.lists(st.dictionaries(st.sampled_from(["name", "label", "params", "eta"]), values, max_size=3)),
)
budget_values = st.one_of(
    values,
    st.dictionaries(
        st.sampled_from(["max_evals", "max_cost", "max_seconds", "evals"]),
        st.one_of(st.integers(-5, 50), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3)),
        max_size=3,
    ),
)
run_values = st.one_of(
    values,
    st.dictionaries(
        st.sampled_from(["workers", "dask", "trial_timeout", "trials_per_run", "store", "bogus"]),
        values,
        max_size=3,
    ),
)


@SETTINGS
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.one_of(values, st.text(max_size=10)),
            "tasks": task_values,
            "searchers": searcher_values,
            "seeds": st.one_of(values, st.integers(-3, 5), st.lists(st.integers(-2, 4), max_size=4)),
            "budget": budget_values,
            "run": run_values,
        },
    ),
    st.dictionaries(spec_keys, values, max_size=2),
)
def test_random_specs_fail_cleanly(base: dict[str, Any], extra: dict[str, Any]) -> None:
    data = {**extra, **base}
    out = _expect_clean(spec_from_dict, data)
    if out is not None:
        spec, options = out
        assert spec.tasks and spec.searchers and spec.seeds
        assert options.workers >= 0


# ----------------------------------------------------------------------------------- spaces
param_dicts = st.dictionaries(
    st.sampled_from(["type", "low", "high", "log", "choices", "active_if", "step"]),
    st.one_of(
        st.sampled_from(["float", "int", "categorical", "bool"]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-100, 100),
        st.booleans(),
        st.lists(scalars, max_size=4),
        st.tuples(st.text(max_size=3), st.lists(scalars, max_size=2)),
        values,
    ),
    max_size=5,
)


@SETTINGS
@given(st.one_of(values, st.dictionaries(st.text(max_size=5), param_dicts, max_size=4)))
def test_random_space_dicts_fail_cleanly(data: Any) -> None:
    space = _expect_clean(SearchSpace.from_dict, data)
    if space is not None:
        # A space that was accepted must round-trip and sample valid configs.
        assert SearchSpace.from_dict(space.to_dict()) == space
        config = space.sample(np.random.default_rng(0))
        assert space.validate(config) == config


@SETTINGS
@given(
    st.sampled_from([Float, Int, Categorical]),
    st.lists(st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=3),
    st.dictionaries(st.sampled_from(["log", "active_if"]), values, max_size=2),
)
def test_random_param_constructors_fail_cleanly(cls: Any, args: list[Any], kwargs: dict[str, Any]) -> None:
    _expect_clean(cls, *args, **kwargs)


SPACE = SearchSpace(
    {
        "lr": Float(1e-4, 1.0, log=True),
        "layers": Int(1, 8),
        "act": Categorical(["relu", "tanh"]),
        "alpha": Float(0.0, 1.0, active_if=("act", ["tanh"])),
    }
)


@SETTINGS
@given(
    st.one_of(
        values,
        st.dictionaries(
            st.sampled_from(["lr", "layers", "act", "alpha", "extra"]),
            st.one_of(scalars, st.sampled_from(["relu", "tanh"]), st.floats(0, 1), st.integers(0, 9)),
            max_size=5,
        ),
    )
)
def test_random_configs_fail_cleanly(config: Any) -> None:
    out = _expect_clean(SPACE.validate, config)
    if out is not None:
        assert set(out) <= set(SPACE)
        assert SPACE.validate(out) == out


# ------------------------------------------------------------------------------- searchers
@SETTINGS
@given(
    st.sampled_from(["random", "gp-ei"]),
    st.lists(
        st.one_of(
            st.none(),
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(-(10**9), 10**9),
            st.booleans(),
            st.text(max_size=3),
            st.just(np.float32(1.5)),
            st.just(np.int64(3)),
            st.lists(st.integers(), max_size=2),
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(0, 3),
)
def test_random_tell_values_fail_cleanly(name: str, objectives: list[Any], bogus_id: int) -> None:
    searcher = make_searcher(name, space=SearchSpace({"x": Float(0.0, 1.0)}), seed=1)
    for obj in objectives:
        s = searcher.ask()
        assert s is not None
        _expect_clean(searcher.tell, s, obj)
    # Telling something that is not pending, or not a Suggestion at all.
    _expect_clean(searcher.tell, Suggestion(10_000 + bogus_id, {"x": 0.5}), 1.0)
    _expect_clean(searcher.tell, {"trial_id": 0}, 1.0)  # type: ignore[arg-type]
    told = [o for _, o in searcher.history]
    assert all(o is None or math.isfinite(o) for o in told)
    nxt = searcher.ask()  # the searcher still works after all that
    assert nxt is not None and 0.0 <= nxt.config["x"] <= 1.0
