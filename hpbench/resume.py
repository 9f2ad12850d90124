"""An experiment's runs, rebuilt and replayed from the store before anything is written.

``plan_runs`` reads only: it builds every run's searcher and tells it the run's stored
trials, so a run this build cannot reproduce (another build, a non-deterministic
searcher) is refused while the store is still untouched — not upgraded, no row added.
``create_runs`` then writes the runs that are new. A run stored as ``failed`` stays
failed (its trials kept, its searcher not rebuilt) and never blocks the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpbench.registry import make_searcher
from hpbench.results.store import Store, StoredRun
from hpbench.runner import RunState, split_seed
from hpbench.runner.state import ResumeError
from hpbench.spec import BenchmarkSpec, SearcherSpec
from hpbench.tasks.base import Task

__all__ = ["PlannedRun", "plan_runs", "create_runs"]


@dataclass
class PlannedRun:
    """One (task, searcher, seed) of the experiment, with what its row in ``runs`` needs."""

    run: RunState
    task_name: str
    searcher: SearcherSpec
    seed: int
    status: str | None  # stored status; None: not in the store yet


def _stored_experiment(path: str, name: str) -> tuple[Store, int] | tuple[None, None]:
    """The store opened read-only and the experiment's id, when both exist."""
    if path == ":memory:" or not Path(path).is_file() or Path(path).stat().st_size == 0:
        return None, None
    ro = Store(path, readonly=True)
    found = ro.get_experiment(name)
    if found is None:
        ro.close()
        return None, None
    return ro, found[0]


def _build(task: Task, s: SearcherSpec, seed: int, budget: Any, ref: str | Task) -> RunState:
    searcher_seed, task_seed = split_seed(seed)
    searcher = make_searcher(
        s.name,
        space=task.space,
        fidelity=task.fidelity,
        seed=searcher_seed,
        n_objectives=task.n_objectives,
        **s.params,
    )
    return RunState(
        task=task, searcher=searcher, budget=budget, task_seed=task_seed, task_ref=ref, label=s.label
    )


def _version_changes(recorded: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    changed = [
        f"{k} {recorded.get(k)} -> {now.get(k)}"
        for k in sorted(set(recorded) | set(now))
        if recorded.get(k) != now.get(k)
    ]
    return f"recorded with other library versions ({', '.join(changed)})" if changed else "same versions"


def _restore(
    run: RunState, row: StoredRun, ro: Store, extend: bool, versions: Mapping[str, Any], replay: bool
) -> None:
    """Put a stored run in the state it was left in: finished, failed, or replayed.

    Without ``replay`` an unfinished run starts empty (``drive_virtual`` simulates it again).
    """
    if row.status == "failed":
        run.finished = True
        run.error = row.error or "failed"
        return
    if row.status == "finished" and not extend:
        run.finished = True
        return
    stored = ro.run_trials(row.id) if replay else []
    if not stored:
        return
    try:
        run.replay(stored)
    except ResumeError as exc:
        raise ResumeError(
            f"{exc}; run {row.id} ({_version_changes(row.versions, versions)}) cannot be resumed, and "
            "nothing was written to the store; use --fresh to start a new experiment"
        ) from None


def plan_runs(
    path: str,
    name: str,
    spec: BenchmarkSpec,
    tasks: Mapping[str, Task],
    refs: Mapping[str, str | Task],
    *,
    extend: bool,
    versions: Mapping[str, Any],
    replay: bool = True,
) -> list[PlannedRun]:
    """Every run of the experiment, each replayed from its stored trials; reads the store only.

    Raises:
        ResumeError: a stored run cannot be replayed by this build (nothing written).
    """
    ro, exp_id = _stored_experiment(path, name)
    out = []
    try:
        for tname, task in tasks.items():
            for s in spec.searchers:
                for seed in spec.seeds:
                    run = _build(task, s, seed, spec.budget, refs[tname])
                    row = None if ro is None else ro.find_run(exp_id, task=tname, searcher=s.label, seed=seed)
                    if row is not None and ro is not None:
                        run.run_id = row.id
                        _restore(run, row, ro, extend, versions, replay)
                    out.append(PlannedRun(run, tname, s, seed, None if row is None else row.status))
    finally:
        if ro is not None:
            ro.close()
    return out


def create_runs(
    db: Store,
    exp_id: int,
    planned: list[PlannedRun],
    spec: BenchmarkSpec,
    task_info: Mapping[str, dict[str, Any]],
    *,
    extend: bool,
    versions: Mapping[str, Any],
    machine: Mapping[str, Any],
) -> None:
    """Store the runs that are new (their ids set); with ``extend``, give the others the new budget."""
    for p in planned:
        run = p.run
        if run.run_id is None:
            run.run_id, _ = db.get_or_create_run(
                exp_id,
                task=p.task_name,
                task_version=run.task.version,
                task_info=task_info[p.task_name],
                searcher=p.searcher.label,
                searcher_name=p.searcher.name,
                searcher_params=run.searcher.get_params(),
                seed=p.seed,
                budget=spec.budget.to_dict(),
                versions=versions,
                machine=machine,
            )
        elif extend and p.status != "failed":
            db.set_run_budget(run.run_id, spec.budget.to_dict())
