"""Multi-fidelity searchers against random search, on the cost axis, side by side.

Two tables per task (``hartmann6-mf``: synthetic, fidelity 1..81; ``mlp-digits``: a PyTorch
MLP, epochs 1..27):

1. Cost to target. Every run gets the same budget ``C`` in full-fidelity equivalents
   (FFE: one evaluation at the top fidelity costs 1, continuing from a to b costs
   (b - a) / high; the runner does the accounting). The incumbent of a run is its best
   *top-fidelity* objective; its cost to a target is the cumulative cost when the
   incumbent first reaches it (infinite if never within ``C``: the median is then shown
   as ``> C`` when half the seeds or more missed).

   Targets are quality levels of the task itself: ``T(q)`` is the ``q``-quantile of the
   top-fidelity objective of a configuration drawn from the prior (top 5%, 2%, 1% of the
   space), estimated from every evaluation of the random-search runs pooled (seeds x C
   draws). Random search draws i.i.d. configurations at 1 FFE each, so its cost to
   ``T(q)`` is geometric and its median is known in closed form,
   ``ceil(ln 2 / -ln(1 - p))`` FFE with ``p`` the pooled fraction at or below ``T(q)``
   (about q): the ratio's denominator, free of the censoring at ``C`` and of the
   seed-to-seed noise of a median of few geometric draws. The random runs' own median
   is printed under it as a check.
2. Continuation versus retraining. The same schedule (one Hyperband iteration, one SH
   bracket) with promotions that continue the previous rung's checkpoint or retrain from
   scratch: total cost measured by the runner, next to the closed form
   ``sum_i n_i (r_i - r_{i-1}) / R`` versus ``sum_i n_i r_i / R``. Since ``n_i r_i`` is
   about the same on every rung, continuation saves at most ``(1/eta) s/(s+1)`` of a
   bracket ``s``: about 25% for eta = 3 and 40% for eta = 2 on 1..27.

Seeds: run seed ``k`` is split by ``hpbench.runner.split_seed`` into a searcher seed and a
task seed; every searcher sees the same task seeds (common random numbers).

Usage: ``python benchmarks/multifidelity.py [--seeds N] [--quick]``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import math
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from hpbench.budget import Budget
from hpbench.registry import get_task, make_searcher
from hpbench.runner import run_search, split_seed
from hpbench.searchers.hyperband import hyperband_schedule
from hpbench.threads import limit_process_threads
from hpbench.trial import TrialStatus

# label -> (registry name, parameters)
SEARCHERS: dict[str, tuple[str, dict[str, Any]]] = {
    "random": ("random", {}),
    "hyperband": ("hyperband", {}),
    "sh": ("sh", {}),
    "asha": ("asha", {}),
    "hyperband gp-ei": ("hyperband", {"proposer": "gp-ei"}),
    "hyperband tpe (BOHB-like)": ("hyperband", {"proposer": "optuna-tpe"}),
    "hyperband retrain": ("hyperband", {"continuation": False}),
}
# task -> budget C in FFE (full, quick)
TASK_COST: dict[str, tuple[float, float]] = {"hartmann6-mf": (40.0, 30.0), "mlp-digits": (40.0, 20.0)}


@dataclass(frozen=True)
class RunCurve:
    """Cumulative cost after each trial and the incumbent (best top-fidelity objective) then."""

    cost: np.ndarray  # (t,)
    best: np.ndarray  # (t,), inf before the first top-fidelity success
    top: np.ndarray  # objectives of the ok top-fidelity trials, in order
    seconds: float


def _one_run(task_name: str, label: str, seed: int, max_cost: float) -> RunCurve:
    task = get_task(task_name)
    name, params = SEARCHERS[label]
    s_seed, t_seed = split_seed(seed)
    searcher = make_searcher(name, space=task.space, fidelity=task.fidelity, seed=s_seed, **params)
    t0 = time.perf_counter()
    records = run_search(task, searcher, budget=Budget(max_cost=max_cost), task_seed=t_seed)
    seconds = time.perf_counter() - t0
    assert task.fidelity is not None
    cost, best, top, incumbent = [], [], [], math.inf
    total = 0.0
    for r in records:
        total += r.cost
        if r.status is TrialStatus.OK and r.objective is not None and r.budget == task.fidelity.high:
            incumbent = min(incumbent, r.objective)
            top.append(r.objective)
        cost.append(total)
        best.append(incumbent)
    return RunCurve(np.array(cost), np.array(best), np.array(top), seconds)


def best_at(curve: RunCurve, budget: float) -> float:
    """Incumbent once ``budget`` FFE were spent (inf if nothing at the top fidelity yet)."""
    idx = np.searchsorted(curve.cost, budget + 1e-9, side="right") - 1
    return math.inf if idx < 0 else float(curve.best[idx])


def cost_to_target(curve: RunCurve, target: float) -> float:
    """Cumulative cost when the incumbent first reaches ``target`` (inf if never)."""
    hit = np.flatnonzero(curve.best <= target)
    return math.inf if len(hit) == 0 else float(curve.cost[hit[0]])


def _run_all(jobs: list[tuple[str, str, int, float]], workers: int) -> dict[tuple[str, int], RunCurve]:
    """Whole runs in parallel processes (each run is sequential, so results do not depend on it)."""
    out: dict[tuple[str, int], RunCurve] = {}
    with cf.ProcessPoolExecutor(max_workers=workers, initializer=limit_process_threads) as pool:
        futures = {pool.submit(_one_run, *job): job for job in jobs}
        for fut in cf.as_completed(futures):
            _, label, seed, _ = futures[fut]
            out[(label, seed)] = fut.result()
    return out


def _fmt(x: float, cap: float) -> str:
    return f"> {cap:g}" if not math.isfinite(x) else f"{x:.1f}"


QUANTILES = (0.05, 0.02, 0.01)  # targets: top 5%, 2%, 1% of the prior's configurations


def geometric_median_cost(p: float) -> float:
    """Median number of i.i.d. draws until the first success of probability ``p``."""
    if p <= 0:
        return math.inf
    if p >= 1:
        return 1.0
    return float(math.ceil(math.log(0.5) / math.log1p(-p) - 1e-12))


def cost_table(task_name: str, seeds: int, max_cost: float, workers: int) -> dict[str, float] | None:
    """Print the cost-to-target table of one task; return hyperband / random at each target."""
    try:
        task = get_task(task_name)
    except ImportError as exc:
        print(f"\n## {task_name}: n/a ({exc})")
        return None
    jobs = [(task_name, label, seed, max_cost) for label in SEARCHERS for seed in range(seeds)]
    t0 = time.perf_counter()
    curves = _run_all(jobs, workers)
    wall = time.perf_counter() - t0
    offset = task.optimum if task.optimum is not None else 0.0
    pool = np.concatenate([curves[("random", k)].top for k in range(seeds)])
    targets = [float(np.quantile(pool, q, method="inverted_cdf")) for q in QUANTILES]
    what = "regret" if task.optimum is not None else "validation loss"
    print(f"\n## {task_name}: budget C = {max_cost:g} FFE per run, {seeds} seeds, {wall:.0f} s wall")
    print(
        f"targets T(q) ({what}; quantiles of {len(pool)} random top-fidelity evaluations): "
        + ", ".join(f"T({q:.0%}) = {t - offset:.4f}" for q, t in zip(QUANTILES, targets))
    )
    head = "".join(f"{f'to T({q:.0%})':>11} {'reached':>8}" for q in QUANTILES)
    print(f"{'searcher':<26}{head} {'final ' + what:>22} {'s/run':>7}")
    p_hat = [float(np.mean(pool <= t)) for t in targets]
    closed = [geometric_median_cost(p) for p in p_hat]
    cells = "".join(f"{c:>11.1f} {f'p={p:.3f}':>8}" for c, p in zip(closed, p_hat))
    print(f"{'random (closed form)':<26}{cells}")
    medians: dict[str, list[float]] = {}
    for label in SEARCHERS:
        runs = [curves[(label, k)] for k in range(seeds)]
        cells = ""
        medians[label] = []
        for target in targets:
            costs = np.array([cost_to_target(c, target) for c in runs])
            med = float(np.median(costs))
            medians[label].append(med)
            cells += f"{_fmt(med, max_cost):>11} {f'{int(np.sum(np.isfinite(costs)))}/{seeds}':>8}"
        final = float(np.median([c.best[-1] for c in runs])) - offset
        secs = float(np.mean([c.seconds for c in runs]))
        name = "random (runs)" if label == "random" else label
        print(f"{name:<26}{cells} {final:>22.4f} {secs:>7.1f}")
    ratios = {f"T({q:.0%})": hb / rnd for q, hb, rnd in zip(QUANTILES, medians["hyperband"], closed)}
    print(
        "hyperband / random (closed form) median cost: "
        + ", ".join(f"{k} {v:.2f}" if math.isfinite(v) else f"{k} > C" for k, v in ratios.items())
    )
    return ratios


def _schedule_cost(brackets: list[list[tuple[int, float]]], high: float) -> tuple[float, float]:
    """Closed-form cost of brackets with continuation and with retraining, in FFE."""
    cont = sum(n * (r - (b[i - 1][1] if i else 0.0)) for b in brackets for i, (n, r) in enumerate(b)) / high
    retrain = sum(n * r for b in brackets for n, r in b) / high
    return cont, retrain


def _schedule_run(task_name: str, name: str, eta: int, continuation: bool) -> tuple[float, float]:
    """Total cost (FFE) and seconds of one Hyperband iteration / one SH bracket, measured by the runner."""
    task = get_task(task_name)
    s = make_searcher(
        name,
        space=task.space,
        fidelity=task.fidelity,
        seed=0,
        eta=eta,
        max_iterations=1,
        continuation=continuation,
    )
    t0 = time.perf_counter()
    records = run_search(task, s, budget=Budget(max_cost=1e6), task_seed=0)
    return sum(r.cost for r in records), time.perf_counter() - t0


def continuation_table(task_name: str, cases: list[tuple[str, int]], workers: int) -> None:
    """Print measured and closed-form cost of the same schedule with and without continuation."""
    try:
        task = get_task(task_name)
    except ImportError as exc:
        print(f"\n## {task_name} continuation: n/a ({exc})")
        return
    assert task.fidelity is not None
    jobs = [(task_name, name, eta, cont) for name, eta in cases for cont in (True, False)]
    with cf.ProcessPoolExecutor(max_workers=workers, initializer=limit_process_threads) as pool:
        results = dict(zip(jobs, pool.map(_schedule_run, *zip(*jobs))))
    print(f"\n## {task_name}: continuation vs retraining, same schedule (FFE; seconds measured)")
    head = f"{'schedule':<22} {'continue':>9} {'retrain':>9} {'saving':>7} {'closed form':>15}"
    print(f"{head} {'s cont/retr':>13}")
    for name, eta in cases:
        (c_cost, c_sec), (r_cost, r_sec) = (
            results[(task_name, name, eta, True)],
            results[(task_name, name, eta, False)],
        )
        brackets = hyperband_schedule(task.fidelity, eta=eta)
        if name == "sh":
            brackets = brackets[:1]
        fc, fr = _schedule_cost(brackets, float(task.fidelity.high))
        label = f"{name} eta={eta}" + (" (1 iter)" if name == "hyperband" else " (1 bracket)")
        print(
            f"{label:<22} {c_cost:>9.2f} {r_cost:>9.2f} {1 - c_cost / r_cost:>7.1%} "
            f"{fc:>6.2f} / {fr:<6.2f} {c_sec:>6.1f}/{r_sec:<6.1f}"
        )


def main_tables(seeds: int = 20, quick: bool = False) -> None:
    """Run both tasks and print the cost-to-target and continuation tables."""
    workers = min(2, os.cpu_count() or 1)
    for task_name, (full, fast) in TASK_COST.items():
        n = seeds
        if quick and task_name == "mlp-digits":
            n = min(seeds, 3)
        cost_table(task_name, n, fast if quick else full, workers)
    cases = [("hyperband", 3), ("hyperband", 2), ("sh", 3), ("sh", 2)]
    continuation_table("hartmann6-mf", cases, workers)
    continuation_table("mlp-digits", cases if not quick else [("sh", 3), ("sh", 2)], workers)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="smaller budgets; at most 3 seeds on mlp-digits")
    args = parser.parse_args()
    main_tables(seeds=args.seeds, quick=args.quick)
