"""Failure injection: each fault gives a stored outcome and one clear line, never a damaged store.

Covered: objective raises, returns NaN, returns inf, hangs past the timeout (in Python and
in native code), a worker dies (see also test_executors.py), the driver is killed
(test_resume.py), the store is not an hpbench store / corrupt / truncated / too new /
read-only / full, the spec file does not parse or has values of the wrong type.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hpbench as hb
from hpbench.cli import main
from hpbench.results.store import SCHEMA_VERSION, Store, load_results, load_runs

TASKS = '''
import math, signal, time
import hpbench as hb

SPACE = {"x": hb.Float(0.0, 1.0)}

@hb.task(space=SPACE, name="faulty")
def faulty(config, *, budget, seed):
    """Raises, returns NaN or inf, or hangs, depending on x."""
    x = config["x"]
    if x < 0.2:
        raise RuntimeError(f"boom at {x:.3f}")
    if x < 0.4:
        return math.nan
    if x < 0.5:
        return math.inf
    return x

@hb.task(space=SPACE, name="hang-python")
def hang_python(config, *, budget, seed):
    if config["x"] > 0.5:
        while True:
            time.sleep(0.01)
    return config["x"]

@hb.task(space=SPACE, name="hang-native")
def hang_native(config, *, budget, seed):
    if config["x"] > 0.5:
        # Like a C extension that never returns to Python: the alarm is never delivered.
        # (libc sleep() or a catastrophic regex would not do: CPython interrupts both.)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
        time.sleep(60)
    return config["x"]
'''


@pytest.fixture
def tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    d = tmp_path / "mods"
    d.mkdir()
    (d / "hpb_fault_tasks.py").write_text(TASKS)
    monkeypatch.syspath_prepend(str(d))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(d), os.environ.get("PYTHONPATH", "")]))
    sys.modules.pop("hpb_fault_tasks", None)
    import hpb_fault_tasks  # type: ignore[import-not-found]

    yield hpb_fault_tasks
    sys.modules.pop("hpb_fault_tasks", None)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("hpbench: error: ")
    return lines[0]


RUN = [
    "run",
    "--task",
    "branin",
    "--searcher",
    "random",
    "--seeds",
    "1",
    "--max-evals",
    "3",
    "--workers",
    "0",
    "--no-progress",
]


@pytest.fixture
def good_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "good.db"
    assert main([*RUN, "--store", str(path), "--name", "first"]) == 0
    capsys.readouterr()
    return path


# ------------------------------------------------------------------------- trial faults
def test_raise_nan_inf_are_stored_as_failed_and_the_run_finishes(tasks: Any, tmp_path: Path) -> None:
    res = hb.benchmark(
        [tasks.faulty], ["random"], seeds=1, max_evals=30, store=tmp_path / "s.db", progress=False
    )
    df = res.trials
    x = df["param.x"]
    assert len(df) == 30 and (res.runs.status == "finished").all()
    raised, nan, inf, ok = df[x < 0.2], df[(x >= 0.2) & (x < 0.4)], df[(x >= 0.4) & (x < 0.5)], df[x >= 0.5]
    assert min(len(raised), len(nan), len(ok)) > 0
    assert (raised.status == "failed").all() and raised.error.str.contains("RuntimeError: boom at").all()
    assert (nan.status == "failed").all() and nan.error.str.contains("nan").all()
    assert (inf.status == "failed").all() and inf.error.str.contains("inf").all()
    assert df.loc[x < 0.5, "objective"].isna().all()
    assert (ok.status == "ok").all() and (ok.objective == ok["param.x"]).all()


@pytest.mark.parametrize("which", ["hang-python", "hang-native"])
def test_hang_past_timeout_is_stored_as_timeout(tasks: Any, tmp_path: Path, which: str) -> None:
    """Python hang: the worker's own alarm; native hang: the driver's backstop kills the worker."""
    task = tasks.hang_python if which == "hang-python" else tasks.hang_native
    res = hb.benchmark(
        [task],
        ["random"],
        seeds=1,
        max_evals=6,
        store=tmp_path / "s.db",
        workers=2,
        trial_timeout=1.0,
        progress=False,
    )
    df = res.trials
    slow, fast = df[df["param.x"] > 0.5], df[df["param.x"] <= 0.5]
    assert len(df) == 6 and len(slow) >= 1 and len(fast) >= 1
    assert (slow.status == "timeout").all() and slow.error.str.contains("timeout of 1.0 s").all()
    assert (fast.status == "ok").all()
    if which == "hang-native":
        assert slow.error.str.contains("stuck outside Python").all()
        assert ((slow.finished - slow.started) < 15).all()
    else:
        assert ((slow.finished - slow.started) < 3).all(), list(
            zip(slow.finished - slow.started, slow.error, slow.worker)
        )


def test_timeout_in_process_uses_the_alarm(tasks: Any, tmp_path: Path) -> None:
    res = hb.benchmark(
        [tasks.hang_python],
        ["random"],
        seeds=1,
        max_evals=4,
        store=tmp_path / "s.db",
        workers=0,
        trial_timeout=0.3,
        progress=False,
    )
    df = res.trials
    assert set(df.status) <= {"ok", "timeout"}
    assert (df[df["param.x"] > 0.5].status == "timeout").all()


# ------------------------------------------------------------------------ store faults
def _bad_files(tmp_path: Path, good: Path) -> dict[str, Path]:
    out = {}
    p = tmp_path / "text.db"
    p.write_text("name,value\na,1\n")
    out["not sqlite"] = p
    p = tmp_path / "garbage.db"
    p.write_bytes(good.read_bytes()[:100] + os.urandom(8192))
    out["random bytes after header"] = p
    p = tmp_path / "truncated.db"
    data = good.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    out["truncated"] = p
    p = tmp_path / "other.db"
    con = sqlite3.connect(p)
    con.execute("CREATE TABLE customers (id INTEGER)")
    con.commit()
    con.close()
    out["other sqlite"] = p
    p = tmp_path / "newer.db"
    shutil.copy(good, p)
    con = sqlite3.connect(p)
    con.execute("UPDATE hpbench_schema SET version = ?", (SCHEMA_VERSION + 1,))
    con.commit()
    con.close()
    out["newer schema"] = p
    return out


def test_bad_store_files_are_refused_and_untouched(
    good_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(good_store) as con:  # more pages, so truncation cuts real data
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for what, path in _bad_files(tmp_path, good_store).items():
        before = sha(path)
        code, err = run_cli([*RUN, "--store", str(path)], capsys)
        assert code == 2, (what, err)
        line = one_error_line(err)
        assert str(path.name) in line, (what, line)
        assert sha(path) == before, what
        wal = Path(str(path) + "-wal")
        assert not wal.exists() or wal.stat().st_size == 0, what  # nothing waiting to be written
        code, err = run_cli(["status", "--store", str(path)], capsys)
        assert code == 2 and one_error_line(err), what
        assert sha(path) == before, what


def test_bad_spec_files_and_values_leave_the_store_untouched(
    good_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sha(good_store)
    bad = {
        "unparsable.toml": 'tasks = ["branin"\nsearchers = ',
        "types.toml": 'tasks = ["branin"]\nsearchers = ["random"]\n[budget]\nmax_evals = "ten"\n',
        "seeds.toml": 'tasks = ["branin"]\nsearchers = ["random"]\nseeds = "x"\n[budget]\nmax_evals = 3\n',
        "workers.toml": 'tasks = ["branin"]\nsearchers = ["random"]\n[budget]\nmax_evals = 3\n'
        "[run]\nworkers = -1\n",
        "param.toml": 'tasks = ["branin"]\nsearchers = ["hyperband:eta=one"]\n[budget]\nmax_evals = 3\n',
    }
    for name, text in bad.items():
        spec = tmp_path / name
        spec.write_text(text)
        code, err = run_cli(["run", str(spec), "--store", str(good_store), "--no-progress"], capsys)
        assert code == 2, (name, err)
        one_error_line(err)
        assert sha(good_store) == before, name
    with pytest.raises(SystemExit) as info:  # argparse's own type check
        main(
            [
                "run",
                "--task",
                "branin",
                "--searcher",
                "random",
                "--workers",
                "lots",
                "--store",
                str(good_store),
            ]
        )
    assert info.value.code == 2 and sha(good_store) == before
    one_error_line(capsys.readouterr().err)


def _immutable(path: Path, on: bool) -> bool:
    r = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True)
    return r.returncode == 0


@pytest.fixture
def read_only_dir(good_store: Path) -> Iterator[Path]:
    """The store's directory and file made read-only; as root, chmod does not stop writes, so
    the files are made immutable (``chattr +i``), which stops root too."""
    d = good_store.parent
    if os.geteuid() != 0:
        good_store.chmod(0o444)
        d.chmod(0o555)
        yield d
        d.chmod(0o755)
        good_store.chmod(0o644)
        return
    if shutil.which("chattr") is None or not _immutable(good_store, True):
        pytest.skip("running as root and the file system does not support chattr +i")
    _immutable(d, True)
    try:
        yield d
    finally:
        _immutable(d, False)
        _immutable(good_store, False)


def test_read_only_store_directory_is_refused_untouched(
    good_store: Path, read_only_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = sha(good_store)
    code, err = run_cli([*RUN, "--store", str(good_store), "--name", "second"], capsys)
    assert code == 2
    assert "not writable" in one_error_line(err)
    assert sha(good_store) == before
    code, err = run_cli(["status", "--store", str(good_store)], capsys)  # reading still works
    assert code == 0


def test_store_becoming_read_only_mid_run_stops_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.geteuid() == 0 and shutil.which("chattr") is None:
        pytest.skip("root without chattr: cannot make a file read-only")
    path = tmp_path / "s.db"
    real_add = Store.add_trial
    calls = {"n": 0}
    frozen: list[Path] = []

    def add_trial(self: Store, run_id: int, rec: Any, **kw: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 4:  # after three committed trials, the disk turns read-only
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            for p in (tmp_path, path, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
                if os.geteuid() == 0 and p.exists() and _immutable(p, True):
                    frozen.append(p)
                elif os.geteuid() != 0 and p.exists():
                    p.chmod(0o555 if p.is_dir() else 0o444)
        real_add(self, run_id, rec, **kw)

    monkeypatch.setattr(Store, "add_trial", add_trial)
    try:
        code, err = run_cli([*RUN[:8], "10", *RUN[9:], "--store", str(path)], capsys)
    finally:
        for p in reversed(frozen):
            _immutable(p, False)
    if os.geteuid() != 0:
        pytest.skip("as a normal user open file descriptors keep writing; nothing to stop")
    assert code == 2
    line = one_error_line(err)
    assert "cannot write" in line and "3 trials finished before are kept" in line
    df = load_results(path)
    assert len(df) == 3 and (df.status == "ok").all()


def test_full_disk_stops_cleanly_and_keeps_finished_trials(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's max_page_count makes the database 'full' after a few pages, like a full disk."""
    path = tmp_path / "s.db"
    assert main([*RUN, "--store", str(path), "--name", "warmup"]) == 0
    capsys.readouterr()
    with sqlite3.connect(path) as con:
        pages = con.execute("PRAGMA page_count").fetchone()[0]
    real = Store._pragmas

    def full_soon(self: Store) -> None:
        real(self)
        self.conn.execute(f"PRAGMA max_page_count = {pages + 1}")

    monkeypatch.setattr(Store, "_pragmas", full_soon)
    code, err = run_cli(
        [
            "run",
            "--task",
            "hartmann6",
            "--searcher",
            "random",
            "--seeds",
            "1",
            "--max-evals",
            "400",
            "--workers",
            "0",
            "--no-progress",
            "--store",
            str(path),
            "--name",
            "big",
        ],
        capsys,
    )
    monkeypatch.setattr(Store, "_pragmas", real)
    assert code == 2
    line = one_error_line(err)
    assert "full" in line and "kept" in line
    df = load_results(path, "big")
    assert 0 < len(df) < 400 and (df.status == "ok").all()
    assert list(df.trial) == list(range(len(df)))  # a prefix: nothing lost in between
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert (load_runs(path, "big").status == "running").all()  # resumable
