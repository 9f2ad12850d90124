"""Multi-objective numerics against independent references (moocore, pymoo, closed forms)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpbench.pareto import crowding_distance, dominates, non_dominated_mask, non_dominated_ranks, normalise
from hpbench.results.attainment import attainment_function, attainment_surface
from hpbench.results.hypervolume import hypervolume, hypervolume_2d, hypervolume_3d
from hpbench.searchers.mo_promotion import promotion_order
from hpbench.searchers.parego import augmented_chebyshev, simplex_lattice

moocore = pytest.importorskip("moocore")
pymoo_hv = pytest.importorskip("pymoo.indicators.hv")


def _front(rng: np.random.Generator, k: int) -> np.ndarray:
    n = int(rng.integers(1, 60))
    F = rng.dirichlet(np.ones(k), size=n) ** (1 / rng.choice([0.5, 1.0, 2.0]))
    F[: n // 3] += rng.random((n // 3, k)) * 0.6  # dominated points, some outside the box
    return np.round(F, 2) if rng.random() < 0.4 else F  # ties and duplicates


@pytest.mark.parametrize("k", [2, 3])
def test_hypervolume_matches_moocore_and_pymoo(k: int) -> None:
    rng = np.random.default_rng(k)
    ref = np.full(k, 1.3)
    for _ in range(150):
        F = _front(rng, k)
        ours = hypervolume(F, ref)
        assert ours == pytest.approx(float(moocore.hypervolume(F, ref=ref)), rel=1e-12, abs=1e-15)
        assert ours == pytest.approx(float(pymoo_hv.HV(ref_point=ref)(F)), rel=1e-12, abs=1e-15)


def _union_of_boxes(points: np.ndarray, ref: np.ndarray) -> float:
    """Brute force: split the box into the grid of all coordinates, add up the dominated cells."""
    pts = points[np.all(points < ref, axis=1)]
    k = pts.shape[1]
    axes = [np.unique(np.r_[pts[:, j], ref[j]]) for j in range(k)]
    total = 0.0
    for cell in np.array(np.meshgrid(*[a[:-1] for a in axes], indexing="ij")).reshape(k, -1).T:
        if np.any(np.all(pts <= cell, axis=1)):
            upper = [a[np.searchsorted(a, c) + 1] for a, c in zip(axes, cell)]
            total += float(np.prod(np.array(upper) - cell))
    return total


def test_hypervolume_matches_a_brute_force_union_of_boxes() -> None:
    """pymoo's exact hypervolume calls moocore: this reference shares no code with either."""
    rng = np.random.default_rng(11)
    for k in (2, 3):
        for _ in range(30):
            F = _front(rng, k)[:12]
            ref = np.full(k, 1.3)
            assert hypervolume(F, ref) == pytest.approx(_union_of_boxes(F, ref), rel=1e-12, abs=1e-15)


def test_hypervolume_closed_forms_and_edge_cases() -> None:
    assert hypervolume(np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([3.0, 3.0])) == 3.0
    assert hypervolume_3d(np.array([[0.0, 0.0, 0.0]]), np.array([2.0, 3.0, 4.0])) == 24.0
    assert hypervolume(np.array([[0.5]]), np.array([2.0])) == 1.5
    # outside the box, on its boundary, NaN, duplicates: no volume / counted once
    assert hypervolume_2d(np.array([[3.0, 0.0], [1.0, 1.0], [np.nan, 0.0]]), np.array([1.0, 2.0])) == 0.0
    assert hypervolume_2d(np.array([[0.0, 0.0], [0.0, 0.0]]), np.array([1.0, 1.0])) == 1.0
    assert hypervolume(np.empty((0, 3)), np.ones(3)) == 0.0
    with pytest.raises(ValueError, match="exact in 1 to 3 objectives"):
        hypervolume(np.zeros((1, 4)), np.ones(4))
    with pytest.raises(ValueError, match=r"points of shape \(N, 2\)"):
        hypervolume(np.zeros((2, 3)), np.ones(2))


def test_pareto_filter_ranks_and_crowding_match_references() -> None:
    from pymoo.operators.survival.rank_and_crowding.metrics import calc_crowding_distance

    rng = np.random.default_rng(0)
    for _ in range(50):
        F = np.round(rng.random((int(rng.integers(1, 40)), int(rng.integers(2, 4)))), 1)
        mask = non_dominated_mask(F)
        assert mask.tolist() == moocore.is_nondominated(F, keep_weakly=True).tolist()
        assert non_dominated_ranks(F).tolist() == moocore.pareto_rank(F).tolist()
    F = np.unique(rng.random((12, 2)), axis=0)
    F = F[non_dominated_mask(F)]
    ours, theirs = crowding_distance(F), calc_crowding_distance(F)
    assert np.array_equal(np.isinf(ours), np.isinf(theirs))
    fin = np.isfinite(ours)
    # pymoo averages over objectives, Deb et al. sum: the same order, a factor k apart
    assert np.allclose(ours[fin], F.shape[1] * theirs[fin])
    assert dominates(np.array([0, 1]), np.array([0, 2])) and not dominates(np.array([0, 1]), np.array([0, 1]))
    assert np.allclose(
        normalise(np.array([[2.0, 5.0]]), np.array([1.0, 5.0]), np.array([3.0, 5.0])), [[0.5, 0.0]]
    )


@pytest.mark.parametrize("q", [0.1, 0.25, 0.5, 0.75, 1.0])
def test_attainment_surfaces_match_moocore(q: float) -> None:
    rng = np.random.default_rng(3)
    runs = [np.round(rng.random((int(rng.integers(2, 12)), 2)), 2) for _ in range(9)]
    pts = np.vstack(runs)
    sets = np.concatenate([[i + 1] * len(r) for i, r in enumerate(runs)])
    ref = moocore.eaf(pts, sets, percentiles=[q * 100])[:, :2]
    assert np.allclose(attainment_surface(runs, q), ref)
    # the EAF is the attained share: at least q on the q-surface's points
    assert np.all(attainment_function(runs, ref) >= q - 1e-12)


def test_attainment_function_counts_runs_that_weakly_dominate() -> None:
    runs = [np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]]), np.empty((0, 2))]
    Z = np.array([[1.0, 1.0], [0.5, 1.0], [0.0, 0.0]])
    assert attainment_function(runs, Z).tolist() == [2 / 3, 1 / 3, 0.0]
    with pytest.raises(ValueError, match=r"0 < q <= 1"):
        attainment_surface(runs, 0.0)


def test_promotion_order_is_nsga2_order_and_scalar_order_unchanged() -> None:
    # front 0: (0,3) (1,1) (3,0) [and (2,0.5)]; (2,2) dominated; failures last
    items = [(5, (2.0, 2.0)), (1, (1.0, 1.0)), (2, None), (3, (0.0, 3.0)), (4, (3.0, 0.0)), (6, (2.0, 0.5))]
    order = promotion_order(items)
    assert order[:2] == [3, 4]  # boundary points of front 0 (infinite crowding), by trial id
    assert set(order[2:4]) == {1, 6} and order[4:] == [5, 2]
    scalars = [(3, 0.5), (1, None), (0, 0.5), (2, -1.0)]
    assert promotion_order(scalars) == [2, 0, 3, 1]  # by value, ties by trial id, failures last


def test_parego_weight_lattice_and_scalarisation() -> None:
    assert simplex_lattice(2, 10).shape == (11, 2) and simplex_lattice(3, 4).shape == (15, 3)
    assert np.allclose(simplex_lattice(3, 4).sum(axis=1), 1.0)
    F = np.array([[0.2, 0.8], [1.0, 0.0]])
    w = np.array([0.3, 0.7])
    expected = [max(0.06, 0.56) + 0.05 * (0.06 + 0.56), max(0.3, 0.0) + 0.05 * 0.3]
    assert np.allclose(augmented_chebyshev(F, w), expected)


def test_known_fronts_volume_below_matches_a_dense_front() -> None:
    """Pareto-set points lie on the stated front, and a fine grid on it has the closed-form volume."""
    from hpbench.registry import get_task

    ref2, ref3 = np.full(2, 1.1), np.full(3, 1.1)
    for name in ("zdt1", "zdt2", "dtlz2-2obj"):
        task = get_task(name)
        g = np.linspace(0.0, 1.0, 1500)
        rest = 0.0 if name.startswith("zdt") else 0.5  # distance variables on the Pareto set
        cfgs = np.column_stack([g, np.full((len(g), task.space.width - 1), rest)])
        F = np.array([list(task.evaluate(dict(zip(task.space, c))).objectives.values()) for c in cfgs])
        exact = math.prod(ref2) - task.pareto_front["volume_below"]
        dense = hypervolume(F, ref2)
        assert dense <= exact + 1e-12 and dense == pytest.approx(exact, rel=1e-3)
    task = get_task("dtlz2-3obj")
    rng = np.random.default_rng(0)
    cfgs = np.column_stack([rng.random((50, 2)), np.full((50, task.space.width - 2), 0.5)])
    F = np.array([list(task.evaluate(dict(zip(task.space, c))).objectives.values()) for c in cfgs])
    assert np.allclose((F**2).sum(axis=1), 1.0)  # on the unit sphere
    a, b = np.meshgrid(np.linspace(0, np.pi / 2, 300), np.linspace(0, np.pi / 2, 300))
    S = np.column_stack([(np.cos(a) * np.cos(b)).ravel(), (np.cos(a) * np.sin(b)).ravel(), np.sin(a).ravel()])
    exact = math.prod(ref3) - task.pareto_front["volume_below"]
    dense = hypervolume(S, ref3)
    assert dense <= exact + 1e-12 and dense == pytest.approx(exact, rel=5e-3)
