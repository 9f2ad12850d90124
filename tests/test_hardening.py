"""Issue 14, hardening second pass: one test per numbered item (``test_NN_...`` for items 1-11,
``test_itemNN_...`` for items 12-21).

Each reproduces what a hostile but fair user did and asserts the outcome the issue asks
for: no silent wrong result, no stranded experiment, no hang, one clear line for a user
mistake with nothing stored lost or changed. Tests synchronise on events (files a task
writes, counts in the store), never on sleeps.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpbench as hb
from hpbench.cli import main
from hpbench.registry import get_task
from hpbench.results.store import Store, StoreError, load_results
from hpbench.searchers.random import RandomSearch
from hpbench.spec import RunOptions

SPACE = {"x": hb.Float(0.0, 1.0)}
RUN = ["run", "--task", "branin", "--searcher", "random", "--seeds", "1", "--max-evals", "2"]
RUN += ["--workers", "0", "--no-progress"]


def sha(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    return code, capsys.readouterr().err


def one_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("hpbench: error: "), err
    return lines[0]


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "s.db"
    assert main([*RUN, "--store", str(path), "--name", "first"]) == 0
    capsys.readouterr()
    return path


# ------------------------------------------------------------------ silent wrong results
def test_01_searcher_name_change_under_one_label_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = 'name = "x"\ntasks = ["branin"]\nseeds = 1\n[[searchers]]\nname = "{}"\nlabel = "mine"\n'
    spec += "[budget]\nmax_evals = 3\n[run]\nworkers = 0\n"
    (tmp_path / "a.toml").write_text(spec.format("random"))
    (tmp_path / "b.toml").write_text(spec.format("gp-ei"))
    path = tmp_path / "s.db"
    assert main(["run", str(tmp_path / "a.toml"), "--store", str(path), "--no-progress"]) == 0
    capsys.readouterr()
    before = sha(path)
    code, err = cli(["run", str(tmp_path / "b.toml"), "--store", str(path), "--no-progress"], capsys)
    assert code == 2
    line = one_line(err)
    assert "another spec" in line and "gp-ei" in line and "random" in line
    assert sha(path) == before


def test_02_cache_key_fingerprints_the_task(tmp_path: Path) -> None:
    branin = get_task("branin")
    with pytest.raises(ValueError, match="built-in name.*'branin'"):

        @hb.task(space=branin.space, name="branin")
        def fake(config: Any, *, budget: Any, seed: int) -> float:
            return 1000.0

        hb.benchmark([fake], ["random"], seeds=1, max_evals=2, store=tmp_path / "a.db", progress=False)
    assert not (tmp_path / "a.db").exists()

    def first(config: Any, *, budget: Any, seed: int) -> float:
        return 1.0

    def edited(config: Any, *, budget: Any, seed: int) -> float:
        return 2.0

    path = tmp_path / "c.db"
    for i, fn in enumerate((first, edited)):  # same name, same version, another function
        task = hb.FunctionTask(fn, space=SPACE, name="my-task")
        res = hb.benchmark([task], ["random"], seeds=1, max_evals=3, store=path, name=f"e{i}", cache=True)
        df = res.trials
        assert (df.objective == float(i + 1)).all() and not df.cached.any(), df
    again = hb.FunctionTask(edited, space=SPACE, name="my-task")  # unchanged: the cache serves it
    df = hb.benchmark([again], ["random"], seeds=1, max_evals=3, store=path, name="e2", cache=True).trials
    assert df.cached.all() and (df.objective == 2.0).all()


def test_03_trial_timeout_beyond_the_platform_timer_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.db"
    code, err = cli([*RUN, "--trial-timeout", "1e10", "--store", str(path)], capsys)
    assert code == 2 and "trial_timeout" in one_line(err) and "10000000000.0" in err
    assert not path.exists()
    with pytest.raises(ValueError, match="trial_timeout"):
        RunOptions(trial_timeout=1e10)
    with pytest.raises(ValueError, match="trial_timeout"):
        hb.run_search("branin", "random", max_evals=1, trial_timeout=1e10)
    records = hb.run_search("branin", "random", max_evals=2, trial_timeout=1e9)  # the largest: works
    assert [r.status.value for r in records] == ["ok", "ok"]


@pytest.mark.parametrize("value", ["0.25", True, np.bool_(True), {"objective": "0.3"}, b"1"])
def test_04_only_real_numbers_are_objectives(value: Any) -> None:
    task = hb.FunctionTask(lambda config, *, budget, seed: value, space=SPACE, name="odd")
    (rec,) = hb.run_search(task, "random", max_evals=1)
    assert rec.status.value == "failed" and rec.objective is None
    assert "real number" in (rec.error or "")
    ok = hb.FunctionTask(lambda config, *, budget, seed: np.float32(0.5), space=SPACE, name="fine")
    assert hb.run_search(ok, "random", max_evals=1)[0].objective == 0.5


# ------------------------------------------------------------ stranded experiments, lost work
ODD_METRICS = {
    "array": np.arange(3.0),
    "nan_list": [1.0, float("nan")],
    "raw": b"ab",
    "when": datetime.datetime(2020, 1, 2, 3, 4, 5),
    "thing": object(),
}


def odd_metrics(config: Any, *, budget: Any, seed: int) -> dict[str, Any]:
    return {"objective": config["x"], **ODD_METRICS}


def test_05_metrics_without_json_form_never_abort_the_experiment(tmp_path: Path) -> None:
    task = hb.FunctionTask(odd_metrics, space=SPACE, name="odd-metrics")
    res = hb.benchmark([task, "branin"], ["random"], seeds=1, max_evals=3, store=tmp_path / "s.db")
    df = res.trials
    assert len(df) == 6 and (df.status == "ok").all()
    mine = df[df.task == "odd-metrics"].iloc[0]
    assert mine["metric.array"] == [0.0, 1.0, 2.0]  # converted: lossless
    assert mine["metric.nan_list"] == [1.0, None]  # NaN stored as None, as for a plain metric
    assert mine["metric.when"] == "2020-01-02T03:04:05"
    assert "metric.raw" not in df and "metric.thing" not in df
    assert "metrics dropped" in mine.error and "'raw' (bytes)" in mine.error and "'thing'" in mine.error
    assert df[df.task == "branin"].error.isna().all()


def _interrupted(path: Path) -> None:
    """An experiment stopped after 5 trials: gp-ei has 3 of its trials stored, random 2."""
    res = hb.benchmark(
        ["branin"],
        ["gp-ei:n_init=2", "random"],
        seeds=1,
        max_evals=6,
        store=path,
        name="e",
        on_trial=lambda ev: ev.trials_done < 5,
    )
    assert res.stopped


def test_06_resume_that_this_build_cannot_replay_is_refused_before_any_write(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    _interrupted(path)
    with sqlite3.connect(path) as con:  # as an older build left it: other proposals, schema 2
        con.execute('UPDATE trials SET config=\'{"x1":0.0,"x2":0.0}\' WHERE run_id=1 AND trial=1')
        con.execute("ALTER TABLE trials DROP COLUMN objectives")
        con.execute("UPDATE hpbench_schema SET version=2")
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = sha(path)
    with pytest.raises(ValueError, match=r"did not reproduce stored trial 1.*nothing was written.*--fresh"):
        hb.benchmark(["branin"], ["gp-ei:n_init=2", "random"], seeds=1, max_evals=6, store=path, name="e")
    assert sha(path) == before
    with sqlite3.connect(path) as con:
        assert con.execute("SELECT version FROM hpbench_schema").fetchone() == (2,)


class TellBreaks(RandomSearch):
    name = "tell-breaks"

    def _tell(self, suggestion: Any, objective: Any) -> None:
        if suggestion.trial_id == 2:
            raise RuntimeError("tell broke")


def test_07_a_failed_run_stays_failed_and_never_blocks_resume(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    for evals in (5, 5, 7):  # first run, plain resume, larger budget
        res = hb.benchmark(["branin"], [TellBreaks, "random"], seeds=1, max_evals=evals, store=path, name="e")
        runs = res.runs.set_index("searcher")
        assert runs.loc["tell-breaks", "status"] == "failed" and runs.loc["tell-breaks", "n_trials"] == 3
        assert "tell broke" in runs.loc["tell-breaks", "error"]
        assert runs.loc["random", "status"] == "finished" and runs.loc["random", "n_trials"] == evals
    # interrupted before its failure was recorded: the replay re-raises, that run fails alone
    with sqlite3.connect(path) as con:
        con.execute("UPDATE runs SET status='running', error=NULL WHERE searcher='tell-breaks'")
    res = hb.benchmark(["branin"], [TellBreaks, "random"], seeds=1, max_evals=7, store=path, name="e")
    runs = res.runs.set_index("searcher")
    assert (
        runs.loc["tell-breaks", "status"] == "failed"
        and "raised in replay" in runs.loc["tell-breaks", "error"]
    )


LOCK_TASKS = """
import os, time
from pathlib import Path
import hpbench as hb

def _started_then_wait_for_go(d):
    (d / "started").write_text("1")
    while not (d / "go").exists():  # an event the test writes, no timing
        time.sleep(0.01)


@hb.task(space={"x": hb.Float(0.0, 1.0)}, name="gated")
def gated(config, *, budget, seed):
    _started_then_wait_for_go(Path(os.environ["HPB_GATE"]))
    return config["x"]


@hb.task(space={"x": hb.Float(0.0, 1.0)}, name="gated-second")
def gated_second(config, *, budget, seed):
    d = Path(os.environ["HPB_GATE"])
    n = len(list(d.glob("call-*")))
    (d / f"call-{n}-{os.getpid()}").write_text("1")
    if n >= 1:  # the first call returns at once; later ones wait for the go file
        _started_then_wait_for_go(d)
    return config["x"]


@hb.task(space={"x": hb.Float(0.0, 1.0)}, name="swallows-forever")
def swallows_forever(config, *, budget, seed):
    while True:
        try:
            while True:
                time.sleep(0.01)
        except BaseException:
            pass


@hb.task(space={"x": hb.Float(0.0, 1.0)}, name="interrupts")
def interrupts(config, *, budget, seed):
    if config["x"] < 2.0:
        raise KeyboardInterrupt("the task's own")
    return 0.0


@hb.task(space={"x": hb.Float(0.0, 1.0)}, name="lock-metric")
def lock_metric(config, *, budget, seed):
    import threading
    return {"objective": config["x"], "lock": threading.Lock(), "fine": 1.5}
"""


@pytest.fixture
def gate_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    mods = tmp_path / "mods"
    mods.mkdir()
    (mods / "hpb_gate_tasks.py").write_text(LOCK_TASKS)
    monkeypatch.syspath_prepend(str(mods))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(mods), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("HPB_GATE", str(tmp_path))
    sys.modules.pop("hpb_gate_tasks", None)
    import hpb_gate_tasks  # type: ignore[import-not-found]

    yield hpb_gate_tasks
    sys.modules.pop("hpb_gate_tasks", None)


def test_08_a_second_process_on_one_experiment_is_refused_naming_the_first(
    tmp_path: Path, gate_module: Any
) -> None:
    path = tmp_path / "s.db"
    script = tmp_path / "first.py"
    script.write_text(
        textwrap.dedent(f"""
        import hpbench as hb, hpb_gate_tasks
        hb.benchmark([hpb_gate_tasks.gated], ["random"], seeds=1, max_evals=2, store={str(path)!r},
                     name="e", progress=False)
        """)
    )
    proc = subprocess.Popen([sys.executable, str(script)], stderr=subprocess.PIPE, text=True)
    try:
        while not (tmp_path / "started").exists():  # the first process is inside a trial
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            threading.Event().wait(0.01)
        with pytest.raises(StoreError, match=rf"experiment 'e' is being run by pid {proc.pid} on "):
            hb.benchmark([gate_module.gated], ["random"], seeds=1, max_evals=2, store=path, name="e")
    finally:
        (tmp_path / "go").write_text("1")
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    res = hb.benchmark([gate_module.gated], ["random"], seeds=1, max_evals=2, store=path, name="e")
    assert len(res.trials) == 2  # the lock went with the first process; nothing duplicated
    assert not list(tmp_path.glob("*.lock"))


def test_08_run_creation_tolerates_a_run_created_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """INSERT ... ON CONFLICT: a run another writer created between our look-up and insert."""
    s = Store(tmp_path / "s.db")
    exp = s.create_experiment("e", {}, "0")
    kw: dict[str, Any] = dict(task="t", task_version="1", task_info={}, searcher="r", searcher_name="random")
    kw.update(searcher_params={}, seed=0, budget={}, versions={}, machine={})
    first, _ = s.get_or_create_run(exp, **kw)
    monkeypatch.setattr(Store, "find_run", lambda self, *a, **k: None)  # the look-up saw nothing
    assert s.get_or_create_run(exp, **kw) == (first, "pending")
    s.close()


# --------------------------------------------------------------- item 9: one line, not a traceback
def _no_trials_table(tmp_path: Path, good: Path) -> Path:
    p = tmp_path / "no-trials.db"
    with sqlite3.connect(good) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    p.write_bytes(good.read_bytes())
    con = sqlite3.connect(p)
    con.execute("DROP TABLE trials")
    con.commit()
    con.close()  # the last connection: its WAL is checkpointed into the file
    return p


def test_09_hostile_store_paths_give_one_line(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("x")
    os.symlink(tmp_path / "loop2", tmp_path / "loop1")
    os.symlink(tmp_path / "loop1", tmp_path / "loop2")
    os.symlink(tmp_path / "nowhere" / "x.db", tmp_path / "dangling")
    broken = _no_trials_table(tmp_path, store)
    cases = {
        "no trials table": (str(broken), "without its table(s) trials"),
        "below a file": (str(tmp_path / "afile" / "x.db"), "not a directory"),
        "symlink loop": (str(tmp_path / "loop1"), "symlink"),
        "dangling symlink": (str(tmp_path / "dangling"), "symlink"),
    }
    for what, (path, words) in cases.items():
        before = sha(Path(path)) if Path(path).is_file() else None
        code, err = cli([*RUN, "--store", path], capsys)
        assert code == 2 and words in one_line(err), (what, err)
        code, err = cli(["status", "--store", path], capsys)
        assert code == 2 and one_line(err), (what, err)
        if before is not None:
            assert sha(Path(path)) == before, what
    assert not (tmp_path / "nowhere").exists()


def test_09_bad_output_paths_give_one_line(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "afile").write_text("x")
    for args in (
        ["report", "--store", str(store), "-o", str(tmp_path)],
        ["export", "--store", str(store), "-o", str(tmp_path)],
        ["export", "--store", str(store), "-o", str(tmp_path / "afile" / "x.csv")],
        ["report", "--store", str(store), "-o", str(tmp_path / "afile" / "r.html")],
    ):
        code, err = cli(args, capsys)
        assert code == 2 and "--output" in one_line(err), args
    assert (tmp_path / "afile").read_text() == "x"


def test_09_huge_counts_are_bounded_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.db"
    code, err = cli([*RUN[:6], "1000000000", *RUN[7:], "--store", str(path)], capsys)
    assert code == 2 and "seeds" in one_line(err) and "1000000000" in err
    code, err = cli([*RUN[:4], "gp-ei:n_init=1000000000", *RUN[5:], "--store", str(path)], capsys)
    assert code == 2 and "n_init <= 100000" in one_line(err)
    with pytest.raises(ValueError, match=r"seeds: rule 'integers in \[0, 2\*\*63\)'"):
        hb.benchmark(["branin"], ["random"], seeds=[10**30], max_evals=2, store=path)
    assert not path.exists()


def test_09_full_disk_while_runs_are_created_gives_one_line(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with sqlite3.connect(store) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages = con.execute("PRAGMA page_count").fetchone()[0]
    real = Store._pragmas

    def full_now(self: Store) -> None:
        real(self)
        self.conn.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(Store, "_pragmas", full_now)
    args = [*RUN[:6], "300", *RUN[7:], "--store", str(store), "--name", "many"]
    code, err = cli(args, capsys)
    monkeypatch.setattr(Store, "_pragmas", real)
    assert code == 2 and "full" in one_line(err)
    with sqlite3.connect(store) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert len(load_results(store, "first")) == 2  # what was stored before is kept


# ------------------------------------------------------------------ item 10: output files
def test_10_report_path_is_checked_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.db"
    code, err = cli([*RUN, "--store", str(path), "--report", str(tmp_path)], capsys)
    assert code == 2 and "--report" in one_line(err)
    assert not path.exists()  # refused before the run, not after it


def test_10_a_failed_write_keeps_the_previous_file(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, csv = tmp_path / "r.html", tmp_path / "t.csv"
    assert main(["report", "--store", str(store), "-o", str(out)]) == 0
    assert main(["export", "--store", str(store), "-o", str(csv)]) == 0
    capsys.readouterr()
    before = {p: sha(p) for p in (out, csv)}

    def disk_full(self: Path, *a: Any, **k: Any) -> None:
        with open(self, "w") as fh:
            fh.write("<half")
        raise OSError(28, "No space left on device", str(self))

    import pandas as pd

    monkeypatch.setattr(Path, "write_text", disk_full)
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda self, p, **k: disk_full(Path(p)))
    for args in (["report", "-o", str(out)], ["export", "-o", str(csv)]):
        code, err = cli([*args, "--store", str(store)], capsys)
        assert code == 2 and "No space left" in one_line(err), args
    assert {p: sha(p) for p in (out, csv)} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp left


# ---------------------------------------------------------------------------- hangs
def test_11_a_listener_that_is_not_dask_fails_within_the_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("distributed")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    port = server.getsockname()[1]
    try:
        path = tmp_path / "s.db"
        args = [*RUN[:-3], "--dask", f"tcp://127.0.0.1:{port}", "--no-progress", "--store", str(path)]
        code, err = cli(args, capsys)  # before: hung for good in Dask's handshake
        assert code == 2 and "no Dask handshake" in one_line(err)
        assert not path.exists() and accepted
    finally:
        stop.set()
        t.join()
        for c in accepted:
            c.close()
        server.close()


# ------------------------------------------------------------------ item 13: cost=0 and max_cost
def test_item13_a_task_reporting_cost_zero_ends_a_max_cost_run_with_a_bounded_store(tmp_path: Path) -> None:
    from hpbench.budget import MIN_COST

    def free(config: Any, *, budget: Any, seed: int) -> Any:
        return hb.Evaluation(objective=config["x"], cost=0.0)

    task = hb.FunctionTask(free, space=SPACE, name="free")
    path = tmp_path / "s.db"
    res = hb.benchmark([task], ["random"], seeds=1, max_cost=1.1, store=path, progress=False)
    df = res.trials
    assert (res.runs.status == "finished").all()
    # each trial reserves its nominal cost 1 and is charged MIN_COST: the run ends once
    # 0.1 is spent, and never holds more than max_cost / MIN_COST trials
    assert 2 <= len(df) <= 1.1 / MIN_COST and (df.cost == MIN_COST).all()
    assert len(df) == int(0.1 / MIN_COST + 1e-9) + 1


# ------------------------------------------------------------ item 15: read-only media
def _read_only(path: Path, on: bool) -> bool:
    """Make ``path`` read-only for this process: chmod, or ``chattr +i`` as root (chmod binds not root)."""
    if os.geteuid() != 0:
        path.chmod((0o555 if path.is_dir() else 0o444) if on else (0o755 if path.is_dir() else 0o644))
        return True
    r = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True)
    return r.returncode == 0


def _copied_with_its_wal(tmp_path: Path, media: Path, sides: tuple[str, ...]) -> Path:
    """A store copied as the README says, beside its -wal: experiment 'second' is in the -wal only."""
    src = tmp_path / "src.db"
    assert main([*RUN, "--store", str(src), "--name", "first"]) == 0
    hold = sqlite3.connect(src)  # keeps the -wal from being merged while 'second' runs
    hold.execute("PRAGMA wal_autocheckpoint=0")
    hold.execute("SELECT count(*) FROM trials").fetchall()
    assert main([*RUN, "--store", str(src), "--name", "second"]) == 0
    for x in ("", *sides):
        Path(f"{media / 's.db'}{x}").write_bytes(Path(f"{src}{x}").read_bytes())
    hold.close()
    assert Path(f"{media / 's.db'}-wal").stat().st_size > 0
    return media / "s.db"


def _read_everything(path: Path, out: Path, code: int, err: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert code == 0, err  # status
    code, err = cli(["export", "--store", str(path), "-o", str(out / "t.csv")], capsys)
    assert code == 0, err
    code, err = cli(["report", "--store", str(path), "--all", "-o", str(out / "r.html")], capsys)
    assert code == 0, err
    df = load_results(path)  # the commits still in -wal are read too, not silently left out
    assert sorted(df.experiment.unique()) == ["first", "second"] and len(df) == 4
    assert (out / "r.html").stat().st_size > 0


@pytest.mark.parametrize("what", ["directory", "file", "directory, no -shm"])
def test_item15_status_report_export_read_a_store_on_read_only_media(
    what: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    copied = ("-wal",) if "no -shm" in what else ("-wal", "-shm")
    path = _copied_with_its_wal(tmp_path, media, copied)
    sides = [Path(f"{path}{x}") for x in copied]
    before = [sha(p) for p in (path, *sides)]
    frozen = [media, path, *sides] if what.startswith("directory") else [path, *sides]
    if not all(_read_only(p, True) for p in frozen):
        pytest.skip("running as root and this file system does not support chattr +i")
    try:
        with pytest.raises(OSError):  # really read-only, for this process too
            (media / "probe").write_text("x") if what != "file" else path.open("ab").close()
        capsys.readouterr()
        code, err = cli(["status", "--store", str(path)], capsys)
        if "no -shm" in what:  # immutable would ignore the -wal: refused, never read without it
            assert code == 2 and "holds commits that cannot be read" in one_line(err)
        else:
            _read_everything(path, tmp_path / "out", code, err, capsys)
        assert sorted(p.name for p in media.iterdir()) == sorted(p.name for p in [path, *sides])
    finally:
        for p in reversed(frozen):
            _read_only(p, False)
    assert [sha(p) for p in (path, *sides)] == before


# ------------------------------------------------------------ item 16: accepted nonsense
SPEC16 = 'name = "x"\ntasks = ["branin"]\nseeds = 1\n{searchers}\n'
SPEC16 += "[budget]\nmax_evals = 2\n[run]\nworkers = 0\n{run}"
NONSENSE = {  # case: (spec file's searchers line, its [run] lines, or CLI flags; words of the line)
    "[run] store = 5": (("", "store = 5"), ("store", "5")),
    "[run] store = true": (("", "store = true"), ("store", "True")),
    "[run] store = [1]": (("", "store = [1]"), ("store", "[1]")),
    '[run] dask = ""': (("", 'dask = ""'), ("dask", "''")),
    "label = 5": (('[[searchers]]\nname = "random"\nlabel = 5', ""), ("label", "5")),
    "eta in params too": (
        ('[[searchers]]\nname = "hyperband"\neta = 3\nparams = {eta = 4}', ""),
        ("eta", "params"),
    ),
    '--store ""': (["--store", ""], ("store", "''")),
    '--name ""': (["--name", ""], ("name", "''")),
    "eta=3,eta=4": (["--searcher", "hyperband:eta=3,eta=4"], ("eta", "twice")),
    "sigma0=-1": (["--searcher", "optuna-cmaes:sampler_params={sigma0=-1}"], ("sigma0", "-1")),
}


@pytest.mark.parametrize("case", list(NONSENSE))
def test_item16_nonsense_gets_one_line_exit_2_and_writes_nothing(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a store named '5' or the default one would appear here
    given, words = NONSENSE[case]
    if isinstance(given, tuple):
        searchers = given[0] or 'searchers = ["random"]'
        (tmp_path / "x.toml").write_text(SPEC16.format(searchers=searchers, run=given[1] + "\n"))
        args = ["run", "x.toml", "--no-progress"]
    else:
        args = [*RUN, *given]
        if given[0] == "--searcher":  # this one instead of random
            args = [*RUN[:3], *given, *RUN[5:]]
    code, err = cli(args, capsys)
    line = one_line(err)
    assert code == 2 and all(w in line for w in words), line
    assert sorted(p.name for p in tmp_path.iterdir()) == (["x.toml"] if isinstance(given, tuple) else [])


def test_item16_the_library_refuses_the_same_and_takes_a_lone_name_as_a_list(tmp_path: Path) -> None:
    for bad, exc in ((5, TypeError), (True, TypeError), ([1], TypeError), ("", TypeError)):
        with pytest.raises(exc, match="store"):
            RunOptions(store=bad)
    with pytest.raises(ValueError, match="dask"):
        RunOptions(dask="")
    with pytest.raises(ValueError, match="name"):
        hb.benchmark(["branin"], ["random"], seeds=1, max_evals=2, name="", store=tmp_path / "a.db")
    with pytest.raises(TypeError, match="label"):
        hb.benchmark(
            ["branin"], [{"name": "random", "label": 5}], seeds=1, max_evals=2, store=tmp_path / "a.db"
        )
    with pytest.raises(ValueError, match="sigma0"):
        spec = "optuna-cmaes:sampler_params={sigma0=-1}"
        hb.benchmark(["branin"], [spec], seeds=1, max_evals=2, store=tmp_path / "a.db")
    assert not (tmp_path / "a.db").exists()
    res = hb.benchmark("branin", "random", seeds=1, max_evals=2, store=tmp_path / "b.db", progress=False)
    assert list(res.trials.task.unique()) == ["branin"] and list(res.trials.searcher.unique()) == ["random"]


# ------------------------------------------------------- item 17: resume advice after --fresh
def test_item17_an_interrupted_fresh_run_names_the_command_that_resumes_it(
    store: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    real_add = Store.add_trial

    def ctrl_c_after_one(self: Store, *a: Any, **k: Any) -> Any:
        out = real_add(self, *a, **k)
        signal.raise_signal(signal.SIGINT)  # Ctrl-C once the first trial is committed
        return out

    monkeypatch.setattr(Store, "add_trial", ctrl_c_after_one)
    args = [*RUN, "--store", str(store), "--name", "first", "--fresh"]
    code, err = cli(args, capsys)
    monkeypatch.setattr(Store, "add_trial", real_add)
    line = [ln for ln in err.splitlines() if ln.startswith("hpbench: interrupted")]
    assert code == 130 and len(line) == 1, err
    assert "--name first-2" in line[0] and "run the same command again" not in line[0]
    assert len(load_results(store, "first-2")) == 1
    # the command it names resumes that experiment (no third one)
    resume = [a for a in args if a != "--fresh"]
    resume[resume.index("first")] = "first-2"
    assert main(resume) == 0
    assert len(load_results(store, "first-2")) == 2 and len(load_results(store, "first")) == 2
    with Store(store, readonly=True) as s:
        assert s.experiment_names() == ["first", "first-2"]


# ------------------------------------------------ item 18: hand-damaged JSON fields in a store
DAMAGE = {  # (table, column, row condition): what must be named
    "trials.config": (
        "trials",
        "config",
        "run_id=1 AND trial=1",
        ("table trials", "run 1", "trial 1", "config"),
    ),
    "trials.metrics": (
        "trials",
        "metrics",
        "run_id=1 AND trial=0",
        ("table trials", "run 1", "trial 0", "metrics"),
    ),
    "runs.task_info": ("runs", "task_info", "id=1", ("table runs", "run 1", "task_info")),
    "runs.budget": ("runs", "budget", "id=1", ("table runs", "run 1", "budget")),
    "runs.searcher_params": ("runs", "searcher_params", "id=1", ("table runs", "run 1", "searcher_params")),
    "experiments.spec": ("experiments", "spec", "id=1", ("table experiments", "first", "spec")),
}


READS_NOT = {("status", c) for c in ("trials.config", "trials.metrics", "experiments.spec")}
READS_NOT |= {("export", c) for c in ("experiments.spec", "runs.budget", "runs.searcher_params")}


@pytest.mark.parametrize("case", list(DAMAGE))
@pytest.mark.parametrize("command", ["status", "export", "report", "run"])
def test_item18_a_damaged_json_field_is_named_by_table_run_and_trial(
    case: str, command: str, store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table, column, where, words = DAMAGE[case]
    with sqlite3.connect(store) as con:
        assert con.execute(f"UPDATE {table} SET {column}='{{oops' WHERE {where}").rowcount == 1
    before = sha(store)
    args = {
        "status": ["status"],
        "export": ["export", "-o", str(tmp_path / "t.csv")],
        "report": ["report", "-o", str(tmp_path / "r.html")],
        "run": [*RUN[:-3], "--max-evals", "3", "--workers", "0", "--no-progress", "--name", "first"],
    }[command]
    code, err = cli([*args, "--store", str(store)], capsys)
    assert sha(store) == before
    if code == 0:  # this command does not read the damaged field
        assert (command, case) in READS_NOT, err
        return
    line = one_line("\n".join(ln for ln in err.splitlines() if not ln.startswith("experiment 'first'")))
    assert code == 2 and all(w in line for w in words) and "not valid JSON" in line, line
    assert not (tmp_path / "t.csv").exists() and not (tmp_path / "r.html").exists()


# -------------------------------------------------------------- item 20: the smaller ones
def test_item20_refused_stores_get_no_side_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as con:
        con.execute("CREATE TABLE t (x)")
    con.close()
    newer = tmp_path / "newer.db"
    assert main([*RUN, "--store", str(newer)]) == 0
    with sqlite3.connect(newer) as con:
        con.execute("UPDATE hpbench_schema SET version = 99")
        con.execute("PRAGMA journal_mode=DELETE")  # no -wal/-shm left by the set-up
    con.close()
    (tmp_path / "text.db").write_text("not sqlite")
    capsys.readouterr()
    for path in (foreign, newer, tmp_path / "text.db"):
        for args in (RUN, ["status"], ["export", "-o", str(tmp_path / "o.csv")], ["report"]):
            code, err = cli([*args, "--store", str(path)], capsys)
            assert code == 2 and one_line(err), (path, args)
            assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(("-wal", "-shm"))], (path, args)


def test_item20_parquet_export_of_a_metric_whose_type_varies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pyarrow")
    import pandas as pd

    def varying(config: Any, *, budget: Any, seed: int) -> dict[str, Any]:
        return {"objective": config["x"], "note": 1 if config["x"] < 0.5 else "high", "n": 3}

    task = hb.FunctionTask(varying, space=SPACE, name="varying")
    path = tmp_path / "s.db"
    df = hb.benchmark([task], ["random"], seeds=1, max_evals=12, store=path, progress=False).trials
    assert {type(v) for v in df["metric.note"]} == {int, str}  # both kinds are in the store
    out = tmp_path / "new" / "folder" / "t.parquet"  # export -o creates missing folders, as report -o
    code, err = cli(["export", "--store", str(path), "--format", "parquet", "-o", str(out)], capsys)
    assert code == 0, err
    back = pd.read_parquet(out)
    assert len(back) == 12 and sorted(set(back["metric.note"])) == ["1", "high"]
    assert (back["metric.n"] == 3).all()  # a metric of one type keeps it
    code, err = cli(["export", "--store", str(path), "-o", str(tmp_path / "a" / "b" / "t.csv")], capsys)
    assert code == 0 and len(pd.read_csv(tmp_path / "a" / "b" / "t.csv")) == 12


INTERRUPT_SCRIPT = """
import sys
import hpb_gate_tasks
from hpbench.registry import register_task
from hpbench.cli import main
if __name__ == "__main__":
    register_task("gated", hpb_gate_tasks.gated)
    sys.argv = ["hpbench", *sys.argv[1:]]
    sys.exit(main())  # as the real command: argv from sys.argv
"""


def _ctrl_c(tmp_path: Path, flags: list[str], times: int) -> tuple[int, str]:
    """Run the gated task; once a trial runs, Ctrl-C (SIGINT to the process group) ``times`` times."""
    import signal

    script = tmp_path / "drive.py"
    script.write_text(INTERRUPT_SCRIPT)
    args = ["run", "--task", "gated", "--searcher", "random", "--seeds", "2", "--max-evals", "3", *flags]
    args += ["--store", str(tmp_path / "s.db"), "--name", "e", "--no-progress"]
    proc = subprocess.Popen(
        [sys.executable, str(script), *args], stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        while not (tmp_path / "started").exists():  # a trial is running in a worker
            assert proc.poll() is None, proc.communicate()[1]
            threading.Event().wait(0.01)
        for _ in range(times):  # as a terminal does: the driver and its workers get it
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, err


@pytest.mark.parametrize(
    ("flags", "times"),
    [
        pytest.param(["--dask", "local:2"], 1, id="dask-once"),
        pytest.param(["--workers", "1"], 2, id="pool-twice"),
        pytest.param(["--dask", "local:2"], 2, id="dask-twice"),
    ],
)
def test_item20_ctrl_c_prints_one_line_and_exits_130(
    flags: list[str], times: int, tmp_path: Path, gate_module: Any
) -> None:
    if "--dask" in flags:
        pytest.importorskip("distributed")
    code, err = _ctrl_c(tmp_path, flags, times)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 130 and len(lines) == 1 and lines[0].startswith("hpbench: interrupted"), err


# --------------------------------------- item 19: what killed a worker is stored, not "worker died"
@pytest.mark.parametrize("where", [{"workers": 1}, {"dask": "local:1"}], ids=["pool", "dask"])
def test_item19_the_stored_error_names_the_real_cause(
    where: dict[str, Any], tmp_path: Path, gate_module: Any
) -> None:
    if "dask" in where:
        pytest.importorskip("distributed")
    tasks = [gate_module.interrupts, gate_module.lock_metric]
    res = hb.benchmark(
        tasks, ["random"], seeds=1, max_evals=2, store=tmp_path / "s.db", progress=False, **where
    )
    df = res.trials.set_index("task")
    assert len(df) == 4 and "died" not in " ".join(df.error.dropna())
    bad = df.loc["interrupts"]
    assert (bad.status == "failed").all() and bad.error.str.contains("KeyboardInterrupt").all(), bad.error
    ok = df.loc["lock-metric"]
    assert (ok.status == "ok").all() and (ok["metric.fine"] == 1.5).all()  # the trial and its other metrics
    assert ok.error.str.contains("metrics dropped").all() and ok.error.str.contains("'lock'").all(), ok.error


# ------------------------------------------- item 21: one cap on checkpoints across all runs
def _checkpointing(config: Any, *, budget: Any, seed: int, checkpoint: bytes | None = None) -> dict[str, Any]:
    start = 0.0 if checkpoint is None else float(checkpoint[:16].decode())
    blob = f"{budget:<16}".encode() + b"\0" * 984  # 1000 bytes
    return {"objective": config["x"] + 1.0 / budget, "checkpoint": blob, "resumed_from": start}


def _run_with_cap(
    tmp_path: Path, name: str, cap_bytes: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, int]:
    from hpbench.budget import Budget
    from hpbench.checkpoints import CheckpointMemory
    from hpbench.experiment import run_experiment
    from hpbench.spec import BenchmarkSpec, parse_searcher

    peak = [0]
    real_keep = CheckpointMemory.keep

    def keep(self: CheckpointMemory, *a: Any) -> None:
        real_keep(self, *a)
        peak[0] = max(peak[0], self.held)

    monkeypatch.setattr(CheckpointMemory, "keep", keep)
    task = hb.FunctionTask(_checkpointing, space=SPACE, name="ckpt", fidelity=hb.Fidelity("epochs", 1, 27))
    spec = BenchmarkSpec(
        name, ("ckpt",), (parse_searcher("hyperband:eta=3"),), (0, 1, 2), Budget(max_evals=30)
    )
    options = RunOptions(workers=0, checkpoint_memory_mb=cap_bytes / 2**20)
    res = run_experiment(spec, options, store=tmp_path / "s.db", task_objects={"ckpt": task}, progress=False)
    monkeypatch.setattr(CheckpointMemory, "keep", real_keep)
    return res.trials, peak[0]


def test_item21_checkpoints_are_capped_across_runs_oldest_dropped_and_charged_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fid = hb.Fidelity("epochs", 1, 27)
    free, free_peak = _run_with_cap(tmp_path, "free", 10**9, monkeypatch)
    capped, peak = _run_with_cap(tmp_path, "capped", 15500, monkeypatch)  # 15 of 1000 bytes
    assert peak <= 15500 < free_peak  # the cap holds over the three runs together
    cont = free[free.continue_from.notna()]
    assert len(cont) > 5 and (cont["metric.resumed_from"] > 0).all()  # without the cap: all continue
    cont = capped[capped.continue_from.notna()]
    dropped, resumed = cont[cont["metric.resumed_from"] == 0], cont[cont["metric.resumed_from"] > 0]
    assert len(dropped) > 0 and len(resumed) > 0, cont  # the oldest were dropped, the newest kept
    full = [fid.cost(b) for b in dropped.budget]  # retrained from zero: charged in full
    assert dropped.cost.tolist() == pytest.approx(full)
    part = [fid.cost(b, s) for b, s in zip(resumed.budget, resumed["metric.resumed_from"])]
    assert resumed.cost.tolist() == pytest.approx(part)
    assert capped.cost.sum() > free.cost.sum()  # the same trials (same decisions), more training charged
    assert sorted(capped.objective) == pytest.approx(sorted(free.objective))


# ------------------------------------- item 12: an external scheduler whose workers all die
def _dask_process(tmp_path: Path, what: str, *args: str) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        f"distributed.cli.dask_{what}",
        "--scheduler-file",
        str(tmp_path / "sched.json"),
    ]
    log = open(tmp_path / f"{what}.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([*cmd, *args], stdout=log, stderr=log)


def _worker(tmp_path: Path, address: str) -> subprocess.Popen[bytes]:
    from distributed import Client

    proc = _dask_process(tmp_path, "worker", "--nthreads", "1", "--nworkers", "1", "--no-nanny")
    with Client(address, timeout=60) as c:
        c.wait_for_workers(1, timeout=120)
    return proc


def test_item12_external_scheduler_losing_all_workers_stops_keeps_trials_and_resumes(
    tmp_path: Path, gate_module: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("distributed")
    import json

    from hpbench.registry import register_task

    register_task("gated-second", gate_module.gated_second)
    sched = _dask_process(tmp_path, "scheduler", "--port", "0", "--no-dashboard")
    procs = [sched]
    try:
        while not (tmp_path / "sched.json").exists():
            assert sched.poll() is None, (tmp_path / "scheduler.log").read_text()
            threading.Event().wait(0.05)
        while not (address := json.loads((tmp_path / "sched.json").read_text() or "{}").get("address")):
            threading.Event().wait(0.05)
        worker = _worker(tmp_path, address)
        procs.append(worker)
        path = tmp_path / "s.db"
        args = ["run", "--task", "gated-second", "--searcher", "random", "--seeds", "1", "--max-evals", "3"]
        args += ["--dask", address, "--no-workers-timeout", "1", "--store", str(path), "--name", "e"]
        args += ["--no-progress"]

        def kill_the_worker() -> None:  # once trial 0 is stored and trial 1 runs
            while not (tmp_path / "started").exists() or not path.exists() or _count(path) < 1:
                threading.Event().wait(0.02)
            worker.kill()

        killer = threading.Thread(target=kill_the_worker, daemon=True)
        killer.start()
        code, err = cli(args, capsys)  # before: waited for good, without a word
        killer.join(timeout=60)
        assert code == 2 and "has had no workers for 1 s" in one_line(err) and "same command" in err
        assert len(load_results(path)) == 1  # what finished is kept
        (tmp_path / "go").write_text("1")
        procs.append(_worker(tmp_path, address))
        code, err = cli(args, capsys)  # the same command resumes
        assert code == 0, err
        df = load_results(path)
        assert sorted(df.trial) == [0, 1, 2] and (df.status == "ok").all()
    finally:
        for p in procs:
            p.kill()
            p.wait()


def _count(path: Path) -> int:
    try:
        with Store(path, readonly=True) as s:
            return int(s.runs_frame().n_trials.sum())
    except (StoreError, sqlite3.Error):
        return 0


# --------------------------------- item 14: a task that swallows the timeout, and --workers 0
def swallows_once(config: Any, *, budget: Any, seed: int) -> float:
    try:
        while True:  # left only by the timeout's exception
            time.sleep(0.01)
    except BaseException:
        return 0.5  # caught, and a result returned after the deadline


def test_item14_a_task_that_catches_the_timeout_is_stored_as_timeout_and_the_limit_is_documented(
    tmp_path: Path, gate_module: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    task = hb.FunctionTask(swallows_once, space=SPACE, name="swallows-once")
    (rec,) = hb.run_search(task, "random", max_evals=1, trial_timeout=0.2)  # in this process
    assert (
        rec.status.value == "timeout" and rec.objective is None and "caught the timeout" in (rec.error or "")
    )
    # in a worker process a task that never lets go is killed by the backstop
    res = hb.benchmark(
        [gate_module.swallows_forever],
        ["random"],
        seeds=1,
        max_evals=1,
        workers=1,
        trial_timeout=0.2,
        store=tmp_path / "s.db",
        progress=False,
    )
    (row,) = res.trials.itertuples()
    assert row.status == "timeout" and "its worker was stopped" in row.error
    # with --workers 0 nothing can stop it: the help and the README say so
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    for text in (help_text, readme):
        said = text[text.index("--workers 0") :][:160]
        assert "catches the timeout exception" in said and "cannot be stopped" in said, said
