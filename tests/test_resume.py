"""Resume after SIGKILL, spec mismatches, --fresh, lost checkpoints and the evaluation cache."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from hpbench.results.store import load_results, load_runs

TASKS = '''
import json, os, time
from hpbench.tasks.synthetic import Branin

class SlowBraninMF(Branin):
    """branin-mf that sleeps a little (so a test can kill it mid-run) and counts its calls."""

    def __init__(self):
        super().__init__(multi_fidelity=True)
        self.name = "slow-branin-mf"

    def evaluate(self, config, *, budget=None, seed=0, checkpoint=None):
        with open(os.environ["HPB_COUNT"], "a") as fh:
            fh.write("1\\n")
        time.sleep(float(os.environ.get("HPB_SLEEP", "0.03")))
        ev = super().evaluate(config, budget=budget, seed=seed, checkpoint=checkpoint)
        metrics = {**ev.metrics, "from_checkpoint": checkpoint is not None}
        return type(ev)(objective=ev.objective, metrics=metrics, checkpoint=ev.checkpoint)
'''

DRIVER = """
import sys
from hpbench.registry import register_task
from hpbench.cli import main
import hpb_resume_tasks

if __name__ == "__main__":
    register_task("slow-branin-mf", hpb_resume_tasks.SlowBraninMF)
    sys.exit(main(sys.argv[1:]))
"""

SEARCHERS = ["random", "gp-ei", "hyperband"]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "hpb_resume_tasks.py").write_text(TASKS)
    (tmp_path / "driver.py").write_text(DRIVER)
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        "HPB_COUNT": str(tmp_path / "calls.txt"),
    }


def args(store: Path, *extra: str, evals: int = 24, name: str = "exp") -> list[str]:
    cmd = [
        "run",
        "--task",
        "slow-branin-mf",
        "--seeds",
        "1",
        "--max-evals",
        str(evals),
        "--workers",
        "0",
        "--store",
        str(store),
        "--name",
        name,
        "--no-progress",
    ]
    for s in SEARCHERS:
        cmd += ["--searcher", s]
    return [*cmd, *extra]


def hpbench(tmp_path: Path, env: dict[str, str], argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def n_trials(store: Path) -> int:
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1) as con:
            return int(con.execute("SELECT COUNT(*) FROM trials").fetchone()[0])
    except sqlite3.Error:
        return 0


def key(df: pd.DataFrame) -> pd.DataFrame:
    cols = ["searcher", "seed", "trial", "config", "budget", "objective", "status", "continue_from", "cost"]
    return df[cols].sort_values(["searcher", "seed", "trial"]).reset_index(drop=True)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_sigkill_at_three_points_then_resume_equals_uninterrupted(
    tmp_path: Path, env: dict[str, str]
) -> None:
    ref_store = tmp_path / "ref.db"
    p = hpbench(tmp_path, env, args(ref_store))
    assert p.returncode == 0, p.stderr
    ref = load_results(ref_store)
    assert len(ref) == 3 * 24

    store = tmp_path / "killed.db"
    for point in (3, 25, 50):  # early in the first run, mid second, mid third searcher
        proc = subprocess.Popen(
            [sys.executable, str(tmp_path / "driver.py"), *args(store)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        t0 = time.time()
        while n_trials(store) < point and proc.poll() is None and time.time() - t0 < 120:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert point <= n_trials(store) < 72, "killed too late to test anything"
    p = hpbench(tmp_path, env, args(store))
    assert p.returncode == 0, p.stderr
    assert "resuming" in p.stderr
    got = load_results(store)
    pd.testing.assert_frame_equal(key(got), key(ref))
    assert (load_runs(store).status == "finished").all()


def test_lost_checkpoint_retrains_from_scratch_deterministically(tmp_path: Path, env: dict[str, str]) -> None:
    """Kill hyperband between a rung and its promotions: the promoted trials retrain from scratch,
    give the same objectives and are charged in full (what was trained is what is charged)."""
    store, ref_store = tmp_path / "k.db", tmp_path / "r.db"
    base = [
        "run",
        "--task",
        "slow-branin-mf",
        "--searcher",
        "hyperband:min_budget=9",
        "--seeds",
        "1",
        "--max-evals",
        "20",
        "--workers",
        "0",
        "--no-progress",
        "--name",
        "hb",
    ]
    assert hpbench(tmp_path, env, [*base, "--store", str(ref_store)]).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), *base, "--store", str(store)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while n_trials(store) < 10 and proc.poll() is None:  # rung 0 (9 configs at budget 9) is done
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert hpbench(tmp_path, env, [*base, "--store", str(store)]).returncode == 0
    got, ref = load_results(store), load_results(ref_store)
    same = [c for c in key(ref).columns if c != "cost"]
    pd.testing.assert_frame_equal(key(got)[same], key(ref)[same])
    cont_ref, cont = ref[ref.continue_from.notna()], got[got.continue_from.notna()]
    assert len(cont) >= 3 and cont_ref["metric.from_checkpoint"].astype(bool).all()
    assert not cont["metric.from_checkpoint"].astype(bool).all()  # some retrained from scratch
    budgets = got.set_index("trial").budget
    for _, row in cont_ref.iterrows():  # the reference continued: charged only the increment
        assert row.cost == pytest.approx((row.budget - budgets[int(row.continue_from)]) / 81)
    for _, row in cont.iterrows():  # the resumed run: the increment where it continued, else in full
        start = budgets[int(row.continue_from)] if row["metric.from_checkpoint"] else 0
        assert row.cost == pytest.approx((row.budget - start) / 81)


def test_other_spec_is_refused_naming_the_difference_and_fresh_starts_anew(
    tmp_path: Path, env: dict[str, str]
) -> None:
    store = tmp_path / "s.db"
    assert hpbench(tmp_path, env, args(store, evals=4)).returncode == 0
    before = sha(store)
    p = hpbench(tmp_path, env, args(store, evals=3))  # a smaller budget (a larger one extends it)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "budget" in lines[0] and "'max_evals': 4" in lines[0] and "3" in lines[0]
    p = hpbench(tmp_path, env, args(store, "--searcher", "hyperband:eta=2", evals=4))
    assert p.returncode == 2 and "searchers" in p.stderr and "eta" in p.stderr
    assert sha(store) == before
    p = hpbench(tmp_path, env, args(store, "--fresh", evals=5))
    assert p.returncode == 0, p.stderr
    assert "exp-2" in p.stderr
    assert set(load_results(store).experiment) == {"exp", "exp-2"}


def test_cache_across_experiments_trains_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    store, calls = tmp_path / "s.db", tmp_path / "calls.txt"
    t0 = time.time()
    assert hpbench(tmp_path, env, args(store, evals=12, name="first")).returncode == 0
    first_s = time.time() - t0
    n_first = len(calls.read_text().splitlines())
    t0 = time.time()
    p = hpbench(tmp_path, env, args(store, "--cache", evals=12, name="second"))
    second_s = time.time() - t0
    assert p.returncode == 0, p.stderr
    assert len(calls.read_text().splitlines()) == n_first, "the cached re-run trained something"
    a, b = load_results(store, "first"), load_results(store, "second")
    assert b.cached.all() and not a.cached.any() and (b.worker == "cache").all()
    pd.testing.assert_frame_equal(key(a), key(b))  # same objectives, same (original) costs
    print(f"\ncache: first run {first_s:.2f} s ({n_first} evaluations), cached re-run {second_s:.2f} s (0)")
    # Without --cache, another experiment trains again.
    assert hpbench(tmp_path, env, args(store, evals=12, name="third")).returncode == 0
    assert len(calls.read_text().splitlines()) == 2 * n_first
