"""Analysis of benchmark results: pure functions over the trials DataFrame.

Every function takes the tidy frames returned by ``hpbench.results.store`` (one row
per trial, or outputs of other functions here) and returns new frames; nothing is
mutated, nothing is read from disk, and randomness (bootstrap, downsampling) comes
from an explicit seed.

Choices worth knowing:

* **Incumbent.** A trial counts towards the best-so-far only if it finished ``ok``
  with a finite objective and was evaluated at the top fidelity (``budget ==
  fidelity_high``) or without a fidelity (``budget`` NaN). A low-fidelity loss of a
  multi-fidelity searcher is not comparable with a full-fidelity one, so counting it
  would flatter those searchers; they are compared on the cost axis instead.
* **Order.** Trajectories follow the order in which trials *finished* (ties broken by
  trial number): the value at grid point ``g`` is the best objective among trials
  finished by ``g``. Steps are held, never interpolated. After a run's last trial its
  incumbent is carried forward to the end of the task's grid.
* **Missing incumbents** (no eligible trial yet) are NaN per run. In aggregates they
  count as worse than any value: the median is NaN when more than half the runs have
  no incumbent, the mean is NaN when any run has none.

Shapes glossary:
    R: runs in a group (one per seed), G: grid points, B: bootstrap resamples,
    S: searchers, N: blocks (tasks, or task-seed pairs) in the Friedman test.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hpbench.checks import is_integer
from hpbench.incumbent import eligible_mask

__all__ = [
    "AXES",
    "incumbent_eligible",
    "trajectories",
    "regret_references",
    "add_regret",
    "bootstrap_ci",
    "aggregate",
    "NormalisedScore",
    "normalised_scores",
    "average_rank",
    "mean_over_tasks",
    "final_runs",
    "final_table",
    "holm",
    "pairwise_tests",
    "nemenyi_q",
    "FriedmanResult",
    "friedman_nemenyi",
    "worker_utilisation",
    "busy_intervals",
    "budget_allocation",
    "param_columns",
    "param_scales",
    "configurations",
]

AXES: tuple[str, ...] = ("evaluations", "cost", "time")
_TRIAL_COLUMNS = ("task", "searcher", "seed", "run_id", "trial", "objective", "status", "finished")


def _require(df: pd.DataFrame, columns: tuple[str, ...] | list[str], name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: rule 'required columns present' broken, missing {missing}")


def _col(df: pd.DataFrame, name: str, default: float = np.nan) -> pd.Series:
    """A numeric column, or a constant one when the store did not provide it."""
    if name in df.columns:
        return pd.to_numeric(df[name], errors="coerce")
    return pd.Series(default, index=df.index, dtype=float)


def incumbent_eligible(trials: pd.DataFrame) -> pd.Series:
    """Boolean mask of trials that may become the incumbent (rule: ``hpbench.incumbent``).

    Args:
        trials: one row per trial.

    Returns:
        Series of bool aligned with ``trials``.
    """
    _require(trials, ("objective", "status"), "trials")
    mask = eligible_mask(
        trials["status"].to_numpy(),
        _col(trials, "objective").to_numpy(dtype=float),
        _col(trials, "budget").to_numpy(dtype=float),
        _col(trials, "fidelity_high").to_numpy(dtype=float),
    )
    return pd.Series(mask, index=trials.index)


def _grid(axis: str, lows: list[float], highs: list[float], n_points: int) -> np.ndarray:
    hi = max(highs)
    if axis == "evaluations":
        n = int(hi)
        if n <= n_points:
            return np.arange(1, n + 1, dtype=float)
        return np.unique(np.round(np.linspace(1, n, n_points)))
    lo = min(lows)
    if not hi > lo:
        return np.array([hi], dtype=float)
    return np.linspace(lo, hi, n_points)


def trajectories(trials: pd.DataFrame, *, axis: str = "evaluations", n_points: int = 200) -> pd.DataFrame:
    """Best-so-far objective of every run on a grid shared by all runs of a task.

    Args:
        trials: one row per trial (columns as returned by ``load_results``).
        axis: ``"evaluations"`` (number of finished trials), ``"cost"`` (cumulative cost
            in full-fidelity equivalents) or ``"time"`` (seconds since the run's first start).
        n_points: at most this many grid points per task.

    Returns:
        Long frame with columns task, searcher, seed, run_id, x, best; one row per run and
        grid point. ``best`` is NaN before the run's first eligible trial.

    Example:
        >>> traj = trajectories(trials, axis="cost")  # doctest: +SKIP
    """
    _require(trials, _TRIAL_COLUMNS, "trials")
    if axis not in AXES:
        raise ValueError(f"trajectories: 'axis' must be one of {AXES}, got {axis!r}")
    if not is_integer(n_points) or n_points < 2:
        raise ValueError(f"trajectories: rule 'n_points >= 2 (int)' broken, got {n_points!r}")
    df = trials.assign(_elig=incumbent_eligible(trials), _obj=_col(trials, "objective"))
    df = df.sort_values(["task", "run_id", "finished", "trial"], kind="mergesort").reset_index(drop=True)
    run = df["run_id"].to_numpy()
    bounds = np.r_[0, np.flatnonzero(run[1:] != run[:-1]) + 1, len(df)]
    y_all = np.where(df["_elig"].to_numpy(), df["_obj"].to_numpy(dtype=float), np.inf)
    if axis == "evaluations":
        x_all = np.ones(len(df))
    elif axis == "cost":
        x_all = _col(df, "cost").fillna(0.0).to_numpy(dtype=float)
    else:
        x_all = df["finished"].to_numpy(dtype=float)
    started = _col(df, "started").to_numpy(dtype=float)
    tasks, searchers, seeds = df["task"].to_numpy(), df["searcher"].to_numpy(), df["seed"].to_numpy()
    by_task: dict[object, list[tuple[int, np.ndarray, np.ndarray]]] = {}
    for s, e in zip(bounds[:-1], bounds[1:]):
        if axis == "time":
            t0 = np.nanmin(started[s:e]) if np.isfinite(started[s:e]).any() else np.nanmin(x_all[s:e])
            x = x_all[s:e] - t0
        else:
            x = np.cumsum(x_all[s:e])
        by_task.setdefault(tasks[s], []).append((s, x, np.minimum.accumulate(y_all[s:e])))
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("task", "searcher", "seed", "run_id", "x", "best")}
    for runs in by_task.values():
        grid = _grid(axis, [r[1][0] for r in runs], [r[1][-1] for r in runs], n_points)
        for s, x, best in runs:
            idx = np.searchsorted(x, grid, side="right") - 1  # last trial finished by g
            val = np.where(idx >= 0, best[np.clip(idx, 0, None)], np.inf)
            val[~np.isfinite(val)] = np.nan
            for k, v in (
                ("task", tasks[s]),
                ("searcher", searchers[s]),
                ("seed", seeds[s]),
                ("run_id", run[s]),
            ):
                cols[k].append(np.full(len(grid), v, dtype=object if k in ("task", "searcher") else None))
            cols["x"].append(grid)
            cols["best"].append(val)
    if not by_task:
        return pd.DataFrame(columns=list(cols))
    return pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})


def regret_references(trials: pd.DataFrame) -> pd.DataFrame:
    """The value regret is measured against, per task.

    The task's known optimum when the store has one; otherwise the best eligible
    objective any run found on that task (so the best run ends at regret 0).

    Returns:
        Frame indexed by task with columns ``reference`` (float) and ``source``
        (``"known optimum"`` or ``"best found"``; ``"none"`` if nothing succeeded).
    """
    _require(trials, ("task", "objective", "status"), "trials")
    elig = incumbent_eligible(trials)
    obj = _col(trials, "objective")
    opt = _col(trials, "optimum")
    rows = []
    for task in sorted(trials["task"].unique()):
        mask = trials["task"] == task
        known = opt[mask].dropna()
        if len(known):
            rows.append((task, float(known.iloc[0]), "known optimum"))
        elif (mask & elig).any():
            rows.append((task, float(obj[mask & elig].min()), "best found"))
        else:
            rows.append((task, np.nan, "none"))
    return pd.DataFrame(rows, columns=["task", "reference", "source"]).set_index("task")


def add_regret(frame: pd.DataFrame, references: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with a ``regret`` column: ``best - reference`` of its task.

    Regret can be slightly negative on noisy tasks (an observation below the noiseless
    optimum); it is kept as is so that nothing is hidden.
    """
    _require(frame, ("task", "best"), "frame")
    ref = frame["task"].map(references["reference"]).astype(float)
    return frame.assign(regret=frame["best"].to_numpy(dtype=float) - ref.to_numpy())


def _quantile_inf(a: np.ndarray, q: float | np.ndarray) -> np.ndarray:
    """Linear-interpolation quantiles (numpy's default) over the LAST axis, treating +inf as a value.

    ``np.quantile`` turns inf - inf interpolation into NaN; here a quantile whose upper
    neighbour is inf is inf unless it sits exactly on a finite order statistic. The
    quantile axis comes first in the result when ``q`` is an array.
    """
    srt = np.sort(a, axis=-1)  # sorting along the contiguous last axis is the fast case
    n = srt.shape[-1]
    qa = np.atleast_1d(np.asarray(q, dtype=float))
    pos = qa * (n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    res = []
    for f, i, j in zip(pos - lo, lo, hi):
        a_lo, a_hi = srt[..., i], srt[..., j]
        with np.errstate(invalid="ignore"):
            v = a_lo if f == 0 else a_lo + f * (a_hi - a_lo)
        res.append(np.where(np.isnan(v), np.inf, v))
    return res[0] if np.ndim(q) == 0 else np.stack(res)


def _median_last(sample: np.ndarray) -> np.ndarray:
    """Median over the last axis by sorting (faster than ``np.median`` for short axes)."""
    r = sample.shape[-1]
    srt = np.sort(sample, axis=-1)
    if r % 2:
        return srt[..., r // 2]
    return (srt[..., r // 2 - 1] + srt[..., r // 2]) / 2  # inf + inf stays inf


def bootstrap_ci(
    values: np.ndarray, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0
) -> dict[str, np.ndarray]:
    """Mean and median over runs with percentile-bootstrap confidence intervals.

    Resamples runs (rows) with replacement (Efron & Tibshirani, 1993), all grid
    points at once. NaN means "no incumbent" and ranks as worse than anything.

    Args:
        values: (R, G) array, one row per run.
        n_boot: number of resamples B.
        confidence: coverage of the interval, in (0, 1).
        seed: seed of the ``numpy.random.Generator`` used for resampling.

    Returns:
        Dict of (G,) arrays: mean, mean_lo, mean_hi, median, median_lo, median_hi, q25, q75, n_valid.
        Statistics that are infinite (see module docstring) are returned as NaN.
    """
    y = np.asarray(values, dtype=float)
    if y.ndim != 2 or y.shape[0] < 1:
        raise ValueError(f"bootstrap_ci: rule 'values is (R, G) with R >= 1' broken, got shape {y.shape}")
    if not 0 < confidence < 1:
        raise ValueError(f"bootstrap_ci: rule '0 < confidence < 1' broken, got {confidence!r}")
    if not is_integer(n_boot) or n_boot < 1:
        raise ValueError(f"bootstrap_ci: rule 'n_boot >= 1 (int)' broken, got {n_boot!r}")
    r, g = y.shape
    yt = np.ascontiguousarray(np.where(np.isnan(y), np.inf, y).T)  # (G, R)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, r, size=(n_boot, r))
    means = np.empty((g, n_boot))
    medians = np.empty((g, n_boot))
    chunk = max(1, int(4_000_000 // max(1, r * g)))  # bound memory of the (G, B, R) resample
    with np.errstate(invalid="ignore"):
        for s in range(0, n_boot, chunk):
            sample = yt[:, idx[s : s + chunk]]  # (G, b, R)
            means[:, s : s + chunk] = sample.mean(axis=-1)
            medians[:, s : s + chunk] = _median_last(sample)
        out = {"mean": yt.mean(axis=-1), "median": _median_last(yt)}
    a = (1 - confidence) / 2
    out["q25"], out["q75"] = _quantile_inf(yt, np.array([0.25, 0.75]))
    out["mean_lo"], out["mean_hi"] = _quantile_inf(means, np.array([a, 1 - a]))
    out["median_lo"], out["median_hi"] = _quantile_inf(medians, np.array([a, 1 - a]))
    out = {k: np.where(np.isfinite(v), v, np.nan) for k, v in out.items()}
    out["n_valid"] = np.isfinite(y).sum(axis=0).astype(float)
    return out


def aggregate(
    frame: pd.DataFrame,
    *,
    value: str = "regret",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """Aggregate trajectories over seeds, per task, searcher and grid point.

    Args:
        frame: output of :func:`trajectories` (optionally with regret or score columns).
        value: column to aggregate.
        n_boot, confidence, seed: see :func:`bootstrap_ci`.

    Returns:
        Frame with columns task, searcher, x, n (runs), n_valid, mean, mean_lo, mean_hi,
        median, median_lo, median_hi, q25, q75.
    """
    _require(frame, ("task", "searcher", "run_id", "x", value), "frame")
    parts = []
    for (task, searcher), sdf in frame.groupby(["task", "searcher"], sort=True):
        wide = sdf.pivot_table(index="run_id", columns="x", values=value, aggfunc="first", dropna=False)
        stats = bootstrap_ci(wide.to_numpy(dtype=float), n_boot=n_boot, confidence=confidence, seed=seed)
        part = pd.DataFrame({"task": task, "searcher": searcher, "x": wide.columns.to_numpy(dtype=float)})
        part["n"] = len(wide)
        for k in ("n_valid", "mean", "mean_lo", "mean_hi", "median", "median_lo", "median_hi", "q25", "q75"):
            part[k] = stats[k]
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["task", "searcher", "x", "n", "n_valid", "mean", "median"])
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class NormalisedScore:
    """Bayesmark-style normalised scores.

    Attributes:
        per_run: trajectories frame with an added ``score`` column.
        baseline: the searcher whose median defines score 0, or ``None`` when the
            fallback (median of all runs of all searchers) was used.
        note: one sentence for the report saying what 0 and 1 mean here.
    """

    per_run: pd.DataFrame
    baseline: str | None
    note: str


def normalised_scores(
    frame: pd.DataFrame, references: pd.DataFrame, *, baseline: str = "random"
) -> NormalisedScore:
    """Score runs so that 0 = the baseline's median and 1 = the reference (optimum).

    Follows Bayesmark's normalised score (Turner et al., 2021, "Bayesian optimization is
    superior to random search for machine learning hyperparameter tuning", NeurIPS 2020
    BBO challenge): ``score = 1 - (best - ref) / (median_baseline - ref)``, computed per
    task and grid point so tasks of different scales can be averaged. Scores below 0 mean
    worse than the baseline's median. Where the baseline's median equals the reference
    the score is undefined (NaN).

    Args:
        frame: output of :func:`trajectories`.
        references: output of :func:`regret_references`.
        baseline: searcher label of the baseline. When absent from a task, the median of
            all runs of all searchers on that task is used and the note says so.

    Returns:
        A :class:`NormalisedScore`.
    """
    _require(frame, ("task", "searcher", "x", "best"), "frame")
    frame = frame.reset_index(drop=True)
    ref = frame["task"].map(references["reference"]).to_numpy(dtype=float)
    best = frame["best"].to_numpy(dtype=float)
    has_base = frame["searcher"] == baseline
    used_fallback = False
    base_median = np.full(len(frame), np.nan)
    for _task, tdf in frame.groupby("task", sort=False):
        sel = tdf[has_base.loc[tdf.index]]
        if sel.empty:
            used_fallback = True
            sel = tdf
        vals = sel.assign(b=sel["best"].fillna(np.inf)).groupby("x")["b"].median()
        base_median[frame.index.get_indexer(tdf.index)] = tdf["x"].map(vals).to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        denom = base_median - ref
        score = 1 - (best - ref) / denom
    score[~(np.isfinite(denom) & (denom > 0))] = np.nan
    score[~np.isfinite(score)] = np.nan
    if used_fallback:
        note = (
            f"No '{baseline}' searcher on every task: 0 = median of all searchers' runs there, "
            "1 = the regret reference."
        )
        return NormalisedScore(frame.assign(score=score), None, note)
    note = f"0 = median of '{baseline}' at the same budget, 1 = the regret reference (Bayesmark-style)."
    return NormalisedScore(frame.assign(score=score), baseline, note)


def _hold_on(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Step function (x, y) read at ``grid``: the last y with x <= g; NaN before x[0]."""
    idx = np.searchsorted(x, grid, side="right") - 1
    out = y[np.clip(idx, 0, None)].astype(float)
    out[idx < 0] = np.nan
    return out


def _fraction_grid(n_points: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, n_points)


def average_rank(frame: pd.DataFrame, *, value: str = "best", n_points: int = 100) -> pd.DataFrame:
    """Average rank of each searcher over tasks and seeds at every budget fraction.

    Within each (task, seed) block the searchers are ranked by ``value`` (lower is
    better, ties get the average rank, a run without incumbent ranks last). Blocks
    missing a searcher of the task are skipped. Ranks are averaged over seeds, the grid
    is expressed as a fraction of the task's largest x, and tasks count equally.

    Returns:
        Frame with columns fraction, searcher, rank, n_tasks.
    """
    _require(frame, ("task", "searcher", "seed", "x", value), "frame")
    fgrid = _fraction_grid(n_points)
    per_task = []
    for _task, tdf in frame.groupby("task", sort=True):
        wide = tdf.assign(v=tdf[value].fillna(np.inf)).pivot_table(
            index=["seed", "x"], columns="searcher", values="v", aggfunc="first"
        )
        wide = wide.dropna(axis=0, how="any")  # incomplete blocks
        if wide.empty or wide.shape[1] < 1:
            continue
        ranks = wide.rank(axis=1, method="average").groupby(level="x").mean()
        x = ranks.index.to_numpy(dtype=float)
        xmax = x.max() if x.max() > 0 else 1.0
        for s in ranks.columns:
            r = _hold_on(x / xmax, ranks[s].to_numpy(dtype=float), fgrid)
            per_task.append(pd.DataFrame({"fraction": fgrid, "searcher": s, "rank": r}))
    if not per_task:
        return pd.DataFrame(columns=["fraction", "searcher", "rank", "n_tasks"])
    allr = pd.concat(per_task, ignore_index=True)
    out = allr.groupby(["searcher", "fraction"], sort=True)["rank"].agg(["mean", "count"]).reset_index()
    return out.rename(columns={"mean": "rank", "count": "n_tasks"})[
        ["fraction", "searcher", "rank", "n_tasks"]
    ]


def mean_over_tasks(frame: pd.DataFrame, *, value: str = "score", n_points: int = 100) -> pd.DataFrame:
    """Mean of ``value`` over seeds, then over tasks, at every budget fraction.

    Returns:
        Frame with columns fraction, searcher, value, n_tasks (tasks with a defined mean there).
    """
    _require(frame, ("task", "searcher", "x", value), "frame")
    fgrid = _fraction_grid(n_points)
    per_task = []
    for (_task, searcher), sdf in frame.groupby(["task", "searcher"], sort=True):
        m = sdf.groupby("x")[value].mean()  # NaN-skipping over seeds
        x = m.index.to_numpy(dtype=float)
        xmax = frame.loc[frame["task"] == _task, "x"].max()
        xmax = xmax if xmax > 0 else 1.0
        per_task.append(
            pd.DataFrame(
                {"fraction": fgrid, "searcher": searcher, "v": _hold_on(x / xmax, m.to_numpy(), fgrid)}
            )
        )
    if not per_task:
        return pd.DataFrame(columns=["fraction", "searcher", "value", "n_tasks"])
    allv = pd.concat(per_task, ignore_index=True)
    out = allv.groupby(["searcher", "fraction"], sort=True)["v"].agg(["mean", "count"]).reset_index()
    return out.rename(columns={"mean": "value", "count": "n_tasks"})[
        ["fraction", "searcher", "value", "n_tasks"]
    ]


def final_runs(trials: pd.DataFrame, references: pd.DataFrame) -> pd.DataFrame:
    """Final result of every run: its incumbent at the end of the run.

    Returns:
        Frame with columns task, searcher, seed, run_id, best, regret, test_loss (the
        ``metric.test_loss`` of the incumbent trial, NaN if absent), incumbent_trial,
        n_trials, n_failed, cost (total).
    """
    _require(trials, _TRIAL_COLUMNS, "trials")
    df = trials.assign(_elig=incumbent_eligible(trials), _obj=_col(trials, "objective"))
    df = df.sort_values(["run_id", "finished", "trial"], kind="mergesort")
    test = _col(df, "metric.test_loss")
    df = df.assign(_test=test, _cost=_col(df, "cost").fillna(0.0), _fail=df["status"].astype(str) != "ok")
    rows = []
    for run_id, rdf in df.groupby("run_id", sort=True):
        e = rdf[rdf["_elig"]]
        if len(e):
            i = e["_obj"].to_numpy().argmin()  # first of equal bests in finish order
            best, tl, inc = float(e["_obj"].iloc[i]), float(e["_test"].iloc[i]), int(e["trial"].iloc[i])
        else:
            best, tl, inc = np.nan, np.nan, -1
        rows.append(
            {
                "task": rdf["task"].iloc[0],
                "searcher": rdf["searcher"].iloc[0],
                "seed": rdf["seed"].iloc[0],
                "run_id": run_id,
                "best": best,
                "test_loss": tl,
                "incumbent_trial": inc,
                "n_trials": len(rdf),
                "n_failed": int(rdf["_fail"].sum()),
                "cost": float(rdf["_cost"].sum()),
            }
        )
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=["task", "searcher", "seed", "run_id", "best", "regret", "test_loss"])
    return add_regret(out, references)


def final_table(final: pd.DataFrame, *, value: str = "regret") -> pd.DataFrame:
    """Final-performance table per task and searcher.

    Returns:
        Frame with columns task, searcher, n_runs, n_valid, median, q25, q75, mean, sem
        (all of ``value`` over runs with an incumbent), best_median (median final objective),
        test_loss_median (median test loss of the incumbents), n_failed (failed trials).
    """
    _require(final, ("task", "searcher", value, "best"), "final")
    rows = []
    for (task, searcher), g in final.groupby(["task", "searcher"], sort=True):
        v = g[value].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        n = len(v)
        rows.append(
            {
                "task": task,
                "searcher": searcher,
                "n_runs": len(g),
                "n_valid": n,
                "median": float(np.median(v)) if n else np.nan,
                "q25": float(np.quantile(v, 0.25)) if n else np.nan,
                "q75": float(np.quantile(v, 0.75)) if n else np.nan,
                "mean": float(v.mean()) if n else np.nan,
                "sem": float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else np.nan,
                "best_median": float(g["best"].median()),
                "test_loss_median": float(g["test_loss"].median()) if "test_loss" in g else np.nan,
                "n_failed": int(g["n_failed"].sum()) if "n_failed" in g else 0,
            }
        )
    return pd.DataFrame(rows)


def holm(p_values: np.ndarray | list[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm, 1979). NaN entries stay NaN and are not counted.

    Args:
        p_values: (M,) raw p-values.

    Returns:
        (M,) adjusted p-values; reject hypothesis i at level alpha iff adjusted[i] <= alpha.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="mergesort")]
    adj = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(adj)
    return out


def _pair_test(a: pd.Series, b: pd.Series) -> tuple[str, float, float]:
    """(test name, statistic, p-value) of two samples indexed by seed."""
    from scipy import stats

    if len(a) == 0 or len(b) == 0:
        return "none", np.nan, np.nan
    paired = a.index.is_unique and b.index.is_unique and set(a.index) == set(b.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if paired:
            d = a.to_numpy(dtype=float) - b.loc[a.index].to_numpy(dtype=float)
            if np.all(d == 0):
                return "wilcoxon", 0.0, 1.0
            res = stats.wilcoxon(d)
            return "wilcoxon", float(res.statistic), float(res.pvalue)
        res = stats.mannwhitneyu(a.to_numpy(dtype=float), b.to_numpy(dtype=float), alternative="two-sided")
        return "mann-whitney", float(res.statistic), float(res.pvalue)


def pairwise_tests(final: pd.DataFrame, *, value: str = "regret", alpha: float = 0.05) -> pd.DataFrame:
    """Two-sided tests between every pair of searchers on each task, Holm-corrected per task.

    Wilcoxon signed-rank on differences paired by seed when both searchers ran exactly the
    same seeds, else Mann-Whitney U. Runs without an incumbent are left out. With very few
    seeds the smallest attainable p-value is large (5 paired seeds: 0.0625), so "not
    significant" often means "too few seeds".

    Returns:
        Frame with columns task, a, b, test, n_a, n_b, statistic, p_value, p_holm,
        significant, better (the searcher with the lower median, or ``None`` on a tie).
    """
    _require(final, ("task", "searcher", "seed", value), "final")
    if not 0 < alpha < 1:
        raise ValueError(f"pairwise_tests: rule '0 < alpha < 1' broken, got {alpha!r}")
    rows = []
    for task, tdf in final.groupby("task", sort=True):
        tdf = tdf[np.isfinite(tdf[value].to_numpy(dtype=float))]
        groups = {s: g.set_index("seed")[value] for s, g in tdf.groupby("searcher", sort=True)}
        names = sorted(groups)
        start = len(rows)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                test, stat, p = _pair_test(groups[a], groups[b])
                ma, mb = groups[a].median(), groups[b].median()
                better = a if ma < mb else b if mb < ma else None
                rows.append([task, a, b, test, len(groups[a]), len(groups[b]), stat, p, better])
        if len(rows) > start:
            adj = holm([r[7] for r in rows[start:]])
            for r, pa in zip(rows[start:], adj):
                r.insert(8, pa)
    cols = ["task", "a", "b", "test", "n_a", "n_b", "statistic", "p_value", "p_holm", "better"]
    out = pd.DataFrame(rows, columns=cols)
    out.insert(9, "significant", out["p_holm"] <= alpha)
    return out


def nemenyi_q(k: int, alpha: float = 0.05) -> float:
    """Critical value q_alpha of the Nemenyi test for k groups (Demšar, 2006, Table 5a).

    The studentized range quantile at infinite degrees of freedom divided by sqrt(2).
    """
    from scipy.stats import studentized_range

    if not is_integer(k) or k < 2:
        raise ValueError(f"nemenyi_q: rule 'k >= 2 (int)' broken, got {k!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"nemenyi_q: rule '0 < alpha < 1' broken, got {alpha!r}")
    return float(studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2))


@dataclass(frozen=True)
class FriedmanResult:
    """Friedman test over blocks with the Nemenyi critical difference (Demšar, 2006).

    Attributes:
        searchers: searcher labels sorted by average rank (best first).
        avg_ranks: their average ranks (1 = best).
        n_blocks: number of blocks N; ``blocks`` says what a block is.
        blocks: ``"task"`` (median over seeds per task) or ``"task-seed"``.
        statistic: Friedman chi-square (no tie correction, as in Demšar's eq.).
        p_value: chi-square p-value with k - 1 degrees of freedom.
        iman_davenport: Iman-Davenport F statistic (less conservative); NaN when undefined.
        p_iman_davenport: its p-value from F(k-1, (k-1)(N-1)).
        alpha: significance level of the critical difference.
        cd: Nemenyi critical difference q_alpha * sqrt(k (k+1) / (6 N)).
        cliques: groups of searchers whose average ranks differ by less than ``cd``.
    """

    searchers: tuple[str, ...]
    avg_ranks: tuple[float, ...]
    n_blocks: int
    blocks: str
    statistic: float
    p_value: float
    iman_davenport: float
    p_iman_davenport: float
    alpha: float
    cd: float
    cliques: tuple[tuple[str, ...], ...]


def _cliques(names: list[str], ranks: np.ndarray, cd: float) -> tuple[tuple[str, ...], ...]:
    """Maximal runs of rank-sorted searchers spanning less than ``cd``."""
    out: list[tuple[int, int]] = []
    for i in range(len(names)):
        j = i
        while j + 1 < len(names) and ranks[j + 1] - ranks[i] < cd:
            j += 1
        if j > i and not any(s <= i and j <= e for s, e in out):
            out.append((i, j))
    return tuple(tuple(names[s : e + 1]) for s, e in out)


def friedman_nemenyi(
    final: pd.DataFrame, *, value: str = "regret", alpha: float = 0.05, blocks: str = "auto"
) -> FriedmanResult | None:
    """Friedman test across blocks and the Nemenyi critical difference (Demšar, 2006).

    Args:
        final: output of :func:`final_runs`.
        value: column compared (lower is better).
        alpha: significance level.
        blocks: ``"task"`` (one block per task, the searcher's median over seeds),
            ``"task-seed"`` (one block per task and seed), or ``"auto"``: tasks when there
            are at least two, else task-seed pairs.

    Returns:
        A :class:`FriedmanResult`, or ``None`` when fewer than two searchers or two
        complete blocks exist.
    """
    from scipy import stats

    _require(final, ("task", "searcher", "seed", value), "final")
    if blocks not in ("auto", "task", "task-seed"):
        raise ValueError(f"friedman_nemenyi: 'blocks' must be 'auto', 'task' or 'task-seed', got {blocks!r}")
    if blocks == "auto":
        blocks = "task" if final["task"].nunique() >= 2 else "task-seed"
    v = final.assign(v=final[value].astype(float).fillna(np.inf))
    if blocks == "task":
        wide = v.groupby(["task", "searcher"])["v"].median().unstack("searcher")
    else:
        wide = v.pivot_table(index=["task", "seed"], columns="searcher", values="v", aggfunc="first")
    wide = wide.dropna(axis=0, how="any")
    k, n = wide.shape[1], wide.shape[0]
    if k < 2 or n < 2:
        return None
    ranks = wide.rank(axis=1, method="average").to_numpy()
    r = ranks.mean(axis=0)
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(r**2) - k * (k + 1) ** 2 / 4)
    p = float(stats.chi2.sf(chi2, k - 1))
    den = n * (k - 1) - chi2
    ff = (n - 1) * chi2 / den if den > 0 else np.nan
    pf = float(stats.f.sf(ff, k - 1, (k - 1) * (n - 1))) if np.isfinite(ff) else np.nan
    cd = nemenyi_q(k, alpha) * math.sqrt(k * (k + 1) / (6 * n))
    order = np.argsort(r, kind="mergesort")
    names = [str(wide.columns[i]) for i in order]
    sr = r[order]
    return FriedmanResult(
        searchers=tuple(names),
        avg_ranks=tuple(float(x) for x in sr),
        n_blocks=n,
        blocks=blocks,
        statistic=float(chi2),
        p_value=p,
        iman_davenport=float(ff),
        p_iman_davenport=pf,
        alpha=alpha,
        cd=float(cd),
        cliques=_cliques(names, sr, cd),
    )


def _merge(starts: np.ndarray, ends: np.ndarray, gap: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals; intervals separated by at most ``gap`` are joined."""
    order = np.argsort(starts, kind="mergesort")
    s, e = starts[order], ends[order]
    ms, me = [s[0]], [e[0]]
    for a, b in zip(s[1:], e[1:]):
        if a <= me[-1] + gap:
            me[-1] = max(me[-1], b)
        else:
            ms.append(a)
            me.append(b)
    return np.array(ms), np.array(me)


def _worker_frame(trials: pd.DataFrame) -> pd.DataFrame:
    _require(trials, ("started", "finished"), "trials")
    w = trials["worker"] if "worker" in trials else pd.Series(None, index=trials.index, dtype=object)
    df = pd.DataFrame(
        {
            "worker": w.astype(object).where(w.notna(), "(unknown)").astype(str),
            "started": _col(trials, "started"),
            "finished": _col(trials, "finished"),
        }
    )
    return df[np.isfinite(df["started"]) & np.isfinite(df["finished"])]


def worker_utilisation(trials: pd.DataFrame) -> pd.DataFrame:
    """Busy share of each worker over the span of the whole frame.

    Busy time is the union of the worker's trial intervals (started..finished), so
    overlapping trials on one worker are not double counted. The span runs from the
    earliest start to the latest finish of any trial.

    Returns:
        Frame with columns worker, n_trials, busy (s), span (s), share.
    """
    df = _worker_frame(trials)
    if df.empty:
        return pd.DataFrame(columns=["worker", "n_trials", "busy", "span", "share"])
    span = float(df["finished"].max() - df["started"].min())
    rows = []
    for worker, g in df.groupby("worker", sort=True):
        s, e = _merge(g["started"].to_numpy(), g["finished"].to_numpy())
        busy = float(np.sum(e - s))
        rows.append((worker, len(g), busy, span, busy / span if span > 0 else np.nan))
    return pd.DataFrame(rows, columns=["worker", "n_trials", "busy", "span", "share"])


def busy_intervals(trials: pd.DataFrame, *, resolution: int = 1000) -> pd.DataFrame:
    """Busy blocks per worker for a timeline, at most about ``resolution`` gaps resolved.

    Intervals closer than span / ``resolution`` are merged so that a 10,000-trial
    experiment draws a few hundred bars rather than 10,000.

    Returns:
        Frame with columns worker, start, end (seconds since the first start).
    """
    df = _worker_frame(trials)
    if df.empty:
        return pd.DataFrame(columns=["worker", "start", "end"])
    t0 = float(df["started"].min())
    gap = float(df["finished"].max() - t0) / max(1, resolution)
    parts = []
    for worker, g in df.groupby("worker", sort=True):
        s, e = _merge(g["started"].to_numpy() - t0, g["finished"].to_numpy() - t0, gap)
        parts.append(pd.DataFrame({"worker": worker, "start": s, "end": e}))
    return pd.concat(parts, ignore_index=True)


def budget_allocation(trials: pd.DataFrame) -> pd.DataFrame:
    """Where each searcher spent its budget: trials and cost per fidelity level.

    Only trials with a fidelity (non-NaN budget) are counted.

    Returns:
        Frame with columns task, searcher, budget, n_trials, cost, trial_share, cost_share
        (shares within the task and searcher).
    """
    _require(trials, ("task", "searcher"), "trials")
    df = trials.assign(_b=_col(trials, "budget"), _c=_col(trials, "cost").fillna(0.0))
    df = df[np.isfinite(df["_b"])]
    if df.empty:
        return pd.DataFrame(
            columns=["task", "searcher", "budget", "n_trials", "cost", "trial_share", "cost_share"]
        )
    g = df.groupby(["task", "searcher", "_b"], sort=True).agg(n_trials=("_c", "size"), cost=("_c", "sum"))
    g = g.reset_index().rename(columns={"_b": "budget"})
    tot = g.groupby(["task", "searcher"])[["n_trials", "cost"]].transform("sum")
    g["trial_share"] = g["n_trials"] / tot["n_trials"]
    with np.errstate(invalid="ignore", divide="ignore"):
        g["cost_share"] = np.where(tot["cost"] > 0, g["cost"] / tot["cost"], np.nan)
    return g


def param_columns(trials: pd.DataFrame, task: str | None = None) -> list[str]:
    """The ``param.*`` columns used (not all NaN) by ``task``, or by any task."""
    df = trials if task is None else trials[trials["task"] == task]
    return [c for c in df.columns if c.startswith("param.") and df[c].notna().any()]


def _looks_log(v: np.ndarray) -> bool:
    """True when the median is nearer (in log terms) the geometric than the arithmetic midpoint.

    Log-uniform samples have their median near sqrt(min * max); uniform ones near (min + max) / 2.
    """
    lo, hi, med = float(v.min()), float(v.max()), float(np.median(v))
    return abs(math.log(med / math.sqrt(lo * hi))) < abs(math.log(med / ((lo + hi) / 2)))


def param_scales(trials: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    """Guess a display scale for each parameter column: ``"log"``, ``"linear"`` or ``"category"``.

    The store keeps values, not the search space, so the scale is inferred: a positive
    numeric parameter whose values span at least two decades and whose median sits near
    the geometric midpoint (as log-uniform sampling gives) is shown on a log axis.
    """
    out: dict[str, str] = {}
    for c in columns:
        v = trials[c].dropna()
        num = pd.to_numeric(v, errors="coerce") if not pd.api.types.is_bool_dtype(v) else v * np.nan
        if len(v) == 0 or num.isna().any():
            out[c] = "category"
        elif (num > 0).all() and num.max() / num.min() >= 100 and _looks_log(num.to_numpy(dtype=float)):
            out[c] = "log"
        else:
            out[c] = "linear"
    return out


def configurations(trials: pd.DataFrame, *, max_per_searcher: int = 300, seed: int = 0) -> pd.DataFrame:
    """A bounded sample of evaluated configurations per task and searcher.

    Keeps the best 10% (at least one) of each searcher's ok trials and fills the rest
    with a seeded random sample, so plots stay light at any number of trials.

    Returns:
        Subset of ``trials`` rows (status ok, finite objective) with a boolean ``top`` column.
    """
    _require(trials, ("task", "searcher", "objective", "status"), "trials")
    if not is_integer(max_per_searcher) or max_per_searcher < 1:
        raise ValueError(
            f"configurations: rule 'max_per_searcher >= 1 (int)' broken, got {max_per_searcher!r}"
        )
    obj = _col(trials, "objective")
    ok = trials[(trials["status"].astype(str) == "ok") & np.isfinite(obj.to_numpy(dtype=float))]
    ok = ok.assign(_obj=_col(ok, "objective"))
    rng = np.random.default_rng(seed)
    parts = []
    for _key, g in ok.groupby(["task", "searcher"], sort=True):
        g = g.sort_values("_obj", kind="mergesort")
        n_top = max(1, int(math.ceil(0.1 * len(g))))
        top = g.iloc[: min(n_top, max_per_searcher)]
        rest = g.iloc[len(top) :]
        room = max_per_searcher - len(top)
        if len(rest) > room:
            rest = rest.iloc[np.sort(rng.choice(len(rest), size=room, replace=False))]
        parts.append(pd.concat([top.assign(top=True), rest.assign(top=False)]))
    if not parts:
        return ok.assign(top=False).drop(columns="_obj")
    return pd.concat(parts).drop(columns="_obj")


def parse_json_column(values: pd.Series) -> list[dict]:
    """Decode a column of JSON strings (None/NaN -> {}), for provenance tables."""
    out = []
    for v in values:
        if isinstance(v, str) and v:
            try:
                d = json.loads(v)
            except ValueError:
                d = {"value": v}
            out.append(d if isinstance(d, dict) else {"value": d})
        else:
            out.append({})
    return out
