"""A short study of the word2vec and GAN tasks: random vs gp-ei vs hyperband, and what the landscape shows.

For ``cbow-pydocs`` and ``gan-ring``, each searcher runs ``--seeds`` seeds under the same
budget of ``--budget`` full-fidelity equivalents (the runner's cost accounting; run seed
``k`` gives every searcher the same task seed). Printed per task: the median and range
of the final incumbent (best top-fidelity validation objective) and its test value; for
CBOW the incumbent's noise exponent and number of negatives k, per seed; for the GAN the
share of runs whose incumbent ends mode-collapsed (fewer than 8 modes on the test draw)
and the share of all top-fidelity trials that do.

Then two measurements the study's incumbents make possible:

- GAN seed-to-seed spread: the best configuration found, and ``--spread-configs`` random
  ones, retrained at the top fidelity with ``--spread-seeds`` task seeds: the standard
  deviation across seeds beside the spread across configurations.
- Module docstrings for CBOW (issue 18, item 1): the best configuration found, trained
  on the topics alone and with the standard library's module docstrings added to the
  training sentences, over the same seeds; the validation loss is on the same sentences
  and vocabulary, so the paired difference says whether the extra text helps.

Usage: ``nice -n 10 python benchmarks/seed_tasks.py [--seeds 5] [--budget 8] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import math
import statistics
import time
from typing import Any

import numpy as np

from hpbench.budget import Budget
from hpbench.incumbent import eligible
from hpbench.registry import get_task, make_searcher
from hpbench.runner import run_search, split_seed
from hpbench.tasks.cbow import CBOWTask
from hpbench.threads import limit_process_threads

TASKS = ["cbow-pydocs", "gan-ring"]
SEARCHERS = ["random", "gp-ei", "hyperband"]


def one_run(task_name: str, searcher_name: str, seed: int, max_cost: float) -> dict[str, Any]:
    """One search; returns its incumbent trial and every top-fidelity trial's config and metrics."""
    task = get_task(task_name)
    s_seed, t_seed = split_seed(seed)
    searcher = make_searcher(searcher_name, space=task.space, fidelity=task.fidelity, seed=s_seed)
    start = time.process_time()
    records = run_search(task, searcher, budget=Budget(max_cost=max_cost), task_seed=t_seed)
    high = None if task.fidelity is None else task.fidelity.high
    top = [
        {"config": dict(r.config), "objective": r.objective, **r.metrics}
        for r in records
        if eligible(str(r.status), r.objective, r.budget, high)
    ]
    best = min(top, key=lambda t: t["objective"]) if top else None
    return {
        "task": task_name,
        "searcher": searcher_name,
        "seed": seed,
        "best": best,
        "top": top,
        "trials": len(records),
        "failed": sum(str(r.status) != "ok" for r in records),
        "cpu": time.process_time() - start,
    }


def evaluate_top(
    task_name: str, config: dict[str, Any], seed: int, extra: str | None = None
) -> dict[str, Any]:
    """One top-fidelity evaluation (``extra`` picks the CBOW training corpus)."""
    task = CBOWTask(extra) if extra is not None else get_task(task_name)
    ev = task.evaluate(config, seed=seed)
    return {"objective": ev.objective, **ev.metrics}


def _pool(workers: int) -> cf.ProcessPoolExecutor:
    return cf.ProcessPoolExecutor(max_workers=workers, initializer=limit_process_threads)


def _fmt(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{statistics.median(values):.4f} [{min(values):.4f}, {max(values):.4f}]"


def study_table(runs: list[dict[str, Any]], task_name: str) -> str:
    head = "| searcher | runs | best val (median [min, max]) | its test | trials | failed | CPU s/run |"
    extra_head = {
        "cbow-pydocs": " incumbent noise exponent / k per seed |",
        "gan-ring": " runs ending < 8 modes | top-fidelity trials < 8 modes |",
    }[task_name]
    lines = [head + extra_head, "|" + "---|" * ((head + extra_head).count("|") - 1)]
    for name in SEARCHERS:
        every = [r for r in runs if r["task"] == task_name and r["searcher"] == name]
        rs = [r for r in every if r["best"]]  # runs with a top-fidelity result
        best = [r["best"]["objective"] for r in rs]
        test = [r["best"]["test_loss"] for r in rs]
        row = (
            f"| {name} | {len(rs)}/{len(every)} | {_fmt(best)} | {_fmt(test)} "
            f"| {statistics.mean(r['trials'] for r in every):.0f} "
            f"| {sum(r['failed'] for r in every)} | {statistics.mean(r['cpu'] for r in every):.0f} |"
        )
        if task_name == "cbow-pydocs":
            row += (
                " "
                + ", ".join(
                    f"{r['best']['config']['noise_exponent']:.2f}/{r['best']['config']['negatives']}"
                    for r in rs
                )
                + " |"
            )
        else:
            collapsed = sum(r["best"]["modes"] < 8 for r in rs)
            tops = [t for r in rs for t in r["top"]]
            row += f" {collapsed}/{len(rs)} | {sum(t['modes'] < 8 for t in tops)}/{len(tops)} |"
        lines.append(row)
    return "\n".join(lines)


def gan_spread(pool: cf.Executor, best: dict[str, Any], n_configs: int, n_seeds: int) -> str:
    """Seed-to-seed spread of GAN training against the spread across configurations."""
    task = get_task("gan-ring")
    rng = np.random.default_rng(123)
    configs = [("best found", best)] + [(f"random {i}", task.space.sample(rng)) for i in range(n_configs)]
    futures = {
        (label, s): pool.submit(evaluate_top, "gan-ring", cfg, s)
        for label, cfg in configs
        for s in range(n_seeds)
    }
    lines = [
        "| config | mean val | sd over seeds | min | max | modes per seed |",
        "|---|---|---|---|---|---|",
    ]
    means = []
    sds = []
    for label, _ in configs:
        out = [futures[(label, s)].result() for s in range(n_seeds)]
        vals = [o["objective"] for o in out]
        means.append(statistics.mean(vals))
        sds.append(statistics.stdev(vals))
        lines.append(
            f"| {label} | {means[-1]:.4f} | {sds[-1]:.4f} | {min(vals):.4f} | {max(vals):.4f} "
            f"| {' '.join(str(o['modes']) for o in out)} |"
        )
    lines.append(
        f"median sd over seeds {statistics.median(sds):.4f}; "
        f"sd of the config means {statistics.stdev(means):.4f}"
    )
    return "\n".join(lines)


def docstrings_effect(pool: cf.Executor, best: dict[str, Any], n_seeds: int) -> str:
    """Paired comparison: CBOW's best config trained without and with the module docstrings."""
    jobs = {
        (extra, s): pool.submit(evaluate_top, "cbow-pydocs", best, s, extra)
        for extra in (None, "docstrings")
        for s in range(n_seeds)
    }
    plain = [jobs[(None, s)].result() for s in range(n_seeds)]
    more = [jobs[("docstrings", s)].result() for s in range(n_seeds)]
    diff = [m["objective"] - p["objective"] for p, m in zip(plain, more)]
    test_diff = [m["test_loss"] - p["test_loss"] for p, m in zip(plain, more)]
    sd = statistics.stdev(diff) if len(diff) > 1 else math.nan
    return (
        "| training text | mean val loss | mean test loss | train s |\n|---|---|---|---|\n"
        f"| topics | {statistics.mean(p['objective'] for p in plain):.4f} "
        f"| {statistics.mean(p['test_loss'] for p in plain):.4f} "
        f"| {statistics.mean(p['train_seconds'] for p in plain):.1f} |\n"
        f"| topics + module docstrings | {statistics.mean(m['objective'] for m in more):.4f} "
        f"| {statistics.mean(m['test_loss'] for m in more):.4f} "
        f"| {statistics.mean(m['train_seconds'] for m in more):.1f} |\n"
        f"paired val difference (with - without), {n_seeds} seeds: mean {statistics.mean(diff):+.4f}, "
        f"sd {sd:.4f}, per seed {', '.join(f'{d:+.4f}' for d in diff)}; "
        f"test: mean {statistics.mean(test_diff):+.4f}\n"
        f"neighbours without: {plain[0]['neighbours']}\nneighbours with:    {more[0]['neighbours']}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=8.0, help="full-fidelity equivalents per run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--spread-configs", type=int, default=3)
    parser.add_argument("--spread-seeds", type=int, default=5)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with _pool(args.workers) as pool:
        jobs = [(t, s, k, args.budget) for t in TASKS for s in SEARCHERS for k in range(args.seeds)]
        runs = [f.result() for f in [pool.submit(one_run, *job) for job in jobs]]
        print(f"study: {len(runs)} runs in {time.perf_counter() - start:.0f} s wall", flush=True)
        best = {}
        for t in TASKS:
            print(f"\n{t}, budget {args.budget:g} FFE, {args.seeds} seeds\n{study_table(runs, t)}")
            done = [r["best"] for r in runs if r["task"] == t and r["best"]]
            best[t] = min(done, key=lambda b: b["objective"])
            print(f"best config found: {best[t]['config']} val {best[t]['objective']:.4f}", flush=True)
        print(f"\ngan-ring seed-to-seed spread at the top fidelity, {args.spread_seeds} seeds")
        print(
            gan_spread(pool, best["gan-ring"]["config"], args.spread_configs, args.spread_seeds), flush=True
        )
        print(f"\ncbow-pydocs with and without the module docstrings, best config, {args.spread_seeds} seeds")
        print(docstrings_effect(pool, best["cbow-pydocs"]["config"], args.spread_seeds))
    print(f"\ntotal {time.perf_counter() - start:.0f} s wall")


if __name__ == "__main__":
    main()
