"""Is the budget the same for every searcher? Three checks of issue 12, one table each.

1. **Compute per unit of cost.** On ``gbdt-digits`` (rounds 1..81) and ``mlp-digits``
   (epochs 1..27), each of random, sh, hyperband and asha runs ``--seeds`` seeds under
   ``max_cost`` ``--cost`` (full-fidelity equivalents), in this process, one trial at a
   time. Every evaluation's CPU and wall seconds are measured around ``evaluate`` (the
   tasks train on one thread, so CPU seconds are single-core seconds even on a busy
   machine); the table gives total seconds / total charged cost per searcher, pooled over
   seeds, and its ratio to random's. Random trains every trial at the top fidelity, so
   its seconds per unit cost are the price of one full evaluation; the cost model is fair
   when every searcher pays that price (target: within +-15%).
2. **No overshoot.** ``branin-mf`` and ``hartmann6-mf`` (instant synthetic tasks),
   hyperband, sh, asha and random, 10 seeds, ``max_cost`` 3.3 and 10, in this process and
   on a pool of 2 workers with 4 trials of a run in flight: the largest total cost of any
   run against its ``max_cost`` (target: never above).
3. **Time budgets.** ``svm-digits``, random and gp-ei, ``--seeds`` seeds, ``max_seconds``
   ``--seconds`` each, on a pool of 2 worker processes (the trial clock starts when
   ``evaluate`` does, after the worker built and prepared the task): trials per run
   (target: random at least as many as gp-ei, since it spends no time thinking), and the
   first trial's seconds beside the others' (a first trial that paid the worker's imports
   would stand out).

Defaults (about 10 minutes on a 2-core machine loaded by other jobs): 2 seeds, cost 6,
15 seconds. Wall seconds on a shared machine move with the other jobs' load; the CPU
columns are the measure of check 1.

Usage: ``nice -n 10 python benchmarks/fairness.py [--seeds N] [--cost C] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import hpbench as hb
from hpbench.budget import Budget
from hpbench.executors import InProcessExecutor, WorkerPool
from hpbench.executors.base import Executor
from hpbench.registry import get_task, make_searcher
from hpbench.runner import run_search, split_seed
from hpbench.surrogate.record import CPU, WALL, RecordingTask
from hpbench.trial import TrialRecord

SEARCHERS = ("random", "sh", "hyperband", "asha")


def _run(
    task: Any, searcher: str, seed: int, budget: Budget, executor: Executor, per_run: int
) -> list[TrialRecord]:
    s_seed, t_seed = split_seed(seed)
    s = make_searcher(searcher, space=task.space, fidelity=task.fidelity, seed=s_seed)
    return run_search(task, s, budget=budget, task_seed=t_seed, executor=executor, trials_per_run=per_run)


def compute_per_cost(tasks: list[str], seeds: int, cost: float) -> list[dict[str, Any]]:
    """Check 1: CPU and wall seconds per unit of charged cost, per task and searcher."""
    rows = []
    for name in tasks:
        task = RecordingTask(name)  # adds each evaluation's CPU and wall seconds to its metrics
        for searcher in SEARCHERS:
            recs = [
                r
                for k in range(seeds)
                for r in _run(task, searcher, k, Budget(max_cost=cost), InProcessExecutor(), 1)
            ]
            charged = sum(r.cost for r in recs)
            rows.append(
                {
                    "task": name,
                    "searcher": searcher,
                    "trials": len(recs),
                    "cost": charged,
                    "cpu": sum(r.metrics.get(CPU, 0.0) for r in recs) / charged,
                    "wall": sum(r.metrics.get(WALL, 0.0) for r in recs) / charged,
                }
            )
            print(f"  {name} {searcher}: {len(recs)} trials, cost {charged:.2f}", flush=True)
    return rows


def format_compute(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| task (c0) | searcher | trials | cost | CPU s / cost | vs random | wall s / cost | vs random "
        "| within 15% |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = {r["task"]: r for r in rows if r["searcher"] == "random"}
    for r in rows:
        b = base[r["task"]]
        ratio, wall = r["cpu"] / b["cpu"], r["wall"] / b["wall"]
        c0 = get_task(r["task"]).overhead
        lines.append(
            f"| {r['task']} ({c0:g}) | {r['searcher']} | {r['trials']} | {r['cost']:.2f} | {r['cpu']:.3f} "
            f"| {ratio:.2f} | {r['wall']:.3f} | {wall:.2f} | {'yes' if abs(ratio - 1) <= 0.15 else 'NO'} |"
        )
    return "\n".join(lines)


def overshoot(seeds: int = 10, costs: tuple[float, ...] = (3.3, 10.0)) -> list[dict[str, Any]]:
    """Check 2: the largest total cost of any run against its max_cost."""
    rows = []
    pool = WorkerPool(2)
    try:
        for where, executor, per_run in (
            ("in process", InProcessExecutor(), 1),
            ("pool 2, 4 in flight", pool, 4),
        ):
            for cost in costs:
                for name in ("branin-mf", "hartmann6-mf"):
                    task = get_task(name)
                    for searcher in SEARCHERS:
                        totals = [
                            sum(
                                r.cost
                                for r in _run(task, searcher, k, Budget(max_cost=cost), executor, per_run)
                            )
                            for k in range(seeds)
                        ]
                        rows.append(
                            {
                                "where": where,
                                "max_cost": cost,
                                "task": name,
                                "searcher": searcher,
                                "totals": totals,
                            }
                        )
    finally:
        pool.shutdown()
    return rows


def format_overshoot(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| executor | max_cost | task | searcher | largest total | median total | over budget |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        top = max(r["totals"])
        over = sum(t > r["max_cost"] * (1 + 1e-9) for t in r["totals"])
        lines.append(
            f"| {r['where']} | {r['max_cost']:g} | {r['task']} | {r['searcher']} | {top:.4f} "
            f"| {statistics.median(r['totals']):.4f} | {over}/{len(r['totals'])} |"
        )
    return "\n".join(lines)


def time_budget(seeds: int, seconds: float) -> list[dict[str, Any]]:
    """Check 3: trials per run of random and gp-ei under max_seconds on svm-digits, 2 workers."""
    with tempfile.TemporaryDirectory() as tmp:
        res = hb.benchmark(
            ["svm-digits"],
            ["random", "gp-ei"],
            seeds=seeds,
            max_seconds=seconds,
            store=Path(tmp) / "fair.db",
            workers=2,
            progress=False,
        )
        df = res.trials
    rows = []
    for searcher in ("random", "gp-ei"):
        d = df[df.searcher == searcher].sort_values("trial")
        own = d.finished - d.started
        counts = [int((d.seed == k).sum()) for k in range(seeds)]
        secs = [float(own[d.seed == k].sum()) for k in range(seeds)]
        first = float(own[d.trial == 0].median())
        rest = float(own[d.trial > 0].median())
        rows.append(
            {"searcher": searcher, "counts": counts, "trial_seconds": secs, "first": first, "rest": rest}
        )
    return rows


def format_time(rows: list[dict[str, Any]], seconds: float) -> str:
    lines = [
        f"| searcher | trials per seed (max_seconds {seconds:g}) | median | trial seconds per seed "
        "| first trial s (median) | other trials s (median) |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        secs = ", ".join(f"{s:.2f}" for s in r["trial_seconds"])
        counts = ", ".join(map(str, r["counts"]))
        lines.append(
            f"| {r['searcher']} | {counts} | {statistics.median(r['counts']):g} | {secs} "
            f"| {r['first']:.3f} | {r['rest']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds of checks 1 and 3 (check 2 uses 10)")
    parser.add_argument("--cost", type=float, default=6.0, help="max_cost of check 1")
    parser.add_argument("--seconds", type=float, default=15.0, help="max_seconds of check 3")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print(f"1. compute per unit of cost: {args.seeds} seeds, max_cost {args.cost:g}, in process", flush=True)
    compute = compute_per_cost(["gbdt-digits", "mlp-digits"], args.seeds, args.cost)
    print("2. overshoot: 10 seeds", flush=True)
    over = overshoot()
    print(f"3. time budget: {args.seeds} seeds, max_seconds {args.seconds:g}, 2 workers", flush=True)
    timed = time_budget(args.seeds, args.seconds)
    print()
    print(format_compute(compute))
    print()
    print(format_overshoot(over))
    print()
    print(format_time(timed, args.seconds))
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
