"""Full-fidelity searchers side by side on hard landscapes, shifted and rotated per seed.

The suite: standard test functions of the optimisation literature (Surjanovic & Bingham's
Virtual Library of Simulation Experiments; Jamil & Yang, "A literature survey of benchmark
functions for global optimisation problems", 2013), 2 to 10 dimensions, multimodal
(Ackley, Rastrigin, Griewank, Levy, Schwefel, Styblinski-Tang, Hartmann-6), valley-shaped
(Rosenbrock, Dixon-Price), with plateaus (Michalewicz) and ill-conditioned (a rotated
ellipsoid with condition number 1e6), plus mixed-type variants (integer and categorical
parameters). The functions live here, not in the task registry.

Seed ``k`` of a function draws a shift ``o`` (up to 20% of the half-width) and a random
rotation ``Q`` (Haar, Stewart 1980): the searcher's point ``x`` is evaluated at
``y = c + Q (x - c - o)`` (``c`` = centre of the box), so no searcher profits from a bias
towards the centre or the axes. The regret is the best value found minus the function's
unconstrained minimum ``f*`` (a lower bound of the box's minimum once shifted; the same
for every searcher of a seed, so ranks and medians compare fairly). Mixed variants make
some parameters integer (11 levels on the same range) and add a categorical with three
choices, each with its own shift and an offset (0, 1, 2) on top.

Budget: ``EVALS_PER_DIM`` evaluations per dimension (the issue asks 10-20). SMAC's
initial design follows SMAC's own rule for the budget (at most 25% of the trials); the
adapter cannot know the budget, so the benchmark passes ``n_initial``. Every searcher
gets the same seeds; each (function, searcher, seed) run is one job in a process pool of
single-threaded workers (BLAS, OpenMP and torch limited to one thread).

Printed: per function, the median final regret with its interquartile range; the
seed-paired mean rank (for every (function, seed), searchers are ranked by final regret,
ties averaged; the mean over all pairs); the number of functions each searcher wins
(lowest median); and the median seconds per suggestion (wall time of ``ask``).

Usage:
    nice -n 10 python benchmarks/landscapes.py                      # 10 seeds, every searcher
    python benchmarks/landscapes.py --seeds 3 --searchers gp-ei,random --functions ackley-4
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from hpbench.threads import spawn_environ

os.environ.update(spawn_environ())  # one thread per library, inherited by the pool's workers

import numpy as np  # noqa: E402 - after the thread limits

EVALS_PER_DIM = 10
GP_SEARCHERS = ("gp-ei", "optuna-gp", "skopt-gp", "smac-bb")
# gp-ei before (untransformed targets, the default until 2026-12) and after, then the peers.
SEARCHERS = [
    "gp-ei",
    'gp-ei:{"y_transform":"none"}',
    "optuna-gp",
    "skopt-gp",
    "smac-bb",
    "smac-hpo",
    "optuna-tpe",
    "random",
]


# ----------------------------------------------------------------------------- functions
def ackley(y: np.ndarray) -> float:
    d = len(y)
    return float(
        -20 * np.exp(-0.2 * np.sqrt(np.sum(y * y) / d))
        - np.exp(np.sum(np.cos(2 * np.pi * y)) / d)
        + 20
        + np.e
    )


def rastrigin(y: np.ndarray) -> float:
    return float(10 * len(y) + np.sum(y * y - 10 * np.cos(2 * np.pi * y)))


def griewank(y: np.ndarray) -> float:
    i = np.arange(1, len(y) + 1)
    return float(np.sum(y * y) / 4000 - np.prod(np.cos(y / np.sqrt(i))) + 1)


def levy(y: np.ndarray) -> float:
    w = 1 + (y - 1) / 4
    mid = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
    return float(np.sin(np.pi * w[0]) ** 2 + mid + (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2))


def schwefel(y: np.ndarray) -> float:
    return float(418.9829 * len(y) - np.sum(y * np.sin(np.sqrt(np.abs(y)))))


def styblinski_tang(y: np.ndarray) -> float:
    return float(0.5 * np.sum(y**4 - 16 * y**2 + 5 * y))


def rosenbrock(y: np.ndarray) -> float:
    return float(np.sum(100 * (y[1:] - y[:-1] ** 2) ** 2 + (1 - y[:-1]) ** 2))


def dixon_price(y: np.ndarray) -> float:
    i = np.arange(2, len(y) + 1)
    return float((y[0] - 1) ** 2 + np.sum(i * (2 * y[1:] ** 2 - y[:-1]) ** 2))


def michalewicz(y: np.ndarray) -> float:
    i = np.arange(1, len(y) + 1)
    return float(-np.sum(np.sin(y) * np.sin(i * y * y / np.pi) ** 20))


def ellipsoid(y: np.ndarray) -> float:
    d = len(y)
    return float(np.sum(10 ** (6 * np.arange(d) / max(d - 1, 1)) * y * y))


def hartmann6(y: np.ndarray) -> float:
    from hpbench.tasks.synthetic import hartmann

    return hartmann(y)


@dataclass(frozen=True)
class Landscape:
    """A test function on a box, with its unconstrained minimum ``f_star``."""

    name: str
    f: Callable[[np.ndarray], float]
    dim: int
    low: float
    high: float
    f_star: float
    mixed: bool = False


def _michalewicz_star(d: int) -> float:
    return {2: -1.8013, 5: -4.687658, 10: -9.66015}[d]


LANDSCAPES = [
    Landscape("ackley-5", ackley, 5, -32.768, 32.768, 0.0),
    Landscape("rastrigin-4", rastrigin, 4, -5.12, 5.12, 0.0),
    Landscape("griewank-6", griewank, 6, -60.0, 60.0, 0.0),
    Landscape("levy-4", levy, 4, -10.0, 10.0, 0.0),
    Landscape("schwefel-2", schwefel, 2, -500.0, 500.0, 0.0),
    Landscape("styblinski-3", styblinski_tang, 3, -5.0, 5.0, -39.16617 * 3),
    Landscape("rosenbrock-4", rosenbrock, 4, -5.0, 10.0, 0.0),
    Landscape("dixon-price-8", dixon_price, 8, -10.0, 10.0, 0.0),
    Landscape("michalewicz-5", michalewicz, 5, 0.0, math.pi, _michalewicz_star(5)),
    Landscape("ellipsoid-10", ellipsoid, 10, -5.0, 5.0, 0.0),
    Landscape("hartmann-6", hartmann6, 6, 0.0, 1.0, -3.32237),
    Landscape("ackley-4-mixed", ackley, 4, -32.768, 32.768, 0.0, mixed=True),
    Landscape("rastrigin-5-mixed", rastrigin, 5, -5.12, 5.12, 0.0, mixed=True),
]
BY_NAME = {ls.name: ls for ls in LANDSCAPES}


class Problem:
    """One seed of a landscape: the shifted, rotated function on hpbench's search space."""

    def __init__(self, ls: Landscape, seed: int) -> None:
        from hpbench.space import Categorical, Float, Int, SearchSpace

        rng = np.random.default_rng([seed, sum(map(ord, ls.name))])
        self.ls = ls
        half = (ls.high - ls.low) / 2
        self.centre = np.full(ls.dim, ls.low + half)
        q, r = np.linalg.qr(rng.standard_normal((ls.dim, ls.dim)))
        self.rotation = q * np.sign(np.diag(r))  # Haar-distributed orthogonal matrix
        n_shifts = 3 if ls.mixed else 1
        self.shifts = rng.uniform(-0.2 * half, 0.2 * half, size=(n_shifts, ls.dim))
        params: dict[str, object] = {}
        for i in range(ls.dim):
            if ls.mixed and i >= ls.dim - 2:  # the last two are integers: 11 levels on the range
                params[f"x{i}"] = Int(0, 10)
            else:
                params[f"x{i}"] = Float(ls.low, ls.high)
        if ls.mixed:
            params["kind"] = Categorical(["a", "b", "c"])
        self.space = SearchSpace(params)

    def __call__(self, config: dict) -> float:
        ls = self.ls
        x = np.empty(ls.dim)
        for i in range(ls.dim):
            v = float(config[f"x{i}"])
            x[i] = ls.low + v * (ls.high - ls.low) / 10 if ls.mixed and i >= ls.dim - 2 else v
        k = ["a", "b", "c"].index(config["kind"]) if ls.mixed else 0
        y = self.centre + self.rotation @ (x - self.centre - self.shifts[k])
        return ls.f(y) + float(k)


# ----------------------------------------------------------------------------- running
def run_one(job: tuple[str, str, int]) -> tuple[tuple[str, str, int], float, list[float]]:
    """Final regret and the wall seconds of every ``ask`` of one (function, searcher, seed)."""
    fname, label, seed = job
    import torch  # optuna-gp's model; one thread like every other library here

    torch.set_num_threads(1)
    from hpbench.registry import make_searcher

    name, _, raw = label.partition(":")
    params = json.loads(raw) if raw else {}
    problem = Problem(BY_NAME[fname], seed)
    budget = EVALS_PER_DIM * problem.ls.dim
    if name.startswith("smac-") and "n_initial" not in params:
        params["n_initial"] = max(1, math.ceil(0.25 * budget))  # SMAC's own cap: 25% of the trials
    searcher = make_searcher(name, space=problem.space, seed=seed, **params)
    best, asks = math.inf, []
    for _ in range(budget):
        t0 = time.perf_counter()
        s = searcher.ask()
        asks.append(time.perf_counter() - t0)
        if s is None:
            break
        value = problem(dict(s.config))
        best = min(best, value)
        searcher.tell(s, value)
    return job, best - problem.ls.f_star, asks


def _ranks(values: list[float]) -> list[float]:
    """Ranks from 1 (lowest), ties averaged."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _fmt(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "inf"


def report(results: dict[tuple[str, str, int], tuple[float, list[float]]], seeds: int) -> None:
    """Print the tables from ``(function, searcher, seed) -> (regret, ask seconds)``."""
    fnames = sorted({f for f, _, _ in results}, key=lambda f: list(BY_NAME).index(f))
    labels = list(dict.fromkeys(s for _, s, _ in results))
    width = max(14, *(len(s) + 2 for s in labels))
    print(f"\n== Median final regret [25%, 75%], {seeds} seeds, {EVALS_PER_DIM} evaluations per dimension ==")
    print(f"{'function':<20}" + "".join(f"{s:>{width}}" for s in labels))
    wins = dict.fromkeys(labels, 0)
    medians: dict[tuple[str, str], float] = {}  # (function, searcher) -> median final regret
    for f in fnames:
        cells, meds = [], {}
        for s in labels:
            r = [results[(f, s, k)][0] for k in range(seeds) if (f, s, k) in results]
            if not r:
                cells.append("-")
                continue
            q1, med, q3 = np.percentile(r, [25, 50, 75])
            meds[s] = medians[(f, s)] = float(med)
            cells.append(f"{_fmt(med)} [{_fmt(q1)},{_fmt(q3)}]")
        wins[min(meds, key=meds.get)] += 1
        print(f"{f:<20}" + "".join(f"{c:>{width}}" for c in cells))
    rank_sum, n_pairs = dict.fromkeys(labels, 0.0), 0
    per_function: dict[str, dict[str, float]] = {f: dict.fromkeys(labels, 0.0) for f in fnames}
    for f in fnames:
        done = [k for k in range(seeds) if all((f, s, k) in results for s in labels)]
        for k in done:
            for s, r in zip(labels, _ranks([results[(f, s, k)][0] for s in labels])):
                rank_sum[s] += r
                per_function[f][s] += r / len(done)
            n_pairs += 1
    print(f"\n== Seed-paired mean rank (1 = best of {len(labels)}), over {n_pairs} (function, seed) pairs ==")
    print(
        f"{'searcher':<{width}}{'mean rank':>10}{'wins':>6}  {'worst function, its rank':<24}{'s / ask':>10}"
    )
    for s in sorted(labels, key=lambda s: rank_sum[s]):
        asks = [t for (f, lab, _), (_, ts) in results.items() if lab == s for t in ts]
        worst = max(per_function, key=lambda f: per_function[f][s])
        mean_rank = rank_sum[s] / max(n_pairs, 1)
        print(
            f"{s:<{width}}{mean_rank:>10.2f}{wins[s]:>6}  {worst:<20}{per_function[worst][s]:>4.1f}"
            f"{statistics.median(asks):>10.4f}"
        )
    peers = [s for s in labels if s.split(":")[0] in GP_SEARCHERS and not s.startswith("gp-ei")]
    for ours in (s for s in labels if s.startswith("gp-ei") and peers):
        worst = [
            f
            for f in fnames
            if all((f, p) in medians for p in [ours, *peers])
            and medians[(f, ours)] > max(medians[(f, p)] for p in peers)
        ]
        print(
            f"{ours}: the worst GP (against {', '.join(peers)}) on {len(worst)} of {len(fnames)}: "
            + ", ".join(worst)
        )
    print(f"  (load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def _read_log(path: str, wanted: set[tuple[str, str, int]]) -> dict:
    """The finished runs of ``wanted`` that the JSON-lines log at ``path`` already holds."""
    if not os.path.exists(path):
        return {}
    out = {}
    with open(path) as fh:
        for line in fh:
            f, s, k, regret, asks = json.loads(line)
            if (f, s, k) in wanted:
                out[(f, s, k)] = (regret, asks)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument(
        "--searchers",
        default=",".join(SEARCHERS),
        help="comma-separated; NAME or NAME:{json params}, separated by ';' when params hold commas",
    )
    parser.add_argument("--functions", default=",".join(BY_NAME))
    parser.add_argument("--json", default=None, help="also write the raw results to this file")
    parser.add_argument(
        "--log",
        default=None,
        help="append each finished run to this JSON-lines file and skip the runs it already holds "
        "(an interrupted run resumes; the tables cover what is there)",
    )
    parser.add_argument("--report-only", action="store_true", help="print the tables of --log, run nothing")
    args = parser.parse_args(argv)
    sep = ";" if ";" in args.searchers else ","
    labels = [s for s in args.searchers.split(sep) if s]
    fnames = [f for f in args.functions.split(",") if f]
    for f in fnames:
        if f not in BY_NAME:
            parser.error(f"--functions: unknown {f!r} (known: {', '.join(BY_NAME)})")
    jobs = [(f, s, k) for k in range(args.seeds) for f in fnames for s in labels]
    jobs.sort(key=lambda j: (j[2], -BY_NAME[j[0]].dim))  # whole seeds first, long jobs first
    results = _read_log(args.log, set(jobs)) if args.log else {}
    jobs = [] if args.report_only else [j for j in jobs if j not in results]
    t0 = time.time()
    with ProcessPoolExecutor(args.workers) as pool:
        for job, regret, asks in pool.map(run_one, jobs, chunksize=1):
            results[job] = (regret, asks)
            if args.log:
                with open(args.log, "a") as fh:
                    fh.write(json.dumps([*job, regret, asks]) + "\n")
    print(f"{len(jobs)} runs in {time.time() - t0:.0f} s with {args.workers} workers")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([[*k, *v] for k, v in results.items()], fh)
    report(results, args.seeds)


if __name__ == "__main__":
    main()
