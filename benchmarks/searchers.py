"""Quality and speed of hpbench's gp-ei next to scikit-optimize's and Optuna's samplers.

Quality: final simple regret (best objective found minus the optimum) after a fixed
number of full-fidelity evaluations, median and interquartile range over seeds, on
Branin@40, Hartmann6@60 and svm-digits@40. svm-digits has no known optimum, so its regret
is measured against the best value any searcher found in this benchmark run.

Speed: wall-clock (and process CPU) seconds of one ``ask()`` once 60 observations of the
6-D Hartmann function have been told, median over seeds. Every searcher is driven by the
same plain ask -> evaluate -> tell loop; searchers that cannot be imported are shown as
"n/a". The multi-fidelity tables of ``benchmarks/multifidelity.py`` follow when that
module is importable.

Usage:
    python benchmarks/searchers.py                 # 10 seeds, everything
    python benchmarks/searchers.py --quick         # 3 seeds, quick multi-fidelity tables
    python benchmarks/searchers.py --seeds 5 --skip-mf --workers 1
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from hpbench.registry import get_task, make_searcher
from hpbench.spec import parse_searcher

QUALITY_SEARCHERS = ["gp-ei", "skopt-gp", "optuna-gp", "optuna-tpe", "random"]
SPEED_SEARCHERS = ["gp-ei", "skopt-gp", "optuna-gp"]
QUALITY_TASKS = [("branin", 40), ("hartmann6", 60), ("svm-digits", 40)]
SPEED_TASK, SPEED_OBS = "hartmann6", 60


def _available(name: str) -> str | None:
    """``None`` when the searcher can be built, else the reason it cannot."""
    try:
        spec = parse_searcher(name)
        make_searcher(spec.name, space=get_task("branin").space, seed=0, **spec.params)
    except Exception as exc:  # report any import or construction failure as "n/a"
        return f"{type(exc).__name__}: {exc}"
    return None


def run_once(searcher_name: str, task_name: str, evals: int, seed: int) -> float:
    """Best objective after ``evals`` full-fidelity evaluations (failures are told None)."""
    task = get_task(task_name)
    spec = parse_searcher(searcher_name)  # "gp-ei" or "gp-ei:y_transform=power", as the CLI takes
    searcher = make_searcher(spec.name, space=task.space, fidelity=task.fidelity, seed=seed, **spec.params)
    best = math.inf
    for _ in range(evals):
        sug = searcher.ask()
        if sug is None:
            break
        try:
            value: float | None = task.evaluate(sug.config, budget=sug.budget, seed=seed).objective
        except Exception:  # a crashing configuration is a failed trial, as in the runner
            value = None
        searcher.tell(sug, value)
        if value is not None and math.isfinite(value):
            best = min(best, value)
    return best


def _run_job(job: tuple[str, str, int, int]) -> tuple[tuple[str, str, int, int], float]:
    t0 = time.perf_counter()
    best = run_once(*job)
    print(
        f"  done {job[0]} on {job[1]}@{job[2]} seed {job[3]}: {best:.6g} ({time.perf_counter() - t0:.0f} s)",
        file=sys.stderr,
        flush=True,
    )
    return job, best


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "inf"
    return f"{x:.2e}" if x != 0 else "0"


def quality_table(seeds: int, workers: int, names: list[str], columns: list[tuple[str, int]]) -> None:
    """Run every (task, searcher, seed) and print median [q25, q75] of the final regret."""
    usable = [n for n in names if _available(n) is None]
    tasks = []
    for task_name, evals in columns:
        try:
            get_task(task_name)
        except Exception as exc:
            print(f"(skipping {task_name}: {type(exc).__name__}: {exc})")
            continue
        tasks.append((task_name, evals))
    jobs = [(n, t, e, s) for t, e in tasks for n in usable for s in range(seeds)]
    t0 = time.perf_counter()
    results: dict[tuple[str, str, int, int], float] = {}
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results.update(pool.map(_run_job, jobs, chunksize=1))
    else:
        results.update(map(_run_job, jobs))
    print(
        f"\n== Quality: final simple regret, median [q25, q75] over {seeds} seeds "
        f"({time.perf_counter() - t0:.0f} s) =="
    )
    header = f"{'searcher':<12}" + "".join(f"{f'{t}@{e}':>32}" for t, e in tasks)
    print(header)
    print("-" * len(header))
    for name in names:
        cells = []
        for task_name, evals in tasks:
            if name not in usable:
                cells.append(f"{'n/a':>32}")
                continue
            task = get_task(task_name)
            if task.optimum is not None:
                ref = task.optimum
            else:  # best value any searcher reached on this task in this run
                ref = min(v for (n, t, _, _), v in results.items() if t == task_name)
            regrets = np.array([results[(name, task_name, evals, s)] - ref for s in range(seeds)])
            q25, med, q75 = np.percentile(regrets, [25, 50, 75])
            cells.append(f"{_fmt(med):>12} [{_fmt(q25)}, {_fmt(q75)}]".rjust(32))
        print(f"{name:<12}" + "".join(cells))
    for name in names:
        if name not in usable:
            print(f"  n/a {name}: {_available(name)}")
    if any(get_task(t).optimum is None for t, _ in tasks):
        print("  (tasks without a known optimum: regret against the best value found in this run)")


def time_asks(name: str, seed: int, n_timed: int = 3) -> list[tuple[float, float]]:
    """Wall and CPU seconds of the ``n_timed`` asks that follow ``SPEED_OBS`` told observations."""
    task = get_task(SPEED_TASK)
    searcher = make_searcher(name, space=task.space, fidelity=task.fidelity, seed=seed)
    out = []
    for i in range(SPEED_OBS + n_timed):
        w0, c0 = time.perf_counter(), time.process_time()
        sug = searcher.ask()
        if i >= SPEED_OBS:
            out.append((time.perf_counter() - w0, time.process_time() - c0))
        assert sug is not None
        searcher.tell(sug, task.evaluate(sug.config, budget=sug.budget, seed=seed).objective)
    return out


def speed_table(repeats: int, names: list[str]) -> None:
    """Median wall and CPU time per suggestion at 60 observations, one process at a time."""
    print(
        f"\n== Speed: seconds per ask() at {SPEED_OBS}-{SPEED_OBS + 2} observations, {SPEED_TASK} "
        f"(median of 3 asks x {repeats} seeds) =="
    )
    print(f"{'searcher':<12}{'wall s':>10}{'cpu s':>10}{'vs gp-ei':>10}")
    print("-" * 42)
    walls: dict[str, float] = {}
    for name in names:
        if _available(name) is not None:
            print(f"{name:<12}{'n/a':>10}{'n/a':>10}")
            continue
        samples = [t for seed in range(repeats) for t in time_asks(name, seed)]
        walls[name] = statistics.median(w for w, _ in samples)
        cpu = statistics.median(c for _, c in samples)
        ratio = walls[name] / walls["gp-ei"] if "gp-ei" in walls else math.nan
        print(f"{name:<12}{walls[name]:>10.4f}{cpu:>10.4f}{ratio:>9.1f}x")
    print(f"  (load average while timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def multifidelity_tables(seeds: int, quick: bool) -> None:
    # ----------------------------------------------------------------------------------
    # MULTI-FIDELITY HOOK: the section is owned by benchmarks/multifidelity.py, which
    # provides ``main_tables(seeds: int, quick: bool) -> None``. It is called when importable.
    # ----------------------------------------------------------------------------------
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    try:
        module = importlib.import_module("multifidelity")
        main_tables = module.main_tables
    except (ImportError, AttributeError) as exc:
        print(f"\n(multi-fidelity section skipped: {type(exc).__name__}: {exc})")
        return
    print("\n== Multi-fidelity ==")
    main_tables(seeds=seeds, quick=quick)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (default 10, 3 with --quick)")
    parser.add_argument("--quick", action="store_true", help="3 seeds and quick multi-fidelity tables")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes for the quality runs (the speed table always runs alone)",
    )
    parser.add_argument(
        "--searchers",
        default=",".join(QUALITY_SEARCHERS),
        help="';'-separated rows of the quality table (',' when no row has parameters), "
        "NAME or NAME:key=value,... as `hpbench run --searcher` takes",
    )
    parser.add_argument(
        "--tasks",
        default=",".join(t for t, _ in QUALITY_TASKS),
        help="comma-separated columns of the quality table",
    )
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-mf", action="store_true", help="skip the multi-fidelity section")
    args = parser.parse_args(argv)
    seeds = args.seeds if args.seeds is not None else (3 if args.quick else 10)
    if seeds < 1 or args.workers < 1:
        parser.error(f"--seeds and --workers must be >= 1, got {seeds} and {args.workers}")
    if not args.skip_quality:
        tasks = [(t, e) for t, e in QUALITY_TASKS if t in args.tasks.split(",")]
        sep = ";" if ";" in args.searchers else ","
        quality_table(seeds, args.workers, [x for x in args.searchers.split(sep) if x], tasks)
    if not args.skip_speed:
        speed_table(2 if args.quick else 3, SPEED_SEARCHERS)
    if not args.skip_mf:
        multifidelity_tables(seeds, args.quick)


if __name__ == "__main__":
    main()
