"""The SQLite results store, on real files: schema, WAL, one row per trial, refusal, export."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import sha256

import hpbench.results.store as store_module
from hpbench.results.store import (
    SCHEMA_VERSION,
    WAL_CHECKPOINT_PAGES,
    Store,
    StoreError,
    load_results,
    load_runs,
)
from hpbench.trial import TrialRecord, TrialStatus

REQUIRED = [
    "experiment",
    "task",
    "searcher",
    "seed",
    "trial",
    "config",
    "budget",
    "objective",
    "cost",
    "status",
    "started",
    "finished",
]


def _run(store: Store, *, experiment: str = "exp", seed: int = 0, task: str = "branin-mf") -> int:
    exp = store.get_experiment(experiment)
    exp_id = exp[0] if exp else store.create_experiment(experiment, {"name": experiment}, "0.1.0")
    run_id, status = store.get_or_create_run(
        exp_id,
        task=task,
        task_version="1",
        task_info={"optimum": 0.397887, "fidelity": {"high": 81}},
        searcher="random",
        searcher_name="random",
        searcher_params={},
        seed=seed,
        budget={"max_evals": 3},
        versions={"hpbench": "0.1.0"},
        machine={"cpus": 2},
    )
    assert status == "pending"
    return run_id


def _rec(
    i: int, *, status: TrialStatus = TrialStatus.OK, objective: float | None = None, error: str | None = None
) -> TrialRecord:
    now = time.time()
    return TrialRecord(
        trial_id=i,
        config={"x1": 0.5 + i, "x2": 2.0, "kind": "a"},
        budget=27.0,
        status=status,
        objective=float(i) if objective is None and status is TrialStatus.OK else objective,
        cost=27 / 81,
        metrics={"test_loss": 0.1 * i, "nan_metric": float("nan")},
        error=error,
        started=now,
        finished=now + 0.01,
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sub" / "hpbench.db"


def test_new_store_has_schema_version_and_wal(db_path: Path) -> None:
    Store(db_path).close()
    assert db_path.exists()  # parent folder created
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT version FROM hpbench_schema").fetchall() == [(SCHEMA_VERSION,)]
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"experiments", "runs", "trials", "hpbench_schema"} <= tables
    con.close()


def test_wal_is_checkpointed_every_wal_checkpoint_pages_and_merged_on_close(db_path: Path) -> None:
    with Store(db_path) as s:
        assert s.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_CHECKPOINT_PAGES
        run_id = _run(s)
        for i in range(20):
            s.add_trial(run_id, _rec(i))
        wal = Path(f"{db_path}-wal")
        assert wal.stat().st_size > 0  # the commits are in the WAL, not merged yet
    assert not wal.exists() or wal.stat().st_size == 0
    con = sqlite3.connect(f"file:{db_path}?immutable=1", uri=True)  # the main file alone, WAL ignored
    assert con.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 20
    con.close()


def _rows_in_main_file(db_path: Path) -> int:
    con = sqlite3.connect(f"file:{db_path}?immutable=1", uri=True)  # the main file alone, WAL ignored
    try:
        if not con.execute("SELECT 1 FROM sqlite_master WHERE name = 'trials'").fetchone():
            return 0  # even the schema is still in the WAL only
        return con.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    finally:
        con.close()


def test_background_checkpoint_merges_the_wal_while_the_writer_goes_on(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "CHECKPOINT_TRIALS", 5)
    with Store(db_path) as s:
        run_id = _run(s)
        for i in range(4):
            s.add_trial(run_id, _rec(i))
        assert s._checkpointer is None  # nothing started before the first CHECKPOINT_TRIALS
        assert _rows_in_main_file(db_path) == 0
        s.add_trial(run_id, _rec(4))
        assert s._checkpointer is not None
        s._checkpointer.wait_for(1)
        assert _rows_in_main_file(db_path) == 5  # copied into the file by the other thread
        for i in range(5, 13):
            s.add_trial(run_id, _rec(i))
        s._checkpointer.wait_for(2)
        assert _rows_in_main_file(db_path) >= 10  # at least what was committed when it was woken
        thread = s._checkpointer._thread
        assert [r.trial_id for r in s.run_trials(run_id)] == list(range(13))
    assert not thread.is_alive()
    assert _rows_in_main_file(db_path) == 13  # the last three merged on close
    assert not Path(f"{db_path}-wal").exists() or Path(f"{db_path}-wal").stat().st_size == 0


def test_reopening_keeps_data_and_schema(db_path: Path) -> None:
    with Store(db_path) as s:
        run_id = _run(s)
        s.add_trial(run_id, _rec(0))
    with Store(db_path) as s:
        assert s.experiment_names() == ["exp"]
        assert [r.trial_id for r in s.run_trials(run_id)] == [0]
        assert s.conn.execute("SELECT COUNT(*) FROM hpbench_schema").fetchone()[0] == 1


def test_one_row_per_add_trial_each_committed_at_once(db_path: Path) -> None:
    with Store(db_path) as s:
        run_id = _run(s)
        for i in range(5):
            s.add_trial(run_id, _rec(i))
            # another connection sees it at once: the trial is committed, not buffered
            other = sqlite3.connect(db_path)
            assert other.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == i + 1
            other.close()
        with pytest.raises(sqlite3.IntegrityError):
            s.add_trial(run_id, _rec(4))  # (run, trial) is unique
        assert s.conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 5


def test_run_trials_round_trip(db_path: Path) -> None:
    with Store(db_path) as s:
        run_id = _run(s)
        recs = [_rec(0), _rec(1, status=TrialStatus.FAILED, error="ValueError: boom")]
        for r in recs:
            s.add_trial(run_id, r)
        back = s.run_trials(run_id)
    assert [r.trial_id for r in back] == [0, 1]
    assert back[0].config == recs[0].config and back[0].objective == 0.0 and back[0].budget == 27.0
    assert back[0].metrics["test_loss"] == 0.0 and back[0].metrics["nan_metric"] is None
    assert back[1].status is TrialStatus.FAILED and back[1].error == "ValueError: boom"


def test_load_results_columns_and_values(db_path: Path) -> None:
    with Store(db_path) as s:
        r0 = _run(s, seed=0)
        r1 = _run(s, seed=1)
        for i in range(3):
            s.add_trial(r0, _rec(i))
        s.add_trial(r1, _rec(0))
    df = load_results(db_path)
    for col in REQUIRED:
        assert col in df.columns, col
    assert len(df) == 4
    assert sorted(df.seed.tolist()) == [0, 0, 0, 1]
    assert df.objective.dtype == float and df.cost.dtype == float
    assert set(df.status) == {"ok"}
    assert df["param.x1"].tolist()[:3] == [0.5, 1.5, 2.5]
    assert df["metric.test_loss"].iloc[1] == pytest.approx(0.1)
    assert json.loads(df.config.iloc[0]) == {"kind": "a", "x1": 0.5, "x2": 2.0}
    assert (df.finished >= df.started).all()
    assert df.optimum.iloc[0] == pytest.approx(0.397887) and df.fidelity_high.iloc[0] == 81
    runs = load_runs(db_path)
    assert len(runs) == 2 and list(runs.n_trials) == [3, 1]


def test_load_results_filters_by_experiment(db_path: Path) -> None:
    with Store(db_path) as s:
        s.add_trial(_run(s, experiment="a"), _rec(0))
        s.add_trial(_run(s, experiment="b"), _rec(0))
        s.add_trial(_run(s, experiment="b", seed=1), _rec(0))
    assert len(load_results(db_path, "a")) == 1
    assert len(load_results(db_path, "b")) == 2
    with pytest.raises(ValueError, match="'c'"):
        load_results(db_path, "c")


def test_empty_store_loads_an_empty_frame(db_path: Path) -> None:
    Store(db_path).close()
    df = load_results(db_path)
    assert len(df) == 0
    for col in REQUIRED:
        assert col in df.columns


@pytest.mark.parametrize("status", [TrialStatus.FAILED, TrialStatus.TIMEOUT])
def test_failed_trial_keeps_error_text_and_nan_objective(db_path: Path, status: TrialStatus) -> None:
    with Store(db_path) as s:
        run_id = _run(s)
        s.add_trial(run_id, _rec(0, status=status, objective=float("inf"), error="RuntimeError: diverged"))
    df = load_results(db_path)
    assert df.status.tolist() == [str(status)]
    assert math.isnan(df.objective.iloc[0])
    assert df.error.iloc[0] == "RuntimeError: diverged"


# ----------------------------------------------------------------------- refusal
def _assert_refused(path: Path, match: str, *, readonly: bool = False) -> None:
    before = sha256(path)
    with pytest.raises(StoreError, match=match):
        Store(path, readonly=readonly)
    assert sha256(path) == before
    # no pending writes either (a read-only reader of a WAL file may leave an empty -wal)
    wal = Path(str(path) + "-wal")
    assert not wal.exists() or (readonly and wal.stat().st_size == 0)


def test_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 10)
    _assert_refused(path, "not an SQLite database")
    _assert_refused(path, "not an SQLite database", readonly=True)


def test_refuses_a_foreign_sqlite_database(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    con.execute("INSERT INTO customers VALUES (1, 'x')")
    con.commit()
    con.close()
    _assert_refused(path, "not an hpbench store")
    _assert_refused(path, "not an hpbench store", readonly=True)


def test_refuses_a_newer_schema_version(db_path: Path) -> None:
    Store(db_path).close()
    con = sqlite3.connect(db_path)
    con.execute("UPDATE hpbench_schema SET version = ?", (SCHEMA_VERSION + 1,))
    con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    _assert_refused(db_path, "newer")
    _assert_refused(db_path, "newer", readonly=True)


def test_refuses_a_directory_and_a_missing_file_read_only(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="directory"):
        Store(tmp_path)
    with pytest.raises(StoreError, match="no such file"):
        Store(tmp_path / "missing.db", readonly=True)
    assert not (tmp_path / "missing.db").exists()


def test_read_only_opening_never_writes(db_path: Path) -> None:
    with Store(db_path) as s:
        s.add_trial(_run(s), _rec(0))
    # fold the WAL into the main file so a read-only reader has nothing to replay
    con = sqlite3.connect(db_path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    before = sha256(db_path)
    mtime = os.stat(db_path).st_mtime_ns
    with Store(db_path, readonly=True) as s:
        assert s.experiment_names() == ["exp"]
        with pytest.raises(StoreError, match="read-only"):
            s.create_experiment("new", {}, "0")
        with pytest.raises(sqlite3.OperationalError):
            s.conn.execute("DELETE FROM trials")
    load_results(db_path)
    load_runs(db_path)
    assert sha256(db_path) == before
    assert os.stat(db_path).st_mtime_ns == mtime


def test_memory_store_works() -> None:
    with Store(":memory:") as s:
        s.add_trial(_run(s), _rec(0))
        assert len(s.trials_frame()) == 1


# ------------------------------------------------------------------------ export
def test_export_csv_and_parquet_round_trip(db_path: Path, tmp_path: Path) -> None:
    with Store(db_path) as s:
        run_id = _run(s)
        s.add_trial(run_id, _rec(0))
        s.add_trial(run_id, _rec(1, status=TrialStatus.FAILED, error="boom"))
    df = load_results(db_path)
    df.to_csv(tmp_path / "t.csv", index=False)
    df.to_parquet(tmp_path / "t.parquet", index=False)
    back_pq = pd.read_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(back_pq, df, check_dtype=False)
    back_csv = pd.read_csv(tmp_path / "t.csv")
    assert list(back_csv.columns) == list(df.columns)
    assert back_csv.objective.iloc[0] == df.objective.iloc[0] and math.isnan(back_csv.objective.iloc[1])
    assert back_csv.status.tolist() == ["ok", "failed"]
    assert back_csv.config.map(json.loads).tolist() == df.config.map(json.loads).tolist()


_V1_TRIALS = """CREATE TABLE trials (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), trial INTEGER NOT NULL,
    config TEXT NOT NULL, budget REAL, objective REAL, cost REAL NOT NULL, metrics TEXT NOT NULL,
    status TEXT NOT NULL, error TEXT, started REAL NOT NULL, finished REAL NOT NULL, queued REAL,
    worker TEXT, cached INTEGER NOT NULL DEFAULT 0, continue_from INTEGER,
    attempts INTEGER NOT NULL DEFAULT 1, cache_key TEXT, UNIQUE (run_id, trial))"""


def _as_schema_1(path: Path) -> None:
    """Rewrite a store in the schema-1 layout: small sequential row ids and a unique index."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("BEGIN")
    con.execute("ALTER TABLE trials RENAME TO trials_now")
    con.execute(_V1_TRIALS)
    cols = [r[1] for r in con.execute("PRAGMA table_info(trials_now)") if r[1] not in ("id", "objectives")]
    names = ", ".join(cols)
    # interleave the runs, as concurrent runs did
    con.execute(f"INSERT INTO trials ({names}) SELECT {names} FROM trials_now ORDER BY trial, run_id")
    con.execute("DROP TABLE trials_now")
    con.execute("UPDATE hpbench_schema SET version = 1")
    con.execute("COMMIT")
    con.close()


def test_schema_1_store_reads_then_upgrades_in_one_transaction(db_path: Path) -> None:
    with Store(db_path) as s:
        runs = [_run(s, seed=k) for k in range(3)]
        for run_id in runs:
            for i in range(4):
                s.add_trial(run_id, _rec(i), cache_key=f"k{run_id}-{i}")
    before = load_results(db_path)
    _as_schema_1(db_path)
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT MAX(id) FROM trials").fetchone()[0] == 12  # really the old layout
    con.close()

    # Read-only: nothing is written, and everything reads as before.
    digest = sha256(db_path)
    with Store(db_path, readonly=True) as s:
        assert s.schema_version == 1
        assert [r.trial_id for r in s.run_trials(runs[1])] == [0, 1, 2, 3]
        assert s.runs_frame()["n_trials"].tolist() == [4, 4, 4]
    pd.testing.assert_frame_equal(load_results(db_path), before)
    assert sha256(db_path) == digest

    # Writable: upgraded, same trials, packed row ids, and it takes new trials.
    with Store(db_path) as s:
        assert s.schema_version == SCHEMA_VERSION == 4
        s.add_trial(runs[0], _rec(4))
        with pytest.raises(sqlite3.IntegrityError):
            s.add_trial(runs[2], _rec(3))  # (run, trial) stays unique
        ids = [r[0] for r in s.conn.execute("SELECT id FROM trials WHERE run_id = ?", (runs[2],))]
        assert ids == [runs[2] * 2**32 + i for i in range(4)]
        assert s.cache_index(None)[f"k{runs[2]}-3"] == runs[2] * 2**32 + 3
        assert s.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    con = sqlite3.connect(db_path)
    assert con.execute("SELECT version FROM hpbench_schema").fetchall() == [(4,)]
    con.close()
    after = load_results(db_path)
    assert len(after) == 13
    pd.testing.assert_frame_equal(after[after.trial < 4].reset_index(drop=True), before)


def test_trial_row_id_is_its_run_and_number(db_path: Path) -> None:
    """The packed key keeps a run's trials contiguous; a trial number past 2**32 is refused."""
    with Store(db_path) as s:
        a, b = _run(s, seed=0), _run(s, seed=1)
        for i in (2, 0, 1):
            s.add_trial(b, _rec(i))
            s.add_trial(a, _rec(i))
        assert [r.trial_id for r in s.run_trials(b)] == [0, 1, 2]
        assert s.runs_frame()["n_trials"].tolist() == [3, 3]
        with pytest.raises(sqlite3.IntegrityError):
            s.add_trial(a, _rec(2**32))
        assert s.conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0] == 6
