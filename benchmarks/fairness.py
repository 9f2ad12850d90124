"""Is the budget the same for every searcher? Three checks of issue 12, one table each.

1. **Compute per unit of cost.** On ``gbdt-digits`` (rounds 1..81) and ``mlp-digits``
   (epochs 1..27), sh, hyperband and asha run ``--seeds`` seeds under ``max_cost``
   ``--cost`` (full-fidelity equivalents) and random runs ``--price-evals`` full evaluations
   over the same seeds, in this process, one trial at a time, seed after seed (each seed's
   four runs back to back, so a change in the machine's load hits every searcher alike).
   Every evaluation's CPU seconds (``time.thread_time`` of the evaluating thread; the
   tasks train on one thread) and wall seconds are measured around ``evaluate``. Random
   trains every trial at the top fidelity, so its seconds per unit cost are the price of
   one full evaluation; the cost model is fair when every searcher pays that price
   (target: within +-15%). A full evaluation's seconds vary about 5x across
   configurations, so the price needs many of them: the first table gives each ratio with
   a 95% percentile bootstrap interval (configurations resampled: a configuration's trials
   together, random's independently) and says "yes" when the interval lies inside
   +-15%, "NO" when it lies outside, else whether the ratio itself is inside, "(within
   noise)". The second table splits each
   searcher's seconds and cost by step a -> b (a = the level its checkpoint came from):
   the step's seconds per unit cost over random's shows where any unfairness lives.
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

Defaults (about 12 minutes on a 2-core machine loaded by other jobs): 3 seeds, cost 6,
60 price evaluations, 15 seconds. Wall seconds on a shared machine move with the other
jobs' load; the CPU columns are the measure of check 1.

Usage: ``nice -n 10 python benchmarks/fairness.py [--seeds N] [--cost C] [--price-evals N]
[--seconds S] [--checks 123] [--tasks gbdt-digits,mlp-digits] [--save trials.json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

import hpbench as hb
from hpbench.budget import Budget
from hpbench.executors import InProcessExecutor, WorkerPool
from hpbench.executors.base import Executor
from hpbench.registry import get_task, make_searcher
from hpbench.runner import run_search, split_seed
from hpbench.surrogate.record import CPU, START, WALL, RecordingTask
from hpbench.trial import TrialRecord

SEARCHERS = ("random", "sh", "hyperband", "asha")
TOLERANCE = 0.15  # check 1's target: every searcher within +-15% of random's seconds per unit cost


def _run(
    task: Any, searcher: str, seed: int, budget: Budget, executor: Executor, per_run: int
) -> list[TrialRecord]:
    s_seed, t_seed = split_seed(seed)
    s = make_searcher(searcher, space=task.space, fidelity=task.fidelity, seed=s_seed)
    return run_search(task, s, budget=budget, task_seed=t_seed, executor=executor, trials_per_run=per_run)


def _seed_block(task: RecordingTask, seed: int, cost: float, price_cost: float) -> list[dict[str, Any]]:
    """One seed of every searcher, back to back (random under ``price_cost``, the others ``cost``)."""
    out = []
    for searcher in SEARCHERS:
        budget = Budget(max_cost=price_cost if searcher == "random" else cost)
        for r in _run(task, searcher, seed, budget, InProcessExecutor(), 1):
            out.append(
                {
                    "task": task.name,
                    "searcher": searcher,
                    "seed": seed,
                    "config": json.dumps(dict(r.config), sort_keys=True, default=str),
                    "a": float(r.metrics.get(START, 0.0)),
                    "b": float(r.budget if r.budget is not None else math.nan),
                    "cpu": float(r.metrics.get(CPU, 0.0)),
                    "wall": float(r.metrics.get(WALL, 0.0)),
                    "cost": float(r.cost),
                }
            )
    return out


def compute_trials(tasks: list[str], seeds: int, cost: float, price_evals: int) -> list[dict[str, Any]]:
    """Check 1's trials: per task, seed after seed, each searcher's run of that seed in turn.

    Interleaving by seed gives every searcher the same share of the machine's changing
    load. Random's runs are its price of a full evaluation, so they get ``price_evals``
    full evaluations in all (split as evenly as the seeds allow): a full ``gbdt-digits``
    evaluation takes 0.4 to 2.5 s depending on the configuration, and a price from a dozen
    of them is off by 20% or more.
    """
    trials = []
    for name in tasks:
        task = RecordingTask(name)  # adds each evaluation's CPU and wall seconds to its metrics
        for k in range(seeds):
            share = price_evals // seeds + (k < price_evals % seeds)  # random's evaluations this seed
            block = _seed_block(task, k, cost, float(share))
            trials += block
            done = ", ".join(f"{s} {sum(t['searcher'] == s for t in block)}" for s in SEARCHERS)
            print(f"  {name} seed {k}: trials {done}", flush=True)
    return trials


def _clusters(trials: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Seconds (``key``) and cost summed per (seed, configuration): the bootstrap's unit,
    since a configuration's promotions are not independent of its first trial."""
    sums: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for t in trials:
        acc = sums[(t["seed"], t["config"])]
        acc[0] += t[key]
        acc[1] += t["cost"]
    arr = np.array(list(sums.values()))
    return arr[:, 0], arr[:, 1]


def _boot_prices(secs: np.ndarray, cost: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` bootstrap replicates of seconds per unit cost, configurations resampled."""
    idx = rng.integers(0, secs.size, size=(n, secs.size))
    return secs[idx].sum(axis=1) / cost[idx].sum(axis=1)


def summarise_compute(
    trials: list[dict[str, Any]], boot: int = 2000, seed: int = 0, level: float = 0.95
) -> list[dict[str, Any]]:
    """Per task and searcher: CPU (and wall) seconds per unit cost, the CPU ratio to random's
    with a percentile bootstrap interval (configurations resampled, random's independently;
    random's own row: the interval of its price over the price, i.e. the price's noise)."""
    rng = np.random.default_rng(seed)
    q = [(1 - level) / 2, (1 + level) / 2]
    rows = []
    for name in dict.fromkeys(t["task"] for t in trials):
        by = {s: [t for t in trials if t["task"] == name and t["searcher"] == s] for s in SEARCHERS}
        base_secs, base_cost = _clusters(by["random"], "cpu")
        base_boot = _boot_prices(base_secs, base_cost, rng, boot)
        base_cpu = base_secs.sum() / base_cost.sum()
        base_wall = sum(t["wall"] for t in by["random"]) / base_cost.sum()
        for searcher, ts in by.items():
            secs, cost = _clusters(ts, "cpu")
            cpu = secs.sum() / cost.sum()
            wall = sum(t["wall"] for t in ts) / cost.sum()
            own = base_boot if searcher == "random" else _boot_prices(secs, cost, rng, boot)
            lo, hi = np.quantile(own / (base_cpu if searcher == "random" else base_boot), q)
            rows.append(
                {
                    "task": name,
                    "searcher": searcher,
                    "trials": len(ts),
                    "configs": secs.size,
                    "cost": float(cost.sum()),
                    "cpu": cpu,
                    "ratio": cpu / base_cpu,
                    "lo": float(lo),
                    "hi": float(hi),
                    "wall": wall,
                    "wall_ratio": wall / base_wall,
                }
            )
    return rows


def _verdict(ratio: float, lo: float, hi: float, tol: float = TOLERANCE) -> str:
    """ "yes" / "NO" when the whole interval is inside / outside ``1 +- tol``, else the point
    estimate's side, "(within noise)"."""
    if 1 - tol <= lo and hi <= 1 + tol:
        return "yes"
    if hi < 1 - tol or lo > 1 + tol:
        return "NO"
    return f"{'yes' if abs(ratio - 1) <= tol else 'no'} (within noise)"


def format_compute(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| task (c0) | searcher | trials (configs) | cost | CPU s / cost | vs random [95% interval] "
        "| wall s / cost | vs random | within 15% |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c0 = get_task(r["task"]).overhead
        verdict = "(the price)" if r["searcher"] == "random" else _verdict(r["ratio"], r["lo"], r["hi"])
        lines.append(
            f"| {r['task']} ({c0:g}) | {r['searcher']} | {r['trials']} ({r['configs']}) | {r['cost']:.2f} "
            f"| {r['cpu']:.3f} | {r['ratio']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}] | {r['wall']:.3f} "
            f"| {r['wall_ratio']:.2f} | {verdict} |"
        )
    return "\n".join(lines)


def decompose(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per task, searcher and step a -> b: trials, CPU seconds, charged cost, and the step's
    CPU seconds per unit cost over random's (where any unfairness lives)."""
    groups: dict[tuple[str, str, float, float], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for t in trials:
        acc = groups[(t["task"], t["searcher"], t["a"], t["b"])]
        acc[0] += 1
        acc[1] += t["cpu"]
        acc[2] += t["cost"]
    price = {k[0]: v[1] / v[2] for k, v in groups.items() if k[1] == "random"}
    order = {s: i for i, s in enumerate(SEARCHERS)}
    keys = sorted(groups, key=lambda k: (k[0], order[k[1]], k[2], k[3]))
    return [
        {
            "task": k[0],
            "searcher": k[1],
            "a": k[2],
            "b": k[3],
            "trials": int(groups[k][0]),
            "cpu": groups[k][1],
            "cost": groups[k][2],
            "ratio": groups[k][1] / groups[k][2] / price[k[0]],
        }
        for k in keys
    ]


def format_decomposition(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| task | searcher | step a -> b | trials | CPU s | cost | CPU s / cost vs random's |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['searcher']} | {r['a']:g} -> {r['b']:g} | {r['trials']} | {r['cpu']:.2f} "
            f"| {r['cost']:.3f} | {r['ratio']:.2f} |"
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
    by = {r["searcher"]: r for r in rows}
    if {"random", "gp-ei"} <= set(by):
        ran, gp = by["random"], by["gp-ei"]
        longer = all(a >= b for a, b in zip(ran["trial_seconds"], gp["trial_seconds"]))
        more = all(a >= b for a, b in zip(ran["counts"], gp["counts"]))
        lines.append(
            "random trains at least as long as gp-ei in every seed (it thinks less): "
            f"{'yes' if longer else 'NO'}; "
            f"at least as many trials: {'yes' if more else 'no'} (counts also follow the configurations' "
            f"price: median trial {ran['rest']:.3f} s random, {gp['rest']:.3f} s gp-ei)"
        )
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds of checks 1 and 3 (check 2 uses 10)")
    parser.add_argument("--cost", type=float, default=6.0, help="max_cost of check 1's multi-fidelity runs")
    parser.add_argument(
        "--price-evals", type=int, default=60, help="check 1: random's full evaluations in all (its price)"
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="max_seconds of check 3")
    parser.add_argument("--checks", default="123", help="which checks to run, e.g. 1 or 23")
    parser.add_argument("--tasks", default="gbdt-digits,mlp-digits", help="check 1's tasks, comma-separated")
    parser.add_argument("--save", type=Path, help="write check 1's trials to this JSON file")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.price_evals < args.seeds or not args.cost > 0:
        parser.error("rule 'seeds >= 1, price-evals >= seeds, cost > 0' broken")
    return args


def _check1(args: argparse.Namespace) -> str:
    tasks = [t for t in args.tasks.split(",") if t]
    print(
        f"1. compute per unit of cost: {args.seeds} seeds, max_cost {args.cost:g} "
        f"(random: {args.price_evals} full evaluations in all), in process",
        flush=True,
    )
    trials = compute_trials(tasks, args.seeds, args.cost, args.price_evals)
    if args.save is not None:
        args.save.write_text(json.dumps(trials))
    return format_compute(summarise_compute(trials)) + "\n\n" + format_decomposition(decompose(trials))


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    start = time.perf_counter()
    tables = []
    if "1" in args.checks:
        tables.append(_check1(args))
    if "2" in args.checks:
        print("2. overshoot: 10 seeds", flush=True)
        tables.append(format_overshoot(overshoot()))
    if "3" in args.checks:
        print(f"3. time budget: {args.seeds} seeds, max_seconds {args.seconds:g}, 2 workers", flush=True)
        tables.append(format_time(time_budget(args.seeds, args.seconds), args.seconds))
    for table in tables:
        print()
        print(table)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
