"""Final results of every run and the comparisons between searchers built on them.

One rule for runs without a result (no eligible trial within budget, all trials failed,
or no trial at all): they stay in every frame here with ``value`` NaN and count as worse
than every run with a result, in medians, intervals, ranks, paired tests and effect
sizes. Tests stay paired by seed.

Shapes glossary:
    R: runs of one searcher on one task, n: seeds both searchers of a pair ran.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from hpbench.results import curves as cv
from hpbench.results import statistics as st

__all__ = [
    "PAIRED_TEST",
    "RECOMMENDED_BY",
    "leader",
    "final_runs",
    "final_table",
    "pairwise_tests",
    "friedman_ranks",
    "seeds_needed_table",
]

# How a run's recommendation (the configuration compared) was chosen: by default its best
# observed top-fidelity trial; the searcher's own choice when it stored one (``Searcher.recommend``).
RECOMMENDED_BY = ("best observed", "searcher")
PAIRED_TEST = "Wilcoxon signed-rank, paired by seed, a missing result worse than any"
_RUN_KEYS = ["task", "searcher", "seed", "run_id"]


def _run_row(rdf: pd.DataFrame) -> dict:
    e = rdf[rdf["_elig"]]
    named = e[e["_rec"]]  # the trial the searcher recommended, when it named one
    if len(named):
        e = named
    if len(e):
        i = int(e["_obj"].to_numpy().argmin())  # else the first of equal bests in finish order
        best, value, inc = float(e["_obj"].iloc[i]), float(e["_val"].iloc[i]), int(e["trial"].iloc[i])
        test = float(e["_test"].iloc[i])
    else:
        best, value, inc, test = math.nan, math.nan, -1, math.nan
    return {
        "best": best,
        "value": value if math.isfinite(value) else math.nan,
        "incumbent_trial": inc,
        "recommended_by": RECOMMENDED_BY[1 if len(named) else 0],
        "test_loss": test,
        "n_trials": len(rdf),
        "n_failed": int(rdf["_fail"].sum()),
        "cost": float(rdf["_cost"].sum()),
        "seconds": float(rdf["_secs"].sum()),
    }


def final_runs(
    trials: pd.DataFrame,
    references: pd.DataFrame,
    *,
    values: pd.Series | None = None,
    all_runs: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The result of every run: the compared value of its recommendation.

    A run's recommendation is the trial its searcher named (``recommended`` column of the
    trials, stored by the runner from ``Searcher.recommend``) when it is within budget and
    eligible, else its final incumbent (best observed top-fidelity trial).

    Args:
        trials: the trials that count (within budget), one row per trial.
        references: output of ``curves.regret_references``.
        values: their compared values (``curves.compared_values``), aligned with ``trials``;
            default the objective.
        all_runs: task, searcher, seed, run_id of every run to report, including runs
            with no trial in ``trials`` (they get no result); default the runs in ``trials``.

    Returns:
        Frame with columns task, searcher, seed, run_id, best (its observed objective), value,
        regret, has_result, incumbent_trial (the recommended trial), recommended_by (a value of
        :data:`RECOMMENDED_BY`), test_loss, n_trials, n_failed, cost, seconds.
    """
    cv.require(trials, cv.TRIAL_COLUMNS, "trials")
    df = trials.assign(
        _elig=cv.incumbent_eligible(trials),
        _obj=cv.numeric(trials, "objective"),
        _val=cv.numeric(trials, "objective") if values is None else values,
        _test=cv.numeric(trials, "metric.test_loss"),
        _rec=trials["recommended"].astype(bool) if "recommended" in trials else False,
        _cost=cv.numeric(trials, "cost").fillna(0.0),
        _secs=cv.compute_seconds(trials),
        _fail=trials["status"].astype(str) != "ok",
    ).sort_values(["run_id", "finished", "trial"], kind="mergesort")
    rows = {
        int(rid): {
            **dict(zip(_RUN_KEYS, (r["task"].iloc[0], r["searcher"].iloc[0], r["seed"].iloc[0], rid))),
            **_run_row(r),
        }
        for rid, r in df.groupby("run_id", sort=True)
    }
    empty = {
        "best": math.nan,
        "value": math.nan,
        "incumbent_trial": -1,
        "recommended_by": RECOMMENDED_BY[0],
        "test_loss": math.nan,
        "n_trials": 0,
        "n_failed": 0,
        "cost": 0.0,
        "seconds": 0.0,
    }
    if all_runs is not None:
        for t, s, k, rid in all_runs[_RUN_KEYS].itertuples(index=False):
            rows.setdefault(int(rid), {"task": t, "searcher": s, "seed": k, "run_id": int(rid), **empty})
    if not rows:
        return pd.DataFrame(columns=[*_RUN_KEYS, "best", "value", "regret", "has_result"])
    out = pd.DataFrame([rows[k] for k in sorted(rows)])
    out = cv.add_regret(out, references)
    return out.assign(has_result=np.isfinite(out["value"].to_numpy(dtype=float)))


def _summary(v: np.ndarray, confidence: float) -> dict:
    """Median, interval, quartiles of (R,) values, NaN worst (+inf here); mean, sem only if all present."""
    n = len(v)
    mi = st.median_interval(v, confidence)
    inf = np.where(np.isnan(v), np.inf, v)
    all_ok = bool(np.isfinite(v).all())
    return {
        "median": float(mi["median"][0]),
        "lo": float(mi["lo"][0]),
        "hi": float(mi["hi"][0]),
        "coverage": float(mi["coverage"]),
        "interval": st.interval_label(n, confidence),
        "q25": float(cv._quantile_inf(inf[:, None], 0.25)[0]),
        "q75": float(cv._quantile_inf(inf[:, None], 0.75)[0]),
        "mean": float(v.mean()) if all_ok else math.nan,
        "sem": float(v.std(ddof=1) / math.sqrt(n)) if all_ok and n > 1 else math.nan,
    }


def final_table(final: pd.DataFrame, *, value: str = "regret", confidence: float = 0.95) -> pd.DataFrame:
    """Final performance per task and searcher; a run without a result counts as the worst.

    Returns:
        Frame with columns task, searcher, n_runs, n_with_result, median, lo, hi (the
        order-statistic interval of the median of ``value``; +inf where it falls on a run
        without a result), coverage (achieved at n_runs), interval (how it was built), q25, q75, mean and
        sem (NaN when a run has no result), best_median (median incumbent objective),
        score_median, score_lo, score_hi (when ``final`` has scores), n_failed (failed trials).
    """
    cv.require(final, ("task", "searcher", value, "best"), "final")
    rows = []
    for (task, searcher), g in final.groupby(["task", "searcher"], sort=True):
        v = g[value].to_numpy(dtype=float)
        row = {
            "task": task,
            "searcher": searcher,
            "n_runs": len(g),
            "n_with_result": int(np.isfinite(v).sum()),
        }
        row.update(_summary(v, confidence))
        row["best_median"] = _summary(g["best"].to_numpy(dtype=float), confidence)["median"]
        if "score" in g:
            s = st.median_interval(-g["score"].to_numpy(dtype=float), confidence)  # higher is better
            row.update(
                score_median=-float(s["median"][0]), score_lo=-float(s["hi"][0]), score_hi=-float(s["lo"][0])
            )
        row["n_failed"] = int(g["n_failed"].sum()) if "n_failed" in g else 0
        rows.append(row)
    return pd.DataFrame(rows)


def leader(g: pd.DataFrame) -> str | None:
    """Lowest median value (missing worst), then lower mean within-seed rank, then name."""
    if not g["has_result"].any():
        return None
    v = g.assign(_v=g["value"].astype(float).fillna(np.inf))
    v = v.assign(_rank=v.groupby("seed")["_v"].rank(method="average"))
    key = v.groupby("searcher").agg(m=("_v", "median"), r=("_rank", "mean")).reset_index()
    key = key.sort_values(["m", "r", "searcher"], kind="mergesort")
    return str(key["searcher"].iloc[0])


def _wide(g: pd.DataFrame, value: str) -> pd.DataFrame:
    """seed x searcher values of one task: +inf = a run without a result, NaN = no run."""
    v = g.assign(_v=g[value].astype(float).fillna(np.inf)).drop_duplicates(["seed", "searcher"])
    return v.pivot(index="seed", columns="searcher", values="_v")


def _paired(wide: pd.DataFrame, a: str, b: str) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``a`` and ``b`` on the seeds both ran (NaN = no result), in seed order."""
    both = np.array(wide[[a, b]].dropna(), dtype=float)  # a copy: pandas hands out read-only views
    both[np.isinf(both)] = np.nan
    return both[:, 0], both[:, 1]


def compare_pair(va: np.ndarray, vb: np.ndarray, confidence: float = 0.95) -> dict:
    """Paired test and effect sizes of two searchers' values on common blocks (lower is better).

    Returns:
        Dict with n, statistic (T+), p_value, median_diff (a - b) and its interval diff_lo,
        diff_hi with diff_coverage, a12 (probability a beats b), better (a, b or None as
        ``"a"``/``"b"``/``None``).
    """
    d = st.paired_differences(va, vb)
    n = len(d)
    if n == 0:
        return {
            "n": 0,
            "statistic": math.nan,
            "p_value": math.nan,
            "median_diff": math.nan,
            "diff_lo": math.nan,
            "diff_hi": math.nan,
            "diff_coverage": math.nan,
            "a12": math.nan,
            "better": None,
        }
    t_plus, p = st.signed_rank_test(d)
    srt = np.sort(d)
    lo, hi, cov = st.median_interval_ranks(n, confidence)
    with np.errstate(invalid="ignore"):
        med = float(srt[n // 2]) if n % 2 else float((srt[n // 2 - 1] + srt[n // 2]) / 2)
    med = 0.0 if math.isnan(med) else med  # -inf and +inf in the middle: as many losses as wins
    a12 = st.a12(va, vb)
    if med < 0 or (med == 0 and a12 > 0.5):
        better = "a"
    elif med > 0 or (med == 0 and a12 < 0.5):
        better = "b"
    else:
        better = None
    return {
        "n": n,
        "statistic": t_plus,
        "p_value": p,
        "median_diff": med,
        "diff_lo": float(srt[lo - 1]),
        "diff_hi": float(srt[hi - 1]),
        "diff_coverage": cov,
        "a12": a12,
        "better": better,
    }


def pairwise_tests(
    final: pd.DataFrame, *, value: str = "value", alpha: float = 0.05, confidence: float = 0.95
) -> pd.DataFrame:
    """Every pair of searchers on each task: paired signed-rank test, Holm within the task, effect sizes.

    Paired by seed on the seeds both searchers ran; a run without a result is worse than
    any run with one (its difference is larger than any observed). With n paired seeds the
    smallest attainable two-sided p is 2^(1-n) (0.25 at 3, 0.0625 at 5).

    Returns:
        Frame with columns task, a, b, n, n_a_result, n_b_result, test, statistic, p_value,
        p_holm, significant, better (label or None), median_diff (a - b), diff_lo, diff_hi,
        diff_coverage, a12 (probability that a run of a beats one of b).
    """
    cv.require(final, ("task", "searcher", "seed", value), "final")
    if not 0 < alpha < 1:
        raise ValueError(f"pairwise_tests: rule '0 < alpha < 1' broken, got {alpha!r}")
    rows = []
    for task, g in final.groupby("task", sort=True):
        names = sorted(g["searcher"].astype(str).unique())
        wide = _wide(g, value)
        start = len(rows)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                va, vb = _paired(wide, a, b)
                r = compare_pair(va, vb, confidence)
                better = {"a": a, "b": b}.get(r.pop("better") or "")
                rows.append(
                    {
                        "task": task,
                        "a": a,
                        "b": b,
                        **r,
                        "better": better,
                        "test": PAIRED_TEST,
                        "n_a_result": int(np.isfinite(va).sum()),
                        "n_b_result": int(np.isfinite(vb).sum()),
                    }
                )
        for r, adj in zip(rows[start:], st.holm([r["p_value"] for r in rows[start:]])):
            r["p_holm"] = float(adj)
            r["significant"] = bool(adj <= alpha and r["better"] is not None)
    cols = [
        "task",
        "a",
        "b",
        "n",
        "n_a_result",
        "n_b_result",
        "test",
        "statistic",
        "p_value",
        "p_holm",
        "significant",
        "better",
        "median_diff",
        "diff_lo",
        "diff_hi",
        "diff_coverage",
        "a12",
    ]
    return pd.DataFrame(rows, columns=cols)


def friedman_ranks(
    final: pd.DataFrame, *, value: str = "value", alpha: float = 0.05
) -> st.FriedmanResult | None:
    """Friedman test over tasks (two or more: each searcher's median over seeds), else over seeds.

    A missing result is the worst value of its block; blocks where a searcher has no run
    at all are left out.
    """
    cv.require(final, ("task", "searcher", "seed", value), "final")
    v = final.assign(_v=final[value].astype(float).fillna(np.inf))
    if final["task"].nunique() >= 2:
        blocks = "task"
        wide = v.groupby(["task", "searcher"])["_v"].median().unstack("searcher")
    else:
        blocks = "seed"
        wide = v.pivot_table(index=["task", "seed"], columns="searcher", values="_v", aggfunc="first")
    wide = wide.dropna(axis=0, how="any")
    return st.friedman(wide.to_numpy(dtype=float), [str(c) for c in wide.columns], blocks=blocks, alpha=alpha)


def seeds_needed_table(
    final: pd.DataFrame, pairs: pd.DataFrame, *, value: str = "value", alpha: float = 0.05, power: float = 0.8
) -> pd.DataFrame:
    """For each pair not yet separated, the seeds a paired test would need (``statistics.seeds_needed``).

    Returns:
        Frame with columns task, a, b, n_seeds (now), ahead (the searcher ahead by median
        paired difference, or None), seeds_needed (inf: no difference seen).
    """
    rows = []
    wides = {t: _wide(g, value) for t, g in final.groupby("task", sort=False)}
    for _, p in pairs[~pairs["significant"].astype(bool)].iterrows():
        va, vb = _paired(wides[p["task"]], p["a"], p["b"])
        d = st.paired_differences(va, vb)
        if len(d) < 2:
            continue
        rows.append(
            {
                "task": p["task"],
                "a": p["a"],
                "b": p["b"],
                "n_seeds": len(d),
                "ahead": p["better"],
                "seeds_needed": st.seeds_needed(d, alpha=alpha, power=power),
            }
        )
    return pd.DataFrame(rows, columns=["task", "a", "b", "n_seeds", "ahead", "seeds_needed"])
