"""Hypervolume regret over the budget, normalisation and pooled fronts, on hand-made trial frames."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hpbench.results import analysis as an
from hpbench.results import mo_analysis as mo
from hpbench.results.hypervolume import hypervolume


def _frame(points: dict[tuple[str, int], list[tuple[float, float] | None]]) -> pd.DataFrame:
    """Trials of task 't': (searcher, seed) -> points in finish order (None: a failed trial)."""
    rows = []
    for run_id, ((searcher, seed), pts) in enumerate(points.items()):
        for i, p in enumerate(pts):
            rows.append(
                {
                    "task": "t",
                    "searcher": searcher,
                    "seed": seed,
                    "run_id": run_id,
                    "trial": i,
                    "status": "ok" if p else "failed",
                    "objective": p[0] if p else np.nan,
                    "objective.a": p[0] if p else np.nan,
                    "objective.b": p[1] if p else np.nan,
                    "finished": float(i),
                    "cost": 1.0,
                    "config": json.dumps({"x": i}),
                }
            )
    return pd.DataFrame(rows)


RUNS = pd.DataFrame(
    {
        "task": ["t"],
        "task_info": [json.dumps({"objectives": [{"name": "a"}, {"name": "b", "direction": "max"}]})],
    }
)


def test_normalisation_and_reference_come_from_the_pooled_front() -> None:
    df = _frame({("s1", 0): [(0.0, 1.0), (5.0, 0.0)], ("s2", 0): [(2.0, 4.0), (1.0, 3.0)]})
    p = mo.problems(df, RUNS)["t"]
    # b is maximised: losses -b; pooled front of (a, -b): (0,-1) (1,-3) (2,-4); (5, 0) dominated
    assert p.directions == ("min", "max") and p.ideal == (0.0, -4.0) and p.nadir == (2.0, -1.0)
    front = mo.pooled_front(df, p)
    assert front["objective.a"].tolist() == [0.0, 1.0, 2.0]
    N = front[["norm.a", "norm.b"]].to_numpy()
    assert np.allclose(N, [[0.0, 1.0], [0.5, 1 / 3], [1.0, 0.0]])
    assert p.reference_hv == pytest.approx(hypervolume(N, np.array([1.1, 1.1])))
    assert p.reference_source == "pooled front"


def test_hypervolume_regret_follows_the_single_objective_rules() -> None:
    df = _frame(
        {
            ("s1", 0): [(1.0, 3.0), None, (0.0, 1.0), (2.0, 4.0)],
            ("s1", 1): [None, None],  # never a result: regret is missing, not zero
            ("s2", 0): [(5.0, 0.0), (2.0, 4.0)],
        }
    )
    probs = mo.problems(df, RUNS)
    hv = mo.hypervolume_trials(df, probs)
    p = probs["t"]
    ref = np.array(p.reference_point)
    s1 = hv[hv.run_id == 0]
    pts = np.array([[1.0, -3.0], [0.0, -1.0], [2.0, -4.0]])
    N = (pts - np.array(p.ideal)) / (np.array(p.nadir) - np.array(p.ideal))
    expected = [hypervolume(N[:1], ref), np.nan, hypervolume(N[:2], ref), hypervolume(N[:3], ref)]
    assert np.allclose(s1["hypervolume"].to_numpy(), expected, equal_nan=True)
    final = an.final_runs(hv, mo.references(probs))
    by_run = final.set_index("run_id")
    assert (
        by_run.loc[0, "regret"] == pytest.approx(p.reference_hv - expected[-1])
        and by_run.loc[0, "regret"] >= 0
    )
    assert np.isnan(by_run.loc[1, "regret"])
    traj = an.add_regret(an.trajectories(hv, axis="evaluations"), mo.references(probs))
    r0 = traj[traj.run_id == 0]["regret"].to_numpy()
    assert np.all(np.diff(r0[np.isfinite(r0)]) <= 1e-15)  # regret never grows
    assert traj[traj.run_id == 1]["regret"].isna().all()


def test_known_front_fixes_ideal_and_the_exact_reference() -> None:
    info = {
        "objectives": [{"name": "a"}, {"name": "b"}],
        "pareto_front": {"ideal": [0.0, 0.0], "nadir": [1.0, 1.0], "volume_below": 0.5},  # front a + b = 1
    }
    runs = pd.DataFrame({"task": ["t"], "task_info": [json.dumps(info)]})
    df = _frame({("s", 0): [(0.0, 2.0), (0.5, 0.5), (1.0, 0.0)]})
    p = mo.problems(df, runs)["t"]
    assert p.ideal == (0.0, 0.0) and p.nadir == (1.0, 2.0)  # widened to the pooled front's b range
    # the line a + b = 1 from (1.1, 2.2) in b-units of 2: (1.1 * 2.2 - 0.5) / 2
    assert p.reference_hv == pytest.approx((1.1 * 2.2 - 0.5) / 2)
    line = np.column_stack([np.linspace(0, 1, 4001), 1 - np.linspace(0, 1, 4001)])
    dense = hypervolume(line / np.array([1.0, 2.0]), np.array([1.1, 1.1]))
    assert dense == pytest.approx(p.reference_hv, rel=1e-3)


def test_without_runs_the_objective_columns_declare_the_task() -> None:
    df = _frame({("s", 0): [(0.0, 1.0), (1.0, 0.0)]})
    assert mo.declared_objectives(df)["t"]["objectives"] == [
        {"name": "a", "direction": "min"},
        {"name": "b", "direction": "min"},
    ]
    single = df.drop(columns=["objective.b"])
    assert mo.problems(single) == {}
