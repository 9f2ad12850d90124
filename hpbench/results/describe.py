"""Descriptive summaries for the report's figures: workers, budget use, configurations tried.

Pure functions over the tidy trials frame (``hpbench.results.store``); nothing here is a
statistic of the verdict (see ``curves``, ``statistics``, ``comparisons``, ``verdict``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hpbench.checks import is_integer
from hpbench.results.curves import numeric as _col
from hpbench.results.curves import require as _require

__all__ = [
    "worker_utilisation",
    "busy_intervals",
    "budget_allocation",
    "param_columns",
    "task_spaces",
    "param_scales",
    "configurations",
    "parse_json_column",
]


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


def task_spaces(runs: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """task -> its search space as its runs stored it (``SearchSpace.to_dict``); old stores: absent."""
    if runs is None or len(runs) == 0 or "task_info" not in runs:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for task, info in zip(runs["task"], runs["task_info"]):
        d = json.loads(info) if isinstance(info, str) and info else {}
        if isinstance(d, Mapping) and isinstance(d.get("space"), Mapping):
            out.setdefault(str(task), dict(d["space"]))
    return out


def _scale_from_space(p: Mapping[str, Any]) -> str:
    if p.get("type") == "categorical":
        return "category"
    return "log" if p.get("log") else "linear"


def param_scales(
    trials: pd.DataFrame, columns: list[str], space: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Display scale of each parameter column: ``"log"``, ``"linear"`` or ``"category"``.

    Read from the task's stored search space (``space``, from :func:`task_spaces`) when the
    run stored it. For older stores the scale is guessed from the values: a positive numeric
    parameter whose values span at least two decades and whose median sits near the
    geometric midpoint (as log-uniform sampling gives) is shown on a log axis.
    """
    out: dict[str, str] = {}
    for c in columns:
        p = (space or {}).get(c.removeprefix("param."))
        if isinstance(p, Mapping):
            out[c] = _scale_from_space(p)
            continue
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
