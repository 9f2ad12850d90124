"""Scaling benchmark: the same benchmark of a real task with 1 worker, 2 pool workers and Dask.

Prints wall time and trials per second for each executor, the speedups, and, for ASHA on
``--dask local:2`` with two trials in flight per run, the share of time workers were idle,
computed from the stored ``started``/``finished``/``worker`` columns.

Usage::

    python benchmarks/parallel.py [--task gbdt-digits] [--evals 8] [--seeds 4]

Targets on 2 cores: 2 workers >= 1.7x faster than 1; Dask within 10% of the pool; ASHA idle < 10%.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from hpbench.budget import Budget
from hpbench.experiment import run_experiment
from hpbench.spec import BenchmarkSpec, RunOptions, parse_searcher


def idle_share(df: pd.DataFrame) -> float:
    """Share of worker time spent idle between the first start and the last finish.

    Each worker is available over [first start of any trial, last finish of any trial];
    it is busy while one of its trials runs. Cached trials have no worker.
    """
    df = df[df.worker != "cache"]
    t0, t1 = df.started.min(), df.finished.max()
    busy = (df.finished - df.started).groupby(df.worker).sum()
    available = (t1 - t0) * len(busy)
    return float(1.0 - busy.sum() / available) if available > 0 else 0.0


def timed(spec: BenchmarkSpec, options: RunOptions, store: Path) -> tuple[float, pd.DataFrame]:
    t0 = time.perf_counter()
    res = run_experiment(spec, options, store=store, progress=False, log=lambda m: None)
    return time.perf_counter() - t0, res.trials


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="gbdt-digits")
    ap.add_argument("--evals", type=int, default=8, help="evaluations per run")
    ap.add_argument("--seeds", type=int, default=4, help="runs (one per seed) of random search")
    ap.add_argument("--asha-cost", type=float, default=12.0, help="cost budget of the ASHA run")
    a = ap.parse_args()

    spec = BenchmarkSpec(
        "scaling", (a.task,), (parse_searcher("random"),), tuple(range(a.seeds)), Budget(max_evals=a.evals)
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for label, opts in [
            ("1 worker (pool)", RunOptions(workers=1)),
            ("2 workers (pool)", RunOptions(workers=2)),
            ("dask local:2", RunOptions(dask="local:2")),
        ]:
            wall, df = timed(spec, opts, Path(tmp) / f"{label.split()[0]}-{opts.dask is not None}.db")
            rows.append((label, wall, len(df) / wall, df))
        print(
            f"task {a.task}: random search, {a.seeds} runs x {a.evals} evaluations "
            f"(wall time includes starting the workers)"
        )
        for label, wall, tps, _ in rows:
            print(f"  {label:<18} wall {wall:7.2f} s   {tps:6.2f} trials/s")
        base, pool, dask = rows[0][1], rows[1][1], rows[2][1]
        print(f"  speedup 2 workers vs 1: {base / pool:.2f}x (target >= 1.7)")
        print(f"  dask vs pool wall time: {dask / pool:.2f} (target <= 1.10)")
        ref = rows[0][3]
        same = all(
            (
                r[3].sort_values(["seed", "trial"]).objective.values
                == ref.sort_values(["seed", "trial"]).objective.values
            ).all()
            for r in rows[1:]
        )
        print(f"  same trials and objectives on every executor: {same}")
        # Trial-level compute only (no start-up): what the executor itself costs.
        for label, _, _, df in rows:
            span = df.finished.max() - df.started.min()
            print(f"  {label:<18} first start -> last finish {span:7.2f} s, idle {idle_share(df):5.1%}")

        asha = BenchmarkSpec("asha", (a.task,), (parse_searcher("asha"),), (0,), Budget(max_cost=a.asha_cost))
        wall, df = timed(asha, RunOptions(dask="local:2", trials_per_run=4), Path(tmp) / "asha.db")
        print(
            f"asha on dask local:2, trials_per_run=4, cost budget {a.asha_cost:g}: {len(df)} trials, "
            f"wall {wall:.2f} s, workers idle {idle_share(df):.1%} of the time (target < 10%)"
        )


if __name__ == "__main__":
    main()
