"""A searcher's own recommendation (issue 11, item 6): asked at the end of a run, stored with it,
used by the analysis, which says which configuration it compares.

gp-ei recommends the evaluated point with the lowest posterior mean; checked against an
independent posterior (scikit-learn's GaussianProcessRegressor with the same fixed kernel).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import hpbench as hb
from hpbench.registry import get_task
from hpbench.results.report_verdict import recommendation_note
from hpbench.results.store import SCHEMA_VERSION, Store, load_results, load_runs
from hpbench.searchers.gp.searcher import GPEISearcher
from hpbench.searchers.random import RandomSearch
from hpbench.trial import Suggestion

GP = "gp-ei:n_candidates=256"
EVALS = 14


def _feed(searcher: Any, task: Any, n: int, seed: int = 0) -> None:
    for _ in range(n):
        s = searcher.ask()
        searcher.tell(s, task.evaluate(s.config, budget=None, seed=seed).objective)


def _independent_mean(
    searcher: GPEISearcher, theta: tuple[np.ndarray, float, float]
) -> tuple[list[int], np.ndarray]:
    """Posterior mean at the successes, by scikit-learn with the kernel fixed to ``theta``."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    ok = [(s, y) for s, y in searcher.history if y is not None]
    X = np.array([searcher.space.encode(s.config) for s, _ in ok])
    y = np.array([y for _, y in ok])
    z = y / np.max(np.abs(y))  # the targets as documented in hpbench.searchers.gp.model.standardise
    z = (z - z.mean()) / z.std()
    ls, s2, noise = theta
    kernel = ConstantKernel(s2, "fixed") * Matern(ls, "fixed", nu=2.5) + WhiteKernel(noise, "fixed")
    gpr = GaussianProcessRegressor(kernel, alpha=1e-12, optimizer=None, normalize_y=False).fit(X, z)
    return [s.trial_id for s, _ in ok], gpr.predict(X)


def _replicated_design() -> list[dict[str, float]]:
    """A 5 x 5 grid around Branin's optimum (pi, 2.275), each point twice: replicates make the
    noise identifiable, so the posterior mean smooths instead of interpolating."""
    g = np.linspace(-1.5, 1.5, 5)
    return [{"x1": np.pi + a, "x2": 2.275 + b} for a in g for b in g for _ in range(2)]


def test_gp_ei_recommends_the_evaluated_point_of_lowest_posterior_mean() -> None:
    task = get_task("branin")
    # Untransformed targets, so that scikit-learn sees the same ones (the rule is the same
    # under the default power transform: it is monotone). A fixed design told with fixed noise
    # (sd 1), not the searcher's own proposals: those depend on the last bits of the floating
    # point, so a run's outcome would differ between CPUs.
    s = GPEISearcher(space=task.space, seed=0, n_candidates=64, y_transform="none")
    rng = np.random.default_rng(0)
    noiseless = {}
    for config in _replicated_design():
        a = s.ask()
        noiseless[a.trial_id] = task.evaluate(config, budget=None, seed=0).objective
        s.tell(Suggestion(a.trial_id, config), noiseless[a.trial_id] + float(rng.normal(0.0, 1.0)))
    ids, posterior = s.in_sample_posterior()
    assert posterior.noise_var > 1e-3  # the replicates were seen as noise
    theta = (posterior.lengthscales, posterior.signal_var, posterior.noise_var)
    ref_ids, ref_mean = _independent_mean(s, theta)
    mine, _ = posterior.predict(posterior.X)
    assert ids == ref_ids
    np.testing.assert_allclose(mine, ref_mean, rtol=1e-6, atol=1e-8)
    assert s.recommend() == ref_ids[int(np.argmin(ref_mean))]
    # The posterior mean disagrees with the luckiest observation, and its configuration is
    # truly better: the optimum itself (0.3979) against a neighbour at 0.9604.
    best_observed = min((y, t.trial_id) for t, y in s.history if y is not None)[1]
    assert s.recommend() != best_observed
    assert noiseless[s.recommend()] < noiseless[best_observed] - 0.5


def test_recommend_leaves_the_searchers_proposals_unchanged() -> None:
    task = get_task("branin-noisy")
    a, b = (GPEISearcher(space=task.space, seed=1, n_candidates=256) for _ in range(2))
    _feed(a, task, 10)
    _feed(b, task, 10)
    assert a.recommend() is not None
    assert [a.ask().config for _ in range(2)] == [b.ask().config for _ in range(2)]


def test_default_recommendation_is_none_and_too_few_successes_give_none() -> None:
    task = get_task("branin-noisy")
    r = RandomSearch(space=task.space, seed=0)
    _feed(r, task, 3)
    assert r.recommend() is None
    g = GPEISearcher(space=task.space, seed=0)
    _feed(g, task, 1)
    assert g.recommend() is None


def _bench(store: Path, searchers: Any = (GP, "random"), **kw: Any) -> Any:
    options = {"seeds": 2, "max_evals": EVALS, "progress": False, **kw}
    task = options.pop("task", "branin-noisy")
    return hb.benchmark([task], list(searchers), store=store, **options)


def test_recommendation_is_stored_survives_resume_and_decides_the_final_table(tmp_path: Path) -> None:
    straight = _bench(tmp_path / "a.db")
    runs = load_runs(tmp_path / "a.db")
    gp_runs = runs[runs["searcher"] == GP]
    assert (
        gp_runs["recommended"].notna().all()
        and runs[runs["searcher"] == "random"]["recommended"].isna().all()
    )

    # What the store holds is what gp-ei recommends when told the stored trials.
    trials = load_results(tmp_path / "a.db")
    task = get_task("branin-noisy")
    for _, run in gp_runs.iterrows():
        t = trials[trials["run_id"] == run["run_id"]].sort_values("trial")
        s = GPEISearcher(space=task.space, seed=int(run["seed"]), n_candidates=256)
        for _, row in t.iterrows():
            sug = s.ask()
            s.tell(sug, row["objective"])
        assert s.recommend() == int(run["recommended"])
        assert t["recommended"].sum() == 1 and int(t[t["recommended"]]["trial"].iloc[0]) == s.recommend()

    # Stopped half-way by on_trial, then resumed by the same call: the same recommendations.
    seen = []

    def stop_after_a_few(event: Any) -> bool:
        seen.append(event)
        return len(seen) < EVALS

    first = _bench(tmp_path / "b.db", on_trial=stop_after_a_few)
    assert first.stopped and load_runs(tmp_path / "b.db")["recommended"].isna().all()
    _bench(tmp_path / "b.db")
    by_run = ["searcher", "seed"]
    resumed = load_runs(tmp_path / "b.db").set_index(by_run)["recommended"].sort_index()
    pd.testing.assert_series_equal(resumed, runs.set_index(by_run)["recommended"].sort_index())

    # The final table compares the noiseless value of the recommended trial, and says so.
    a = hb.analyse(straight.trials, straight.runs)
    assert a.value_sources == {"branin-noisy": "noiseless"}
    for _, row in a.final.iterrows():
        t = trials[trials["run_id"] == row["run_id"]]
        if row["searcher"] == GP:
            rec = t[t["trial"] == int(runs.set_index("run_id").loc[row["run_id"], "recommended"])].iloc[0]
            assert row["recommended_by"] == "searcher"
        else:
            ok = t[t["status"] == "ok"]
            rec = ok.loc[ok["objective"].idxmin()]
            assert row["recommended_by"] == "best observed"
        assert row["incumbent_trial"] == rec["trial"] and row["value"] == rec["metric.noiseless"]
    note = recommendation_note(a.final)
    assert f"the searcher's own for {GP} (2/2 runs)" in note and "best observed top-fidelity trial" in note


class _FirstRecommender(RandomSearch):
    """Recommends its first successful trial: far from its best observed one, on purpose."""

    name = "first-recommender"

    def recommend(self) -> int | None:
        return next(s.trial_id for s, y in self.history if y is not None)


def test_the_final_value_is_the_noiseless_value_of_the_stored_recommendation(tmp_path: Path) -> None:
    res = _bench(tmp_path / "f.db", [_FirstRecommender, "random"], seeds=3, max_evals=8)
    a = hb.analyse(res.trials, res.runs)
    t = res.trials
    for _, row in a.final.iterrows():
        ok = t[(t["run_id"] == row["run_id"]) & (t["status"] == "ok")].sort_values("trial")
        chosen = ok.iloc[0] if row["searcher"] == "first-recommender" else ok.loc[ok["objective"].idxmin()]
        assert row["incumbent_trial"] == chosen["trial"] and row["value"] == chosen["metric.noiseless"]
        assert row["best"] == chosen["objective"]
    mine = a.final[a.final["searcher"] == "first-recommender"]
    assert (mine["recommended_by"] == "searcher").all() and (mine["incumbent_trial"] == 0).all()
    # its first trial is not its best observed one on these seeds: the override really acts
    best = t[t["searcher"] == "first-recommender"].groupby("run_id")["objective"].idxmin()
    assert (t.loc[best, "trial"] != 0).all()
    table = a.table.set_index("searcher")
    assert table.loc["first-recommender", "median"] == pytest.approx(float(np.median(mine["regret"])))


class _BadRecommender(RandomSearch):
    name = "bad-recommender"

    def recommend(self) -> int | None:
        return 10_000


def test_a_recommendation_that_is_not_a_trial_of_the_run_fails_the_run_naming_the_rule(
    tmp_path: Path,
) -> None:
    res = _bench(tmp_path / "c.db", [_BadRecommender], task="branin", seeds=1, max_evals=3)
    run = res.runs.iloc[0]
    assert run["status"] == "failed" and "recommend" in run["error"] and "got 10000" in run["error"]
    assert pd.isna(run["recommended"]) and len(res.trials) == 3  # trials kept, nothing recommended


def test_schema_3_store_reads_then_gains_the_recommended_column_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _bench(db)
    before = load_runs(db)["recommended"]
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("ALTER TABLE runs DROP COLUMN recommended")
    con.execute("UPDATE hpbench_schema SET version = 3")
    con.close()
    with Store(db, readonly=True) as s:  # read as it is: no recommendation, the default everywhere
        assert s.schema_version == 3 and s.runs_frame()["recommended"].isna().all()
    assert not load_results(db)["recommended"].any()
    with Store(db) as s:
        assert s.schema_version == SCHEMA_VERSION == 4
        s.set_recommendation(int(s.runs_frame()["run_id"].iloc[0]), int(before.iloc[0]))
    assert load_runs(db)["recommended"].iloc[0] == before.iloc[0]


@pytest.mark.parametrize("value", ["objective", "noiseless"])
def test_the_recommendation_is_used_whichever_value_is_compared(tmp_path: Path, value: str) -> None:
    res = _bench(tmp_path / "d.db")
    a = hb.analyse(res.trials, res.runs, value=value)
    gp = a.final[a.final["searcher"] == GP]
    recommended = res.runs.set_index("run_id")["recommended"]
    assert (gp["incumbent_trial"].to_numpy() == recommended.loc[gp["run_id"]].to_numpy()).all()
