"""Time and quality of the real-model tasks: one table row per task.

For each task, random search (seed 0) evaluates ``--evals`` configurations at the top
fidelity with a plain ask -> evaluate -> tell loop. The table gives the CPU seconds per
top-fidelity evaluation (median and maximum over those evaluations; every task runs on
one thread, so CPU time is single-core time even on a busy machine), the best validation
loss and the test loss of that same configuration, and for mlp-digits the dead-ReLU share
of the best and the worst configuration.

``--overhead`` measures instead the fixed per-trial cost c0 of the cost model (continuing
from a to b costs (b - a + c0) / (R + c0)) with ``hpbench.calibrate`` (what ``hpbench
calibrate TASK`` runs): ``--configs`` random configurations are each trained from scratch
at fidelities low, 3 low, 9 low, ... up to the top, the per-level mean CPU seconds are
fitted as ``t = t0 + t1 * b`` (least squares), and ``c0 = t0 / t1`` in fidelity units is
printed with the fit's R^2, beside the c0 of each configuration fitted alone.

Usage:
    python benchmarks/tasks.py                       # all real tasks, 50 evaluations each
    python benchmarks/tasks.py --task svm-digits --evals 10 --json out.json
    python benchmarks/tasks.py --overhead --task cbow-pydocs --task gan-ring --configs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from hpbench.calibrate import Calibration, calibrate
from hpbench.registry import get_task
from hpbench.searchers.random import RandomSearch

REAL_TASKS = [
    "logreg-breast-cancer",
    "logreg-digits",
    "svm-digits",
    "gbdt-digits",
    "gbdt-diabetes",
    "mlp-digits",
    "cnn-digits",
    "cbow-pydocs",
    "gan-ring",
    "ner-hironsan",
]


def run_task(name: str, evals: int, seed: int = 0) -> dict[str, Any]:
    """Random search on task ``name``; returns timings and the best / worst trials."""
    task = get_task(name)
    searcher = RandomSearch(space=task.space, fidelity=task.fidelity, seed=seed)
    trials: list[dict[str, Any]] = []
    cpu_times: list[float] = []
    wall_times: list[float] = []
    failures = 0
    for _ in range(evals):
        suggestion = searcher.ask()
        assert suggestion is not None, "random search never waits"
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            ev = task.evaluate(suggestion.config, budget=suggestion.budget, seed=seed)
        except FloatingPointError as exc:  # a diverged training run is a failed trial
            failures += 1
            searcher.tell(suggestion, None)
            print(f"  {name}: trial {suggestion.trial_id} failed: {exc}", flush=True)
            continue
        cpu_times.append(time.process_time() - cpu)
        wall_times.append(time.perf_counter() - wall)
        searcher.tell(suggestion, ev.objective)
        trials.append({"config": dict(suggestion.config), "objective": ev.objective, **ev.metrics})
    # The first evaluation pays for imports (torch, scikit-learn submodules): leave it out.
    steady = cpu_times[1:] or cpu_times
    best = min(trials, key=lambda t: t["objective"])
    worst = max(trials, key=lambda t: t["objective"])
    dead = [t for t in trials if t.get("dead_relu_share", 0.0) >= 0.5]
    alive = [t for t in trials if t.get("dead_relu_share", 0.0) < 0.5]
    return {
        "task": name,
        "n_mostly_dead": len(dead),
        "median_loss_mostly_dead": statistics.median(t["objective"] for t in dead) if dead else None,
        "median_loss_others": statistics.median(t["objective"] for t in alive) if alive else None,
        "declared_seconds": task.seconds_per_eval,
        "cpu_median": statistics.median(steady),
        "cpu_max": max(steady),
        "wall_median": statistics.median(wall_times[1:] or wall_times),
        "best": best,
        "worst": worst,
        "failures": failures,
        "evals": evals,
    }


def _fmt_dead(trial: dict[str, Any]) -> str:
    value = trial.get("dead_relu_share")
    return "" if value is None else f"{value:.3f}"


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| task | declared s/eval | CPU s/eval median | CPU s/eval max | wall s/eval median "
        "| best val loss | its test loss | its test acc | failed | dead ReLU best | dead ReLU worst |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in rows:
        b = r["best"]
        acc = b.get("test_accuracy")
        lines.append(
            f"| {r['task']} | {r['declared_seconds']} | {r['cpu_median']:.2f} | {r['cpu_max']:.2f} "
            f"| {r['wall_median']:.2f} | {b['objective']:.4f} | {b['test_loss']:.4f} "
            f"| {'' if acc is None else f'{acc:.3f}'} | {r['failures']}/{r['evals']} "
            f"| {_fmt_dead(b)} | {_fmt_dead(r['worst'])} |"
        )
    return "\n".join(lines)


def measure_overhead(name: str, n_configs: int, seed: int = 0) -> Calibration:
    """c0 of task ``name`` as ``hpbench calibrate`` measures it (CPU seconds, default levels)."""
    return calibrate(get_task(name), configs=n_configs, seed=seed)


def format_overhead(cals: list[Calibration]) -> str:
    lines = [
        "| task | mean CPU s at each level (the fit's data) | t0 (s) | t1 (s/unit) | R^2 "
        "| c0 = t0/t1 | c0 per config |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in cals:
        times = " / ".join(f"{b:g}: {t:.3f}" for b, t in zip(c.levels, c.means))
        per = ", ".join(f"{p.c0:.3g}" for p in c.per_config)
        f = c.fit
        lines.append(
            f"| {c.task} | {times} | {f.t0:.3f} | {f.t1:.4f} | {f.r2:.4f} | {f.c0:.3g} {c.unit} | {per} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", action="append", choices=REAL_TASKS, help="repeat; default all")
    parser.add_argument("--evals", type=int, default=50, help="random-search evaluations per task")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows (with best/worst configs) to this file")
    parser.add_argument("--overhead", action="store_true", help="measure c0 instead (see the docstring)")
    parser.add_argument("--configs", type=int, default=3, help="configurations per task for --overhead")
    args = parser.parse_args(argv)
    if args.overhead:
        names = args.task or [n for n in REAL_TASKS if get_task(n).fidelity is not None]
        print(format_overhead([measure_overhead(n, args.configs, args.seed) for n in names]))
        return
    rows = []
    for name in args.task or REAL_TASKS:
        start = time.perf_counter()
        rows.append(run_task(name, args.evals, args.seed))
        print(f"{name}: done in {time.perf_counter() - start:.0f} s", flush=True)
    print(format_table(rows))
    for r in rows:
        if r["task"] == "mlp-digits":
            print(f"mlp-digits best config: {r['best']['config']}")
            print(f"mlp-digits worst config: {r['worst']['config']}")
            print(
                f"mlp-digits: {r['n_mostly_dead']}/{r['evals']} configs have >= 50% dead hidden units; "
                f"median val loss {r['median_loss_mostly_dead']} vs {r['median_loss_others']} for the rest"
            )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
