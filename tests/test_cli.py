"""The ``hpbench`` command, run as a subprocess: smoke run, status, export, list, user mistakes, SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import sha256

import hpbench as hb

SMOKE = [
    "run",
    "--task",
    "branin",
    "--task",
    "hartmann6",
    "--searcher",
    "random",
    "--seeds",
    "5",
    "--max-evals",
    "50",
    "--name",
    "smoke",
    "--workers",
    "0",
]


def hpbench(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpbench.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's smoke command, run once in a fresh folder; returns the folder."""
    cwd = tmp_path_factory.mktemp("smoke")
    out = hpbench(*SMOKE, cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert "500 trials stored (500 ok)" in out.stdout
    return cwd


def _snapshot(folder: Path) -> dict[str, str | None]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


def test_smoke_run_stores_500_ok_trials(smoke: Path) -> None:
    df = hb.load_results(smoke / "results" / "hpbench.db")
    assert df.shape[0] == 500
    assert (df.status == "ok").all()
    assert df.groupby(["task", "seed"]).size().eq(50).all()
    assert sorted(df.task.unique()) == ["branin", "hartmann6"] and sorted(df.seed.unique()) == [0, 1, 2, 3, 4]
    # the one-liner agrees
    code = "import hpbench; print(hpbench.load_results('results/hpbench.db').shape)"
    out = subprocess.run([sys.executable, "-c", code], cwd=smoke, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().startswith("(500,")


def test_status_shows_the_runs(smoke: Path) -> None:
    out = hpbench("status", cwd=smoke)
    assert out.returncode == 0, out.stderr
    assert "experiment smoke: 10/10 runs finished, 500 trials" in out.stdout
    assert out.stdout.count("finished") >= 10 and "trials 50/50" in out.stdout


def test_export_csv_and_parquet(smoke: Path, tmp_path: Path) -> None:
    out = hpbench("export", "--format", "csv", "-o", tmp_path / "t.csv", cwd=smoke)
    assert out.returncode == 0, out.stderr
    assert "500 trials written" in out.stdout
    csv = pd.read_csv(tmp_path / "t.csv")
    out = hpbench(
        "export", "--format", "parquet", "-o", tmp_path / "t.parquet", "--experiment", "smoke", cwd=smoke
    )
    assert out.returncode == 0, out.stderr
    pq = pd.read_parquet(tmp_path / "t.parquet")
    assert len(csv) == len(pq) == 500
    assert csv.objective.tolist() == pytest.approx(pq.objective.tolist(), rel=1e-12)


def test_same_command_again_resumes_and_adds_nothing(smoke: Path, tmp_path: Path) -> None:
    cwd = tmp_path / "again"
    shutil.copytree(smoke / "results", cwd / "results")
    out = hpbench(*SMOKE, cwd=cwd)
    assert out.returncode == 0, out.stderr
    assert "resuming" in out.stderr
    assert len(hb.load_results(cwd / "results" / "hpbench.db")) == 500


@pytest.mark.parametrize("what", ["tasks", "searchers"])
def test_list_json_parses(what: str, tmp_path: Path) -> None:
    out = hpbench("list", what, "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    names = {r["name"] for r in rows}
    if what == "tasks":
        assert {"branin", "hartmann6", "branin-mf"} <= names
        branin = next(r for r in rows if r["name"] == "branin")
        assert branin["optimum"] == pytest.approx(0.397887) and branin["params"] == ["x1", "x2"]
    else:
        assert {"random", "hyperband", "gp-ei"} <= names
        hyperband = next(r for r in rows if r["name"] == "hyperband")
        assert hyperband["params"]["eta"] == 3 and hyperband["needs_fidelity"] is True
    assert not any("cannot load" in r["description"] for r in rows)
    plain = hpbench("list", what, cwd=tmp_path)
    assert plain.returncode == 0 and all(n in plain.stdout for n in names)


# ------------------------------------------------------------------ user mistakes
BAD_TOML = 'tasks = ["branin"\nsearchers = "random"\n'
WRONG_TYPES = 'tasks = ["branin"]\nsearchers = ["random"]\n[budget]\nmax_evals = "ten"\n'
MISTAKES = {
    "unknown-task": (
        ["--task", "branni", "--searcher", "random", "--max-evals", "5"],
        "did you mean 'branin'",
    ),
    "unknown-searcher": (
        ["--task", "branin", "--searcher", "radnom", "--max-evals", "5"],
        "did you mean 'random'",
    ),
    "unknown-param": (
        ["--task", "branin-mf", "--searcher", "hyperband:etaa=3", "--max-evals", "5"],
        "did you mean 'eta'",
    ),
    "bad-param-value": (["--task", "branin-mf", "--searcher", "hyperband:eta=1", "--max-evals", "5"], "eta"),
    "malformed-toml": (["SPEC:" + BAD_TOML], "not valid TOML"),
    "wrong-types": (["SPEC:" + WRONG_TYPES], "max_evals"),
    "negative-budget": (["--task", "branin", "--searcher", "random", "--max-evals", "-5"], "--max-evals"),
    "negative-cost": (["--task", "branin", "--searcher", "random", "--budget", "-1"], "--budget"),
    "no-fidelity": (["--task", "branin", "--searcher", "hyperband", "--max-evals", "5"], "fidelity"),
}


def _args(spec: list[str], folder: Path) -> list[str]:
    if spec and spec[0].startswith("SPEC:"):
        path = folder / "spec.toml"
        path.write_text(spec[0][5:])
        return [str(path)]
    return spec


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cwd = tmp_path_factory.mktemp("tiny")
    out = hpbench(
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
        "--name",
        "tiny",
        "--store",
        "tiny.db",
        cwd=cwd,
    )
    assert out.returncode == 0, out.stderr
    return cwd / "tiny.db"


@pytest.mark.parametrize("case", list(MISTAKES))
def test_user_mistake_one_line_exit_2_store_untouched(case: str, tmp_path: Path, tiny_store: Path) -> None:
    spec, fragment = MISTAKES[case]
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    shutil.copy(tiny_store, store_dir / "hpbench.db")
    before = _snapshot(store_dir)
    out = hpbench(
        "run",
        *_args(spec, tmp_path),
        "--store",
        store_dir / "hpbench.db",
        "--name",
        "tiny",
        "--workers",
        "0",
        cwd=tmp_path,
    )
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith("hpbench: error:") and fragment in lines[0], lines[0]
    assert out.stdout == ""
    assert _snapshot(store_dir) == before


@pytest.mark.parametrize("case", ["unknown-task", "malformed-toml", "no-fidelity"])
def test_user_mistake_creates_no_store(case: str, tmp_path: Path) -> None:
    spec, _ = MISTAKES[case]
    out = hpbench("run", *_args(spec, tmp_path), "--workers", "0", cwd=tmp_path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists()


def test_store_that_is_not_hpbench_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("my notes\n")
    before = sha256(path)
    for args in (
        ["status"],
        ["export", "-o", str(tmp_path / "x.csv")],
        ["run", "--task", "branin", "--searcher", "random", "--max-evals", "2", "--workers", "0"],
    ):
        out = hpbench(*args, "--store", path, cwd=tmp_path)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "not an SQLite database" in out.stderr
    assert sha256(path) == before
    assert not (tmp_path / "x.csv").exists()


# ------------------------------------------------------------------------ SIGKILL
SLOW_PLUGIN = """
import time

import hpbench as hb


def _slow(config, *, budget, seed):
    time.sleep(0.02)
    with open(__file__ + ".log", "a") as fh:  # evaluation finished (before the driver commits it)
        fh.write("done\\n")
    return config["x"]


def make_task():
    return hb.FunctionTask(_slow, space={"x": hb.Float(0.0, 1.0)}, name="slow-demo")
"""


def _count(store: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # not created yet
        return 0


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX only")
def test_sigkill_loses_no_finished_trial(tmp_path: Path) -> None:
    # A 20 ms task reaches `hpbench run` as a plug-in (entry point on PYTHONPATH).
    plug = tmp_path / "plug"
    plug.mkdir()
    (plug / "hpb_slow_plugin.py").write_text(textwrap.dedent(SLOW_PLUGIN))
    info = plug / "hpb_slow_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hpb-slow-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[hpbench.tasks]\nslow-demo = hpb_slow_plugin:make_task\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plug), os.environ.get("PYTHONPATH", "")])}
    store = tmp_path / "kill.db"
    cmd = [
        sys.executable,
        "-m",
        "hpbench.cli",
        "run",
        "--task",
        "slow-demo",
        "--searcher",
        "random",
        "--seeds",
        "2",
        "--max-evals",
        "100000",
        "--workers",
        "0",
        "--store",
        str(store),
        "--name",
        "killme",
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.time() + 90
        seen = 0
        while seen < 20:
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.time() < deadline, "the run never stored 20 trials"
            time.sleep(0.05)
            seen = _count(store)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    con = sqlite3.connect(store)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    n, distinct = con.execute(
        "SELECT COUNT(*), COUNT(DISTINCT run_id || ':' || trial) FROM trials"
    ).fetchone()
    con.close()
    assert n == distinct
    assert n >= seen  # nothing that was committed before the kill is lost
    finished = len((plug / "hpb_slow_plugin.py.log").read_text().splitlines())
    assert n >= finished - 1  # at most the trial between evaluation and commit
    df = hb.load_results(store)
    assert len(df) == n and (df.status == "ok").all() and df.objective.notna().all()
    assert (df.finished >= df.started).all()
    assert df.config.map(json.loads).map(lambda c: 0 <= c["x"] <= 1).all()
    status = hpbench("status", "--store", store, cwd=tmp_path)
    assert status.returncode == 0 and "killme" in status.stdout


def test_status_best_is_the_top_fidelity_incumbent(tmp_path: Path) -> None:
    store = tmp_path / "mf.db"
    args = ["--task", "branin-mf", "--searcher", "hyperband", "--seeds", "1", "--budget", "6"]
    out = hpbench("run", *args, "--store", store, "--workers", "0", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    df = hb.load_results(store)
    top = df[(df.status == "ok") & (df.budget == df.fidelity_high)]
    assert len(top) and len(top) < len(df)  # lower rungs exist
    out = hpbench("status", "--store", store, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"best {top.objective.min():.6g}" in out.stdout
    assert f"cost {df.cost.sum():.3g}" in out.stdout
