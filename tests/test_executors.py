"""Executors: process pool and Dask give the same results; a dying worker is survived.

Tasks used by worker processes live in a module written to a temporary directory and
put on ``PYTHONPATH``, so spawned pool processes and Dask workers can import them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from hpbench.executors import InProcessExecutor, TrialJob, WorkerDied, WorkerPool, make_executor
from hpbench.experiment import benchmark, run_experiment
from hpbench.spec import BenchmarkSpec, RunOptions, parse_searcher

TASKS = '''
import os, time, pathlib
import hpbench as hb

@hb.task(space={"x": hb.Float(0.0, 1.0)}, name="pid-sleep")
def pid_sleep(config, *, budget, seed):
    """Writes its pid to $HPB_DIR, then sleeps $HPB_SLEEP seconds: a test can kill it mid-trial."""
    d = pathlib.Path(os.environ["HPB_DIR"])
    before = len(list(d.glob("pid-*")))  # the first $HPB_QUICK trials do not sleep
    (d / f"pid-{os.getpid()}-{time.time_ns()}").write_text(str(os.getpid()))
    if before >= int(os.environ.get("HPB_QUICK", "0")):
        time.sleep(float(os.environ.get("HPB_SLEEP", "1")))
    return config["x"]

@hb.task(space={"x": hb.Float(0.0, 1.0)}, name="suicide")
def suicide(config, *, budget, seed):
    """Kills its own process for x > 0.5 (every attempt), else returns x."""
    if config["x"] > 0.5:
        os.kill(os.getpid(), 9)
    return config["x"]
'''


@pytest.fixture
def tasks_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    mod_dir = tmp_path / "mods"
    mod_dir.mkdir()
    (mod_dir / "hpb_exec_tasks.py").write_text(TASKS)
    monkeypatch.syspath_prepend(str(mod_dir))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(mod_dir), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("HPB_DIR", str(tmp_path))
    sys.modules.pop("hpb_exec_tasks", None)
    import hpb_exec_tasks  # type: ignore[import-not-found]

    yield hpb_exec_tasks
    sys.modules.pop("hpb_exec_tasks", None)


def _kill_first_worker(tmp_path: Path, killed: list[int], timeout: float = 60.0) -> None:
    """SIGKILL the first process that writes a pid file (once), from a background thread."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        files = sorted(tmp_path.glob("pid-*"), key=lambda p: p.name.split("-")[2])
        if files:
            pid = int(files[0].read_text())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
            return
        time.sleep(0.02)


def _wait_for(what: str, done: Callable[[], bool], timeout: float = 120.0) -> None:
    """Poll until ``done()`` (an event: a file written, a process gone); fail after ``timeout``."""
    t0 = time.monotonic()
    while not done():
        assert time.monotonic() - t0 < timeout, f"never happened: {what}"
        time.sleep(0.02)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _key(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["task", "searcher", "seed", "trial", "config", "budget", "objective", "status"]
    return df[cols].sort_values(["task", "searcher", "seed", "trial"]).reset_index(drop=True)


# --------------------------------------------------------------------------------- pool
def test_pool_runs_jobs_on_its_processes_and_records_times() -> None:
    pool = WorkerPool(2)
    try:
        t0 = time.time()
        futs = [pool.submit(TrialJob("branin", {"x1": 1.0 * i, "x2": 2.0}, None, 0)) for i in range(6)]
        outs = [f.result(timeout=60) for f in futs]
        pids = set(pool.worker_pids())
    finally:
        pool.shutdown()
    assert all(o.status == "ok" for o in outs)
    assert {int(o.worker.rsplit(":", 1)[1]) for o in outs} <= pids
    assert all(t0 <= o.started <= o.finished for o in outs)
    inproc = InProcessExecutor().submit(TrialJob("branin", {"x1": 3.0, "x2": 2.0}, None, 0)).result()
    assert outs[3].objective == pytest.approx(inproc.objective, rel=0, abs=0)


def test_pool_worker_death_fails_only_its_trial(tasks_module: Any, tmp_path: Path) -> None:
    pool = WorkerPool(2)
    try:
        os.environ["HPB_SLEEP"] = "3"
        doomed = pool.submit(TrialJob(tasks_module.pid_sleep, {"x": 0.1}, None, 0))
        killed: list[int] = []
        _kill_first_worker(tmp_path, killed)
        os.environ["HPB_SLEEP"] = "0"
        other = pool.submit(TrialJob(tasks_module.pid_sleep, {"x": 0.2}, None, 0))
        with pytest.raises(WorkerDied, match="killed by signal 9"):
            doomed.result(timeout=30)
        assert other.result(timeout=30).status == "ok"
        # The dead process was replaced: the pool still has two live workers, none the dead one.
        assert killed[0] not in pool.worker_pids() and len(pool.worker_pids()) == 2
        assert pool.submit(TrialJob(tasks_module.pid_sleep, {"x": 0.3}, None, 0)).result(30).objective == 0.3
    finally:
        os.environ.pop("HPB_SLEEP", None)
        pool.shutdown()


def test_shutdown_cancel_kills_workers(tasks_module: Any) -> None:
    os.environ["HPB_SLEEP"] = "30"
    pool = WorkerPool(1)
    try:
        fut = pool.submit(TrialJob(tasks_module.pid_sleep, {"x": 0.1}, None, 0))
        _wait_for("the trial started", lambda: any(Path(os.environ["HPB_DIR"]).glob("pid-*")))
        pids = pool.worker_pids()
        pool.shutdown(cancel=True)  # the trial sleeps 30 s: only a kill ends it
    finally:
        os.environ.pop("HPB_SLEEP", None)
    assert fut.done()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.parametrize("mode", ["pool", "dask"])
def test_killed_worker_is_retried_then_experiment_finishes(
    tasks_module: Any, tmp_path: Path, mode: str
) -> None:
    """SIGKILL of the process running a trial: retried once elsewhere, stored ok, nothing lost."""
    os.environ["HPB_SLEEP"] = "1.5"
    killed: list[int] = []
    t = threading.Thread(target=_kill_first_worker, args=(tmp_path, killed), daemon=True)
    t.start()
    try:
        res = benchmark(
            [tasks_module.pid_sleep],
            ["random"],
            seeds=2,
            max_evals=2,
            store=tmp_path / "s.db",
            workers=2,
            dask="local:2" if mode == "dask" else None,
            progress=False,
        )
    finally:
        os.environ.pop("HPB_SLEEP", None)
    t.join(5)
    df = res.trials
    assert killed, "no worker was killed"
    assert len(df) == 4 and (df.status == "ok").all()
    retried = df[df.attempts == 2]
    assert len(retried) == 1 and (df.attempts == 1).sum() == 3
    assert int(retried.worker.iloc[0].rsplit(":", 1)[1]) != killed[0]
    assert (res.runs.status == "finished").all()


def test_trial_that_kills_every_worker_is_stored_failed(tasks_module: Any, tmp_path: Path) -> None:
    res = benchmark(
        [tasks_module.suicide],
        ["random"],
        seeds=1,
        max_evals=8,
        store=tmp_path / "s.db",
        workers=2,
        progress=False,
    )
    df = res.trials
    bad = df[df["param.x"] > 0.5]
    assert len(df) == 8 and len(bad) >= 1
    assert (bad.status == "failed").all() and (bad.attempts == 2).all()
    assert bad.error.str.contains("worker died in each of 2 attempts").all()
    good = df[df["param.x"] <= 0.5]
    assert (good.status == "ok").all() and (good.objective == good["param.x"]).all()


# ------------------------------------------------------------------------ reproducibility
def test_same_trials_with_1_or_2_workers_or_dask(tmp_path: Path) -> None:
    """Runs are the unit of parallelism: results depend on the seed only."""
    kw: dict[str, Any] = dict(seeds=2, max_evals=6, progress=False)
    tasks, searchers = ["branin-mf"], ["random", "gp-ei", "hyperband"]
    one = benchmark(tasks, searchers, store=tmp_path / "a.db", workers=0, **kw).trials
    two = benchmark(tasks, searchers, store=tmp_path / "b.db", workers=2, **kw).trials
    dsk = benchmark(tasks, searchers, store=tmp_path / "c.db", dask="local:2", **kw).trials
    assert len(one) == 3 * 2 * 6
    pd.testing.assert_frame_equal(_key(one), _key(two))
    pd.testing.assert_frame_equal(_key(one), _key(dsk))
    assert two.worker.nunique() == 2 and dsk.worker.nunique() == 2
    for df in (two, dsk):
        assert (df.queued <= df.started + 1e-3).all() and (df.started <= df.finished).all()


def test_synchronous_searchers_say_they_wait(tmp_path: Path) -> None:
    spec = BenchmarkSpec(
        "sync",
        ("branin-mf",),
        (parse_searcher("hyperband"), parse_searcher("random")),
        (0,),
        budget=__import__("hpbench").Budget(max_evals=6),
    )
    lines: list[str] = []
    run_experiment(
        spec,
        RunOptions(workers=0, trials_per_run=2),
        store=tmp_path / "s.db",
        progress=False,
        log=lines.append,
    )
    notes = [m for m in lines if "synchronous" in m]
    assert len(notes) == 1 and "'hyperband'" in notes[0] and "'random'" not in notes[0]


# ----------------------------------------------------------------------------- failures
def test_unreachable_scheduler_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    t0 = time.time()
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "hpbench.cli",
            "run",
            "--task",
            "branin",
            "--searcher",
            "random",
            "--max-evals",
            "2",
            "--dask",
            "tcp://127.0.0.1:9",
            "--store",
            str(store),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.time() - t0
    assert p.returncode == 2, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Dask scheduler" in lines[0] and "127.0.0.1:9" in lines[0]
    assert elapsed < 15
    assert not store.exists()


def test_bad_dask_address_is_rejected() -> None:
    with pytest.raises(ValueError, match="local:N"):
        make_executor(dask="local:zero")
    with pytest.raises(ValueError, match="tcp://HOST:PORT"):
        make_executor(dask="somewhere")


def test_sigint_stops_cleanly_and_closes_the_cluster(tasks_module: Any, tmp_path: Path) -> None:
    """Ctrl-C on a Dask run: exit 130, finished trials stored, runs resumable, workers gone."""
    script = tmp_path / "drive.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys
        import hpb_exec_tasks
        from hpbench.registry import register_task
        from hpbench.cli import main
        if __name__ == "__main__":
            register_task("pid-sleep", hpb_exec_tasks.pid_sleep)
            sys.exit(main(["run", "--task", "pid-sleep", "--searcher", "random", "--seeds", "2",
                           "--max-evals", "50", "--dask", "local:2", "--store", {str(tmp_path / "s.db")!r},
                           "--no-progress"]))
    """)
    )
    # The first 4 trials return at once, every later one sleeps 600 s: once 6 have started,
    # 4 are finished and 2 are in flight however loaded the machine, so the run cannot end
    # before the signal.
    env = {**os.environ, "HPB_SLEEP": "600", "HPB_QUICK": "4"}
    proc = subprocess.Popen([sys.executable, str(script)], env=env, stderr=subprocess.PIPE, text=True)
    _wait_for("6 trials started", lambda: len(list(tmp_path.glob("pid-*"))) >= 6 or proc.poll() is not None)
    assert proc.poll() is None, proc.communicate()[1]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted" in err.strip().splitlines()[-1]
    for pid in {int(p.read_text()) for p in tmp_path.glob("pid-*")}:
        _wait_for(f"worker {pid} gone", lambda pid=pid: _gone(pid), timeout=60)
    from hpbench.results.store import load_results, load_runs

    df = load_results(tmp_path / "s.db")
    assert 0 < len(df) < 100 and (df.status == "ok").all()
    assert (load_runs(tmp_path / "s.db").status != "finished").all()


def test_dask_executor_restores_global_state_at_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dask's configuration and MALLOC_TRIM_THRESHOLD_ change for the executor's lifetime only."""
    import dask
    import distributed  # noqa: F401 - its defaults in dask's config

    from hpbench.executors import DaskExecutor

    keys = ["distributed.scheduler.allowed-failures", "distributed.worker.profile.enabled"]
    before = [dask.config.get(k) for k in keys]
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "12345")
    ex = DaskExecutor("local:1")
    try:
        assert [dask.config.get(k) for k in keys] == [0, False]
        assert ex.capabilities.pickles_tasks is False and ex.workers == 1
    finally:
        ex.shutdown()
    assert [dask.config.get(k) for k in keys] == before
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "12345"


# ------------------------------------------------------------------ default executor
def test_auto_workers_runs_instant_tasks_in_the_driver_and_others_on_the_pool() -> None:
    from hpbench.executors.choice import auto_workers
    from hpbench.registry import get_task

    branin, svm = get_task("branin"), get_task("svm-digits")
    per_core = os.cpu_count() or 1
    assert auto_workers(None, [branin], None) == 0  # synthetic: 1e-5 s per evaluation
    assert auto_workers(None, [branin, svm], None) == per_core  # one real task: processes
    assert auto_workers(None, [branin], 5.0) == per_core  # a timeout needs a process to stop
    assert auto_workers(None, [object()], None) == per_core  # unknown speed: processes
    assert auto_workers(3, [branin], None) == 3 and auto_workers(0, [svm], None) == 0  # as asked


def test_cli_default_evaluates_an_instant_task_in_the_driver(tmp_path: Path) -> None:
    from hpbench.cli import main
    from hpbench.results.store import load_results

    store = tmp_path / "s.db"
    common = ["run", "--task", "branin", "--searcher", "random", "--seeds", "1", "--max-evals", "4"]
    assert main([*common, "--store", str(store), "--name", "here", "--no-progress"]) == 0
    timed = ["--trial-timeout", "60"]
    assert main([*common, "--store", str(store), "--name", "pool", "--no-progress", *timed]) == 0
    here, pool = load_results(store, "here"), load_results(store, "pool")
    me = f":{os.getpid()}"
    assert len(here) == 4 and all(w.endswith(me) for w in here.worker)
    assert len(pool) == 4 and not any(w.endswith(me) for w in pool.worker)
