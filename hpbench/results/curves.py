"""Incumbent curves: what each run had found, at every point of its budget.

Pure functions over the tidy trials frame of ``hpbench.results.store`` (one row per trial).

* **Budget.** :func:`within_budget` keeps the trials that fit their run's stored budget
  (``max_evals`` and ``max_cost`` counted in trial order, ``max_seconds`` in compute seconds
  in finish order), so a store written before the runner stopped overshooting is read
  as if it had not.
* **Incumbent** (``hpbench.incumbent``): an ``ok`` trial with a finite objective at the top
  fidelity (or without one). Trajectories follow the order in which trials *finished*;
  the incumbent at grid point ``g`` is the best eligible trial finished by ``g`` (first of
  equal objectives); steps are held, never interpolated, and carried to the grid's end.
* **Value compared** (:func:`value_sources`): the incumbent's noiseless value when the task
  reports ``metric.noiseless``, else its held-out ``metric.test_loss``, else its objective.
  On a noisy task the lucky noise of an observation is not a result.
* **Axes**: ``evaluations`` (trials finished), ``cost`` (full-fidelity equivalents) and
  ``time``: the run's own compute seconds, its trials' seconds (``seconds`` column when
  stored, else finished - started) cumulated in finish order plus its searcher's
  ``searcher_seconds`` when stored. Not wall time since the run started, which would bill
  a run for queueing behind the others.
* **Missing** results (no eligible trial yet) are NaN per run and worst in every aggregate.

Shapes glossary:
    T: trials of one run, R: runs in a group, G: grid points.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hpbench.checks import is_integer
from hpbench.incumbent import TOP_TOLERANCE, eligible_mask
from hpbench.results import statistics as st

__all__ = [
    "AXES",
    "VALUE_SOURCES",
    "require",
    "numeric",
    "incumbent_eligible",
    "run_budgets",
    "compute_seconds",
    "within_budget",
    "value_sources",
    "compared_values",
    "trajectories",
    "regret_references",
    "add_regret",
    "aggregate",
    "average_rank",
    "task_mean_of_medians",
]

AXES: tuple[str, ...] = ("evaluations", "cost", "time")
VALUE_SOURCES: dict[str, str] = {
    "noiseless": "metric.noiseless",
    "test_loss": "metric.test_loss",
    "objective": "objective",
}
TRIAL_COLUMNS = ("task", "searcher", "seed", "run_id", "trial", "objective", "status", "finished")
_SLACK = 1e-9  # relative: a run that used its budget up to rounding is within it


def require(df: pd.DataFrame, columns: tuple[str, ...] | list[str], name: str) -> None:
    """Raise unless ``df`` is a DataFrame with ``columns``."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: rule 'required columns present' broken, missing {missing}")


def numeric(df: pd.DataFrame, name: str, default: float = np.nan) -> pd.Series:
    """A numeric column, or a constant one when the store did not provide it."""
    if name in df.columns:
        return pd.to_numeric(df[name], errors="coerce").astype(float)
    return pd.Series(default, index=df.index, dtype=float)


def incumbent_eligible(trials: pd.DataFrame) -> pd.Series:
    """Boolean mask of trials that may become the incumbent (rule: ``hpbench.incumbent``)."""
    require(trials, ("objective", "status"), "trials")
    mask = eligible_mask(
        trials["status"].to_numpy(),
        numeric(trials, "objective").to_numpy(),
        numeric(trials, "budget").to_numpy(),
        numeric(trials, "fidelity_high").to_numpy(),
    )
    return pd.Series(mask, index=trials.index)


def _top_fidelity(trials: pd.DataFrame) -> np.ndarray:
    b, h = numeric(trials, "budget").to_numpy(), numeric(trials, "fidelity_high").to_numpy()
    with np.errstate(invalid="ignore"):
        return np.isnan(b) | np.isnan(h) | (b >= h * (1 - TOP_TOLERANCE))


# --- budgets ------------------------------------------------------------------------------------


def run_budgets(runs: pd.DataFrame | None) -> dict[int, dict[str, Any]]:
    """run_id -> the budget stored with the run (``{"max_cost": 10.0}``...); empty without runs."""
    if runs is None or len(runs) == 0 or "budget" not in runs or "run_id" not in runs:
        return {}
    out = {}
    for rid, b in zip(runs["run_id"], runs["budget"]):
        d = json.loads(b) if isinstance(b, str) and b else b
        if isinstance(d, Mapping):
            out[int(rid)] = dict(d)
    return out


def compute_seconds(trials: pd.DataFrame) -> pd.Series:
    """Compute seconds charged to each trial's run: its own seconds plus the searcher's, when stored."""
    own = numeric(trials, "seconds")
    measured = numeric(trials, "finished") - numeric(trials, "started")
    own = own.where(np.isfinite(own), measured).clip(lower=0).fillna(0.0)
    return own + numeric(trials, "searcher_seconds", 0.0).fillna(0.0)


def within_budget(trials: pd.DataFrame, budgets: Mapping[int, Mapping[str, Any]]) -> pd.Series:
    """Mask of trials that fit their run's budget; trials of runs without a stored budget are kept.

    A trial is over budget when, counting it, the run has made more than ``max_evals``
    trials or spent more than ``max_cost`` (both in trial order: the order trials were
    started, when the runner commits their cost) or more than ``max_seconds`` compute
    seconds (in finish order). Everything after the first trial over budget is over too.

    Args:
        trials: one row per trial.
        budgets: output of :func:`run_budgets`.

    Returns:
        Series of bool aligned with ``trials``.
    """
    require(trials, ("run_id", "trial", "finished"), "trials")
    keep = np.ones(len(trials), dtype=bool)
    if not budgets:
        return pd.Series(keep, index=trials.index)
    cost = numeric(trials, "cost").fillna(0.0).to_numpy()
    secs = compute_seconds(trials).to_numpy()
    pos = {idx: i for i, idx in enumerate(trials.index)}
    for rid, g in trials.groupby("run_id", sort=False):
        b = budgets.get(int(rid))
        if not b:
            continue
        by_trial = np.array([pos[i] for i in g.sort_values("trial", kind="mergesort").index])
        ok = np.ones(len(by_trial), dtype=bool)
        if b.get("max_evals") is not None:
            ok &= np.arange(1, len(by_trial) + 1) <= int(b["max_evals"])
        if b.get("max_cost") is not None:
            ok &= np.cumsum(cost[by_trial]) <= float(b["max_cost"]) * (1 + _SLACK) + 1e-12
        keep[by_trial] = np.logical_and.accumulate(ok)
        if b.get("max_seconds") is not None:
            by_finish = np.array(
                [pos[i] for i in g.sort_values(["finished", "trial"], kind="mergesort").index]
            )
            inside = np.cumsum(secs[by_finish]) <= float(b["max_seconds"]) * (1 + _SLACK)
            keep[by_finish] &= np.logical_and.accumulate(inside)
    return pd.Series(keep, index=trials.index)


# --- the value compared -------------------------------------------------------------------------


def value_sources(trials: pd.DataFrame, prefer: str = "auto") -> dict[str, str]:
    """Per task, the value the verdict compares (a key of :data:`VALUE_SOURCES`).

    ``"auto"``: ``noiseless`` when every eligible trial of the task reports
    ``metric.noiseless``, else ``test_loss`` when every one reports ``metric.test_loss``,
    else ``objective``. Any other ``prefer`` is used where the task reports it.
    """
    if prefer != "auto" and prefer not in VALUE_SOURCES:
        raise ValueError(f"value: must be 'auto' or one of {sorted(VALUE_SOURCES)}, got {prefer!r}")
    elig = incumbent_eligible(trials)
    order = ("noiseless", "test_loss", "objective") if prefer == "auto" else (prefer, "objective")
    out = {}
    for task, idx in trials.groupby("task", sort=True).groups.items():
        e = trials.loc[idx][elig.loc[idx]]
        for src in order:
            col = VALUE_SOURCES[src]
            if len(e) and col in e and np.isfinite(numeric(e, col)).all():
                out[str(task)] = src
                break
        else:
            out[str(task)] = "objective"
    return out


def compared_values(trials: pd.DataFrame, sources: Mapping[str, str]) -> pd.Series:
    """The value of each trial the verdict compares (NaN where the trial has none)."""
    out = numeric(trials, "objective").copy()
    for task, src in sources.items():
        if src != "objective":
            mask = trials["task"] == task
            out[mask] = numeric(trials.loc[mask], VALUE_SOURCES[src])
    return out


# --- trajectories -------------------------------------------------------------------------------


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


def _axis_steps(df: pd.DataFrame, axis: str) -> np.ndarray:
    if axis == "evaluations":
        return np.ones(len(df))
    if axis == "cost":
        return numeric(df, "cost").fillna(0.0).to_numpy()
    return compute_seconds(df).to_numpy()


def _incumbent_index(y: np.ndarray) -> np.ndarray:
    """Incumbent index after each trial (first of equal minima; -1 before any); y = inf if not eligible."""
    prev = np.r_[np.inf, np.minimum.accumulate(y)[:-1]]
    new = y < prev
    return np.maximum.accumulate(np.where(new, np.arange(len(y)), -1))


def trajectories(
    trials: pd.DataFrame, *, axis: str = "evaluations", n_points: int = 200, values: pd.Series | None = None
) -> pd.DataFrame:
    """The incumbent of every run on a grid shared by all runs of a task.

    Args:
        trials: one row per trial (columns as returned by ``load_results``).
        axis: one of :data:`AXES` (see the module docstring).
        n_points: at most this many grid points per task.
        values: the value compared for each trial (:func:`compared_values`); default the objective.

    Returns:
        Long frame with columns task, searcher, seed, run_id, x, best (the incumbent's
        objective), value (its compared value); NaN before the run's first eligible trial.
    """
    require(trials, TRIAL_COLUMNS, "trials")
    if axis not in AXES:
        raise ValueError(f"trajectories: 'axis' must be one of {AXES}, got {axis!r}")
    if not is_integer(n_points) or n_points < 2:
        raise ValueError(f"trajectories: rule 'n_points >= 2 (int)' broken, got {n_points!r}")
    vals = numeric(trials, "objective") if values is None else values
    df = trials.assign(_elig=incumbent_eligible(trials), _obj=numeric(trials, "objective"), _val=vals)
    df = df.sort_values(["task", "run_id", "finished", "trial"], kind="mergesort").reset_index(drop=True)
    run = df["run_id"].to_numpy()
    bounds = np.r_[0, np.flatnonzero(run[1:] != run[:-1]) + 1, len(df)]
    y_all = np.where(df["_elig"].to_numpy(), df["_obj"].to_numpy(dtype=float), np.inf)
    v_all = df["_val"].to_numpy(dtype=float)
    steps = _axis_steps(df, axis)
    by_task: dict[object, list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]] = {}
    for s, e in zip(bounds[:-1], bounds[1:]):
        inc = _incumbent_index(y_all[s:e])
        best = np.where(inc >= 0, y_all[s:e][np.clip(inc, 0, None)], np.nan)
        val = np.where(inc >= 0, v_all[s:e][np.clip(inc, 0, None)], np.nan)
        by_task.setdefault(df["task"].iat[s], []).append((s, np.cumsum(steps[s:e]), best, val))
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("task", "searcher", "seed", "run_id", "x", "best", "value")
    }
    for runs in by_task.values():
        grid = _grid(axis, [r[1][0] for r in runs], [r[1][-1] for r in runs], n_points)
        for s, x, best, val in runs:
            idx = np.searchsorted(x, grid, side="right") - 1  # last trial finished by g
            for k in ("task", "searcher", "seed", "run_id"):
                cols[k].append(
                    np.full(len(grid), df[k].iat[s], dtype=object if k in ("task", "searcher") else None)
                )
            cols["x"].append(grid)
            cols["best"].append(np.where(idx >= 0, best[np.clip(idx, 0, None)], np.nan))
            cols["value"].append(np.where(idx >= 0, val[np.clip(idx, 0, None)], np.nan))
    if not by_task:
        return pd.DataFrame(columns=list(cols))
    return pd.DataFrame({k: np.concatenate(v) for k, v in cols.items()})


def regret_references(
    trials: pd.DataFrame, values: pd.Series | None = None, sources: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """The value regret is measured against, per task.

    The task's known optimum when the store has one and the value compared is the
    objective or its noiseless version; otherwise the best compared value of any eligible
    trial on that task (so the best run ends at regret 0).

    Returns:
        Frame indexed by task with columns ``reference``, ``source`` (``"known optimum"``,
        ``"best found"`` or ``"none"``) and ``value`` (the value compared).
    """
    require(trials, ("task", "objective", "status"), "trials")
    elig = incumbent_eligible(trials)
    vals = numeric(trials, "objective") if values is None else values
    opt = numeric(trials, "optimum")
    rows = []
    for task in sorted(trials["task"].unique()):
        src = (sources or {}).get(str(task), "objective")
        mask = trials["task"] == task
        known = opt[mask].dropna()
        found = vals[mask & elig]
        found = found[np.isfinite(found)]
        if len(known) and src in ("objective", "noiseless"):
            rows.append((task, float(known.iloc[0]), "known optimum", src))
        elif len(found):
            rows.append((task, float(found.min()), "best found", src))
        else:
            rows.append((task, np.nan, "none", src))
    return pd.DataFrame(rows, columns=["task", "reference", "source", "value"]).set_index("task")


def add_regret(frame: pd.DataFrame, references: pd.DataFrame, column: str = "value") -> pd.DataFrame:
    """Return ``frame`` with a ``regret`` column: ``frame[column] - reference`` of its task."""
    require(frame, ("task", column), "frame")
    ref = frame["task"].map(references["reference"]).astype(float)
    return frame.assign(regret=frame[column].to_numpy(dtype=float) - ref.to_numpy())


# --- aggregates over seeds ----------------------------------------------------------------------


def _quantile_inf(a: np.ndarray, q: float) -> np.ndarray:
    """Linear-interpolation quantile over axis 0 with +inf a value (inf - inf interpolation = inf)."""
    srt = np.sort(a, axis=0)
    pos = q * (srt.shape[0] - 1)
    i = int(math.floor(pos))
    j, f = min(i + 1, srt.shape[0] - 1), pos - i
    with np.errstate(invalid="ignore"):
        v = srt[i] if f == 0 else srt[i] + f * (srt[j] - srt[i])
    return np.where(np.isnan(v), np.inf, v)


def aggregate(frame: pd.DataFrame, *, value: str = "regret", confidence: float = 0.95) -> pd.DataFrame:
    """Median over seeds with its order-statistic interval, per task, searcher and grid point.

    Args:
        frame: output of :func:`trajectories` (with regret or score columns).
        value: column to aggregate; NaN = no result, worst.
        confidence: coverage aimed at by the interval (see ``statistics.median_interval``).

    Returns:
        Frame with columns task, searcher, x, n (runs), n_valid (runs with a result), median,
        median_lo, median_hi, coverage (achieved at n runs), q25, q75, mean (NaN when a run
        has no result). Bounds that fall on a run without a result are NaN (unbounded).
    """
    require(frame, ("task", "searcher", "run_id", "x", value), "frame")
    parts = []
    frame = frame.sort_values(["task", "searcher", "run_id", "x"], kind="mergesort")
    for (task, searcher), sdf in frame.groupby(["task", "searcher"], sort=False):
        xs = np.unique(sdf["x"].to_numpy(dtype=float))
        n_runs = sdf["run_id"].nunique()
        if len(sdf) == n_runs * len(xs):  # every run on the task's grid (trajectories' output)
            y = sdf[value].to_numpy(dtype=float).reshape(n_runs, len(xs))
        else:
            y = sdf.pivot_table(index="run_id", columns="x", values=value, aggfunc="first", dropna=False)
            y = y.reindex(columns=xs).to_numpy(dtype=float)
        mi = st.median_interval(y, confidence)
        inf = np.where(np.isnan(y), np.inf, y)
        part = pd.DataFrame({"task": task, "searcher": searcher, "x": xs})
        part["n"] = len(y)
        part["n_valid"] = np.isfinite(y).sum(axis=0)
        for k, v in (
            ("median", mi["median"]),
            ("median_lo", mi["lo"]),
            ("median_hi", mi["hi"]),
            ("q25", _quantile_inf(inf, 0.25)),
            ("q75", _quantile_inf(inf, 0.75)),
            ("mean", inf.mean(axis=0)),
        ):
            part[k] = np.where(np.isfinite(v), v, np.nan)
        part["coverage"] = float(mi["coverage"])
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["task", "searcher", "x", "n", "n_valid", "median", "coverage"])
    return pd.concat(parts, ignore_index=True)


def _hold_on(x: np.ndarray, y: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Step function (x, y) read at ``grid``: the last y with x <= g; NaN before x[0]."""
    idx = np.searchsorted(x, grid, side="right") - 1
    out = y[np.clip(idx, 0, None)].astype(float)
    out[idx < 0] = np.nan
    return out


def _mean_over_tasks(per_task: list[pd.DataFrame], column: str) -> pd.DataFrame:
    """Mean of ``column`` over tasks per searcher and budget fraction, and how many tasks define it."""
    if not per_task:
        return pd.DataFrame(columns=["fraction", "searcher", column, "n_tasks"])
    allv = pd.concat(per_task, ignore_index=True)
    out = allv.groupby(["searcher", "fraction"], sort=True)[column].agg(["mean", "count"]).reset_index()
    return out.rename(columns={"mean": column, "count": "n_tasks"})[
        ["fraction", "searcher", column, "n_tasks"]
    ]


def average_rank(frame: pd.DataFrame, *, value: str = "value", n_points: int = 100) -> pd.DataFrame:
    """Average rank of each searcher over tasks and seeds at every budget fraction.

    Within each (task, seed) block the searchers are ranked by ``value`` (lower is
    better, ties get the average rank, a run without a result ranks last). Blocks
    missing a searcher of the task are skipped. Ranks are averaged over seeds, the grid
    is expressed as a fraction of the task's largest x, and tasks count equally.

    Returns:
        Frame with columns fraction, searcher, rank, n_tasks.
    """
    require(frame, ("task", "searcher", "seed", "x", value), "frame")
    fgrid = np.linspace(0.0, 1.0, n_points)
    per_task = []
    for _task, tdf in frame.groupby("task", sort=True):
        wide = tdf.assign(v=tdf[value].fillna(np.inf)).pivot_table(
            index=["seed", "x"], columns="searcher", values="v", aggfunc="first"
        )
        wide = wide.dropna(axis=0, how="any")  # incomplete blocks
        if wide.empty:
            continue
        ranks = wide.rank(axis=1, method="average").groupby(level="x").mean()
        x = ranks.index.to_numpy(dtype=float)
        xmax = x.max() if x.max() > 0 else 1.0
        for s in ranks.columns:
            r = _hold_on(x / xmax, ranks[s].to_numpy(dtype=float), fgrid)
            per_task.append(pd.DataFrame({"fraction": fgrid, "searcher": s, "rank": r}))
    return _mean_over_tasks(per_task, "rank")


def task_mean_of_medians(frame: pd.DataFrame, *, value: str = "score", n_points: int = 100) -> pd.DataFrame:
    """Median of ``value`` over seeds (NaN worst), then the mean over tasks, at every budget fraction.

    Returns:
        Frame with columns fraction, searcher, value, n_tasks (tasks with a defined median there).
    """
    require(frame, ("task", "searcher", "x", value), "frame")
    fgrid = np.linspace(0.0, 1.0, n_points)
    per_task = []
    for (task, searcher), sdf in frame.groupby(["task", "searcher"], sort=True):
        med = sdf.assign(v=sdf[value].fillna(-np.inf)).groupby("x")["v"].median()
        med = med.where(np.isfinite(med))
        xmax = frame.loc[frame["task"] == task, "x"].max()
        xmax = xmax if xmax > 0 else 1.0
        v = _hold_on(med.index.to_numpy(dtype=float) / xmax, med.to_numpy(dtype=float), fgrid)
        per_task.append(pd.DataFrame({"fraction": fgrid, "searcher": searcher, "value": v}))
    return _mean_over_tasks(per_task, "value")


def values_at(trials: pd.DataFrame, values: pd.Series, *, axis: str, at: Mapping[str, float]) -> pd.DataFrame:
    """Each run's incumbent value once it had spent ``at[task]`` on ``axis`` (NaN: no result by then).

    Returns:
        Frame with columns run_id, value.
    """
    df = trials.assign(_elig=incumbent_eligible(trials), _obj=numeric(trials, "objective"), _val=values)
    df = df.sort_values(["run_id", "finished", "trial"], kind="mergesort")
    steps = pd.Series(_axis_steps(df, axis), index=df.index)
    rows = []
    for rid, g in df.groupby("run_id", sort=True):
        x = np.cumsum(steps.loc[g.index].to_numpy())
        y = np.where(g["_elig"].to_numpy(), g["_obj"].to_numpy(dtype=float), np.inf)
        inc = _incumbent_index(y)
        k = int(np.searchsorted(x, at.get(str(g["task"].iat[0]), np.inf) * (1 + _SLACK), side="right")) - 1
        rows.append(
            (rid, float(g["_val"].to_numpy(dtype=float)[inc[k]]) if k >= 0 and inc[k] >= 0 else np.nan)
        )
    return pd.DataFrame(rows, columns=["run_id", "value"])
