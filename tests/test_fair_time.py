"""Fair time budgets: a trial's clock starts when ``evaluate`` does, and a cached trial is
charged the seconds of the evaluation it reuses (issue 12)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import hpbench as hb
from hpbench import registry
from hpbench.budget import Budget
from hpbench.executors import InProcessExecutor
from hpbench.registry import make_searcher
from hpbench.runner import Driver, RunState
from hpbench.space import Float, SearchSpace
from hpbench.tasks.base import Task
from hpbench.trial import Evaluation

SPACE = SearchSpace({"x": Float(0.0, 1.0)})
_PREPARED_AT: list[float] = []  # process-wide, as a real task's data cache is


def _tick() -> float:
    """Return once ``time.time()`` has moved on (so 'after' is strict), and the new time."""
    start = time.time()
    while (now := time.time()) <= start:
        pass
    return now


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


class LoadsInConstructor(Task):
    """A task whose constructor loads something (as a registry-built task would)."""

    def __init__(self) -> None:
        self.name, self.space = "loads-in-constructor", SPACE
        self.loaded_at = _tick()

    def evaluate(
        self, config: Mapping[str, Any], *, budget: Any = None, seed: int = 0, checkpoint: Any = None
    ) -> Evaluation:
        return Evaluation(objective=float(config["x"]), metrics={"loaded_at": self.loaded_at})


class PreparesData(Task):
    """A task that loads its data in ``prepare`` (once per process)."""

    def __init__(self, name: str) -> None:
        self.name, self.space = name, SPACE

    def prepare(self) -> None:
        _PREPARED_AT.append(_tick())

    def evaluate(
        self, config: Mapping[str, Any], *, budget: Any = None, seed: int = 0, checkpoint: Any = None
    ) -> Evaluation:
        return Evaluation(objective=float(config["x"]), metrics={"prepared_at": _PREPARED_AT[-1]})


class TakesTime(Task):
    """Each evaluation computes for about 2 ms."""

    def __init__(self) -> None:
        self.name, self.space = "takes-time", SPACE

    def evaluate(
        self, config: Mapping[str, Any], *, budget: Any = None, seed: int = 0, checkpoint: Any = None
    ) -> Evaluation:
        _busy(0.002)
        return Evaluation(objective=float(config["x"]))


def test_building_a_task_by_name_in_the_worker_is_not_the_first_trials_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = f"loads-{uuid.uuid4().hex}"  # workers cache tasks by name: a name no test used
    monkeypatch.setattr(registry, "_extra_tasks", {name: LoadsInConstructor})
    task = LoadsInConstructor()
    searcher = make_searcher("random", space=SPACE, seed=0)
    run = RunState(task=task, searcher=searcher, budget=Budget(max_evals=3), task_seed=0, task_ref=name)
    Driver([run], InProcessExecutor()).run()
    first = run.records[0]
    assert first.metrics["loaded_at"] > task.loaded_at  # the worker built its own copy...
    assert first.started >= first.metrics["loaded_at"]  # ...before the trial's clock started


def test_prepare_runs_once_per_process_before_the_clock(tmp_path: Path) -> None:
    task = PreparesData(f"prepares-{uuid.uuid4().hex[:8]}")
    n = len(_PREPARED_AT)
    res = hb.benchmark([task], ["random"], seeds=2, max_evals=3, store=tmp_path / "s.db", progress=False)
    df = res.trials.sort_values("started")
    assert len(_PREPARED_AT) == n + 1  # once for the six trials of both runs
    assert df["started"].iloc[0] >= df["metric.prepared_at"].iloc[0]


def test_a_cached_trial_is_charged_the_seconds_of_the_evaluation_it_reuses(tmp_path: Path) -> None:
    db = tmp_path / "c.db"

    def bench(name: str, **budget: Any) -> Any:
        res = hb.benchmark(
            [TakesTime()], ["random"], seeds=1, store=db, name=name, cache=True, progress=False, **budget
        )
        return res.trials.sort_values("trial").reset_index(drop=True)

    first = bench("first", max_evals=12)
    again = bench("again", max_evals=12)
    assert not first.cached.any() and again.cached.all()
    own = first.finished - first.started
    assert (own > 0.0015).all()  # each evaluation computed ~2 ms
    assert list(again.finished - again.started) == pytest.approx(list(own), abs=1e-5)
    assert (again.finished >= again.started).all() and again.finished.is_monotonic_increasing
    # Under a time budget, cached trials use it up as the evaluations they reuse did.
    half = bench("half", max_evals=12, max_seconds=float(own.sum()) / 2)
    assert half.cached.all() and len(half) <= 7


def test_multi_fidelity_searchers_under_max_evals_are_warned_before_running(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    db = tmp_path / "w.db"
    hb.benchmark(["branin-mf"], ["hyperband", "random"], seeds=1, max_evals=5, store=db, progress=False)
    err = capsys.readouterr().err
    assert "warning: 'hyperband' multi-fidelity under max_evals" in err and "'random'" not in err
    hb.benchmark(["branin-mf"], ["hyperband"], seeds=1, max_cost=2, store=db, name="cost", progress=False)
    assert "max_evals" not in capsys.readouterr().err
