"""Verdicts you can trust: each case of issue 11 rebuilt through the public API, and each statistic
checked against an independent reference (scipy, statsmodels) or a simulation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from test_analysis import make_trials

import hpbench as hb
from hpbench.results import analysis as an
from hpbench.results.verdict import VALUE_LABELS
from hpbench.runner import split_seed

NAN = float("nan")
SPACE = {"x": hb.Float(0.0, 1.0)}


class Fixed(hb.Searcher):
    """Proposes the same point every time: ``at`` on the unit interval."""

    name = "fixed"

    def __init__(self, *, space, fidelity=None, seed=0, at: float = 0.5):
        super().__init__(space=space, fidelity=fidelity, seed=seed)
        self.at = at

    def _ask(self, trial_id: int) -> hb.Suggestion:
        return hb.Suggestion(trial_id, {"x": self.at})

    def _tell(self, suggestion: hb.Suggestion, objective: float | None) -> None:
        pass


def _searcher(label: str, at: float) -> type[hb.Searcher]:
    return type(label, (Fixed,), {"name": label, "__init__": _init_at(at)})


def _init_at(at: float):
    def __init__(self, *, space, fidelity=None, seed=0):
        Fixed.__init__(self, space=space, fidelity=fidelity, seed=seed, at=at)

    return __init__


def _task_seeds(run_seeds: range) -> set[int]:
    return {split_seed(k)[1] for k in run_seeds}


# --- missing results ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flaky_res(tmp_path_factory) -> tuple[hb.ExperimentResult, an.Analysis]:
    """'flaky' is perfect on seeds 5..9 and fails every trial on 0..4; two steady searchers finish all."""
    bad = _task_seeds(range(5))

    @hb.task(space=SPACE, name="cliff", optimum=0.0)
    def cliff(config, *, budget, seed):
        if config["x"] < 0.015 and seed in bad:
            raise ValueError("diverged")
        return abs(config["x"] - 0.01)

    searchers = [_searcher("flaky", 0.01), _searcher("steady-a", 0.02), _searcher("steady-b", 0.03)]
    store = tmp_path_factory.mktemp("flaky") / "s.db"
    res = hb.benchmark([cliff], searchers, seeds=10, max_evals=2, store=store, progress=False)
    return res, hb.analyse(res.trials, res.runs)


@pytest.fixture(scope="module")
def flaky(flaky_res) -> an.Analysis:
    return flaky_res[1]


def test_runs_without_a_result_stay_in_every_table_and_lose(flaky):
    f = flaky.final[flaky.final["searcher"] == "flaky"]
    assert len(f) == 10 and int(f["has_result"].sum()) == 5  # the failed runs are not dropped
    tb = flaky.table.set_index("searcher")
    assert tb.loc["flaky", "n_with_result"] == 5 and tb.loc["flaky", "n_runs"] == 10
    assert tb.loc["flaky", "median"] == math.inf  # half the runs missing: the median is a missing one
    assert flaky.verdict.n_with_result["flaky"] == (5, 10)
    assert flaky.verdict.leader == "steady-a" and flaky.verdict.overall != "flaky"
    pairs = flaky.pairs.set_index(["a", "b"])
    assert pairs.loc[("flaky", "steady-a"), "n"] == 10  # still paired by seed, same test
    assert (flaky.pairs["test"] == an.PAIRED_TEST).all()
    assert pairs.loc[("flaky", "steady-a"), "better"] == "steady-a"
    # steady-a beats steady-b on all 10 seeds (exact p = 2/1024) but not flaky with confidence:
    assert pairs.loc[("steady-a", "steady-b"), "p_value"] == pytest.approx(2 / 2**10)
    assert flaky.verdict.per_task["cliff"] is None and flaky.verdict.overall is None
    assert flaky.verdict.headline() == "No clear winner"
    assert any("flaky: 5 of 10 runs have no result" in w for w in flaky.warnings)
    ranks = flaky.ranks.set_index("searcher")["avg_rank"]
    assert ranks["flaky"] == 2.0 and ranks["steady-a"] == 1.5  # ranks count the failures too


def test_no_trial_within_budget_or_at_the_top_fidelity_counts_as_no_result():
    rows = [
        {
            "run_id": 1,
            "seed": 0,
            "trial": 0,
            "objective": 1.0,
            "budget": 3.0,
            "fidelity_high": 9.0,
            "cost": 1 / 3,
        },
        {
            "run_id": 2,
            "seed": 0,
            "trial": 0,
            "objective": 2.0,
            "budget": 9.0,
            "fidelity_high": 9.0,
            "cost": 5.0,
        },
    ]
    tr = _trials(rows, searchers={1: "low-only", 2: "over-budget"})
    runs = _runs({1: "low-only", 2: "over-budget", 3: "never-ran"}, budget={"max_cost": 2})
    a = hb.analyse(tr, runs)
    assert a.final.set_index("searcher")["has_result"].to_dict() == {
        "low-only": False,
        "over-budget": False,
        "never-ran": False,
    }
    assert a.n_over_budget == 1 and a.verdict.leader is None
    ghost = pd.concat([runs, _runs({9: "random"}, budget=None).assign(task="ghost")])  # a task with no trial
    b = hb.analyse(tr, ghost)
    assert b.references.loc["ghost", "source"] == "none" and b.verdict.per_task["ghost"] is None


# --- one bad seed -------------------------------------------------------------------------------


def test_one_diverged_seed_does_not_decide_and_task_and_overall_agree(tmp_path):
    bad = _task_seeds(range(1))

    @hb.task(space=SPACE, name="diverge", optimum=0.0)
    def diverge(config, *, budget, seed):
        return 20.0 if (config["x"] < 0.015 and seed in bad) else config["x"]

    res = hb.benchmark(
        [diverge],
        [_searcher("diverger", 0.01), _searcher("solid", 0.02)],
        seeds=10,
        max_evals=1,
        store=tmp_path / "s.db",
        progress=False,
    )
    a = hb.analyse(res.trials, res.runs)
    assert a.verdict.leader == "diverger"  # better on 9 of 10 seeds
    assert a.verdict.overall == a.verdict.per_task["diverge"]  # one task: never a contradiction
    assert a.verdict.overall != "solid"
    tb = a.table.set_index("searcher")
    assert (
        tb.loc["diverger", "score_median"] > tb.loc["solid", "score_median"]
    )  # median: the bad seed is one of 10


def test_random_search_scores_zero_within_its_interval():
    rng = np.random.default_rng(3)
    rows = []
    for k in range(10):
        for i, y in enumerate(rng.uniform(0, 1, 20)):
            rows.append({"run_id": k + 1, "seed": k, "trial": i, "objective": y, "optimum": 0.0})
    tr = _trials(rows, searchers=dict.fromkeys(range(1, 11), "random"))
    row = hb.analyse(tr).table.iloc[0]
    assert row["score_lo"] <= 0.0 <= row["score_hi"]
    assert abs(row["score_median"]) < 0.5


# --- noisy tasks --------------------------------------------------------------------------------


def test_noisy_task_is_judged_on_the_noiseless_value_of_the_recommendation(tmp_path):
    res = hb.benchmark(
        ["branin-noisy"], ["random"], seeds=3, max_evals=15, store=tmp_path / "s.db", progress=False
    )
    tr = res.trials
    a = hb.analyse(tr, res.runs)
    assert a.value_sources == {"branin-noisy": "noiseless"}
    for _, r in a.final.iterrows():
        inc = tr[(tr["run_id"] == r["run_id"]) & (tr["trial"] == r["incumbent_trial"])].iloc[0]
        assert r["best"] == inc["objective"]  # recommended: the best observed (noisy) trial
        assert r["value"] == inc["metric.noiseless"] != r["best"]  # judged on its noiseless value
    assert (a.final["regret"] >= 0).all()  # a noiseless value is never below the optimum
    assert "noiseless value" in " ".join(VALUE_LABELS[s] for s in a.value_sources.values())


# --- statistics against independent references --------------------------------------------------


@pytest.mark.parametrize("n", [3, 6, 9, 15])
def test_signed_rank_exact_p_equals_scipy_without_ties(n):
    d = np.random.default_rng(n).normal(0.4, 1.0, n)
    t_plus, p = an.signed_rank_test(d)
    ref = stats.wilcoxon(d, method="exact")
    assert p == pytest.approx(ref.pvalue) and t_plus == pytest.approx(
        np.sum(stats.rankdata(np.abs(d))[d > 0])
    )


def test_signed_rank_with_ties_and_zeros_equals_scipy_permutation_and_normal_approximation():
    d = np.array([1.0, 2, 2, -3, 4, 0, 5, 2, -1])
    ref = stats.wilcoxon(d, method=stats.PermutationMethod(n_resamples=10**5))
    assert an.signed_rank_test(d)[1] == pytest.approx(ref.pvalue)
    big = np.round(np.random.default_rng(1).normal(0.2, 1.0, 150), 1)  # many ties, n > 60: normal
    assert an.signed_rank_test(big)[1] == pytest.approx(stats.wilcoxon(big, method="approx").pvalue, rel=1e-9)


def test_holm_equals_statsmodels():
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    p = np.random.default_rng(0).uniform(0, 0.2, 12)
    assert np.allclose(an.holm(p), multipletests(p, method="holm")[1])


def test_a12_equals_mann_whitney_u_over_pairs():
    rng = np.random.default_rng(2)
    a, b = np.round(rng.normal(0, 1, 7), 1), np.round(rng.normal(0.5, 1, 9), 1)
    u_b = stats.mannwhitneyu(b, a).statistic  # pairs where b > a, ties one half
    assert an.a12(a, b) == pytest.approx(u_b / (len(a) * len(b)))
    assert an.a12(np.array([NAN]), np.array([5.0])) == 0.0 and an.a12(np.array([NAN]), np.array([NAN])) == 0.5


def test_friedman_is_tie_corrected_like_scipy():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(12, 4)).astype(float)  # heavy ties
    x[0, 1] = NAN  # a missing result: the worst of its block
    res = an.friedman(x, ["a", "b", "c", "d"], blocks="seed")
    filled = np.where(np.isnan(x), np.inf, x)
    ref = stats.friedmanchisquare(*filled.T)
    assert res.statistic == pytest.approx(ref.statistic) and res.p_value == pytest.approx(ref.pvalue)
    n, k = x.shape
    assert res.iman_davenport == pytest.approx((n - 1) * ref.statistic / (n * (k - 1) - ref.statistic))


@pytest.mark.parametrize(
    ("dist", "median"),
    [("normal", 0.0), ("lognormal", 1.0), ("exponential", math.log(2))],
)
def test_median_interval_coverage_matches_what_the_report_states(dist, median):
    rng = np.random.default_rng(11)
    for n in (5, 10, 20):
        draws = {
            "normal": lambda s: rng.normal(0.0, 1.0, s),
            "lognormal": lambda s: rng.lognormal(0.0, 1.0, s),
            "exponential": lambda s: rng.exponential(1.0, s),
        }[dist]((n, 4000))  # 4000 simulated experiments as the columns of the report's (R, G) input
        mi = an.median_interval(draws)
        simulated = float(np.mean((mi["lo"] <= median) & (median <= mi["hi"])))
        stated = float(mi["coverage"])
        assert abs(simulated - stated) <= 0.02, (dist, n, simulated, stated)
        assert an.interval_label(n).endswith(f"at {n} runs")


def test_stated_coverage_at_few_seeds_is_the_real_one():
    assert an.median_interval_ranks(3)[2] == pytest.approx(0.75)
    assert an.interval_label(3) == "[min, max]: 75% at 3 runs"
    lo, hi, cov = an.median_interval_ranks(10)
    assert (lo, hi) == (2, 9) and cov == pytest.approx(1 - 2 * stats.binom.cdf(1, 10, 0.5))


def test_seeds_needed_agrees_with_a_simulation_of_known_effect():
    rng = np.random.default_rng(5)
    m = an.seeds_needed(rng.normal(0.8, 1.0, 3000))  # the true effect, sampled precisely
    assert 8 <= m <= 25

    def power(seeds: int) -> float:
        return float(
            np.mean([an.signed_rank_test(rng.normal(0.8, 1.0, seeds))[1] <= 0.05 for _ in range(1500)])
        )

    assert 0.72 <= power(int(m)) <= 0.9
    assert power(int(0.6 * m)) < 0.75
    assert math.isinf(an.seeds_needed(np.array([1.0, -1.0, 2.0, -2.0])))  # no effect seen


# --- advice, budgets, fairness warnings -----------------------------------------------------------


def test_friedman_advice_names_what_would_make_it_decisive():
    rows = []
    for t in ("t1", "t2", "t3"):
        for k in range(3):
            for j, s in enumerate(("a", "b")):
                rows.append(
                    {"task": t, "searcher": s, "seed": k, "run_id": len(rows) + 1, "objective": j + k * 0.1}
                )
    tr = _trials(rows)
    text = " ".join(hb.analyse(tr).verdict.statements)
    assert "more tasks would make it decisive" in text and "more seeds per task do not change it" in text
    one = " ".join(hb.analyse(tr[tr["task"] == "t1"]).verdict.statements)
    assert "more seeds would make it decisive" in one


def test_runs_are_truncated_at_their_stored_budget():
    rows = [{"run_id": 1, "trial": i, "objective": o, "cost": 1.0} for i, o in enumerate([3.0, 2.0, 1.0])]
    rows += [{"run_id": 2, "seed": 1, "trial": i, "objective": o} for i, o in enumerate([3.0, 2.0, 1.0])]
    rows += [
        {"run_id": 3, "seed": 2, "trial": i, "objective": o, "started": 2.0 * i, "finished": 2.0 * (i + 1)}
        for i, o in enumerate([3.0, 2.0, 1.0])
    ]
    tr = _trials(rows)
    runs = _runs({1: "random", 2: "random", 3: "random"}, budget=None)
    runs["budget"] = [json.dumps(b) for b in ({"max_cost": 2.0}, {"max_evals": 1}, {"max_seconds": 4.5})]
    a = hb.analyse(tr, runs)
    assert a.final.set_index("run_id")["best"].to_dict() == {1: 2.0, 2: 3.0, 3: 2.0}
    assert a.n_over_budget == 4 and any("past their run's budget" in w for w in a.warnings)


def test_multi_fidelity_under_max_evals_is_flagged(tmp_path):
    res = hb.benchmark(
        ["branin-mf"], ["random", "sh"], seeds=1, max_evals=12, store=tmp_path / "s.db", progress=False
    )
    a = hb.analyse(res.trials, res.runs)
    assert any("sh ran under max_evals" in w and "not on equal terms" in w for w in a.warnings)
    summary = html_text(res.report(tmp_path / "r.html"))
    summary = summary[summary.index('id="summary"') : summary.index('id="task-0"')]
    assert "Warnings" in summary and "sh ran under max_evals" in summary  # visible in the report


def test_cost_and_compute_axes_disagreeing_is_a_warning():
    rows = []
    for k in range(3):  # 'cheap' finds 1.0 after 2 s; 'pricey' finds 0.5 but only after 10 s of compute
        rows += [
            {
                "searcher": "cheap",
                "run_id": 10 + k,
                "seed": k,
                "trial": 0,
                "objective": 1.0,
                "started": 0.0,
                "finished": 2.0,
            }
        ]
        rows += [
            {
                "searcher": "pricey",
                "run_id": 20 + k,
                "seed": k,
                "trial": 0,
                "objective": 0.5,
                "started": 0.0,
                "finished": 10.0,
            }
        ]
    a = hb.analyse(_trials(rows))
    assert a.verdict.leader_per_task["t"] == "pricey"
    assert any("at equal measured compute" in w and "cheap is ahead" in w for w in a.warnings)


def test_analyse_rejects_bad_input():
    with pytest.raises(ValueError, match="at least one trial"):
        hb.analyse(_trials([{}]).iloc[:0])
    with pytest.raises(ValueError, match="objective"):
        hb.analyse(_trials([{}]).drop(columns="objective"))
    with pytest.raises(ValueError, match="alpha"):
        hb.analyse(_trials([{}]), alpha=2.0)
    with pytest.raises(ValueError, match="value"):
        hb.analyse(_trials([{}]), value="accuracy")


# --- helpers ------------------------------------------------------------------------------------


def _trials(rows: list[dict], searchers: dict[int, str] | None = None) -> pd.DataFrame:
    """Trials frame with the store's columns (``test_analysis.make_trials``); searchers by run id."""
    tr = make_trials([{"trial": i, **r} for i, r in enumerate(rows)])
    return tr.assign(searcher=tr["run_id"].map(searchers)) if searchers else tr


def _runs(searchers: dict[int, str], budget: dict | None) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "experiment": "e",
                "run_id": rid,
                "task": "t",
                "searcher": s,
                "seed": 0,
                "budget": json.dumps(budget or {"max_evals": 100}),
                "task_info": "{}",
            }
            for rid, s in searchers.items()
        ]
    )


def test_cli_report_is_one_experiment_unless_asked_and_pools_equal_budgets_only(tmp_path, capsys):
    from hpbench.cli import main
    from hpbench.results.describe import task_spaces

    db = tmp_path / "s.db"
    for name, evals in (("a", 4), ("b", 6), ("c", 4)):
        hb.benchmark(["branin"], ["random"], seeds=2, max_evals=evals, store=db, name=name, progress=False)
    assert main(["report", "--store", str(db), "-o", str(tmp_path / "latest.html")]) == 0
    assert "reporting the latest, 'c'" in capsys.readouterr().err
    latest = (tmp_path / "latest.html").read_text(encoding="utf-8")
    assert "<title>c</title>" in latest and "another budget" not in latest
    assert main(["report", "--store", str(db), "--all", "-o", str(tmp_path / "all.html")]) == 0
    every = (tmp_path / "all.html").read_text(encoding="utf-8")
    assert "Experiments with another budget" in every and "Experiment(s) b" in every  # a and c pooled
    assert main(["report", "--store", str(db), "--experiment", "zz", "-o", str(tmp_path / "x.html")]) == 2
    assert "no experiment 'zz'" in capsys.readouterr().err
    # runs store the task's space, so the report reads each parameter's scale instead of guessing
    assert task_spaces(hb.load_runs(db))["branin"]["x1"]["type"] == "float"


# --- the verdict over several tasks, the pooled baseline, the summary's words -------------------


def _two_tasks(bad_seeds: set[int]) -> list:
    def make(name: str):
        @hb.task(space=SPACE, name=name, optimum=0.0)
        def f(config, *, budget, seed):
            return 20.0 if (config["x"] < 0.015 and seed in bad_seeds) else config["x"]

        return f

    return [make("d1"), make("d2")]


def test_overall_winner_is_named_only_when_sure_and_random_scores_zero(tmp_path):
    searchers = [_searcher("good", 0.01), _searcher("ok", 0.02), "random"]
    res = hb.benchmark(
        _two_tasks(set()), searchers, seeds=8, max_evals=3, store=tmp_path / "s.db", progress=False
    )
    a = hb.analyse(res.trials, res.runs)
    # good beats ok and random on every seed: sure overall, and on each task (Holm: 3 * 2/256 < 0.05)
    assert a.verdict.overall == "good" and a.verdict.per_task == {"d1": "good", "d2": "good"}
    assert a.verdict.headline() == "Overall winner: good"
    assert a.verdict.overall_tests.set_index("b").loc["ok", "p_value"] == pytest.approx(2 / 2**16)
    rnd = a.table[a.table["searcher"] == "random"]
    assert ((rnd["score_lo"] <= 0.0) & (rnd["score_hi"] >= 0.0)).all()  # random search scores 0
    html = html_text(res.report(tmp_path / "r.html"))
    assert "Overall winner: good" in html and "d1: good (8/8 runs with a result)" in html


def test_one_diverged_seed_does_not_decide_over_several_tasks(tmp_path):
    searchers = [_searcher("diverger", 0.01), _searcher("solid", 0.02), "random"]
    res = hb.benchmark(
        _two_tasks(_task_seeds(range(1))),
        searchers,
        seeds=8,
        max_evals=3,
        store=tmp_path / "s.db",
        progress=False,
    )
    a = hb.analyse(res.trials, res.runs)
    mean_regret = a.final.groupby("searcher")["regret"].mean()
    assert mean_regret["diverger"] > mean_regret["solid"]  # a rule on means would crown 'solid'
    assert a.verdict.leader == "diverger" and a.verdict.leader_per_task == {
        "d1": "diverger",
        "d2": "diverger",
    }
    assert a.verdict.overall in (None, "diverger") and "median normalised score" in a.verdict.basis
    sc = a.final[a.final["searcher"] == "diverger"]["score"]
    assert sc.min() >= a.final["score"].min() and np.isfinite(sc).all()  # the diverged seed is clipped


def test_random_baseline_pools_every_random_evaluation_of_the_task_version_in_the_store(tmp_path):
    from hpbench.results.report import baseline_pool

    def version(v: str, shift: float):
        @hb.task(space=SPACE, name="pool", optimum=0.0, version=v)
        def f(config, *, budget, seed):
            return config["x"] + shift

        return f

    db, kw = tmp_path / "s.db", {"max_evals": 6, "progress": False}
    hb.benchmark([version("1", 0.0)], ["random"], seeds=10, store=db, name="big", **kw)
    hb.benchmark([version("2", 0.5)], ["random"], seeds=10, store=db, name="other-version", **kw)
    small = hb.benchmark(
        [version("1", 0.0)], ["random", _searcher("fixed", 0.3)], seeds=3, store=db, name="small", **kw
    )
    tr = hb.load_results(db)
    runs = hb.load_runs(db)
    same = runs.loc[runs["task_version"] == "1", "run_id"]
    pooled = np.sort(tr.loc[tr["run_id"].isin(same) & (tr["searcher"] == "random"), "objective"].to_numpy())
    assert len(pooled) == 13 * 6  # big's 60 and small's 18 random evaluations, not other-version's

    def base(values: np.ndarray, n: int = 6) -> float:  # median of the best of n i.i.d. draws, closed form
        cdf = 1 - (1 - np.arange(1, len(values) + 1) / len(values)) ** n
        return float(values[np.searchsorted(cdf, 0.5)])

    def implied(a: an.Analysis) -> float:  # score = 1 - v / base for the fixed searcher's v = 0.3 < clip
        s = a.final.loc[a.final["searcher"] == "fixed", "score"].iloc[0]
        return 0.3 / (1 - s)

    pool = baseline_pool(db, ["small"])
    a = hb.analyse(small.trials, small.runs, pool_from=pool)
    assert implied(a) == pytest.approx(base(pooled))
    own = np.sort(small.trials.loc[small.trials["searcher"] == "random", "objective"].to_numpy())
    assert implied(hb.analyse(small.trials, small.runs)) == pytest.approx(base(own)) != base(pooled)
    with pytest.raises(ValueError, match="task_version"):
        hb.analyse(small.trials, small.runs, pool_from=pool.drop(columns="task_version"))
    shown = f"score {an_fmt(a.table.set_index('searcher').loc['fixed', 'score_median'])}"
    assert shown in html_text(small.report(tmp_path / "r.html"))  # the report pools the store too


def test_summary_says_how_many_seeds_a_close_pair_needs(tmp_path):
    searchers = [_searcher("good", 0.01), _searcher("ok", 0.02)]
    res = hb.benchmark(
        _two_tasks(set())[:1], searchers, seeds=4, max_evals=2, store=tmp_path / "s.db", progress=False
    )
    a = hb.analyse(res.trials, res.runs)
    assert a.verdict.per_task == {"d1": None}  # 4 seeds: the smallest two-sided p is 2/16
    row = a.seeds_needed.iloc[0]
    assert (row["a"], row["b"], row["n_seeds"], row["seeds_needed"]) == ("good", "ok", 4, 6)  # 2/64 < 0.05
    sentence = "To separate good from ok on d1 at this budget you need about 6 seeds (now 4;"
    assert any(sentence in s for s in a.verdict.statements)
    summary = html_text(res.report(tmp_path / "r.html"))
    assert sentence in summary[summary.index('id="summary"') : summary.index('id="task-0"')]


def test_analysis_frames_are_what_the_report_shows(flaky_res, tmp_path):
    multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests
    res, a = flaky_res
    assert len(a.final) == len(res.runs) == 30 and {"task", "searcher", "seed", "value"} <= set(a.final)
    assert (a.final["value"].isna() == ~a.final["has_result"]).all()
    assert {"median", "lo", "hi", "coverage", "n_with_result", "n_runs"} <= set(a.table)
    assert np.allclose(a.table["coverage"], 1 - 2 * stats.binom.cdf(1, 10, 0.5))
    assert {"p_value", "p_holm", "median_diff", "diff_lo", "diff_hi", "a12"} <= set(a.pairs)
    assert np.allclose(a.pairs["p_holm"], multipletests(a.pairs["p_value"], method="holm")[1])
    assert list(a.ranks["searcher"]) == list(a.friedman.searchers)
    wide = a.final.assign(v=a.final["value"].fillna(np.inf)).pivot(
        index="seed", columns="searcher", values="v"
    )
    assert a.friedman.statistic == pytest.approx(stats.friedmanchisquare(*wide.to_numpy().T).statistic)
    assert {"task", "a", "b", "n_seeds", "seeds_needed"} <= set(a.seeds_needed)
    assert a.verdict.overall is None and a.verdict.per_task == {"cliff": None}
    html = html_text(hb_report(res, tmp_path / "r.html"))
    assert (
        "No clear winner" in html
        and "cliff: no clear winner (steady-a ahead, 10/10 runs with a result)" in html
    )
    assert "[x(2), x(9)] of 10: 97.9% at 10 runs" in html  # the interval's real coverage, in the table
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for word in ("hb.analyse(", "`final`", "`table`", "`pairs`", "`ranks`", "`seeds_needed`",
                 "verdict.overall", "verdict.per_task"):  # fmt: skip
        assert word in readme


def test_effect_sizes_stand_beside_every_p_value(flaky):
    p = flaky.pairs
    assert p[["median_diff", "diff_lo", "diff_hi", "diff_coverage", "a12"]].notna().all().all()
    r = p.set_index(["a", "b"]).loc[("flaky", "steady-a")]
    f = flaky.final.set_index(["searcher", "seed"])["value"]
    va, vb = f["flaky"].sort_index().to_numpy(), f["steady-a"].sort_index().to_numpy()
    d = np.where(np.isnan(va), np.inf, va - vb)  # flaky's missing runs: worse than any
    assert r["median_diff"] == pytest.approx(np.median(d))  # 5 x -0.01 and 5 x +inf: the middle is +inf
    u = stats.mannwhitneyu(np.where(np.isnan(vb), np.inf, vb), np.where(np.isnan(va), np.inf, va)).statistic
    assert r["a12"] == pytest.approx(u / 100)


def test_multi_objective_tables_state_effect_sizes_and_the_bands_real_coverage(tmp_path):
    res = hb.benchmark(
        ["zdt1"], ["random", "parego"], seeds=3, max_evals=5, store=tmp_path / "s.db", progress=False
    )
    text = html_text(res.report(tmp_path / "r.html"))
    mo = text[text.index("zdt1: several objectives") :]
    assert "P(a better)" in mo and "median difference a − b" in mo
    assert "bootstrap" not in text and "band = median's interval ([min, max]: 75% at 3 runs)" in mo


def html_text(path) -> str:
    """What a reader sees of a report: its text without tags, and its figures' JSON."""
    import html
    import re

    from conftest import report_shown_text

    return html.unescape(re.sub(r"<(?!section)[^>]+>", "", report_shown_text(path)))


def an_fmt(x: float) -> str:
    from hpbench.results.html import fmt

    return fmt(x, 3)


def hb_report(res, path):
    from hpbench.results.report import write_report

    return write_report(res.trials, res.runs, path)
