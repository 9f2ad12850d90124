"""The virtual clock (issue 15): N simulated workers, trials in the driver, time simulated.

Rules under test: a trial submitted to a free simulated worker starts at the clock's
current time and ends ``Evaluation.seconds`` later; the searcher is told in order of
simulated end (ties by submission order); stored times are simulated from ``EPOCH``, so
the same seeds give identical stored trials; an asynchronous searcher keeps every
simulated worker busy; ``max_seconds`` counts simulated trial seconds; each run of an
experiment has its own workers and clock; the CLI refuses bad combinations in one line.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import Scripted

import hpbench as hb
from hpbench.budget import Budget
from hpbench.cli import main
from hpbench.executors import TrialJob, VirtualClockExecutor, make_executor
from hpbench.executors.virtual import EPOCH
from hpbench.registry import make_searcher
from hpbench.runner import RunState, drive_virtual, run_search
from hpbench.space import Fidelity, Float, SearchSpace
from hpbench.trial import Evaluation, TrialRecord

X = SearchSpace({"x": Float(0.0, 1.0)})
FID = Fidelity("epochs", 1, 27)


def _ten_x(config: Mapping[str, Any], *, budget: float | None, seed: int) -> Evaluation:
    """Takes 10 x simulated seconds."""
    return Evaluation(float(config["x"]), seconds=10.0 * float(config["x"]))


def _hashed(config: Mapping[str, Any], *, budget: float | None, seed: int) -> Evaluation:
    """Objective and duration from the configuration, the level and the seed (uneven durations)."""
    h = hashlib.sha256(repr((round(config["x"], 12), budget, seed)).encode()).digest()
    u = int.from_bytes(h[:8], "big") / 2**64
    level = 1.0 if budget is None else float(budget)
    return Evaluation((config["x"] - 0.3) ** 2 + 0.1 * u / level, seconds=level * (0.5 + u))


TEN_X = hb.FunctionTask(_ten_x, space=X, name="ten-x")
HASHED_MF = hb.FunctionTask(_hashed, space=X, fidelity=FID, name="hashed-mf")


class Listening(Scripted):
    """A scripted searcher that remembers the order it was told (x of each trial)."""

    def _tell(self, suggestion: Any, objective: float | None) -> None:
        self.told = [*getattr(self, "told", []), suggestion.config["x"]]


def _scripted_run(xs: Sequence[float], budget: Budget) -> RunState:
    searcher = Listening(space=X, script=[({"x": x}, None, None) for x in xs])
    return RunState(task=TEN_X, searcher=searcher, budget=budget, task_seed=0)


def _times(records: Sequence[TrialRecord]) -> list[tuple[float, float, float, str]]:
    """(x, started, finished, worker) per trial, in trial order."""
    return [
        (r.config["x"], r.started, r.finished, r.worker) for r in sorted(records, key=lambda r: r.trial_id)
    ]


# ------------------------------------------------------------------ the clock itself
def test_hand_made_schedule_on_two_workers() -> None:
    # Durations 9, 1, 2, 3, 1. Worker 0 runs 0.9 (0-9); worker 1 runs 0.1 (0-1), 0.2 (1-3),
    # 0.3 (3-6), 0.1 again (6-7): the searcher is told 0.1, 0.2, 0.3, 0.1, 0.9.
    run = _scripted_run([0.9, 0.1, 0.2, 0.3, 0.1], Budget(max_evals=5))
    drive_virtual([run], VirtualClockExecutor(2), trials_per_run=2)
    assert _times(run.records) == [
        (0.9, 0.0, 9.0, "virtual-0"),
        (0.1, 0.0, 1.0, "virtual-1"),
        (0.2, 1.0, 3.0, "virtual-1"),
        (0.3, 3.0, pytest.approx(6.0), "virtual-1"),
        (0.1, pytest.approx(6.0), pytest.approx(7.0), "virtual-1"),
    ]
    assert run.searcher.told == [0.1, 0.2, 0.3, 0.1, 0.9]  # type: ignore[attr-defined]
    assert [r.config["x"] for r in run.records] == [0.1, 0.2, 0.3, 0.1, 0.9]  # committed in that order too
    assert [r.queued for r in run.records] == [r.started for r in run.records]  # no real time anywhere
    assert run.ledger.seconds == pytest.approx(9 + 1 + 2 + 3 + 1)  # simulated seconds, no searcher time


def test_ties_in_simulated_time_go_in_submission_order() -> None:
    run = _scripted_run([0.2, 0.2, 0.2, 0.5], Budget(max_evals=4))
    drive_virtual([run], VirtualClockExecutor(3), trials_per_run=3)
    by_id = sorted(run.records, key=lambda r: r.trial_id)
    assert [r.trial_id for r in run.records] == [0, 1, 2, 3]  # three ends at t=2, in submission order
    assert (by_id[3].started, by_id[3].finished, by_id[3].worker) == (2.0, 7.0, "virtual-0")


def test_a_task_without_seconds_takes_its_measured_time_and_a_timeout_is_simulated() -> None:
    clock = VirtualClockExecutor(1)
    job = TrialJob(hb.FunctionTask(lambda c, *, budget, seed: c["x"], space=X, name="t"), {"x": 0.5}, None, 0)
    fut = clock.submit(job)
    assert not fut.done()  # pending until the clock reaches its end
    assert clock.wait({fut}, 0.0) == {fut}
    out = fut.result()
    assert out.started == EPOCH and 0.0 <= out.finished - out.started < 5.0 and clock.now == out.finished
    slow = clock.submit(TrialJob(TEN_X, {"x": 0.8}, None, 0, timeout=3.0))
    clock.wait({slow}, 0.0)
    late = slow.result()
    assert (late.status, late.finished - late.started) == ("timeout", 3.0)
    assert "simulated" in (late.error or "")


def test_a_max_seconds_budget_ends_at_the_right_simulated_time() -> None:
    # Durations 9, 1, 2, 3, 4 on two workers, max_seconds = 5 simulated trial seconds:
    # 1 at t=1 (spent 1), 2 at t=3 (spent 3): 0.3 starts at 3 and ends at 6 (spent 6 >= 5),
    # so 0.4 never starts; 0.9 ends the run at t=9.
    run = _scripted_run([0.9, 0.1, 0.2, 0.3, 0.4], Budget(max_seconds=5))
    drive_virtual([run], VirtualClockExecutor(2), trials_per_run=2)
    assert sorted(r.config["x"] for r in run.records) == [0.1, 0.2, 0.3, 0.9]
    assert max(r.started for r in run.records) == 3.0
    assert max(r.finished for r in run.records) == 9.0
    assert run.ledger.seconds == pytest.approx(15.0)


def test_asha_keeps_every_simulated_worker_busy() -> None:
    asha = make_searcher("asha", space=X, fidelity=FID, seed=0)
    records = run_search(
        HASHED_MF, asha, budget=Budget(max_cost=20), executor=VirtualClockExecutor(4), trials_per_run=4
    )
    assert len(records) > 40 and len({r.budget for r in records}) >= 3  # promotions happened
    last_start = max(r.started for r in records)
    for t in sorted({r.started for r in records}):
        running = sum(r.started <= t < r.finished for r in records)
        assert running == 4 or t == last_start, (t, running)
    for w in {r.worker for r in records}:  # each worker: back to back, never two at once
        mine = sorted((r.started, r.finished) for r in records if r.worker == w)
        assert all(a[1] == pytest.approx(b[0]) for a, b in zip(mine, mine[1:]))


def test_synchronous_hyperband_waits_for_its_rung() -> None:
    hb_searcher = make_searcher("hyperband", space=X, fidelity=FID, seed=0, max_iterations=1)
    records = run_search(
        HASHED_MF, hb_searcher, budget=Budget(max_cost=50), executor=VirtualClockExecutor(4), trials_per_run=4
    )
    first = [r for r in records if r.budget == FID.low]
    promoted = [
        r for r in records if r.budget is not None and r.budget > FID.low and r.continue_from is not None
    ]
    assert first and promoted
    # a promotion from the first bracket's bottom rung starts only once all of that rung ended
    bottom = [r for r in first if r.trial_id < min(p.trial_id for p in promoted)]
    assert min(p.started for p in promoted) >= max(r.finished for r in bottom)


# --------------------------------------------------------------- experiments, API, CLI
def _bench(store: Path, *, max_cost: float = 6, **kw: Any) -> Any:
    return hb.benchmark(
        [HASHED_MF],
        ["asha", "random"],
        seeds=2,
        max_cost=max_cost,
        store=store,
        name="vc",
        virtual_workers=3,
        progress=False,
        **kw,
    )


def test_same_seeds_give_identical_stored_trials(tmp_path: Path) -> None:
    cols = [
        "run_id",
        "trial",
        "config",
        "budget",
        "objective",
        "cost",
        "started",
        "finished",
        "queued",
        "worker",
    ]
    a = _bench(tmp_path / "a.db").trials
    b = _bench(tmp_path / "b.db").trials
    assert len(a) > 20
    key = ["run_id", "trial"]
    left = a[cols].astype({"config": str}).sort_values(key).reset_index(drop=True)
    right = b[cols].astype({"config": str}).sort_values(key).reset_index(drop=True)
    assert left.equals(right)
    for _, g in a.groupby("run_id"):  # every run has its own three workers and its own clock
        assert g.started.min() == EPOCH and set(g.worker) == {"virtual-0", "virtual-1", "virtual-2"}


def test_a_resumed_or_extended_run_is_simulated_again_and_ends_as_if_never_stopped(tmp_path: Path) -> None:
    store = tmp_path / "r.db"
    seen: list[int] = []

    def stop_after_five(event: Any) -> bool:
        seen.append(event.trial)
        return len(seen) < 5

    assert _bench(store, on_trial=stop_after_five).stopped
    assert len(hb.load_results(store, "vc")) == 5
    cols = ["run_id", "trial", "budget", "objective", "started", "finished", "worker"]
    resumed = _bench(store).trials[cols].sort_values(["run_id", "trial"]).reset_index(drop=True)
    whole = _bench(tmp_path / "w.db").trials[cols].sort_values(["run_id", "trial"]).reset_index(drop=True)
    assert resumed.equals(whole)  # no trial stored twice, none different
    more = _bench(store, max_cost=9).trials
    assert len(more) > len(whole) and not more.duplicated(["run_id", "trial"]).any()


def test_the_cli_and_the_spec_file_take_virtual_workers(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    args = ["run", "--task", "branin", "--searcher", "random", "--seeds", "1", "--max-evals", "6"]
    assert main([*args, "--virtual-workers", "2", "--store", str(db), "--no-progress"]) == 0
    df = hb.load_results(db)
    assert set(df.worker) <= {"virtual-0", "virtual-1"} and df.started.min() == EPOCH
    spec = tmp_path / "s.toml"
    spec.write_text(
        'tasks = ["branin"]\nsearchers = ["random"]\n[budget]\nmax_evals = 4\n[run]\nvirtual_workers = 3\n'
    )
    assert main(["run", str(spec), "--store", str(tmp_path / "spec.db"), "--no-progress"]) == 0
    assert set(hb.load_results(tmp_path / "spec.db").worker) <= {"virtual-0", "virtual-1", "virtual-2"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--virtual-workers", "0"], "virtual_workers: rule 'integer >= 1' broken, got 0"),
        (["--virtual-workers", "2", "--workers", "2"], "not with worker processes"),
        (["--virtual-workers", "2", "--dask", "local:1"], "not with dask"),
    ],
)
def test_the_cli_refuses_bad_virtual_workers_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    db = tmp_path / "no.db"
    args = ["run", "--task", "branin", "--searcher", "random", "--max-evals", "3", "--store", str(db)]
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not db.exists() or not sqlite3.connect(db).execute("select name from sqlite_master").fetchall()


def test_bad_virtual_workers_in_the_api_and_the_spec(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not with worker processes"):
        hb.benchmark(
            ["branin"], ["random"], max_evals=2, store=tmp_path / "x.db", workers=2, virtual_workers=2
        )
    with pytest.raises(TypeError, match="virtual_workers: must be an integer, got 1.5"):
        make_executor(virtual_workers=1.5)  # type: ignore[arg-type]
    spec = tmp_path / "bad.toml"
    spec.write_text(
        'tasks = ["branin"]\nsearchers = ["random"]\n[budget]\nmax_evals = 4\n[run]\n'
        "virtual_workers = 2\nworkers = 2\n"
    )
    assert main(["run", str(spec), "--store", str(tmp_path / "bad.db")]) == 2
