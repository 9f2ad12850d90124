"""The runner: budgets in evaluations, cost and seconds; failures; timeouts; executors; seeds."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from conftest import Scripted

import hpbench as hb
from hpbench.budget import Budget
from hpbench.executors import InProcessExecutor, WorkerPool
from hpbench.registry import get_task, make_searcher
from hpbench.runner import run_search, split_seed
from hpbench.searchers.base import Searcher
from hpbench.space import Fidelity, Float, SearchSpace
from hpbench.tasks.base import Task
from hpbench.tasks.synthetic import Branin
from hpbench.trial import Evaluation, Suggestion, TrialStatus


class Recording(Task):
    """branin-mf that remembers the (budget, checkpoint) of every call."""

    def __init__(self) -> None:
        self.inner = Branin(multi_fidelity=True)
        self.name, self.space, self.fidelity = "recording", self.inner.space, self.inner.fidelity
        self.calls: list[tuple[float | None, bytes | None]] = []

    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        self.calls.append((budget, checkpoint))
        return self.inner.evaluate(config, budget=budget, seed=seed, checkpoint=checkpoint)


X_SPACE = SearchSpace({"x": Float(0.0, 1.0)})


def flaky(config: Mapping[str, Any], *, budget: float | None, seed: int) -> float:
    """Raises, returns NaN, returns inf or succeeds, depending on x."""
    x = config["x"]
    if x < 0.25:
        raise RuntimeError(f"boom at x={x:.3f}")
    if x < 0.5:
        return math.nan
    if x < 0.75:
        return math.inf
    return x


def sleepy(config: Mapping[str, Any], *, budget: float | None, seed: int) -> float:
    """Sleeps 3 s when x > 0.5, else returns at once."""
    if config["x"] > 0.5:
        time.sleep(3.0)
    return config["x"]


def napping(config: Mapping[str, Any], *, budget: float | None, seed: int) -> float:
    time.sleep(0.02)
    return config["x"]


def _key(rec: Any) -> tuple[Any, ...]:
    return (rec.trial_id, tuple(sorted(rec.config.items())), rec.budget, rec.status, rec.objective, rec.cost)


# ------------------------------------------------------------------------- budgets
def test_max_evals_is_exact() -> None:
    task = get_task("branin")
    recs = run_search(task, make_searcher("random", space=task.space, seed=0), budget=Budget(max_evals=17))
    assert len(recs) == 17
    assert [r.trial_id for r in recs] == list(range(17))
    assert all(r.status is TrialStatus.OK and r.cost == 1.0 for r in recs)


def test_max_cost_counts_full_fidelity_equivalents() -> None:
    task = get_task("branin-mf")
    searcher = make_searcher("random", space=task.space, fidelity=task.fidelity, seed=0)
    recs = run_search(task, searcher, budget=Budget(max_cost=5.5))
    # random search trains to the top fidelity: each trial costs exactly 1
    assert all(r.budget == 81 and r.cost == pytest.approx(1.0) for r in recs)
    total = sum(r.cost for r in recs)
    # No overshoot: the sixth trial (cost 1) would take the run to 6 > 5.5, so it never starts.
    assert total <= 5.5 and total + 1.0 > 5.5
    assert len(recs) == 5


def test_low_fidelity_trials_cost_their_share() -> None:
    task = get_task("branin-mf")
    script = [({"x1": 0.0, "x2": float(i)}, 9, None) for i in range(30)]
    recs = run_search(
        task, Scripted(space=task.space, fidelity=task.fidelity, script=script), budget=Budget(max_cost=1.0)
    )
    assert all(r.cost == pytest.approx(9 / 81) for r in recs)
    assert len(recs) == 9  # 9 x 9/81 = 1


def test_continuation_is_charged_only_the_increment_and_gets_the_checkpoint() -> None:
    task = Recording()
    a, b = {"x1": 1.0, "x2": 2.0}, {"x1": 3.0, "x2": 4.0}
    searcher = Scripted(
        space=task.space, fidelity=task.fidelity, script=[(a, 9, None), (a, 27, 0), (b, 27, None)]
    )
    # 9/81 + 18/81 + 27/81 = 2/3 < 0.67: the third trial still fits. Charging the
    # continuation in full (27/81) would have stopped the run after two trials.
    recs = run_search(task, searcher, budget=Budget(max_cost=0.67))
    assert [r.trial_id for r in recs] == [0, 1, 2]
    assert [r.cost for r in recs] == pytest.approx([9 / 81, 18 / 81, 27 / 81])
    assert recs[1].continue_from == 0
    (b0, c0), (b1, c1), (b2, c2) = task.calls
    assert (b0, c0, b2, c2) == (9, None, 27, None)
    assert b1 == 27 and c1 is not None  # the checkpoint of trial 0 was handed over
    assert recs[1].objective == Branin(multi_fidelity=True).evaluate(a, budget=27).objective


def test_max_seconds_stops_the_run() -> None:
    task = hb.FunctionTask(napping, space=X_SPACE)
    t0 = time.perf_counter()
    recs = run_search(task, make_searcher("random", space=X_SPACE, seed=0), budget=Budget(max_seconds=0.3))
    elapsed = time.perf_counter() - t0
    assert 5 <= len(recs) <= 16  # 20 ms each; ~15 fit, whatever the scheduling
    assert elapsed < 3.0


def test_searcher_that_finishes_ends_the_run_before_the_budget() -> None:
    task = get_task("branin")
    script = [({"x1": 0.0, "x2": 1.0}, None, None), ({"x1": 1.0, "x2": 1.0}, None, None)]
    recs = run_search(task, Scripted(space=task.space, script=script), budget=Budget(max_evals=100))
    assert len(recs) == 2


# ------------------------------------------------------------------------ failures
def test_failing_trials_are_recorded_and_the_run_goes_on() -> None:
    task = hb.FunctionTask(flaky, space=X_SPACE)
    searcher = make_searcher("random", space=X_SPACE, seed=3)
    recs = run_search(task, searcher, budget=Budget(max_evals=40))
    assert len(recs) == 40
    by_kind: dict[str, list[Any]] = {"raise": [], "nan": [], "inf": [], "ok": []}
    for r in recs:
        x = r.config["x"]
        by_kind["raise" if x < 0.25 else "nan" if x < 0.5 else "inf" if x < 0.75 else "ok"].append(r)
    assert all(by_kind.values()), "seed 3 hits every branch"
    for r in by_kind["raise"]:
        assert r.status is TrialStatus.FAILED and r.objective is None
        assert "RuntimeError" in r.error and "boom" in r.error
    for kind in ("nan", "inf"):
        for r in by_kind[kind]:
            assert r.status is TrialStatus.FAILED and r.objective is None
            assert kind in r.error and "not finite" in r.error
    for r in by_kind["ok"]:
        assert r.status is TrialStatus.OK and r.objective == r.config["x"] and r.error is None
    # the searcher was told None for every failure, the value for every success
    told = {s.trial_id: obj for s, obj in searcher.history}
    assert all(told[r.trial_id] is None for r in recs if r.status is not TrialStatus.OK)
    assert all(told[r.trial_id] == r.objective for r in recs if r.status is TrialStatus.OK)


def test_trial_timeout_in_process() -> None:
    task = hb.FunctionTask(sleepy, space=X_SPACE)
    script = [({"x": 0.1}, None, None), ({"x": 0.9}, None, None), ({"x": 0.2}, None, None)]
    searcher = Scripted(space=X_SPACE, script=script)
    t0 = time.perf_counter()
    recs = run_search(
        task, searcher, budget=Budget(max_evals=3), executor=InProcessExecutor(), trial_timeout=0.2
    )
    assert time.perf_counter() - t0 < 2.0  # the 3 s sleep was cut short
    assert [r.status for r in recs] == [TrialStatus.OK, TrialStatus.TIMEOUT, TrialStatus.OK]
    assert "timeout" in recs[1].error and "0.2" in recs[1].error
    assert recs[1].objective is None
    assert [obj for _, obj in searcher.history] == [0.1, None, 0.2]


def test_needs_fidelity_searcher_on_task_without_one_is_refused() -> None:
    task = get_task("branin")

    class NeedsFid(Scripted):
        needs_fidelity = True

    with pytest.raises(ValueError, match="fidelity"):
        NeedsFid(space=task.space)


# ----------------------------------------------------------------- reproducibility
def test_same_seed_same_trials_other_seed_other_trials() -> None:
    task = get_task("hartmann6")

    def run(seed: int) -> list[tuple[Any, ...]]:
        s = make_searcher("random", space=task.space, seed=seed)
        return [_key(r) for r in run_search(task, s, budget=Budget(max_evals=10), task_seed=seed)]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_split_seed_gives_independent_deterministic_streams() -> None:
    assert split_seed(5) == split_seed(5)
    a, b = split_seed(5)
    assert a != b and split_seed(6) != (a, b)


def test_process_pool_gives_the_same_trials_as_in_process() -> None:
    task = get_task("branin-noisy")  # noise seeded by the task seed: a real check of seed passing

    def run(executor: Any) -> list[tuple[Any, ...]]:
        s = make_searcher("random", space=task.space, seed=4)
        recs = run_search(task, s, budget=Budget(max_evals=8), task_seed=11, executor=executor)
        return sorted(_key(r) for r in recs)

    pool = WorkerPool(2)
    try:
        in_pool = run(pool)
    finally:
        pool.shutdown()
    assert in_pool == run(InProcessExecutor())


def test_benchmark_same_trials_with_two_workers_and_in_process(tmp_path: Path) -> None:
    cols = ["task", "searcher", "seed", "trial", "config", "budget", "objective", "cost", "status"]

    def run(workers: int) -> Any:
        res = hb.benchmark(
            ["branin-noisy"],
            ["random"],
            seeds=2,
            max_evals=6,
            store=tmp_path / f"w{workers}.db",
            workers=workers,
            progress=False,
        )
        return res.trials[cols].sort_values(["seed", "trial"]).reset_index(drop=True)

    a, b = run(0), run(2)
    assert len(a) == 12
    assert a.equals(b)


class _BreaksAfterThree(Searcher):
    """Raises in ``tell`` of its third trial and in any ``ask`` after that."""

    name = "breaks-after-three"

    def __init__(self, *, space: SearchSpace, fidelity: Fidelity | None = None, seed: int = 0) -> None:
        super().__init__(space=space, fidelity=fidelity, seed=seed)

    def _ask(self, trial_id: int) -> Suggestion:
        if trial_id >= 3:
            raise RuntimeError("ask after the break")
        return Suggestion(trial_id, self.space.sample(self.rng_for(trial_id)))

    def _tell(self, suggestion: Suggestion, objective: float | None) -> None:
        if suggestion.trial_id == 2:
            raise ZeroDivisionError("model blew up")


def test_a_searcher_that_raises_fails_its_run_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res = hb.benchmark(
        ["branin"],
        [_BreaksAfterThree, "random"],
        seeds=2,
        max_evals=5,
        store=tmp_path / "s.db",
        progress=False,
    )
    runs = res.runs.set_index(["searcher", "seed"])
    broken = runs.loc["breaks-after-three"]
    assert (broken.status == "failed").all()
    assert broken.error.str.contains("raised in tell: ZeroDivisionError: model blew up").all()
    assert (runs.loc["random"].status == "finished").all()
    counts = res.trials.groupby("searcher").size()
    # The third trial finished and is stored even though telling it failed.
    assert counts["breaks-after-three"] == 2 * 3 and counts["random"] == 2 * 5
    assert "failed, its other trials kept" in capsys.readouterr().err


def test_cli_run_exits_1_when_a_run_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hpbench import registry
    from hpbench.cli import main

    monkeypatch.setitem(registry._extra_searchers, "breaks-after-three", _BreaksAfterThree)
    args = ["run", "--task", "branin", "--searcher", "breaks-after-three", "--searcher", "random"]
    store = str(tmp_path / "s.db")
    code = main([*args, "--seeds", "1", "--max-evals", "4", "--store", store, "--no-progress"])
    assert code == 1
    assert "1 run(s) failed" in capsys.readouterr().err
    assert main(["status", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "breaks-after-three       seed 0    failed" in out
    assert "error: searcher 'breaks-after-three' raised in tell: ZeroDivisionError: model blew up" in out
