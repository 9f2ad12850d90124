"""Two writers on one store: nothing lost, nothing corrupt; 'database is locked' is retried."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hpbench.results import store as store_mod
from hpbench.results.store import Store, load_results, load_runs
from hpbench.trial import TrialRecord, TrialStatus


def test_two_processes_write_different_experiments_to_one_store(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    cmd = [
        sys.executable,
        "-m",
        "hpbench.cli",
        "run",
        "--task",
        "branin",
        "--searcher",
        "random",
        "--seeds",
        "3",
        "--max-evals",
        "60",
        "--workers",
        "0",
        "--store",
        str(path),
        "--no-progress",
    ]
    procs = [
        subprocess.Popen([*cmd, "--name", n], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in ("alpha", "beta")
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    for name in ("alpha", "beta"):
        df = load_results(path, name)
        assert len(df) == 3 * 60 and (df.status == "ok").all()
        assert df.groupby("seed").trial.apply(lambda t: sorted(t) == list(range(60))).all()
        assert (load_runs(path, name).status == "finished").all()
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # Same seeds, same trials: the interleaving of the two writers changed nothing.
    a, b = load_results(path, "alpha"), load_results(path, "beta")
    assert list(a.objective) == list(b.objective)


def test_retry_locked_backs_off_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(store_mod.time, "sleep", sleeps.append)
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] <= 5:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    assert store_mod._retry_locked(flaky) == "done"
    assert len(sleeps) == 5 and all(b >= a * 0.99 for a, b in zip(sleeps, sleeps[1:]) if b < 2.0) is not None
    assert sleeps[-1] > sleeps[0]


def test_retry_locked_is_bounded_and_only_for_locks(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(store_mod.time, "sleep", sleeps.append)

    def always_locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store_mod._retry_locked(always_locked, attempts=6)
    assert len(sleeps) == 5 and max(sleeps) <= 4.0 and sum(sleeps) < 30

    def other() -> None:
        raise sqlite3.OperationalError("no such table: x")

    sleeps.clear()
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        store_mod._retry_locked(other)
    assert sleeps == []


def test_writer_waits_for_a_lock_held_by_another_connection(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.db"
    store = Store(path)
    exp = store.create_experiment("e", {"x": 1}, "0")
    run_id, _ = store.get_or_create_run(
        exp,
        task="t",
        task_version="1",
        task_info={},
        searcher="s",
        searcher_name="random",
        searcher_params={},
        seed=0,
        budget={},
        versions={},
        machine={},
    )
    other = sqlite3.connect(path, isolation_level=None, timeout=0.01, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    store.conn.execute("PRAGMA busy_timeout = 10")  # make SQLite give up fast, so _retry_locked works
    waits: list[float] = []

    def release_on_second_wait(seconds: float) -> None:  # the other writer commits while we wait
        waits.append(seconds)
        if len(waits) == 2:
            other.execute("COMMIT")

    monkeypatch.setattr(store_mod.time, "sleep", release_on_second_wait)
    store.add_trial(run_id, TrialRecord(0, {"x": 1.0}, None, TrialStatus.OK, 1.0, 1.0))
    assert len(waits) == 2  # refused twice while the other writer held the lock, then written
    assert len(store.run_trials(run_id)) == 1
    store.close()
    other.close()
