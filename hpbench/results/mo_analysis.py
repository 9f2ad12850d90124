"""Multi-objective analysis: normalisation, hypervolume over the budget, pooled fronts.

The single-objective machinery is reused as it is: every trial's ``objective`` is
replaced by minus the hypervolume of its run's points so far (a run's hypervolume only
grows, so its best-so-far *is* its hypervolume), and ``trajectories``, ``final_runs``,
``aggregate``, ``pairwise_tests`` and ``friedman_nemenyi`` then give hypervolume regret
over the budget, with the same grids, intervals, eligibility (ok, top fidelity, every
objective finite) and missing-result rule (no eligible point yet: no value, worse than any).

Per task, fixed from the pooled data of all searchers and stated in the report:

* **Normalisation.** Losses map ideal -> 0 and nadir -> 1, where ideal and nadir are the
  per-objective minimum and maximum over the pooled Pareto front of every searcher's
  eligible points. For a task with a known front (ZDT, DTLZ) the ideal is the true one
  (no point can beat it) and the nadir the larger of the pooled and the true nadir, so
  the reference box holds the whole true front.
* **Reference point.** ``REFERENCE_POINT`` (1.1) in every normalised coordinate.
* **Regret reference.** The known front's hypervolume in that box (exact, from the
  task's ``volume_below``), else the pooled front's: the best all searchers together
  reached, so pooled regret is >= 0 and 0 only for a run that found the whole pooled front.

Shapes glossary: N trials, k objectives.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hpbench.objectives import REFERENCE_POINT
from hpbench.pareto import non_dominated_mask, normalise
from hpbench.results.analysis import incumbent_eligible
from hpbench.results.hypervolume import hypervolume

__all__ = [
    "Problem",
    "declared_objectives",
    "loss_matrix",
    "problems",
    "hypervolume_trials",
    "references",
    "pooled_front",
    "run_fronts",
]


@dataclass(frozen=True)
class Problem:
    """How one multi-objective task is measured (see the module docstring).

    Attributes:
        task: task name.
        objectives: objective names, in declaration order.
        directions: ``"min"`` or ``"max"`` per objective.
        ideal, nadir: the normalisation, as losses (maximised objectives negated).
        normalisation: ``"pooled front"``, ``"pooled front and known front"`` or ``"none"``.
        reference_hv: hypervolume that regret is measured against.
        reference_source: ``"known front"`` or ``"pooled front"``.
    """

    task: str
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    ideal: tuple[float, ...]
    nadir: tuple[float, ...]
    normalisation: str
    reference_hv: float
    reference_source: str

    @property
    def reference_point(self) -> tuple[float, ...]:
        return (REFERENCE_POINT,) * len(self.objectives)


def declared_objectives(trials: pd.DataFrame, runs: pd.DataFrame | None = None) -> dict[str, dict]:
    """Tasks with two or more objectives -> {"objectives": [...], "pareto_front": ... | None}.

    From the runs' stored task information; without ``runs``, every task whose trials
    have two or more ``objective.<name>`` columns with values, all taken as minimised.
    """
    out: dict[str, dict] = {}
    if runs is not None and len(runs) and "task_info" in runs:
        for task, info in zip(runs["task"], runs["task_info"]):
            d = json.loads(info) if isinstance(info, str) else dict(info or {})
            objs = d.get("objectives") or []
            if len(objs) >= 2 and task in set(trials["task"]):
                out.setdefault(task, {"objectives": objs, "pareto_front": d.get("pareto_front")})
        return out
    cols = [c for c in trials.columns if c.startswith("objective.")]
    for task, tdf in trials.groupby("task", sort=True):
        have = [c[len("objective.") :] for c in cols if tdf[c].notna().any()]
        if len(have) >= 2:
            out[task] = {"objectives": [{"name": n, "direction": "min"} for n in have], "pareto_front": None}
    return out


def loss_matrix(trials: pd.DataFrame, names: tuple[str, ...], directions: tuple[str, ...]) -> np.ndarray:
    """The trials' objectives as losses, (N, k); NaN where a value is missing or the trial not eligible."""
    cols = []
    for n, d in zip(names, directions):
        c = f"objective.{n}"
        v = pd.to_numeric(trials[c], errors="coerce").to_numpy(dtype=float) if c in trials else None
        v = np.full(len(trials), np.nan) if v is None else v
        cols.append(-v if d == "max" else v)
    F = np.column_stack(cols) if cols else np.empty((len(trials), 0))
    F[~incumbent_eligible(trials).to_numpy()] = np.nan
    return F


def problems(trials: pd.DataFrame, runs: pd.DataFrame | None = None) -> dict[str, Problem]:
    """The :class:`Problem` of every multi-objective task in ``trials``."""
    out = {}
    for task, decl in declared_objectives(trials, runs).items():
        names = tuple(o["name"] for o in decl["objectives"])
        dirs = tuple(o.get("direction", "min") for o in decl["objectives"])
        tdf = trials[trials["task"] == task]
        F = loss_matrix(tdf, names, dirs)
        F = F[np.all(np.isfinite(F), axis=1)]
        out[task] = _problem(task, names, dirs, F, decl.get("pareto_front"))
    return out


def _problem(task: str, names: tuple, dirs: tuple, F: np.ndarray, known: dict | None) -> Problem:
    front = F[non_dominated_mask(F)] if len(F) else F
    k = len(names)
    ref = np.full(k, REFERENCE_POINT)
    if known:
        ideal = np.array(known["ideal"], dtype=float)
        nadir = np.array(known["nadir"], dtype=float)
        if len(front):
            nadir = np.maximum(nadir, front.max(axis=0))
        span = np.where(nadir > ideal, nadir - ideal, 1.0)
        raw_box = float(np.prod(ref * span))  # prod(r - ideal) in the task's own units
        ref_hv = (raw_box - float(known["volume_below"])) / float(np.prod(span))
        norm, ref_source = "pooled front and known front", "known front"
    elif len(front):
        ideal, nadir = front.min(axis=0), front.max(axis=0)
        ref_hv = hypervolume(normalise(front, ideal, nadir), ref)
        norm, ref_source = "pooled front", "pooled front"
    else:
        ideal, nadir, ref_hv, norm, ref_source = np.zeros(k), np.ones(k), np.nan, "none", "none"
    return Problem(
        task, names, dirs, tuple(map(float, ideal)), tuple(map(float, nadir)), norm, ref_hv, ref_source
    )


def _prefix_hypervolumes(F: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume of the first i points, for every i (NaN rows: not a point, HV carried)."""
    out = np.empty(len(F))
    front = np.empty((0, F.shape[1]))
    hv = 0.0
    for i, f in enumerate(F):
        if np.all(np.isfinite(f)) and np.all(f < ref) and not np.any(np.all(front <= f, axis=1)):
            front = np.vstack([front[~np.all(f <= front, axis=1)], f])
            hv = hypervolume(front, ref)
        out[i] = hv
    return out


def hypervolume_trials(trials: pd.DataFrame, probs: dict[str, Problem]) -> pd.DataFrame:
    """The trials of multi-objective tasks with ``objective`` = minus the run's hypervolume so far.

    Trials are taken in the order the single-objective analysis uses (finish time, then
    trial number, per run). Ineligible trials get NaN (they never count); an eligible
    point outside the reference box leaves the hypervolume as it was (0 at first).

    Returns:
        The rows of ``trials`` whose task is in ``probs``, with ``objective`` replaced and a
        ``hypervolume`` column added (normalised units).
    """
    parts = []
    for task, p in probs.items():
        tdf = trials[trials["task"] == task]
        tdf = tdf.sort_values(["run_id", "finished", "trial"], kind="mergesort")
        F = normalise(loss_matrix(tdf, p.objectives, p.directions), np.array(p.ideal), np.array(p.nadir))
        ok = np.all(np.isfinite(F), axis=1)
        hv = np.full(len(tdf), np.nan)
        run = tdf["run_id"].to_numpy()
        for r in np.unique(run):
            m = run == r
            hv[m] = _prefix_hypervolumes(F[m], np.array(p.reference_point))
        hv[~ok] = np.nan
        parts.append(tdf.assign(objective=-hv, hypervolume=hv, optimum=np.nan))
    if not parts:
        return trials.iloc[0:0].assign(hypervolume=pd.Series(dtype=float))
    return pd.concat(parts).sort_index()


def references(probs: dict[str, Problem]) -> pd.DataFrame:
    """Regret references in the form ``analysis.add_regret`` takes: minus the reference hypervolume."""
    rows = [(t, -p.reference_hv, p.reference_source) for t, p in probs.items()]
    return pd.DataFrame(rows, columns=["task", "reference", "source"]).set_index("task")


def pooled_front(trials: pd.DataFrame, p: Problem) -> pd.DataFrame:
    """The trials on the pooled Pareto front of a task (every searcher's eligible points).

    Returns:
        Those rows of ``trials`` (configuration columns included), sorted by the first
        objective, with ``norm.<name>`` columns holding the normalised losses.
    """
    tdf = trials[trials["task"] == p.task]
    F = loss_matrix(tdf, p.objectives, p.directions)
    ok = np.all(np.isfinite(F), axis=1)
    sub, F = tdf[ok], F[ok]
    keep = non_dominated_mask(F) if len(F) else np.zeros(0, dtype=bool)
    front = sub[keep].copy()
    N = (
        normalise(F[keep], np.array(p.ideal), np.array(p.nadir))
        if keep.any()
        else np.empty((0, len(p.objectives)))
    )
    for j, n in enumerate(p.objectives):
        front[f"norm.{n}"] = N[:, j]
    return front.sort_values(f"objective.{p.objectives[0]}", kind="mergesort")


def run_fronts(trials: pd.DataFrame, p: Problem) -> dict[str, list[np.ndarray]]:
    """Searcher -> one (N_r, k) array of normalised eligible losses per run (for attainment)."""
    tdf = trials[trials["task"] == p.task]
    F = normalise(loss_matrix(tdf, p.objectives, p.directions), np.array(p.ideal), np.array(p.nadir))
    out: dict[str, list[np.ndarray]] = {}
    for (searcher, _), idx in tdf.groupby(["searcher", "run_id"], sort=True).indices.items():
        pts = F[idx]
        out.setdefault(str(searcher), []).append(pts[np.all(np.isfinite(pts), axis=1)])
    return out
