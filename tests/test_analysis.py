"""Tests of hpbench.results.analysis on small hand-made frames whose answers are worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hpbench.results import analysis as an

NAN = float("nan")


def make_trials(rows: list[dict]) -> pd.DataFrame:
    """Trials frame with the store's columns; each row gives what differs from the defaults."""
    out = []
    for i, r in enumerate(rows):
        d = {
            "experiment": "e",
            "run_id": 1,
            "task": "t",
            "searcher": "random",
            "seed": 0,
            "trial": i,
            "config": "{}",
            "budget": NAN,
            "fidelity_high": NAN,
            "objective": 1.0,
            "cost": 1.0,
            "status": "ok",
            "error": None,
            "queued": NAN,
            "worker": "w0",
            "cached": False,
            "continue_from": NAN,
            "optimum": NAN,
        }
        d.update(r)
        d.setdefault("finished", float(i + 1))
        d.setdefault("started", d["finished"] - 1.0)
        out.append(d)
    return pd.DataFrame(out)


def run_rows(objs: list[float], **common: object) -> list[dict]:
    return [{"objective": o, **common} for o in objs]


def best_of(traj: pd.DataFrame, run_id: int = 1) -> list[float]:
    return traj[traj["run_id"] == run_id].sort_values("x")["best"].tolist()


def same(a: list[float], b: list[float]) -> bool:
    return np.allclose(np.array(a, float), np.array(b, float), equal_nan=True)


# --- trajectories -------------------------------------------------------------------------------


def test_best_so_far_on_evaluations_is_a_running_minimum():
    tr = make_trials(run_rows([3, 5, 1, 2]))
    traj = an.trajectories(tr, axis="evaluations")
    assert traj["x"].tolist() == [1, 2, 3, 4]
    assert best_of(traj) == [3, 3, 1, 1]


def test_trajectory_follows_finish_order_not_trial_order():
    # trial 1 finishes first (4), then trial 2 (2), then trial 0 (1)
    tr = make_trials(
        [
            {"objective": 1, "finished": 3.0},
            {"objective": 4, "finished": 1.0},
            {"objective": 2, "finished": 2.0},
        ]
    )
    assert best_of(an.trajectories(tr, axis="evaluations")) == [4, 2, 1]


def test_failed_trials_count_as_evaluations_but_not_as_incumbent():
    tr = make_trials(
        [{"objective": NAN, "status": "failed"}, {"objective": 2.0}, {"objective": 0.5, "status": "timeout"}]
    )
    assert same(best_of(an.trajectories(tr, axis="evaluations")), [NAN, 2, 2])


def test_only_top_fidelity_trials_become_incumbent():
    tr = make_trials(
        [
            {"objective": 0.1, "budget": 1.0, "fidelity_high": 9.0, "cost": 1 / 9},
            {"objective": 3.0, "budget": 9.0, "fidelity_high": 9.0},
            {"objective": 2.0, "budget": 9.0, "fidelity_high": 9.0},
        ]
    )
    assert an.incumbent_eligible(tr).tolist() == [False, True, True]
    traj = an.trajectories(tr, axis="cost", n_points=3)
    assert np.allclose(traj["x"], [1 / 9, 1 + 1 / 9, 2 + 1 / 9])
    assert same(best_of(traj), [NAN, 3, 2])


def test_cost_grid_is_shared_and_short_runs_carry_their_incumbent_forward():
    tr = make_trials(run_rows([2, 1], run_id=1) + run_rows([5, 4, 3, 0.5], run_id=2, seed=1))
    traj = an.trajectories(tr, axis="cost", n_points=4)
    assert np.allclose(traj[traj["run_id"] == 1]["x"], [1, 2, 3, 4])
    assert best_of(traj, 1) == [2, 1, 1, 1]
    assert best_of(traj, 2) == [5, 4, 3, 0.5]


def test_time_axis_is_the_runs_own_compute_seconds_without_interpolation():
    # 2 s and 4 s of compute (overlapping in wall time) plus 0.5 s of searcher time on the second
    tr = make_trials(
        [
            {"objective": 3.0, "started": 100.0, "finished": 102.0},
            {"objective": 1.0, "started": 101.0, "finished": 105.0, "searcher_seconds": 0.5},
        ]
    )
    traj = an.trajectories(tr, axis="time", n_points=4)
    assert np.allclose(traj["x"], np.linspace(2, 6.5, 4))  # not wall time since the first start (5 s)
    assert best_of(traj) == [3, 3, 3, 1]  # held, not interpolated towards 1
    stored = an.trajectories(tr.assign(seconds=[10.0, 1.0]), axis="time", n_points=2)
    assert np.allclose(stored["x"], [10, 11.5])  # a stored 'seconds' (simulated compute) wins


def test_evaluation_grid_is_capped():
    tr = make_trials(run_rows(list(np.linspace(10, 1, 500))))
    traj = an.trajectories(tr, axis="evaluations", n_points=50)
    assert len(traj) <= 50
    assert traj["x"].iloc[0] == 1 and traj["x"].iloc[-1] == 500


@pytest.mark.parametrize(("kw", "match"), [({"axis": "epochs"}, "axis"), ({"n_points": 1}, "n_points")])
def test_trajectories_rejects_bad_arguments(kw, match):
    with pytest.raises(ValueError, match=match):
        an.trajectories(make_trials(run_rows([1.0])), **kw)


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="objective"):
        an.trajectories(make_trials(run_rows([1.0])).drop(columns="objective"))
    with pytest.raises(TypeError, match="DataFrame"):
        an.trajectories([1, 2, 3])  # type: ignore[arg-type]


# --- regret references --------------------------------------------------------------------------


def test_regret_reference_is_the_optimum_or_the_best_found():
    tr = make_trials(
        run_rows([3.0, 2.0], task="known", optimum=0.5)
        + [
            {"task": "unknown", "objective": 1.5, "run_id": 2},
            {
                "task": "unknown",
                "objective": 0.2,
                "budget": 1.0,
                "fidelity_high": 3.0,
                "run_id": 2,
            },  # low fidelity
            {"task": "unknown", "objective": 1.2, "budget": 3.0, "fidelity_high": 3.0, "run_id": 2},
            {"task": "failed", "objective": NAN, "status": "failed", "run_id": 3},
        ]
    )
    refs = an.regret_references(tr)
    assert refs.loc["known"].tolist() == [0.5, "known optimum", "objective"]
    assert refs.loc["unknown"].tolist() == [1.2, "best found", "objective"]
    assert refs.loc["failed", "source"] == "none"
    traj = an.add_regret(an.trajectories(tr[tr["task"] == "known"]), refs)
    assert traj["regret"].tolist() == [2.5, 1.5]


# --- bootstrap and aggregation ------------------------------------------------------------------


def test_aggregate_median_interval_and_missing_runs_as_worst():
    y = np.array([[1.0, 1.0], [2.0, NAN], [NAN, NAN]])
    frame = pd.DataFrame(
        [
            {"task": "t", "searcher": "s", "run_id": r, "x": float(g), "regret": y[r, g]}
            for r in range(3)
            for g in range(2)
        ]
    )
    agg = an.aggregate(frame).sort_values("x")
    assert agg["median"].tolist()[0] == 2.0  # NaN ranks last: median of (1, 2, worst)
    assert math.isnan(agg["median"].tolist()[1])  # two of three runs have no result
    assert agg["median_lo"].tolist()[0] == 1.0 and math.isnan(agg["median_hi"].tolist()[0])  # [min, max]
    assert agg["coverage"].tolist() == [0.75, 0.75] and agg["n_valid"].tolist() == [2, 1]
    assert math.isnan(agg["mean"].tolist()[0])


def test_aggregate_one_row_per_task_searcher_and_grid_point():
    tr = make_trials(
        run_rows([3, 1], run_id=1) + run_rows([5, 2], run_id=2, seed=1) + run_rows([4, 4], run_id=3, seed=2)
    )
    traj = an.add_regret(an.trajectories(tr), an.regret_references(tr))  # reference = best found = 1
    agg = an.aggregate(traj)
    assert agg["x"].tolist() == [1, 2]
    assert agg["median"].tolist() == [3, 1]  # regrets (2, 4, 3) then (0, 1, 3)
    assert agg["n"].tolist() == [3, 3]


def _final_frame(task_rows: dict[str, dict[str, list[float]]], optimum: float = 0.0) -> pd.DataFrame:
    """One trial per run: task -> searcher -> list of objectives (one per seed)."""
    rows, run_id = [], 0
    for task, by_s in task_rows.items():
        for s, vals in by_s.items():
            for seed, v in enumerate(vals):
                run_id += 1
                rows.append(
                    {
                        "task": task,
                        "searcher": s,
                        "seed": seed,
                        "run_id": run_id,
                        "objective": v,
                        "optimum": optimum,
                    }
                )
    return make_trials(rows).assign(trial=0, finished=1.0, started=0.0)


# --- normalised score ---------------------------------------------------------------------------


def test_random_baseline_is_the_pooled_median_best_of_n():
    # 4 pooled random evaluations 1 < 2 < 3 < 4: the best of n draws with replacement is the
    # i-th smallest with probability ((5-i)/4)^n - ((4-i)/4)^n; its median for n = 2 is 2
    # (P(best = 1) = 7/16 < 1/2 <= 7/16 + 5/16), for n = 1 the pooled median (2), for n = 3 it is 1.
    tr = make_trials(run_rows([4.0, 2.0, 3.0, 1.0]))
    pool = an.random_pools(tr, tr["objective"])["t"]
    assert pool.from_random
    assert pool.base(np.array([1.0, 2.0, 3.0, 0.0])).tolist()[:3] == [2.0, 2.0, 1.0]
    assert math.isnan(pool.base(np.array([0.0]))[0])
    # against an independent simulation of the same rule
    rng = np.random.default_rng(0)
    draws = rng.integers(0, 4, size=(20000, 2))
    sim = np.median(np.array([4.0, 2.0, 3.0, 1.0])[draws].min(axis=1))
    assert sim == 2.0


def test_scores_clip_at_one_random_guess_and_missing_counts_as_the_clip():
    from hpbench.results.scores import score_values

    s = score_values(np.array([0.0, 1.0, 2.0, 100.0, NAN]), ref=0.0, base=np.array(1.0), clip=3.0)
    assert np.allclose(s, [1.0, 0.0, -1.0, -2.0, -2.0])


def test_normalised_score_falls_back_without_random_and_says_so():
    tr = _final_frame({"t": {"a": [1.0, 3.0], "b": [2.0, 5.0]}})
    pools = an.random_pools(tr, tr["objective"])
    assert not pools["t"].from_random  # every searcher's evaluations pooled instead
    a = an.analyse(tr)
    assert "No 'random' searcher on t" in a.score_note


# --- average rank -------------------------------------------------------------------------------


def test_average_rank_ties_missing_and_budget_fraction():
    rows = []
    vals = {  # (seed, searcher) -> best at x = 1, 2
        (0, "A"): [1, 1], (0, "B"): [2, 0.5], (0, "C"): [2, 2],
        (1, "A"): [NAN, 1], (1, "B"): [3, 3], (1, "C"): [1, 1],
    }  # fmt: skip
    for (seed, s), ys in vals.items():
        for x, y in zip([1.0, 2.0], ys):
            rows.append(
                {"task": "t", "searcher": s, "seed": seed, "run_id": seed * 10 + ord(s), "x": x, "best": y}
            )
    rk = an.average_rank(pd.DataFrame(rows), value="best", n_points=3).set_index(["searcher", "fraction"])[
        "rank"
    ]
    # x=1: seed0 A1 B2.5 C2.5, seed1 C1 B2 A3 (missing = worst); x=2: seed0 B1 A2 C3, seed1 A,C 1.5 B3
    assert rk[("A", 0.5)] == pytest.approx(2.0) and rk[("B", 0.5)] == pytest.approx(2.25)
    assert rk[("C", 0.5)] == pytest.approx(1.75)
    assert rk[("A", 1.0)] == pytest.approx(1.75) and rk[("B", 1.0)] == pytest.approx(2.0)
    assert rk[("C", 1.0)] == pytest.approx(2.25)
    assert math.isnan(rk[("A", 0.0)])


# --- final table and tests ----------------------------------------------------------------------


def test_final_runs_and_table():
    rows = []
    for seed, objs in enumerate([[3.0, 1.0], [2.0, 5.0], [4.0, 3.0]]):
        for i, o in enumerate(objs):
            rows.append({"run_id": seed + 1, "seed": seed, "trial": i, "finished": i + 1.0, "objective": o,
                         "metric.test_loss": o + 0.5, "optimum": 0.0})  # fmt: skip
    rows.append(
        {
            "run_id": 1,
            "seed": 0,
            "trial": 2,
            "finished": 3.0,
            "objective": NAN,
            "status": "failed",
            "optimum": 0.0,
        }
    )
    fr = an.final_runs(make_trials(rows), an.regret_references(make_trials(rows)))
    assert fr.sort_values("seed")["regret"].tolist() == [1.0, 2.0, 3.0]
    assert fr.sort_values("seed")["test_loss"].tolist() == [
        1.5,
        2.5,
        3.5,
    ]  # of the incumbent, not the last trial
    tb = an.final_table(fr).iloc[0]
    assert tb["median"] == 2.0 and tb["mean"] == 2.0
    assert tb["q25"] == 1.5 and tb["q75"] == 2.5
    assert tb["sem"] == pytest.approx(1 / math.sqrt(3))
    assert tb["n_runs"] == 3 and tb["n_with_result"] == 3 and tb["n_failed"] == 1
    assert (tb["lo"], tb["hi"], tb["coverage"]) == (1.0, 3.0, 0.75)  # [min, max] at 3 runs


def test_holm_by_hand():
    adj = an.holm([0.01, 0.04, 0.03, 0.005])
    # sorted: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> running max .02 .03 .06 .06
    assert np.allclose(adj, [0.03, 0.06, 0.06, 0.02])
    assert np.allclose(an.holm([0.5, NAN]), [0.5, NAN], equal_nan=True)
    assert an.holm([0.9, 0.8]).max() <= 1.0


def _final(values: dict[str, dict[int, float]], task: str = "t") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "task": task,
                "searcher": s,
                "seed": k,
                "run_id": hash((s, k)),
                "best": v,
                "regret": v,
                "value": v,
            }
            for s, d in values.items()
            for k, v in d.items()
        ]  # fmt: skip
    )


def test_pairwise_paired_wilcoxon_exact_p():
    a = {k: float(k) for k in range(6)}
    b = {k: float(k) + 0.5 + k for k in range(6)}  # all differences negative and distinct
    res = an.pairwise_tests(_final({"a": a, "b": b})).iloc[0]
    assert res["test"] == an.PAIRED_TEST and res["n"] == 6
    assert res["p_value"] == pytest.approx(2 / 2**6)  # exact two-sided: only the all-negative sign pattern
    assert res["better"] == "a" and res["significant"]


def test_pairwise_pairs_by_seed_only_and_a_missing_result_is_worst():
    # b has no result on seeds 0 and 1 (NaN); the test stays paired and counts them as b's losses
    a = {k: 2.0 for k in range(6)}
    b = {0: NAN, 1: NAN, 2: 1.0, 3: 3.0, 4: 3.5, 5: 4.0}
    res = an.pairwise_tests(_final({"a": a, "b": b})).iloc[0]
    assert res["n"] == 6 and res["n_a_result"] == 6 and res["n_b_result"] == 4
    # differences a - b: -inf, -inf, +1, -1, -1.5, -2 -> |d| ranks 5.5, 5.5, 1.5, 1.5, 3, 4; T+ = 1.5
    assert res["statistic"] == 1.5
    ref = stats.wilcoxon(
        [-1e9, -1e9, 1.0, -1.0, -1.5, -2.0], method=stats.PermutationMethod(n_resamples=10**4)
    )
    assert res["p_value"] == pytest.approx(ref.pvalue)
    assert res["better"] == "a" and res["a12"] == pytest.approx((2 + 3 + 0.5 * 0) / 6 + 0 / 6, abs=0.5)
    only_common = an.pairwise_tests(_final({"a": {0: 1.0, 1: 2.0}, "b": {1: 3.0, 2: 4.0}})).iloc[0]
    assert only_common["n"] == 1  # seeds 0 and 2 ran for one searcher only: not paired


def test_pairwise_holm_applies_within_task():
    vals = {
        "a": {k: float(k) for k in range(8)},
        "b": {k: k + 1.0 + k for k in range(8)},
        "c": {k: k + 2.0 + k for k in range(8)},
    }
    pt = an.pairwise_tests(_final(vals))
    assert len(pt) == 3
    assert np.allclose(pt["p_holm"], an.holm(pt["p_value"]))
    assert (pt["p_holm"] >= pt["p_value"]).all()


@pytest.mark.parametrize(
    ("alpha", "table"),
    [
        (0.05, [1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164]),
        (0.10, [1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920]),
    ],
)
def test_nemenyi_q_matches_demsar_table(alpha, table):
    got = [an.nemenyi_q(k, alpha) for k in range(2, 11)]
    assert np.allclose(got, table, atol=2e-3)


def test_nemenyi_q_rejects_bad_k():
    with pytest.raises(ValueError, match="k >= 2"):
        an.nemenyi_q(1)


def test_friedman_by_hand_and_against_scipy():
    vals = {}
    for t in range(4):
        vals.update({("A", t): 1.0 + t, ("B", t): 2.0 + t + 0.1 * t, ("C", t): 5.0 + t})
    fr_df = pd.concat([_final({s: {0: v}}, task=f"t{t}") for (s, t), v in vals.items()])
    res = an.friedman_ranks(fr_df)
    assert res is not None and res.blocks == "task"
    assert res.searchers == ("A", "B", "C") and res.avg_ranks == (1.0, 2.0, 3.0)
    assert res.statistic == pytest.approx(8.0)  # 12*4/(3*4) * (1+4+9 - 3*16/4)
    assert res.p_value == pytest.approx(math.exp(-4))  # chi2 sf with 2 dof
    wide = fr_df.pivot_table(index="task", columns="searcher", values="regret")
    assert res.statistic == pytest.approx(stats.friedmanchisquare(*[wide[c] for c in wide]).statistic)
    assert res.cd == pytest.approx(an.nemenyi_q(3) * math.sqrt(3 * 4 / (6 * 4)))
    assert res.cliques == (("A", "B"), ("B", "C"))  # A-C differ by 2 > CD 1.66


def test_friedman_needs_two_searchers_and_blocks():
    assert an.friedman_ranks(_final({"a": {0: 1.0, 1: 2.0}})) is None
    one_task = _final({"a": {0: 1.0, 1: 2.0}, "b": {0: 2.0, 1: 3.0}})
    res = an.friedman_ranks(one_task)
    assert res is not None and res.blocks == "seed" and res.n_blocks == 2


# --- workers, budget, configurations ------------------------------------------------------------


def test_worker_utilisation_counts_overlap_once():
    tr = make_trials(
        [
            {"worker": "w0", "started": 0.0, "finished": 2.0},
            {"worker": "w0", "started": 1.0, "finished": 3.0},
            {"worker": "w1", "started": 4.0, "finished": 5.0},
            {"worker": None, "started": 0.0, "finished": 1.0},
        ]
    )
    u = an.worker_utilisation(tr).set_index("worker")
    assert u.loc["w0", "busy"] == 3.0 and u.loc["w0", "share"] == pytest.approx(0.6)
    assert u.loc["w1", "share"] == pytest.approx(0.2)
    assert "(unknown)" in u.index
    iv = an.busy_intervals(tr)
    assert iv[iv["worker"] == "w0"][["start", "end"]].values.tolist() == [[0.0, 3.0]]


def test_busy_intervals_merge_small_gaps():
    rows = [{"worker": "w0", "started": float(i), "finished": i + 0.999} for i in range(1000)]
    iv = an.busy_intervals(make_trials(rows), resolution=100)
    assert len(iv) == 1  # gaps of 0.001 s are far below span / 100


def test_budget_allocation_shares():
    high = 9.0
    tr = make_trials(
        [{"budget": 1.0, "fidelity_high": high, "cost": 1 / 9}] * 3
        + [{"budget": 9.0, "fidelity_high": high, "cost": 1.0}]
    )
    al = an.budget_allocation(tr).set_index("budget")
    assert al.loc[1.0, "n_trials"] == 3 and al.loc[1.0, "trial_share"] == 0.75
    assert al.loc[1.0, "cost_share"] == pytest.approx(0.25) and al.loc[9.0, "cost_share"] == pytest.approx(
        0.75
    )
    assert an.budget_allocation(make_trials(run_rows([1.0]))).empty  # no fidelity


def test_param_scales_and_configuration_sampling():
    rng = np.random.default_rng(0)
    n = 400
    tr = make_trials(run_rows(list(rng.random(n)))).assign(
        **{
            "param.lr": 10 ** rng.uniform(-5, -1, n),
            "param.p": rng.uniform(0, 0.5, n),
            "param.act": rng.choice(["relu", "tanh"], n),
            "param.unused": NAN,
        }
    )
    cols = an.param_columns(tr)
    assert cols == ["param.lr", "param.p", "param.act"]
    assert an.param_scales(tr, cols) == {"param.lr": "log", "param.p": "linear", "param.act": "category"}
    conf = an.configurations(tr, max_per_searcher=50)
    assert len(conf) == 50
    assert conf["top"].sum() == 40  # best 10% of 400
    assert conf["objective"].min() == tr["objective"].min()
    with pytest.raises(ValueError, match="max_per_searcher"):
        an.configurations(tr, max_per_searcher=0)


def test_param_scales_read_the_stored_space_and_guess_only_without_it():
    rng = np.random.default_rng(1)
    tr = make_trials(run_rows(list(rng.random(50)))).assign(
        **{"param.lr": rng.uniform(0.01, 0.05, 50), "param.k": rng.integers(1, 4, 50)}
    )
    cols = ["param.lr", "param.k"]
    assert an.param_scales(tr, cols) == {"param.lr": "linear", "param.k": "linear"}  # guessed from values
    space = {"lr": {"type": "float", "low": 0.01, "high": 0.05, "log": True}, "k": {"type": "categorical"}}
    assert an.param_scales(tr, cols, space) == {"param.lr": "log", "param.k": "category"}
    runs = pd.DataFrame({"task": ["t", "old"], "task_info": [json.dumps({"space": space}), "{}"]})
    assert an.task_spaces(runs) == {"t": space}  # old stores have no space: the guess stays
