"""The SQLite results store: experiments, runs and trials, one transaction per trial.

The file is opened in WAL mode with ``synchronous=NORMAL``: a committed trial survives
the process being killed (SIGKILL, OOM); only a power loss can take the last
transactions, those the operating system had not yet written back (commonly the last
half minute), at most those since the last checkpoint. SQLite checkpoints the WAL into
the file (two ``fsync``) every ``CHECKPOINT_TRIALS`` trials, in a thread of its own
(``hpbench.results.checkpointer``) so the driver never waits for the disk; the writer's
own automatic checkpoint stays as a fallback at ``WAL_CHECKPOINT_PAGES`` pages (8 MB),
for when that thread falls behind. Closing the store merges the WAL into the file.

A trial's row id is its key, ``run_id * 2**32 + trial`` (schema 2): the table's own
B-tree keeps the (run, trial) pairs unique and in order, so a commit writes one B-tree
page instead of two (schema 1 had a separate unique index; its stores are upgraded in
one transaction the first time they are opened for writing). Schema 3 adds the nullable
``objectives`` column (JSON, name -> value, multi-objective tasks only); a schema-2 store
gets it by one ``ALTER TABLE`` the first time it is opened for writing, and is read as it
is (no objectives) when opened read-only. Schema 4 adds the nullable ``runs.recommended``
(the trial the run's searcher recommends, ``Searcher.recommend``; NULL = its best observed),
the same way.

Nothing is written to a file until it has been checked to be an hpbench store (or a
new, empty file) with a schema this code understands.

Only the driver process writes; workers return results to it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hpbench.results.checkpointer import WalCheckpointer
from hpbench.trial import TrialRecord, TrialStatus

if TYPE_CHECKING:  # pandas costs 0.3 s to import: `hpbench --help` and `list` never need it
    import pandas as pd

__all__ = [
    "Store",
    "StoreError",
    "check_store_path",
    "loads_field",
    "SCHEMA_VERSION",
    "load_results",
    "load_runs",
    "experiment_specs",
    "DEFAULT_STORE",
]

SCHEMA_VERSION = 4
CHECKPOINT_TRIALS = 256  # trials between background checkpoints (about 450 pages of branin)
WAL_CHECKPOINT_PAGES = 2_000  # the writer's own automatic checkpoint, a fallback
_RUN_STRIDE = 2**32  # trial row id = run_id * _RUN_STRIDE + trial
DEFAULT_STORE = "results/hpbench.db"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_SIDE_FILES = ("-wal", "-shm")  # WAL mode's files next to the store
_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE hpbench_schema (version INTEGER NOT NULL);
CREATE TABLE experiments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created REAL NOT NULL,
    spec TEXT NOT NULL,
    hpbench_version TEXT NOT NULL
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id),
    task TEXT NOT NULL,
    task_version TEXT NOT NULL,
    task_info TEXT NOT NULL,
    searcher TEXT NOT NULL,
    searcher_name TEXT NOT NULL,
    searcher_params TEXT NOT NULL,
    seed INTEGER NOT NULL,
    budget TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL,
    finished REAL,
    versions TEXT NOT NULL,
    machine TEXT NOT NULL,
    error TEXT,
    recommended INTEGER,  -- trial the searcher recommends (NULL: its best observed)
    UNIQUE (experiment_id, task, searcher, seed)
);
CREATE TABLE trials (
    id INTEGER PRIMARY KEY,  -- run_id * 4294967296 + trial
    run_id INTEGER NOT NULL REFERENCES runs(id),
    trial INTEGER NOT NULL,
    config TEXT NOT NULL,
    budget REAL,
    objective REAL,
    cost REAL NOT NULL,
    metrics TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    started REAL NOT NULL,
    finished REAL NOT NULL,
    queued REAL,
    worker TEXT,
    cached INTEGER NOT NULL DEFAULT 0,
    continue_from INTEGER,
    attempts INTEGER NOT NULL DEFAULT 1,
    cache_key TEXT,
    objectives TEXT,
    CHECK (trial >= 0 AND trial < 4294967296 AND id = run_id * 4294967296 + trial)
);
"""


_V2_COLUMNS = (
    "run_id, trial, config, budget, objective, cost, metrics, status, error, "
    "started, finished, queued, worker, cached, continue_from, attempts, cache_key"
)
_TRIAL_COLUMNS = _V2_COLUMNS + ", objectives"
_INSERT_TRIAL = f"INSERT INTO trials (id, {_TRIAL_COLUMNS}) VALUES ({', '.join(['?'] * 19)})"


_RUN_JSON = ("task_info", "searcher_params", "budget", "versions", "machine")  # JSON columns of runs
_STATUS_TEXT = {s: s.value for s in TrialStatus}  # Enum.value is a slow descriptor (hot path)


class StoreError(ValueError):
    """The store file cannot be used (not an hpbench store, corrupt, too new, not writable)."""


@dataclass(frozen=True)
class RunRow:
    id: int
    experiment: str
    task: str
    searcher: str
    searcher_name: str
    searcher_params: dict[str, Any]
    seed: int
    budget: dict[str, Any]
    status: str
    n_trials: int


@dataclass(frozen=True)
class StoredRun:
    """What resuming needs of a stored run."""

    id: int
    status: str
    error: str | None
    versions: dict[str, Any]


def loads_field(text: Any, where: str) -> Any:
    """``json.loads`` naming the table, row and column of a damaged value."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{where}: not valid JSON ({exc}); the store was edited or damaged") from None


def _json(obj: Any) -> str:
    """``obj`` as compact JSON, keys sorted; a flat dict of scalars (configurations, most
    metrics: the hot path) through one C encoder built once, the same text."""
    if _FLAT is not None and type(obj) is dict and _SCALARS.issuperset(map(type, obj.values())):
        return "".join(_FLAT(obj, 0))
    return _ENCODER.encode(obj)


def encode_config(config: Mapping[str, Any]) -> str:
    """A configuration as the store keeps it: compact JSON, keys sorted (also hashed for the cache)."""
    return _json(config if type(config) is dict else dict(config))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    if isinstance(obj, (set, tuple)):
        return list(obj)
    raise TypeError(f"value of type {type(obj).__name__} is not JSON-serialisable: {obj!r}")


# Built once: json.dumps with non-default options builds a new encoder per call (hot path).
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=_json_default, allow_nan=False)
# The C encoder JSONEncoder.encode builds per call, with _ENCODER's options, built once. No
# circular-reference markers: it only ever sees flat dicts of scalars (see _json).
_SCALARS = frozenset({float, int, str, bool, type(None)})
_C_ENCODER, _ESCAPE = json.encoder.c_make_encoder, json.encoder.encode_basestring_ascii  # None: no C
_OPTIONS = (":", ",", True, False, False)  # separators, sort_keys, skipkeys, allow_nan (as _ENCODER)
_FLAT = None if _C_ENCODER is None else _C_ENCODER(None, _json_default, _ESCAPE, repr, *_OPTIONS)


def _clean_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/inf: store them as None so the row stays valid JSON."""
    out: dict[str, Any] = {}
    if not metrics:
        return out
    for k, v in metrics.items():
        if hasattr(v, "item") and not isinstance(v, (str, bytes)):
            with contextlib.suppress(ValueError, AttributeError):
                v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[str(k)] = v
    return out


class _Unencodable(Exception):
    """A metric value with no JSON form (bytes, an arbitrary object)."""


def _json_safe(v: Any) -> Any:
    """``v`` as JSON can hold it: arrays and tuples as lists, numpy scalars as numbers,
    NaN/inf as None, dates as ISO text; raises ``_Unencodable`` for anything else."""
    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if hasattr(v, "tolist") and not isinstance(v, (bytes, bytearray)):  # numpy arrays and scalars
        return _json_safe(v.tolist())
    if isinstance(v, Mapping):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [_json_safe(x) for x in v]
    if hasattr(v, "isoformat"):  # datetime, date, time
        return v.isoformat()
    raise _Unencodable(type(v).__name__)


def encode_metrics(metrics: Mapping[str, Any]) -> tuple[str, str | None]:
    """A trial's metrics as JSON, and a note naming the metrics dropped (``None`` if none).

    Values are converted where that keeps them (see ``_json_safe``); one that cannot be
    is dropped, so one odd metric never stops the trial, or the experiment, from being stored.
    """
    if not metrics:
        return "{}", None
    cleaned = _clean_metrics(metrics)
    try:
        return _json(cleaned), None  # the usual case: plain numbers and text
    except (TypeError, ValueError):
        pass
    kept: dict[str, Any] = {}
    dropped = []
    for k, v in cleaned.items():
        try:
            kept[k] = _json_safe(v)
        except _Unencodable as exc:
            dropped.append(f"{k!r} ({exc})")
    note = None if not dropped else f"metrics dropped (no JSON form): {', '.join(dropped)}"
    return _json(kept), note


def _is_lock_error(exc: sqlite3.OperationalError) -> bool:
    """Another connection holds the lock: worth waiting for."""
    return "locked" in str(exc) or "busy" in str(exc)


def _retry_locked(fn: Callable[[], _T], *, attempts: int = 12) -> _T:
    """Retry on 'database is locked' with bounded exponential backoff (about 20 s at most)."""
    delay = 0.01
    for i in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not _is_lock_error(exc) or i == attempts - 1:
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


def check_store_path(path: str, *, readonly: bool) -> None:
    """Refuse, in one line, a store path that cannot be a store file (nothing is created).

    A directory, a dangling symlink or a symlink loop, a path below a regular file, a
    missing file (to read) or a directory that is not writable (to create one).
    """
    p = Path(path)
    if p.is_dir():
        raise StoreError(f"store: rule 'path is a file' broken, got directory {path!r}")
    if p.is_symlink() and not p.exists():
        raise StoreError(f"store: {path!r} is a dangling symlink or a symlink loop")
    if p.exists():
        return
    if readonly:
        raise StoreError(f"store: no such file {path!r}")
    probe = p.parent if str(p.parent) else Path(".")
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise StoreError(f"store: {str(probe)!r} is not a directory, so {path!r} cannot be created")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise StoreError(f"store: directory {str(probe)!r} is not writable for {path!r}")


class Store:
    """An hpbench results store in one SQLite file.

    Args:
        path: file path, or ``":memory:"``.
        readonly: open without ever writing (status, export, report).
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_STORE, *, readonly: bool = False) -> None:
        self.path = str(path)
        self.readonly = readonly
        self._checkpointer: WalCheckpointer | None = None
        self._uncheckpointed = 0  # trials committed since the last background checkpoint
        self._check_file()
        sides = [Path(self.path + x) for x in _SIDE_FILES]
        had = [x.exists() for x in sides]
        try:
            self._connect()
        except sqlite3.DatabaseError as exc:
            self._refused(sides, had)
            raise StoreError(f"store {self.path!r}: not a usable SQLite database ({exc})") from None
        except BaseException:
            # A refused store (foreign, too new) must not stay open: the connection would
            # keep -wal/-shm files next to a file we promised not to touch.
            self._refused(sides, had)
            raise

    def _connect(self) -> None:
        if self.path == ":memory:":
            self.conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        elif self.readonly:
            uri = Path(self.path).resolve().as_uri()
            self.conn = sqlite3.connect(uri + "?mode=ro", uri=True, isolation_level=None, timeout=30)
            try:
                self.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
            except sqlite3.OperationalError:
                if os.access(Path(self.path).resolve().parent, os.W_OK):
                    raise
                # Read-only media: WAL mode cannot create its -shm file there, and nothing
                # can write the file, so it is read as immutable. That ignores a -wal file:
                # commits still in one would be silently left out, so that is refused.
                self.conn.close()
                wal = Path(self.path + "-wal")
                if wal.exists() and wal.stat().st_size > 0:
                    raise StoreError(
                        f"store {self.path!r}: on read-only media, its -wal file holds commits that "
                        "cannot be read without its -shm file; copy the store with its -wal to a "
                        "writable folder and read it there"
                    ) from None
                self.conn = sqlite3.connect(uri + "?immutable=1", uri=True, isolation_level=None)
        else:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self._insert_cursor = self.conn.cursor()
        self._init_schema()

    def _refused(self, sides: list[Path], had: list[bool]) -> None:
        """Close a refused store and remove the empty side files opening it created."""
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
        wal = sides[0]
        if not had[0] and wal.exists() and wal.stat().st_size > 0:
            return  # something was written there meanwhile: not ours to remove
        for side, existed in zip(sides, had):
            if not existed:
                with contextlib.suppress(OSError):
                    side.unlink()

    # ------------------------------------------------------------------ opening
    def _check_file(self) -> None:
        if self.path == ":memory:":
            return
        p = Path(self.path)
        check_store_path(self.path, readonly=self.readonly)
        if not p.exists():
            return
        if not self.readonly and not (os.access(p, os.W_OK) and os.access(p.parent, os.W_OK)):
            raise StoreError(
                f"store: {self.path!r} is not writable (the file and its directory must be); not touched"
            )
        if p.stat().st_size == 0:
            return
        with open(p, "rb") as fh:
            head = fh.read(16)
        if head != _SQLITE_MAGIC:
            raise StoreError(
                f"store: {self.path!r} is not an SQLite database (not an hpbench store); not touched"
            )

    def _init_schema(self) -> None:
        cur = self.conn.cursor()
        tables = {r[0] for r in cur.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "hpbench_schema" in tables:
            row = cur.execute("SELECT version FROM hpbench_schema").fetchone()
            version = row[0] if row else None
            if not isinstance(version, int):
                raise StoreError(f"store {self.path!r}: schema version table is damaged ({row!r})")
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.path!r}: schema version {version} is newer than this hpbench "
                    f"understands ({SCHEMA_VERSION}); upgrade hpbench"
                )
            # A damaged file must be refused before anything is written to it.
            check = cur.execute("PRAGMA quick_check(1)").fetchone()
            if not check or check[0] != "ok":
                detail = check[0] if check else "no answer"
                raise StoreError(f"store {self.path!r}: the file is corrupt ({detail}); not touched")
            missing = sorted({"experiments", "runs", "trials"} - tables)
            if missing:
                raise StoreError(
                    f"store {self.path!r}: an hpbench store without its table(s) {', '.join(missing)} "
                    "(damaged or edited); not touched"
                )
            self.schema_version = version
            if not self.readonly:
                self._pragmas()
                if version < SCHEMA_VERSION:
                    self._upgrade()
            return
        if tables:
            raise StoreError(
                f"store {self.path!r}: an SQLite database but not an hpbench store "
                f"(tables: {', '.join(sorted(tables))}); not touched"
            )
        if self.readonly:
            raise StoreError(f"store {self.path!r}: empty file, not an hpbench store")
        self._pragmas()
        self.schema_version = SCHEMA_VERSION
        with self.transaction() as c:
            # Another process may have created the schema while we waited for the lock.
            if c.execute("SELECT 1 FROM sqlite_master WHERE name='hpbench_schema'").fetchone():
                return
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    c.execute(stmt)
            c.execute("INSERT INTO hpbench_schema (version) VALUES (?)", (SCHEMA_VERSION,))

    def _upgrade(self) -> None:
        """Schema 1, 2 or 3 -> 4 in one transaction.

        1 -> 3: trials rebuilt keyed by their packed row id (with the new column);
        2 -> 3: the nullable ``objectives`` column added in place;
        3 -> 4: the nullable ``runs.recommended`` column added in place.
        """
        with self.transaction() as c:
            # Another process may have upgraded the file while we waited for the lock.
            version = c.execute("SELECT version FROM hpbench_schema").fetchone()[0]
            if version >= SCHEMA_VERSION:
                self.schema_version = SCHEMA_VERSION
                return
            if version == 1:
                create = _SCHEMA[_SCHEMA.index("CREATE TABLE trials (") :].strip().rstrip(";")
                c.execute(create.replace("CREATE TABLE trials (", "CREATE TABLE trials_v2 (", 1))
                c.execute(
                    f"INSERT INTO trials_v2 (id, {_V2_COLUMNS}) SELECT run_id * {_RUN_STRIDE} + trial, "
                    f"{_V2_COLUMNS} FROM trials ORDER BY run_id, trial"
                )
                c.execute("DROP TABLE trials")
                c.execute("ALTER TABLE trials_v2 RENAME TO trials")
            elif version == 2:
                c.execute("ALTER TABLE trials ADD COLUMN objectives TEXT")
            if "recommended" not in {r[1] for r in c.execute("PRAGMA table_info(runs)")}:
                c.execute("ALTER TABLE runs ADD COLUMN recommended INTEGER")
            c.execute("UPDATE hpbench_schema SET version = ?", (SCHEMA_VERSION,))
        self.schema_version = SCHEMA_VERSION

    @property
    def _objectives_sql(self) -> str:
        """The objectives column, or NULL on an older store opened read-only."""
        return "t.objectives" if self.schema_version >= 3 else "NULL"

    @property
    def _recommended_sql(self) -> str:
        """The runs' recommended trial, or NULL on an older store opened read-only."""
        return "r.recommended" if self.schema_version >= 4 else "NULL"

    def _of_run(self, run: str) -> str:
        """SQL condition: trial row ``t`` belongs to run ``run`` (a column or ``:run``).

        On schema 2 a range of the row id (the table's own B-tree); on a schema-1 file
        opened read-only, its (run_id, trial) index.
        """
        if self.schema_version >= 2:
            return f"t.id BETWEEN {run} * {_RUN_STRIDE} AND {run} * {_RUN_STRIDE} + {_RUN_STRIDE - 1}"
        return f"t.run_id = {run}"

    def _pragmas(self) -> None:
        if self.path != ":memory:":
            _retry_locked(lambda: self.conn.execute("PRAGMA journal_mode=WAL"))
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(f"PRAGMA wal_autocheckpoint={WAL_CHECKPOINT_PAGES}")
        self.conn.execute("PRAGMA foreign_keys=ON")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``, retried while another writer holds the lock."""
        if self.readonly:
            raise StoreError(f"store {self.path!r}: opened read-only")
        cur = self.conn.cursor()
        _retry_locked(lambda: cur.execute("BEGIN IMMEDIATE"))
        try:
            yield cur
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            try:
                _retry_locked(lambda: cur.execute("COMMIT"))
            except BaseException:
                # A failed COMMIT (disk full) can leave the transaction open: end it, so
                # the connection holds no write lock and the file no half transaction.
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()  # first: the last connection to close merges the WAL
            self._checkpointer = None
        self.conn.close()

    def _counted_commit(self) -> None:
        self._uncheckpointed += 1
        if self._uncheckpointed < CHECKPOINT_TRIALS or self.path == ":memory:":
            return
        self._uncheckpointed = 0
        if self._checkpointer is None:
            self._checkpointer = WalCheckpointer(self.path)
        self._checkpointer.wake()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- experiments
    def get_experiment(self, name: str) -> tuple[int, dict[str, Any]] | None:
        row = self.conn.execute("SELECT id, spec FROM experiments WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return int(row[0]), loads_field(
            row[1], f"store {self.path!r}: table experiments, experiment {name!r}, column spec"
        )

    def create_experiment(self, name: str, spec: Mapping[str, Any], hpbench_version: str) -> int:
        with self.transaction() as c:
            c.execute(
                "INSERT INTO experiments (name, created, spec, hpbench_version) VALUES (?, ?, ?, ?)",
                (name, time.time(), _json(spec), hpbench_version),
            )
            return int(c.lastrowid)  # type: ignore[arg-type]

    def update_experiment_spec(self, experiment_id: int, spec: Mapping[str, Any]) -> None:
        """Replace an experiment's spec (its budget was extended; the spec keeps the history)."""
        with self.transaction() as c:
            c.execute("UPDATE experiments SET spec=? WHERE id=?", (_json(spec), experiment_id))

    def set_run_budget(self, run_id: int, budget: Mapping[str, Any]) -> None:
        """A run's new (larger) budget."""
        with self.transaction() as c:
            c.execute("UPDATE runs SET budget=? WHERE id=?", (_json(budget), run_id))

    def experiment_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM experiments ORDER BY id")]

    # ---------------------------------------------------------------------- runs
    def get_or_create_run(
        self,
        experiment_id: int,
        *,
        task: str,
        task_version: str,
        task_info: Mapping[str, Any],
        searcher: str,
        searcher_name: str,
        searcher_params: Mapping[str, Any],
        seed: int,
        budget: Mapping[str, Any],
        versions: Mapping[str, Any],
        machine: Mapping[str, Any],
    ) -> tuple[int, str]:
        """Return (run id, status); a new run starts as ``pending``.

        ``INSERT ... ON CONFLICT DO NOTHING``: a run another process created meanwhile is
        returned as it is, never a constraint error.
        """
        found = self.find_run(experiment_id, task=task, searcher=searcher, seed=seed)
        if found is not None:
            return found.id, found.status
        with self.transaction() as c:
            c.execute(
                "INSERT INTO runs (experiment_id, task, task_version, task_info, searcher, searcher_name, "
                "searcher_params, seed, budget, status, versions, machine) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) "
                "ON CONFLICT (experiment_id, task, searcher, seed) DO NOTHING",
                (
                    experiment_id,
                    task,
                    task_version,
                    _json(task_info),
                    searcher,
                    searcher_name,
                    _json(searcher_params),
                    seed,
                    _json(budget),
                    _json(versions),
                    _json(machine),
                ),
            )
            row = c.execute(
                "SELECT id, status FROM runs WHERE experiment_id=? AND task=? AND searcher=? AND seed=?",
                (experiment_id, task, searcher, seed),
            ).fetchone()
            return int(row[0]), str(row[1])

    def find_run(self, experiment_id: int, *, task: str, searcher: str, seed: int) -> StoredRun | None:
        """The stored run (task, searcher label, seed) of an experiment, or ``None``."""
        row = self.conn.execute(
            "SELECT id, status, error, versions FROM runs "
            "WHERE experiment_id=? AND task=? AND searcher=? AND seed=?",
            (experiment_id, task, searcher, seed),
        ).fetchone()
        if row is None:
            return None
        where = f"store {self.path!r}: table runs, run {row[0]}, column versions"
        return StoredRun(int(row[0]), str(row[1]), row[2], loads_field(row[3], where))

    def set_recommendation(self, run_id: int, trial: int | None) -> None:
        """Store the trial a run's searcher recommends (``None``: its best observed one)."""
        with self.transaction() as c:
            c.execute("UPDATE runs SET recommended=? WHERE id=?", (trial, run_id))

    def set_run_status(self, run_id: int, status: str, *, error: str | None = None) -> None:
        now = time.time()
        with self.transaction() as c:
            if status == "running":
                c.execute(
                    "UPDATE runs SET status=?, started=COALESCE(started, ?) WHERE id=?", (status, now, run_id)
                )
            else:
                c.execute(
                    "UPDATE runs SET status=?, finished=?, error=? WHERE id=?", (status, now, error, run_id)
                )

    # -------------------------------------------------------------------- trials
    def add_trial(
        self, run_id: int, rec: TrialRecord, *, cache_key: str | None = None, config_json: str | None = None
    ) -> int:
        """Commit one finished trial in its own transaction; returns its row id.

        ``config_json``: ``encode_config(rec.config)`` when the caller already has it.
        """
        objective = rec.objective if rec.objective is not None and math.isfinite(rec.objective) else None
        metrics_json, note = encode_metrics(rec.metrics)
        error = rec.error if note is None else "; ".join(x for x in (rec.error, note) if x)
        row = (
            run_id * _RUN_STRIDE + rec.trial_id,
            run_id,
            rec.trial_id,
            encode_config(rec.config) if config_json is None else config_json,
            rec.budget,
            objective,
            float(rec.cost),
            metrics_json,
            _STATUS_TEXT.get(rec.status, rec.status),
            error,
            rec.started,
            rec.finished,
            rec.queued,
            rec.worker,
            int(rec.cached),
            rec.continue_from,
            rec.attempts,
            cache_key,
            None if rec.objectives is None else _json(_clean_metrics(rec.objectives)),
        )
        if self.readonly:
            raise StoreError(f"store {self.path!r}: opened read-only")
        # One statement in autocommit mode is one transaction: committed when execute returns.
        # The row id is the packed key, known before the insert.
        try:
            self._insert_cursor.execute(_INSERT_TRIAL, row)
        except sqlite3.OperationalError as exc:
            if not _is_lock_error(exc):
                raise
            _retry_locked(lambda: self._insert_cursor.execute(_INSERT_TRIAL, row))
        self._counted_commit()
        return row[0]

    def run_trials(self, run_id: int) -> list[TrialRecord]:
        """The stored trials of a run, in trial order."""
        rows = self.conn.execute(
            "SELECT trial, config, budget, status, objective, cost, metrics, error, started, finished, "
            f"queued, worker, cached, continue_from, attempts, {self._objectives_sql} "
            f"FROM trials t WHERE {self._of_run(':run')} ORDER BY trial",
            {"run": run_id},
        ).fetchall()
        where = f"store {self.path!r}: table trials, run {run_id}, trial {{}}, column {{}}"
        return [
            TrialRecord(
                trial_id=r[0],
                config=loads_field(r[1], where.format(r[0], "config")),
                budget=r[2],
                status=TrialStatus(r[3]),
                objective=r[4],
                cost=r[5],
                metrics=loads_field(r[6], where.format(r[0], "metrics")),
                error=r[7],
                started=r[8],
                finished=r[9],
                queued=r[10],
                worker=r[11],
                cached=bool(r[12]),
                continue_from=r[13],
                attempts=r[14],
                objectives=None if r[15] is None else loads_field(r[15], where.format(r[0], "objectives")),
            )
            for r in rows
        ]

    def cache_index(self, experiment_id: int | None) -> dict[str, int]:
        """Cache key -> row id of the ok trials (of one experiment, or of all when None).

        The runner keeps this map in memory instead of an index on ``cache_key``: random
        hash keys scatter index pages, and that index made every commit a third slower.
        """
        sql = (
            "SELECT t.cache_key, t.id FROM trials t JOIN runs r ON t.run_id = r.id "
            "WHERE t.cache_key IS NOT NULL AND t.status='ok'"
        )
        args: tuple[Any, ...] = ()
        if experiment_id is not None:
            sql += " AND r.experiment_id=?"
            args = (experiment_id,)
        return {row[0]: row[1] for row in self.conn.execute(sql, args)}

    def cached_trial(self, row_id: int) -> TrialRecord | None:
        """The stored trial with this row id, as a cache hit."""
        sql = (
            "SELECT trial, config, budget, objective, cost, metrics, started, finished, continue_from, "
            f"{self._objectives_sql} FROM trials t WHERE id=? AND status='ok'"
        )
        r = self.conn.execute(sql, (row_id,)).fetchone()
        if r is None:
            return None
        where = f"store {self.path!r}: table trials, run {row_id // _RUN_STRIDE}, trial {r[0]}, column {{}}"
        return TrialRecord(
            trial_id=r[0],
            config=loads_field(r[1], where.format("config")),
            budget=r[2],
            status=TrialStatus.OK,
            objective=r[3],
            cost=r[4],
            metrics=loads_field(r[5], where.format("metrics")),
            started=r[6],
            finished=r[7],
            continue_from=r[8],
            objectives=None if r[9] is None else loads_field(r[9], where.format("objectives")),
        )

    def level_summaries(self) -> list[tuple[int, float | None, float | None, float]]:
        """Per run and fidelity level, over its ok trials: ``(run_id, budget, best objective, cost)``.

        For ``hpbench status``, which applies the incumbent rule (``hpbench.incumbent``) to them.
        """
        sql = (
            "SELECT run_id, budget, MIN(objective), SUM(cost) FROM trials WHERE status='ok' "
            "GROUP BY run_id, budget"
        )
        return [tuple(r) for r in self.conn.execute(sql)]

    def experiment_counts(self, experiment: str) -> tuple[int, int, int]:
        """``(trials, ok trials, failed runs)`` of one experiment, without loading a frame."""
        sql = (
            "SELECT COUNT(t.id), COALESCE(SUM(t.status = 'ok'), 0) FROM trials t JOIN runs r ON "
            "t.run_id = r.id JOIN experiments e ON r.experiment_id = e.id WHERE e.name = ?"
        )
        n, ok = self.conn.execute(sql, (experiment,)).fetchone()
        failed = self.conn.execute(
            "SELECT COUNT(*) FROM runs r JOIN experiments e ON r.experiment_id = e.id "
            "WHERE e.name = ? AND r.status = 'failed'",
            (experiment,),
        ).fetchone()[0]
        return int(n), int(ok), int(failed)

    # ------------------------------------------------------------------- reading
    def runs_frame(self, experiment: str | None = None) -> pd.DataFrame:
        sql = (
            "SELECT e.name AS experiment, r.id AS run_id, r.task, r.task_version, r.task_info, r.searcher, "
            "r.searcher_name, r.searcher_params, r.seed, r.budget, r.status, "
            f"(SELECT COUNT(*) FROM trials t WHERE {self._of_run('r.id')}) AS n_trials, "
            f"r.started, r.finished, r.versions, r.machine, r.error, {self._recommended_sql} AS recommended "
            "FROM runs r JOIN experiments e ON r.experiment_id = e.id"
        )
        df = self._frame(sql, experiment, "r.id")
        for col in _RUN_JSON:  # every reader of runs gets them checked: a damaged one is named
            for run, v in zip(df["run_id"], df[col]):
                loads_field(v, f"store {self.path!r}: table runs, run {run}, column {col}")
        return df

    def trials_frame(self, experiment: str | None = None) -> pd.DataFrame:
        sql = (
            "SELECT e.name AS experiment, r.id AS run_id, r.task, r.searcher, r.seed, t.trial, t.config, "
            "t.budget, t.objective, t.cost, t.status, t.error, t.started, t.finished, t.queued, t.worker, "
            "t.cached, t.continue_from, t.attempts, t.metrics, "
            f"{self._objectives_sql} AS objectives, "
            f"COALESCE(t.trial = {self._recommended_sql}, 0) AS recommended, r.task_info "
            "FROM trials t JOIN runs r ON t.run_id = r.id JOIN experiments e ON r.experiment_id = e.id"
        )
        return self._frame(sql, experiment, "r.id, t.trial")

    def _frame(self, sql: str, experiment: str | None, order: str) -> pd.DataFrame:
        """``sql`` (joined to ``experiments e``) as a DataFrame, of one experiment or all, in ``order``."""
        import pandas as pd

        args: tuple[Any, ...] = ()
        if experiment is not None:
            sql += " WHERE e.name = ?"
            args = (experiment,)
        return pd.read_sql_query(f"{sql} ORDER BY {order}", self.conn, params=args)


def _parse(df: pd.DataFrame, column: pd.Series, name: str) -> list[Any]:
    """A JSON column of the trials, parsed (NULL as {}); a damaged value is named by run and trial."""
    try:
        return [json.loads(v) if isinstance(v, str) else {} for v in column]
    except ValueError:
        pass
    for run, trial, v in zip(df["run_id"], df["trial"], column):
        if isinstance(v, str):
            loads_field(v, f"table trials, run {run}, trial {trial}, column {name}")
    raise AssertionError("unreachable: a value failed to parse once")


def _tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Expand JSON columns into ``param.<name>``, ``metric.<name>`` and ``objective.<name>`` columns."""
    import pandas as pd

    raw = df.pop("task_info")
    first_run = dict(zip(raw, df["run_id"]))  # one text per run, usually: parsed once each
    parsed = {s: loads_field(s, f"table runs, run {run}, column task_info") for s, run in first_run.items()}
    info = raw.map(parsed.__getitem__) if len(df) else pd.Series(dtype=object)
    df["optimum"] = [i.get("optimum") for i in info] if len(df) else []
    df["fidelity_high"] = [(i.get("fidelity") or {}).get("high") for i in info] if len(df) else []
    for col in ("optimum", "fidelity_high", "budget", "objective", "cost", "queued", "continue_from"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["cached"] = df["cached"].astype(bool)
    df["recommended"] = df["recommended"].astype(bool)
    metrics = df.pop("metrics")
    objectives = df.pop("objectives") if "objectives" in df else pd.Series([None] * len(df), dtype=object)
    if len(df):
        params = pd.json_normalize(_parse(df, df["config"], "config"), max_level=0)
        params.columns = [f"param.{c}" for c in params.columns]
        mets = pd.json_normalize(_parse(df, metrics, "metrics"), max_level=0)
        mets.columns = [f"metric.{c}" for c in mets.columns]
        values = _parse(df, objectives, "objectives")
        objs = pd.json_normalize(values, max_level=0)
        objs = objs.apply(pd.to_numeric, errors="coerce").astype(float)
        objs.columns = [f"objective.{c}" for c in objs.columns]
        df = pd.concat([df.reset_index(drop=True), params, mets, objs], axis=1)
    return df


def load_results(path: str | os.PathLike[str] = DEFAULT_STORE, experiment: str | None = None) -> pd.DataFrame:
    """All trials as a tidy DataFrame, one row per trial.

    Columns: ``experiment``, ``run_id``, ``task``, ``searcher`` (its label, e.g.
    ``hyperband:eta=3``), ``seed``, ``trial`` (number within the run), ``config`` (JSON),
    ``budget`` (the fidelity it ran at; NaN without one), ``objective`` (NaN unless ok),
    ``cost`` (charged, in full-fidelity evaluations), ``status`` (ok / failed / timeout),
    ``error`` (the exception text of a failed trial), ``started`` / ``finished`` / ``queued``
    (Unix times), ``worker`` (host:pid), ``cached`` (reused from an earlier evaluation),
    ``continue_from`` (the trial whose checkpoint it continued), ``attempts`` (2 when a
    worker died and it was retried), ``optimum`` (the task's known optimum, NaN if none),
    ``fidelity_high`` (the task's top fidelity), ``recommended`` (the trial its searcher
    recommended at the end of its run, ``Searcher.recommend``; False everywhere in a run whose
    searcher left it to the default, its best observed trial), then one ``param.<name>`` column per
    parameter, one ``metric.<name>`` per metric, and for multi-objective tasks one
    ``objective.<name>`` per objective (as the task reports it; ``objective`` stays the
    first one, as a loss).

    Args:
        path: the SQLite store.
        experiment: one experiment's trials; default: all.
    """
    with Store(path, readonly=True) as store:
        if experiment is not None and store.get_experiment(experiment) is None:
            have = store.experiment_names()
            raise ValueError(f"experiment: no experiment {experiment!r} in {str(path)!r} (have: {have})")
        return _tidy(store.trials_frame(experiment))


def experiment_specs(
    path: str | os.PathLike[str] = DEFAULT_STORE, experiment: str | None = None
) -> dict[str, dict[str, Any]]:
    """Experiment name -> its stored spec (tasks, searchers, seeds, budget, the command that made it)."""
    with Store(path, readonly=True) as store:
        names = [experiment] if experiment is not None else store.experiment_names()
        found = {n: store.get_experiment(n) for n in names}
    return {n: f[1] for n, f in found.items() if f is not None}


def load_runs(path: str | os.PathLike[str] = DEFAULT_STORE, experiment: str | None = None) -> pd.DataFrame:
    """One row per run: task, searcher and its parameters, seed, budget, status, versions, machine,
    recommended (the trial its searcher recommended; NaN: the default, its best observed)."""
    with Store(path, readonly=True) as store:
        return store.runs_frame(experiment)
