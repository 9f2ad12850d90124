"""The driver's named steps with a fake executor, and the budget rules of the run's ledger.

Rules under test (issue 12): no trial starts whose nominal cost exceeds what is left of
the run's budget, trials in flight counted; a trial that does not continue from a
checkpoint is charged from zero; a task reporting ``cost=0`` cannot keep a cost budget
open (every trial is charged at least ``RunBudget.min_cost``); the affine cost model.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Scripted

import hpbench as hb
from hpbench.budget import MIN_COST, Budget, RunBudget
from hpbench.executors import (
    Capabilities,
    InProcessExecutor,
    TrialJob,
    TrialOutcome,
    WorkerDied,
    evaluate_trial,
)
from hpbench.registry import get_task, make_searcher
from hpbench.results.store import Store
from hpbench.runner import Driver, RunState, run_search
from hpbench.searchers.hyperband import Hyperband, hyperband_schedule
from hpbench.space import Fidelity, Float, SearchSpace
from hpbench.trial import Evaluation, TrialStatus


class FakeExecutor(InProcessExecutor):
    """Holds every submitted job until the test (or ``order``) releases it.

    ``wait`` returns one done future at a time, chosen by ``order`` from the pending ones
    ("fifo", "lifo", or a numpy Generator for a seeded random order); ``fail`` maps a
    config's x to the exceptions its future raises on successive attempts.
    """

    def __init__(self, workers: int = 2, order: Any = "fifo", **caps: Any) -> None:
        self.workers = workers
        self.capabilities = Capabilities(prefetch=False, **caps)
        self.order = order
        self.jobs: list[TrialJob] = []
        self.fail: dict[float, list[BaseException]] = {}
        self._pending: list[tuple[cf.Future[TrialOutcome], TrialJob]] = []

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]:
        fut: cf.Future[TrialOutcome] = cf.Future()
        self.jobs.append(job)
        self._pending.append((fut, job))
        return fut

    def release(self, i: int) -> cf.Future[TrialOutcome]:
        fut, job = self._pending.pop(i)
        errors = self.fail.get(job.config.get("x", -1.0), [])
        if errors:
            fut.set_exception(errors.pop(0))
        else:
            fut.set_result(evaluate_trial(job))
        return fut

    def wait(
        self, pending: Collection[cf.Future[TrialOutcome]], timeout: float
    ) -> set[cf.Future[TrialOutcome]]:
        if not self._pending:
            return set()
        if isinstance(self.order, np.random.Generator):
            i = int(self.order.integers(len(self._pending)))
        else:
            i = -1 if self.order == "lifo" else 0
        return {self.release(i)}


X = SearchSpace({"x": Float(0.0, 1.0)})
FID = Fidelity("epochs", 1, 9)


def _x(config: Mapping[str, Any], *, budget: float | None, seed: int) -> float:
    return float(config["x"])


def _run(script: Sequence[tuple[Mapping[str, Any], float | None, int | None]], budget: Budget) -> RunState:
    task = hb.FunctionTask(_x, space=X, name="x-task")
    return RunState(task=task, searcher=Scripted(space=X, script=script), budget=budget, task_seed=0)


# --------------------------------------------------------------------- the steps
def test_next_job_reserves_and_respects_trials_per_run() -> None:
    run = _run(
        [({"x": 0.1}, None, None), ({"x": 0.2}, None, None), ({"x": 0.3}, None, None)], Budget(max_evals=9)
    )
    d = Driver([run], FakeExecutor(), trials_per_run=2)
    a, b = d.next_job(run), d.next_job(run)
    assert a is not None and b is not None and d.next_job(run) is None  # two in flight at most
    assert run.ledger.started == 2 and run.ledger.reserved == 2.0 and set(run.inflight) == {0, 1}
    assert (a.job.config, a.nominal_cost) == ({"x": 0.1}, 1.0)


def test_submit_collect_finish_commit_before_tell(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    exp = store.create_experiment("e", {}, "0")
    run_id, _ = store.get_or_create_run(
        exp, task="x-task", task_version="1", task_info={}, searcher="s", searcher_name="s",
        searcher_params={}, seed=0, budget={}, versions={}, machine={},
    )  # fmt: skip
    run = _run([({"x": 0.5}, None, None)], Budget(max_evals=1))
    run.run_id = run_id
    seen: list[int] = []
    run.searcher._tell = lambda s, obj: seen.append(len(store.run_trials(run_id)))  # type: ignore[method-assign]
    progress: list[float | None] = []
    ex = FakeExecutor()
    d = Driver([run], ex, store=store, on_trial=lambda r, rec: progress.append(rec.objective))
    fl = d.next_job(run)
    assert fl is not None
    d.submit(fl)
    assert len(d.futures) == 1 and ex.jobs == [fl.job] and not run.records
    [(back, out)] = d.collect(timeout=0)
    assert back is fl and out.status == "ok" and out.objective == 0.5
    d.finish(back, out)
    assert seen == [1]  # committed before the searcher was told
    assert progress == [0.5] and run.ledger.spent == 1.0 and run.ledger.reserved == 0.0 and not run.inflight
    store.close()


def test_collect_retries_a_dead_worker_once_then_stores_failed() -> None:
    run = _run([({"x": 0.25}, None, None), ({"x": 0.75}, None, None)], Budget(max_evals=2))
    ex = FakeExecutor()
    ex.fail = {0.25: [WorkerDied("gone")], 0.75: [WorkerDied("gone"), WorkerDied("again")]}
    Driver([run], ex, trials_per_run=2).run()
    by_x = {r.config["x"]: r for r in run.records}
    assert by_x[0.25].status is TrialStatus.OK and by_x[0.25].attempts == 2
    assert by_x[0.75].status is TrialStatus.FAILED and by_x[0.75].attempts == 2
    assert "worker died in each of 2 attempts; last: again" in (by_x[0.75].error or "")
    assert len(ex.jobs) == 4  # each submitted twice


def test_executor_error_fails_the_trial_and_the_run_goes_on() -> None:
    run = _run([({"x": 0.25}, None, None), ({"x": 0.5}, None, None)], Budget(max_evals=2))
    ex = FakeExecutor()
    ex.fail = {0.25: [OSError("pipe broke")]}
    Driver([run], ex).run()
    assert [r.status for r in run.records] == [TrialStatus.FAILED, TrialStatus.OK]
    assert run.records[0].error == "executor error: OSError: pipe broke"


def test_a_virtual_clock_plugs_in_as_an_executor() -> None:
    """Outcomes in simulated time, ``wait`` in simulated-time order: the driver needs nothing else."""

    class Clock(FakeExecutor):
        def __init__(self) -> None:
            super().__init__(workers=2, virtual_time=True)
            self.free = [0.0, 0.0]
            self.events: list[tuple[float, cf.Future[TrialOutcome], TrialOutcome]] = []

        def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]:
            out = evaluate_trial(job)
            w = int(np.argmin(self.free))
            start = self.free[w]
            self.free[w] = start + 10.0 * job.config["x"]  # duration: 10 x
            fut: cf.Future[TrialOutcome] = cf.Future()
            done = TrialOutcome(out.status, out.objective, None, {}, None, None, start, self.free[w], f"v{w}")
            self.events.append((self.free[w], fut, done))
            return fut

        def wait(
            self, pending: Collection[cf.Future[TrialOutcome]], timeout: float
        ) -> set[cf.Future[TrialOutcome]]:
            self.events.sort(key=lambda e: e[0])
            _, fut, out = self.events.pop(0)
            fut.set_result(out)
            return {fut}

    script = [({"x": x}, None, None) for x in (0.9, 0.1, 0.2, 0.3)]
    run = _run(script, Budget(max_evals=4))
    Driver([run], Clock(), trials_per_run=2).run()
    # Worker 0: 0.9 (0-9). Worker 1: 0.1 (0-1), 0.2 (1-3), 0.3 (3-6). Told in virtual order:
    assert [r.config["x"] for r in run.records] == [0.1, 0.2, 0.3, 0.9]
    assert run.ledger.seconds == pytest.approx(10.0 * (0.9 + 0.1 + 0.2 + 0.3))  # no real time counted


# -------------------------------------------------------------------- the ledger
def test_affine_cost_model_and_floor() -> None:
    ledger = RunBudget(Budget(max_cost=10), FID, overhead=1.0)
    assert ledger.trial_cost(9, None) == 1.0  # top fidelity from scratch
    assert ledger.trial_cost(3, None) == pytest.approx((3 + 1) / (9 + 1))
    assert ledger.trial_cost(9, 3) == pytest.approx((9 - 3 + 1) / (9 + 1))
    assert RunBudget(Budget(max_cost=1), FID).trial_cost(3, 3) == MIN_COST  # nothing to train: floored
    fine = RunBudget(Budget(max_cost=1), Fidelity("n", 1, 1e5, integer=False))
    assert fine.min_cost == pytest.approx(1e-5)  # the cheapest trial from scratch, below MIN_COST


class _PricedTask(hb.Task):
    """Configurations with x > 0.5 cost three times those below: a declared cost factor."""

    def __init__(self, factor: Any = None) -> None:
        self.name = "priced"
        self.space = SearchSpace({"x": Float(0.0, 1.0)})
        self.fidelity = Fidelity("n", 1, 9)
        self._factor = factor

    def cost_factor(self, config: Mapping[str, Any]) -> float:
        return self._factor if self._factor is not None else (1.5 if config["x"] > 0.5 else 0.5)

    def evaluate(
        self, config: Any, *, budget: Any = None, seed: int = 0, checkpoint: Any = None
    ) -> Evaluation:
        return Evaluation(objective=float(config["x"]))


def test_cost_factor_scales_every_charge_and_the_budget_counts_it() -> None:
    ledger = RunBudget(Budget(max_cost=10), FID, overhead=1.0, cost_factor=_PricedTask().cost_factor)
    assert ledger.trial_cost(9, None, {"x": 0.9}) == pytest.approx(1.5)
    assert ledger.trial_cost(3, None, {"x": 0.1}) == pytest.approx(0.5 * (3 + 1) / (9 + 1))
    assert ledger.trial_cost(9, 3, {"x": 0.9}) == pytest.approx(1.5 * (9 - 3 + 1) / (9 + 1))
    task = _PricedTask()
    for seed in range(3):
        s = make_searcher("random", space=task.space, seed=seed)
        recs = run_search(task, s, budget=Budget(max_cost=6.0), task_seed=seed)
        for r in recs:
            assert r.cost == pytest.approx(1.5 if r.config["x"] > 0.5 else 0.5)
        assert sum(r.cost for r in recs) <= 6.0 + 1e-9
        assert {r.cost for r in recs} == {0.5, 1.5}  # both prices met, none charged the flat 1


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "2"])
def test_a_cost_factor_that_is_not_a_positive_number_is_refused_naming_the_rule(bad: Any) -> None:
    ledger = RunBudget(Budget(max_cost=10), FID, cost_factor=_PricedTask(bad).cost_factor)
    with pytest.raises(ValueError, match=r"cost_factor: rule 'a finite number > 0' broken, got"):
        ledger.trial_cost(9, None, {"x": 0.2})


def test_mlp_digits_cost_factor_averages_one_over_the_prior_and_follows_measured_seconds() -> None:
    task = get_task("mlp-digits")
    rng = np.random.default_rng(11)
    factors = [task.cost_factor(task.space.sample(rng)) for _ in range(20000)]
    assert np.mean(factors) == pytest.approx(1.0, abs=0.02)  # max_cost still counts average evaluations
    small = {**task.space.sample(rng), "batch_size": 32, "depth": 4, "width": 256}
    large = {**small, "batch_size": 256, "depth": 1, "width": 16}
    assert task.cost_factor(small) > 10 * task.cost_factor(large)  # many batches of a big net cost more
    from hpbench.surrogate.record import RecordingTask

    views = [get_task("mlp-digits-surrogate"), get_task("mlp-digits-mo"), RecordingTask("mlp-digits")]
    for view in views:  # replays, multi-objective views and recorders are charged alike
        assert view.cost_factor(small) == task.cost_factor(small)


def test_reserve_counts_trials_in_flight_and_closes_the_run() -> None:
    ledger = RunBudget(Budget(max_cost=1.0), FID)
    assert ledger.reserve(0, 3 / 9) and ledger.reserve(1, 3 / 9)
    assert not ledger.reserve(2, 1 / 2)  # 2/3 in flight: 1/2 would overrun
    assert ledger.closed and ledger.exhausted()
    assert ledger.settle(0, None) == pytest.approx(3 / 9) and ledger.settle(1, 0.0) == MIN_COST
    assert ledger.spent == pytest.approx(3 / 9 + MIN_COST) and ledger.reserved == 0.0


# ------------------------------------------------------------------ no overshoot
@pytest.mark.parametrize("name", ["hyperband", "asha", "sh"])
@pytest.mark.parametrize("max_cost", [3.3, 10.0])
def test_no_run_ends_over_its_max_cost(name: str, max_cost: float) -> None:
    task = get_task("branin-mf")
    for seed in range(4):
        s = make_searcher(name, space=task.space, fidelity=task.fidelity, seed=seed)
        recs = run_search(task, s, budget=Budget(max_cost=max_cost), task_seed=seed)
        total = sum(r.cost for r in recs)
        assert total <= max_cost + 1e-9, (seed, total)
        assert total > max_cost - 1.0  # it used its budget: no trial costs more than 1


def test_no_overshoot_with_trials_in_flight() -> None:
    """ASHA with 4 trials in flight, completed in a seeded random order."""
    task = get_task("branin-mf")
    for seed in range(3):
        run = RunState(
            task=task,
            searcher=make_searcher("asha", space=task.space, fidelity=task.fidelity, seed=seed),
            budget=Budget(max_cost=4.0),
            task_seed=seed,
        )
        Driver([run], FakeExecutor(workers=4, order=np.random.default_rng(seed)), trials_per_run=4).run()
        total = sum(r.cost for r in run.records)
        assert 3.0 < total <= 4.0 + 1e-9, (seed, total)


# ---------------------------------------------- what was trained is what is charged
def _levels(config: Mapping[str, Any], *, budget: float, seed: int) -> float:
    return (config["x"] - 0.3) ** 2 + 1.0 / budget


def _levels_ckpt(
    config: Mapping[str, Any], *, budget: float, seed: int, checkpoint: bytes | None = None
) -> Any:
    done = 0 if checkpoint is None else json.loads(checkpoint)["epochs"]
    return hb.Evaluation(
        _levels(config, budget=budget, seed=seed),
        checkpoint=json.dumps({"epochs": budget}).encode(),
        metrics={"trained": budget - done},
    )


@pytest.mark.parametrize("takes_checkpoint", [False, True])
def test_function_task_promotions_are_charged_what_they_trained(takes_checkpoint: bool) -> None:
    fid = Fidelity("epochs", 1, 27)
    fn = _levels_ckpt if takes_checkpoint else _levels
    task = hb.task(space=X, fidelity=fid, name="levels")(fn)
    searcher = Hyperband(space=X, fidelity=fid, seed=0, max_iterations=1)
    recs = run_search(task, searcher, budget=Budget(max_cost=1000.0))
    schedule = hyperband_schedule(fid, eta=3)
    assert len(recs) == sum(n for b in schedule for n, _ in b)
    promoted = [r for r in recs if r.continue_from is not None]
    assert len(promoted) > 0
    level = {r.trial_id: r.budget for r in recs}
    for r in recs:
        start = level[r.continue_from] if takes_checkpoint and r.continue_from is not None else 0
        assert r.cost == pytest.approx((r.budget - start) / 27)
        if takes_checkpoint:
            assert r.metrics["trained"] == r.budget - start  # the function did continue
    # Closed form: retraining pays n_i r_i / R per rung, continuing n_i (r_i - r_{i-1}) / R.
    expected = sum(
        n * (r - (b[i - 1][1] if i and takes_checkpoint else 0))
        for b in schedule
        for i, (n, r) in enumerate(b)
    )
    assert sum(r.cost for r in recs) == pytest.approx(expected / 27)


# ------------------------------------------------------------------------ cost 0
class _Free(hb.Task):
    name, space, fidelity = "free", X, None

    def evaluate(
        self, config: Any, *, budget: Any = None, seed: int = 0, checkpoint: Any = None
    ) -> Evaluation:
        return Evaluation(objective=float(config["x"]), cost=0.0)


def test_cost_zero_cannot_keep_a_cost_budget_open() -> None:
    recs = run_search(_Free(), make_searcher("random", space=X, seed=0), budget=Budget(max_cost=2.0))
    # Each trial reserves its nominal cost 1 and is charged MIN_COST: trial k starts while
    # 2 - k * MIN_COST >= 1, so exactly 1 / MIN_COST + 1 trials run, and the store stays bounded.
    assert len(recs) == round(1 / MIN_COST) + 1
    assert all(r.cost == MIN_COST for r in recs)
    assert sum(r.cost for r in recs) <= 2.0


# --------------------------------------------------------------------------- CLI
def test_cli_max_cost_and_its_deprecated_alias(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hpbench.cli import main

    base = ["run", "--task", "branin-mf", "--searcher", "hyperband", "--seeds", "1", "--workers", "0"]
    store = str(tmp_path / "s.db")
    assert main([*base, "--max-cost", "3.3", "--store", store, "--name", "new", "--no-progress"]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert main([*base, "--budget", "3.3", "--store", store, "--name", "old", "--no-progress"]) == 0
    assert "--budget is deprecated; use --max-cost" in capsys.readouterr().err
    df = hb.load_results(store)
    cost = df.groupby("experiment").cost.sum()
    assert cost["new"] == pytest.approx(cost["old"]) and cost["new"] <= 3.3 + 1e-9
    assert main([*base, "--budget", "3", "--max-cost", "4", "--store", store]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--max-cost or its deprecated alias --budget, not both" in err[0]
