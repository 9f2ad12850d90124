"""The examples in examples/ run as users would run them, and do what they say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

import hpbench as hb

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_custom_task_example_runs_and_stores_its_metric(tmp_path: Path) -> None:
    db = tmp_path / "ex.db"
    proc = _run([sys.executable, str(ROOT / "examples" / "custom_task.py"), "--store", str(db)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    df = hb.load_results(db, "custom-task")
    assert len(df) == 2 * 2 * 15
    assert (df.status == "ok").all()
    assert "metric.n_nonzero" in df.columns
    assert set(df.searcher) == {"random", "gp-ei"}
    # Ridge on standardised diabetes: validation MSE is well below the variance (1.0).
    assert df.objective.min() < 0.7


def test_custom_searcher_example_is_benchmarked_beside_random(tmp_path: Path) -> None:
    db = tmp_path / "ex.db"
    proc = _run([sys.executable, str(ROOT / "examples" / "custom_searcher.py"), "--store", str(db)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    df = hb.load_results(db, "custom-searcher")
    assert set(df.searcher) == {"one-plus-one", "random"}
    runs = hb.load_runs(db, "custom-searcher")
    params = runs.loc[runs.searcher == "one-plus-one", "searcher_params"].iloc[0]
    assert '"sigma":0.15' in params
    assert len(df) == 2 * 2 * 3 * 40


def test_spec_example_runs_from_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "spec.db"
    proc = _run(
        [
            sys.executable,
            "-m",
            "hpbench",
            "run",
            str(ROOT / "examples" / "spec.toml"),
            "--store",
            str(db),
            "--no-progress",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    df = hb.load_results(db, "synthetic-demo")
    assert set(df.task) == {"branin-mf", "hartmann6-mf"}
    assert set(df.searcher) == {"random", "gp-ei:n_init=8", "hyperband:eta=3"}
    cost = df.groupby(["task", "searcher", "seed"]).cost.sum()
    # Each run stops at its cost budget of 30 (the last trial may overshoot by < 1).
    assert ((cost >= 29) & (cost < 31)).all(), cost
    hb_trials = df[df.searcher == "hyperband:eta=3"]
    assert pd.Series(hb_trials.budget).nunique() > 1  # hyperband used several fidelities
