"""``hpbench record``: evaluate a design along the fidelity grid, as ordinary experiments; export it.

A recording of ``configs`` configurations with ``seeds`` seeds for the first
``seeded`` of them is two experiments in the store (one when ``seeds == 1``):

- ``NAME``: the design's ``configs`` configurations under run seed 0;
- ``NAME-seeds``: its first ``seeded`` configurations under run seeds ``1 .. seeds-1``,
  recorded after the first (distinct configurations matter most to the surrogate).

Both are ordinary experiments: they run on the process pool or on Dask, and the same
command resumes them after an interruption (finished trials are kept; a chain whose
checkpoint was lost with the driver retrains that step from scratch, and its measured
time says so in the ``start`` column). ``export_recording`` then writes one Parquet file
per task (see ``hpbench.surrogate.recording``).

Time model: each step's CPU seconds on the thread that evaluated it
(``time.thread_time``), exact for the one-thread tasks hpbench runs in its workers and
unaffected by other processes competing for the cores; the wall time is kept beside it.
"""

from __future__ import annotations

import contextlib
import json
import platform
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpbench.budget import Budget
from hpbench.registry import get_task, register_searcher
from hpbench.results.store import encode_config, load_results, load_runs
from hpbench.runner import split_seed
from hpbench.spec import BenchmarkSpec, RunOptions, SearcherSpec
from hpbench.surrogate.design import DesignSearcher, design_configs, fidelity_levels
from hpbench.surrogate.recording import Recording
from hpbench.tasks.base import Task, share_costs
from hpbench.trial import Evaluation

__all__ = [
    "RecordingTask",
    "record",
    "export_recording",
    "recording_experiments",
    "check_counts",
    "configs_in_store",
]

_MAGIC = b"HBREC1"
_WARM: set[str] = set()  # tasks already warmed up in this process
CPU, WALL, START = "record_cpu_seconds", "record_wall_seconds", "record_start"


class RecordingTask(Task):
    """A task evaluated as it is, with each step's CPU and wall seconds and start added.

    The checkpoint is the inner task's, prefixed with the fidelity it was taken at, so
    the next step knows where its measured time started.
    """

    def __init__(self, task: str | Task) -> None:
        self._ref = task
        inner = get_task(task) if isinstance(task, str) else task
        if not isinstance(inner, Task):
            raise TypeError(f"task: must be a task name or a Task, got {task!r}")
        self.inner = inner
        self.name = inner.name
        self.space, self.fidelity, self.optimum = inner.space, inner.fidelity, inner.optimum
        self.version = inner.version
        share_costs(self, inner)
        self.seconds_per_eval, self.description = inner.seconds_per_eval, inner.description

    def __reduce__(self) -> tuple[Any, ...]:
        # A registry name is rebuilt in the worker; a Task object travels as itself.
        return (RecordingTask, (self._ref,))

    def _warm_up(self, config: Mapping[str, Any], budget: float | None, seed: int) -> None:
        """Once per process and task, an unmeasured evaluation: imports and data caches
        (torch, the dataset split) would otherwise be timed as part of the first trial."""
        if self.name in _WARM:
            return
        _WARM.add(self.name)
        low = None if self.fidelity is None else self.fidelity.low
        with contextlib.suppress(Exception):  # a failing config fails in the measured call
            self.inner.evaluate(config, budget=low if budget is not None else None, seed=seed)

    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        start, inner_checkpoint = 0.0, None
        if checkpoint is not None:
            if not checkpoint.startswith(_MAGIC):
                raise ValueError(f"checkpoint: task '{self.name}': not a recording checkpoint")
            (start,) = struct.unpack_from("<d", checkpoint, len(_MAGIC))
            inner_checkpoint = checkpoint[len(_MAGIC) + 8 :]
        self._warm_up(config, budget, seed)
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        ev = self.inner.evaluate(config, budget=budget, seed=seed, checkpoint=inner_checkpoint)
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
        metrics = {**ev.metrics, CPU: cpu, WALL: wall, START: start}
        blob = None
        if ev.checkpoint is not None and budget is not None:
            blob = _MAGIC + struct.pack("<d", float(budget)) + ev.checkpoint
        return Evaluation(ev.objective, ev.cost, metrics, blob, ev.seconds)


def recording_experiments(name: str, seeds: int) -> list[str]:
    """The experiment names of a recording called ``name``."""
    return [name] if seeds == 1 else [name, f"{name}-seeds"]


def _specs(
    name: str,
    tasks: Sequence[str],
    configs: int,
    seeds: int,
    seeded: int,
    design_seed: int,
    levels: int,
    extra: Sequence[dict[str, Any]] = (),
) -> list[BenchmarkSpec]:
    def spec(exp: str, n: int, run_seeds: tuple[int, ...], more: list[dict[str, Any]]) -> BenchmarkSpec:
        params: dict[str, Any] = {"n_configs": n, "first": 0, "design_seed": design_seed}
        if more:
            params["extra"] = more
        budget = Budget(max_evals=(n + len(more)) * levels)
        return BenchmarkSpec(exp, tuple(tasks), (SearcherSpec("design", params),), run_seeds, budget)

    out = [spec(name, configs, (0,), list(extra))]
    if seeds > 1:
        out.append(spec(f"{name}-seeds", seeded, tuple(range(1, seeds)), []))
    return out


def check_counts(configs: Any, seeds: Any, seeded: Any) -> tuple[int, int, int]:
    """Validate (configs, seeds, seeded); ``seeded=None`` is ``min(100, configs)``."""
    for pname, v in (("configs", configs), ("seeds", seeds)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{pname}: rule 'integer >= 1' broken, got {v!r}")
    seeded = min(100, configs) if seeded is None else seeded
    if isinstance(seeded, bool) or not isinstance(seeded, int) or not 1 <= seeded <= configs:
        raise ValueError(f"seeded: rule '1 <= seeded <= configs ({configs})' broken, got {seeded!r}")
    return configs, seeds, seeded


def record(
    tasks: Sequence[str | Task],
    *,
    configs: int,
    seeds: int = 1,
    seeded: int | None = None,
    store: str = "results/recordings.db",
    name: str | None = None,
    workers: int = 1,
    dask: str | None = None,
    design_seed: int = 0,
    include: Sequence[Mapping[str, Any]] = (),
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> list[str]:
    """Record ``tasks`` into ``store`` (resuming what is there); returns the experiment names.

    Args:
        tasks: registry names or Task objects (each needs a distinct name).
        configs: configurations of the Sobol design, each trained along every level.
        seeds: seeds (run seeds ``0 .. seeds-1``) of the first ``seeded`` configurations.
        seeded: how many configurations get every seed (default ``min(100, configs)``).
        store: the SQLite store.
        name: experiment name (default ``record-`` and the task names).
        workers, dask: where trials run (see ``hpbench run``).
        design_seed: which Sobol design.
        include: configurations recorded after the design's (one task only), e.g.
            ``configs_in_store(path, task)``: the ones a benchmark already visited.
    """
    from hpbench.experiment import run_experiment

    configs, seeds, seeded = check_counts(configs, seeds, seeded)
    register_searcher("design", DesignSearcher)
    objects = {t.name if isinstance(t, Task) else str(t): RecordingTask(t) for t in tasks}
    if not objects:
        raise ValueError("tasks: rule 'at least one task' broken, got none")
    n_levels = max(len(fidelity_levels(t.fidelity)) for t in objects.values())
    name = name or "record-" + "-".join(objects)
    if include and len(objects) > 1:
        raise ValueError(
            f"include: rule 'one task when configurations are included' broken, got {list(objects)}"
        )
    extra = [next(iter(objects.values())).space.validate(c) for c in include]
    done = []
    for spec in _specs(name, list(objects), configs, seeds, seeded, design_seed, n_levels, extra):
        result = run_experiment(
            spec,
            RunOptions(workers=workers, dask=dask, store=store),
            task_objects=objects,
            progress=progress,
            log=log,
        )
        done.append(result.name)
    return done


def configs_in_store(store: str, task: str, experiment: str | None = None) -> list[dict[str, Any]]:
    """Distinct configurations of ``task``'s successful trials in a store, in trial order."""
    df = load_results(store, experiment)
    seen: dict[str, dict[str, Any]] = {}
    for c in df.loc[(df["task"] == task) & (df["status"] == "ok"), "config"]:
        seen.setdefault(c, json.loads(c))
    return list(seen.values())


# --------------------------------------------------------------------------- export
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _numeric(frame: pd.DataFrame, column: str) -> pd.Series:
    """A column as floats; all NaN when no trial reported it (every trial failed)."""
    if column not in frame:
        return pd.Series(np.nan, index=frame.index)
    return pd.to_numeric(frame[column], errors="coerce").astype(float)


def _rows(trials: pd.DataFrame, design: dict[str, int]) -> pd.DataFrame:
    seeds = {int(r): split_seed(int(r))[1] for r in trials["seed"].unique()}
    metric_cols = [c for c in trials.columns if c.startswith("metric.") and c[7:] not in (CPU, WALL, START)]
    rows = pd.DataFrame(
        {
            "config": trials["config"].map(lambda c: encode_config(json.loads(c))),
            "replica": trials["seed"].astype("int64"),
            "budget": trials["budget"].astype(float),
            "status": trials["status"].astype(str),
            "error": trials["error"].fillna("").astype(str),
            "objective": trials["objective"].astype(float),
            "cpu_seconds": _numeric(trials, f"metric.{CPU}"),
            "wall_seconds": _numeric(trials, f"metric.{WALL}"),
            "start": _numeric(trials, f"metric.{START}").fillna(0.0),
        }
    )
    rows.insert(1, "design_index", rows["config"].map(design).astype("int64"))
    rows.insert(3, "seed", rows["replica"].map(seeds).astype("int64"))
    for c in metric_cols:
        values = pd.to_numeric(trials[c], errors="coerce")
        if values.notna().any():
            rows[c] = values.astype(float).to_numpy()
    # Failed steps have no measured time in their metrics: their wall time is the trial's.
    missing = rows["wall_seconds"].isna()
    rows.loc[missing, "wall_seconds"] = (trials["finished"] - trials["started"])[missing].to_numpy()
    order = ["design_index", "replica", "budget"]
    return rows.sort_values(order, kind="stable").reset_index(drop=True)


def export_recording(store: str, experiments: Sequence[str], task: str | Task, path: str | Path) -> Recording:
    """Write the recording of ``task`` in ``experiments`` of ``store`` to ``path`` (Parquet).

    ``task`` is a registry name or the Task object that was recorded (its space decodes
    the design).
    """
    base = get_task(task) if isinstance(task, str) else task
    frames = [load_results(store, e) for e in experiments]
    trials = pd.concat([f[f["task"] == base.name] for f in frames], ignore_index=True)
    if trials.empty:
        raise ValueError(f"task: no recorded trials of {base.name!r} in {list(experiments)} of {store!r}")
    runs = pd.concat([load_runs(store, e) for e in experiments], ignore_index=True)
    runs = runs[runs["task"] == base.name]
    params = [json.loads(p) for p in runs["searcher_params"]]
    n_configs = max(p["first"] + p["n_configs"] for p in params)
    design_seed = int(params[0]["design_seed"])
    extra = next((p["extra"] for p in params if p.get("extra")), [])
    configs = design_configs(base.space, n_configs, design_seed) + [base.space.validate(c) for c in extra]
    design: dict[str, int] = {}
    for i, c in enumerate(configs):
        design.setdefault(encode_config(c), i)
    rows = _rows(trials, design)
    seeded = rows.groupby("design_index")["replica"].nunique()
    info = {
        "configs": int(rows["design_index"].nunique()),
        "configs_planned": len(configs),
        "seeds": int(rows["replica"].nunique()),
        "seeded_configs": int((seeded > 1).sum()),
        "design_seed": design_seed,
        "time_model": "cpu_seconds (time.thread_time of the evaluating thread)",
        "cpu_seconds": float(np.nansum(rows["cpu_seconds"])),
        "wall_seconds": float(np.nansum(rows["wall_seconds"])),
        "runs_finished": int((runs["status"] == "finished").sum()),
        "runs": len(runs),
        "experiments": list(experiments),
        "versions": json.loads(runs["versions"].iloc[0]),
    }
    machine = {**json.loads(runs["machine"].iloc[0]), "cpu_model": _cpu_model()}
    meta_task = {**base.info(), "overhead": base.overhead}
    rec = Recording(meta_task, fidelity_levels(base.fidelity), rows, machine, info)
    rec.save(path)
    return rec
