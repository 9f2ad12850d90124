"""Synthetic tasks against the literature: optima, minimisers, multi-fidelity perturbation, noise.

References: Dixon & Szegö (1978) for Branin and Hartmann; the minimisers and minima as
tabulated by Surjanovic & Bingham's Virtual Library of Simulation Experiments.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from hpbench.registry import get_task
from hpbench.tasks.synthetic import Branin, Hartmann, branin, hartmann

BRANIN_MINIMISERS = [(-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)]
H3_MINIMISER = [0.114614, 0.555649, 0.852547]
H6_MINIMISER = [0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]


def _cfg(x: list[float]) -> dict[str, float]:
    return {f"x{i + 1}": v for i, v in enumerate(x)}


@pytest.mark.parametrize(("x1", "x2"), BRANIN_MINIMISERS)
def test_branin_minimum_at_each_of_the_three_minimisers(x1: float, x2: float) -> None:
    assert branin(x1, x2) == pytest.approx(0.397887, abs=1e-5)
    task = Branin()
    assert task.evaluate({"x1": x1, "x2": x2}).objective == pytest.approx(task.optimum, abs=1e-5)


def test_branin_closed_form_at_a_corner() -> None:
    # x = (-5, 0): (0 - b*25 - 5c - 6)^2 + 10(1 - t)cos(-5) + 10, with the textbook constants
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    want = (-b * 25 - 5 * c - 6) ** 2 + 10 * (1 - t) * math.cos(-5) + 10
    assert branin(-5.0, 0.0) == pytest.approx(want, rel=1e-12)


def test_hartmann3_minimum() -> None:
    assert hartmann(np.array(H3_MINIMISER)) == pytest.approx(-3.86278, abs=1e-5)
    task = Hartmann(dim=3)
    assert task.evaluate(_cfg(H3_MINIMISER)).objective == pytest.approx(task.optimum, abs=1e-5)


def test_hartmann6_minimum() -> None:
    assert hartmann(np.array(H6_MINIMISER)) == pytest.approx(-3.32237, abs=1e-5)
    task = Hartmann(dim=6)
    assert task.evaluate(_cfg(H6_MINIMISER)).objective == pytest.approx(task.optimum, abs=1e-5)


@pytest.mark.parametrize("dim", [3, 6])
def test_hartmann_minimiser_is_a_local_minimum_no_better_point_nearby(dim: int) -> None:
    x0 = np.array(H3_MINIMISER if dim == 3 else H6_MINIMISER)
    res = minimize(hartmann, x0, bounds=[(0, 1)] * dim, method="L-BFGS-B")
    # the literature's minimiser is where a local optimiser stays, to 5 decimals of the value
    assert res.fun == pytest.approx(Hartmann(dim=dim).optimum, abs=1e-5)
    rng = np.random.default_rng(0)
    values = [hartmann(x) for x in rng.random((2000, dim))]
    assert min(values) > Hartmann(dim=dim).optimum


def test_branin_global_search_finds_nothing_below_the_optimum() -> None:
    rng = np.random.default_rng(1)
    xs = rng.uniform([-5, 0], [10, 15], size=(20_000, 2))
    assert min(branin(a, b) for a, b in xs) >= 0.397887 - 1e-6


@pytest.mark.parametrize(
    ("name", "x"), [("branin-mf", {"x1": 1.0, "x2": 3.0}), ("hartmann6-mf", _cfg([0.3] * 6))]
)
def test_multi_fidelity_perturbation_vanishes_at_the_top_only(name: str, x: dict[str, float]) -> None:
    mf = get_task(name)
    full = get_task(name.removesuffix("-mf"))
    assert mf.fidelity is not None and (mf.fidelity.low, mf.fidelity.high) == (1, 81)
    top = mf.evaluate(x, budget=81).objective
    assert top == full.evaluate(x).objective
    gaps = [abs(mf.evaluate(x, budget=b).objective - top) for b in (1, 3, 9, 27)]
    assert all(g > 0 for g in gaps)
    # the perturbation shrinks as the fidelity grows (it is linear in 1 - z)
    assert gaps == sorted(gaps, reverse=True)


def test_branin_mf_follows_the_documented_constants() -> None:
    # z = log(9) / log(81) = 1/2 on the eta = 3 rung grid
    z = 0.5
    b = 5.1 / (4 * math.pi**2) - 0.01 * (1 - z)
    c = 5 / math.pi - 0.1 * (1 - z)
    t = 1 / (8 * math.pi) + 0.05 * (1 - z)
    x1, x2 = 2.0, 4.0
    want = (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10
    got = get_task("branin-mf").evaluate({"x1": x1, "x2": x2}, budget=9).objective
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("name", ["branin-noisy", "hartmann6-noisy"])
def test_noise_is_deterministic_under_the_seed(name: str) -> None:
    task = get_task(name)
    x = task.space.sample(np.random.default_rng(5))
    a = task.evaluate(x, seed=3)
    assert task.evaluate(x, seed=3).objective == a.objective
    others = {task.evaluate(x, seed=s).objective for s in range(10)}
    assert len(others) == 10  # another seed, another draw
    # noiseless value kept in the metrics; the noise has the documented scale
    clean = get_task(name.removesuffix("-noisy")).evaluate(x).objective
    assert a.metrics["noiseless"] == clean
    draws = np.array([task.evaluate(x, seed=s).objective for s in range(400)]) - clean
    assert abs(draws.mean()) < 4 * task.noise / math.sqrt(400)
    assert draws.std() == pytest.approx(task.noise, rel=0.2)


def test_noise_differs_between_configs_with_the_same_seed() -> None:
    task = get_task("branin-noisy")
    clean = get_task("branin")
    xs = [{"x1": 1.0, "x2": v} for v in (1.0, 2.0, 3.0)]
    residuals = {round(task.evaluate(x, seed=0).objective - clean.evaluate(x).objective, 12) for x in xs}
    assert len(residuals) == 3


def test_bad_construction_is_refused() -> None:
    with pytest.raises(ValueError, match="dim"):
        Hartmann(dim=4)
    with pytest.raises(ValueError, match="noise"):
        Branin(noise=-1.0)


def test_checkpoint_beyond_budget_is_refused() -> None:
    task = get_task("branin-mf")
    ck = task.evaluate({"x1": 0.0, "x2": 0.0}, budget=27).checkpoint
    with pytest.raises(ValueError, match="checkpoint"):
        task.evaluate({"x1": 0.0, "x2": 0.0}, budget=9, checkpoint=ck)
