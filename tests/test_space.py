"""Search spaces: encoding round trips (hypothesis), sampling laws, JSON, validation messages."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from hpbench.space import Categorical, Fidelity, Float, Int, SearchSpace

# ----------------------------------------------------------------------------- strategies
_finite = {"allow_nan": False, "allow_infinity": False}


@st.composite
def floats_params(draw: st.DrawFn) -> Float:
    if draw(st.booleans()):
        low = draw(st.floats(1e-8, 1e4, **_finite))
        return Float(low, low * draw(st.floats(1.01, 1e6, **_finite)), log=True)
    low = draw(st.floats(-1e6, 1e6, **_finite))
    return Float(low, low + draw(st.floats(1e-3, 1e6, **_finite)))


@st.composite
def int_params(draw: st.DrawFn) -> Int:
    if draw(st.booleans()):
        low = draw(st.integers(1, 1000))
        return Int(low, low + draw(st.integers(1, 100_000)), log=True)
    low = draw(st.integers(-10_000, 10_000))
    return Int(low, low + draw(st.integers(1, 100_000)))


_choice = st.one_of(st.text(min_size=1, max_size=6), st.integers(-100, 100))


@st.composite
def categorical_params(draw: st.DrawFn) -> Categorical:
    choices = draw(st.lists(_choice, min_size=1, max_size=5, unique_by=repr))
    return Categorical(choices)


@st.composite
def spaces(draw: st.DrawFn) -> SearchSpace:
    """1..6 parameters; some numeric ones conditional on an earlier categorical."""
    params: dict[str, Any] = {}
    for i in range(draw(st.integers(1, 6))):
        p = draw(st.one_of(floats_params(), int_params(), categorical_params()))
        parents = [n for n, q in params.items() if isinstance(q, Categorical) and q.active_if is None]
        if parents and not isinstance(p, Categorical) and draw(st.booleans()):
            parent = draw(st.sampled_from(parents))
            values = draw(st.lists(st.sampled_from(params[parent].choices), min_size=1, unique_by=repr))
            p = type(p)(p.low, p.high, log=p.log, active_if=(parent, values))
        params[f"p{i}"] = p
    return SearchSpace(params)


@st.composite
def space_and_config(draw: st.DrawFn) -> tuple[SearchSpace, dict[str, Any]]:
    """A space and a configuration drawn value by value (not through space.sample)."""
    space = draw(spaces())
    config: dict[str, Any] = {}
    for name, p in space.items():
        if not space.is_active(name, config):
            continue
        if isinstance(p, Categorical):
            config[name] = draw(st.sampled_from(p.choices))
        elif isinstance(p, Int):
            config[name] = draw(st.integers(p.low, p.high))
        else:
            config[name] = draw(st.floats(p.low, p.high, **_finite))
    return space, config


def assert_same_config(space: SearchSpace, got: dict[str, Any], want: dict[str, Any]) -> None:
    assert set(got) == set(want)
    for name, value in want.items():
        p = space[name]
        if isinstance(p, Float):
            assert type(got[name]) is float
            assert math.isclose(got[name], value, rel_tol=1e-9, abs_tol=1e-12 * (p.high - p.low))
        else:
            assert type(got[name]) is type(value)
            assert got[name] == value


# ------------------------------------------------------------------------- properties
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(space_and_config())
def test_decode_encode_round_trip(sc: tuple[SearchSpace, dict[str, Any]]) -> None:
    space, config = sc
    u = space.encode(config)
    assert u.shape == (space.width,)
    assert np.all((u >= 0) & (u <= 1))
    assert_same_config(space, space.decode(u), config)


@settings(max_examples=100, deadline=None)
@given(spaces(), st.integers(0, 2**32 - 1))
def test_samples_are_valid_inside_bounds_and_inactive_params_absent(space: SearchSpace, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(5):
        config = space.sample(rng)
        assert space.validate(config) == config
        for name, p in space.items():
            if not space.is_active(name, config):
                assert name not in config
                continue
            v = config[name]
            if isinstance(p, Int):
                assert type(v) is int and p.low <= v <= p.high
            elif isinstance(p, Float):
                assert type(v) is float and p.low <= v <= p.high
            else:
                assert v in p.choices


@settings(max_examples=100, deadline=None)
@given(spaces(), st.integers(0, 2**32 - 1))
def test_project_gives_valid_encodings(space: SearchSpace, seed: int) -> None:
    # Points slightly outside the cube too: optimisers overshoot.
    u = np.random.default_rng(seed).uniform(-0.1, 1.1, size=(4, space.width))
    proj = space.project(u)
    assert proj.shape == (4, space.width)
    assert np.all((proj >= 0) & (proj <= 1))
    for row in proj:
        config = space.decode(row)
        assert space.validate(config) == config
        np.testing.assert_allclose(space.encode(config), row, rtol=0, atol=1e-12)
    np.testing.assert_allclose(space.project(proj), proj, rtol=0, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(spaces())
def test_json_round_trip(space: SearchSpace) -> None:
    text = space.to_json()
    json.loads(text)  # valid JSON, no NaN
    back = SearchSpace.from_json(text)
    assert back == space
    assert list(back) == list(space)
    assert back.width == space.width


# ------------------------------------------------------------------- sampling laws
def test_log_float_samples_are_uniform_in_log_space() -> None:
    p = Float(1e-3, 1e3, log=True)
    rng = np.random.default_rng(12345)
    x = np.log(np.array([p.sample(rng) for _ in range(20_000)]))
    lo, hi = math.log(1e-3), math.log(1e3)
    assert stats.kstest(x, "uniform", args=(lo, hi - lo)).pvalue > 0.01
    # The test has power: a linear-scale Float fails it badly.
    lin = Float(1e-3, 1e3)
    y = np.log(np.array([lin.sample(rng) for _ in range(20_000)]))
    assert stats.kstest(y, "uniform", args=(lo, hi - lo)).pvalue < 1e-6


def test_linear_float_samples_are_uniform() -> None:
    p = Float(-2.0, 3.0)
    rng = np.random.default_rng(7)
    x = np.array([p.sample(rng) for _ in range(20_000)])
    assert stats.kstest(x, "uniform", args=(-2.0, 5.0)).pvalue > 0.01


def test_int_samples_are_python_ints_and_cover_the_range_evenly() -> None:
    p = Int(0, 4)
    rng = np.random.default_rng(3)
    xs = [p.sample(rng) for _ in range(10_000)]
    assert all(type(x) is int for x in xs)
    counts = np.bincount(xs, minlength=5)
    assert stats.chisquare(counts).pvalue > 0.01


def test_log_int_samples_favour_small_values() -> None:
    p = Int(1, 1000, log=True)
    rng = np.random.default_rng(4)
    xs = np.array([p.sample(rng) for _ in range(10_000)])
    assert all(type(int(x)) is int for x in xs)
    assert xs.min() >= 1 and xs.max() <= 1000
    # Log-uniform: the median is near the geometric mean sqrt(1000) ~ 32, not 500.
    assert 20 < np.median(xs) < 50


def test_space_sampling_is_seeded() -> None:
    space = SearchSpace({"a": Float(0, 1), "b": Int(1, 9), "c": Categorical(["x", "y", "z"])})
    a = [space.sample(np.random.default_rng(11)) for _ in range(3)]
    b = [space.sample(np.random.default_rng(11)) for _ in range(3)]
    assert a == b
    assert space.sample(np.random.default_rng(11)) != space.sample(np.random.default_rng(12))


def test_conditional_parameter_present_only_when_parent_matches(space: SearchSpace) -> None:
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        config = space.sample(rng)
        assert ("momentum" in config) == (config["opt"] in ("sgd", "rmsprop"))
        seen.add("momentum" in config)
    assert seen == {True, False}
    # validate drops an inactive parameter instead of keeping a meaningless value
    assert "momentum" not in space.validate(
        {"lr": 0.01, "depth": 2, "width": 16, "opt": "adam", "momentum": 0.5}
    )
    # and the inactive columns encode to the neutral value
    u = space.encode({"lr": 0.01, "depth": 2, "width": 16, "opt": "adam"})
    assert u[space.columns("momentum")][0] == 0.5


# --------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("make", "error", "fragments"),
    [
        (lambda: Float(1.0, 1.0), ValueError, ["low < high", "1.0"]),
        (lambda: Float(2.0, 1.0), ValueError, ["low < high", "low=2.0", "high=1.0"]),
        (lambda: Int(5, 3), ValueError, ["low < high", "low=5", "high=3"]),
        (lambda: Float(0.0, 1.0, log=True), ValueError, ["log", "low > 0", "low=0.0"]),
        (lambda: Int(-1, 10, log=True), ValueError, ["log", "low > 0", "low=-1"]),
        (lambda: Float("a", 1.0), TypeError, ["low", "number", "'a'"]),
        (lambda: Float(0.0, math.inf), ValueError, ["high", "finite", "inf"]),
        (lambda: Int(0.5, 3), TypeError, ["low", "integer", "0.5"]),
        (lambda: Float(0.0, 1.0, log="yes"), TypeError, ["log", "'yes'"]),
        (lambda: Categorical([]), ValueError, ["at least one choice", "[]"]),
        (lambda: Categorical("abc"), TypeError, ["choices", "list", "'abc'"]),
        (lambda: Categorical(["a", "a"]), ValueError, ["distinct", "'a'"]),
        (lambda: Categorical([None]), TypeError, ["choices", "None"]),
        (lambda: SearchSpace({}), ValueError, ["at least one parameter"]),
        (lambda: SearchSpace({"x": 3}), TypeError, ["'x'", "Float, Int or Categorical", "3"]),
        (
            lambda: SearchSpace({"a": Categorical(["u", "v"]), "b": Float(0, 1, active_if=("zz", ["u"]))}),
            ValueError,
            ["'b'", "active_if", "unknown parent", "'zz'"],
        ),
        (
            lambda: SearchSpace({"a": Float(0, 1), "b": Float(0, 1, active_if=("a", [0.5]))}),
            ValueError,
            ["'b'", "active_if", "'a'", "Categorical"],
        ),
        (
            lambda: SearchSpace({"a": Categorical(["u", "v"]), "b": Float(0, 1, active_if=("a", ["w"]))}),
            ValueError,
            ["'a'", "one of", "'w'"],
        ),
        (
            lambda: SearchSpace({"b": Float(0, 1, active_if=("a", ["u"])), "a": Categorical(["u", "v"])}),
            ValueError,
            ["'b'", "comes first", "'a'"],
        ),
        (lambda: Float(0, 1, active_if=("a", [])), ValueError, ["active_if", "at least one"]),
    ],
)
def test_construction_errors_name_parameter_rule_and_value(
    make: Any, error: type, fragments: list[str]
) -> None:
    with pytest.raises(error) as info:
        make()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


@pytest.mark.parametrize(
    ("config", "error", "fragments"),
    [
        ({"lr": 0.5, "depth": 2, "width": 16, "opt": "adam"}, ValueError, ["'lr'", "<= value <=", "0.5"]),
        ({"lr": 0.01, "depth": 2.5, "width": 16, "opt": "adam"}, TypeError, ["'depth'", "integer", "2.5"]),
        ({"lr": 0.01, "depth": 2, "width": 16, "opt": "nadam"}, ValueError, ["'opt'", "one of", "'nadam'"]),
        ({"lr": "x", "depth": 2, "width": 16, "opt": "adam"}, TypeError, ["'lr'", "number", "'x'"]),
        ({"lr": 0.01, "depth": 2, "width": 16}, ValueError, ["'opt'", "missing"]),
        ({"lr": 0.01, "depth": 2, "width": 16, "opt": "sgd"}, ValueError, ["'momentum'", "missing"]),
        (
            {"lr": 0.01, "depth": 2, "width": 16, "opt": "adam", "bogus": 1},
            ValueError,
            ["unknown", "'bogus'"],
        ),
        ([0.01, 2], TypeError, ["config", "mapping"]),
    ],
)
def test_config_validation_errors_name_parameter(
    space: SearchSpace, config: Any, error: type, fragments: list[str]
) -> None:
    with pytest.raises(error) as info:
        space.validate(config)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_validate_returns_clean_python_types(space: SearchSpace) -> None:
    out = space.validate(
        {"lr": np.float32(0.01), "depth": np.int64(3), "width": 64.0, "opt": "sgd", "momentum": 0}
    )
    assert type(out["lr"]) is float and type(out["depth"]) is int and type(out["width"]) is int
    assert type(out["momentum"]) is float


def test_decode_refuses_wrong_shape(space: SearchSpace) -> None:
    with pytest.raises(ValueError, match=r"shape"):
        space.decode(np.zeros(space.width + 1))


def test_from_dict_errors_name_parameter() -> None:
    with pytest.raises(ValueError, match="'a'.*type"):
        SearchSpace.from_dict({"a": {"type": "complex", "low": 0, "high": 1}})
    with pytest.raises(TypeError, match="'a'"):
        SearchSpace.from_dict({"a": {"type": "float", "low": 0, "hihg": 1}})


def test_space_pickles_and_compares() -> None:
    import pickle

    space = SearchSpace({"a": Float(0, 1), "b": Categorical([1, 2])})
    assert pickle.loads(pickle.dumps(space)) == space
    assert space != SearchSpace({"a": Float(0, 2), "b": Categorical([1, 2])})
    assert hash(space) == hash(SearchSpace({"a": Float(0, 1), "b": Categorical([1, 2])}))


# ----------------------------------------------------------------------- fidelity
def test_fidelity_cost_in_full_fidelity_equivalents() -> None:
    f = Fidelity("epochs", 1, 27)
    assert f.cost(27) == 1.0
    assert f.cost(9) == pytest.approx(9 / 27)
    assert f.cost(27, start=9) == pytest.approx(18 / 27)
    assert f.cost(9, start=3) + f.cost(27, start=9) == pytest.approx(f.cost(27, start=3))


def test_fidelity_validate() -> None:
    f = Fidelity("epochs", 1, 27)
    assert f.validate(3) == 3 and type(f.validate(3.0)) is int
    for bad in (0, 28, 2.5):
        with pytest.raises(ValueError, match="epochs"):
            f.validate(bad)
    with pytest.raises(TypeError, match="budget"):
        f.validate("3")
    g = Fidelity("fraction", 0.1, 1.0, integer=False)
    assert g.validate(0.25) == 0.25


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"name": "e", "low": 0, "high": 3}, ValueError, "low > 0"),
        ({"name": "e", "low": 3, "high": 3}, ValueError, "low < high"),
        ({"name": "e", "low": 1.5, "high": 3}, ValueError, "integer"),
        ({"name": "", "low": 1, "high": 3}, TypeError, "name"),
        ({"name": "e", "low": "1", "high": 3}, TypeError, "low"),
    ],
)
def test_fidelity_construction_errors(kwargs: dict[str, Any], error: type, fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        Fidelity(**kwargs)
