"""Time ``write_report`` on a synthetic 10,000-trial experiment and print time and file size.

Usage:
    python benchmarks/report.py [--trials 10000] [--out /tmp/hpbench-report-bench.html]

The frames mimic ``hpbench.results.store.load_results`` / ``load_runs``: four tasks (with and
without a known optimum, with and without a fidelity, a conditional parameter, failures),
four searchers including ``random`` and a multi-fidelity one, ten seeds, two workers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

# name -> (optimum or None, fidelity high or None, parameter names)
TASKS: dict[str, tuple[float | None, float | None, tuple[str, ...]]] = {
    "branin": (0.397887, None, ("x0", "x1")),
    "hartmann6-mf": (-3.32237, 81.0, ("x0", "x1", "x2", "x3", "x4", "x5")),
    "svm-digits": (None, None, ("C", "gamma")),
    "mlp-fashion": (None, 27.0, ("lr", "width", "activation", "dropout")),
}
SEARCHERS = {"random": 0.0, "gp-ei": 1.2, "hyperband": 0.8, "optuna-tpe": 0.9}


def _params(task: str, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    if task == "svm-digits":
        return {"param.C": 10 ** rng.uniform(-3, 3, n), "param.gamma": 10 ** rng.uniform(-5, 0, n)}
    if task == "mlp-fashion":
        act = rng.choice(["relu", "tanh", "gelu"], n).astype(object)
        drop = np.where(act == "relu", rng.uniform(0, 0.5, n), np.nan)  # conditional parameter
        return {
            "param.lr": 10 ** rng.uniform(-4, -1, n),
            "param.width": rng.integers(16, 257, n).astype(float),
            "param.activation": act,
            "param.dropout": drop,
        }
    return {f"param.{p}": rng.uniform(0, 1, n) for p in TASKS[task][2]}


def synthetic_results(
    n_trials: int = 10_000, *, seeds: int = 10, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trials and runs frames shaped like the store's, about ``n_trials`` trials in total."""
    rng = np.random.default_rng(seed)
    n_runs = len(TASKS) * len(SEARCHERS) * seeds
    per_run = max(2, n_trials // n_runs)
    trial_parts, run_rows = [], []
    run_id = 0
    clock = 1.7e9
    for task, (opt, high, _names) in TASKS.items():
        scale = 3.0 if opt is not None else 0.5
        floor = opt if opt is not None else 0.05
        for searcher, skill in SEARCHERS.items():
            for s in range(seeds):
                run_id += 1
                n = per_run
                prog = np.arange(n) / n
                if high is not None and searcher == "hyperband":
                    budget = rng.choice([high / 27, high / 9, high / 3, high], n, p=[0.5, 0.25, 0.15, 0.1])
                elif high is not None:
                    budget = np.full(n, high)
                else:
                    budget = np.full(n, np.nan)
                frac = np.where(np.isnan(budget), 1.0, budget / (high or 1.0))
                gap = scale * np.exp(-skill * 3 * prog) * rng.lognormal(0, 0.6, n) * (1 + 0.5 * (1 - frac))
                obj = floor + gap
                status = np.where(rng.random(n) < 0.02, "failed", "ok").astype(object)
                obj[status == "failed"] = np.nan
                dur = rng.gamma(2.0, 0.5, n) * frac
                worker = np.array(["w0", "w1"])[np.arange(n) % 2]
                started = clock + np.cumsum(np.r_[0, dur[:-1]]) / 2
                finished = started + dur
                clock = float(finished.max()) + 1
                part = pd.DataFrame(
                    {
                        "experiment": "bench",
                        "run_id": run_id,
                        "task": task,
                        "searcher": searcher,
                        "seed": s,
                        "trial": np.arange(n),
                        "config": "{}",
                        "budget": budget,
                        "fidelity_high": high if high is not None else np.nan,
                        "objective": obj,
                        "cost": frac,
                        "status": status,
                        "error": np.where(status == "failed", "RuntimeError: diverged", None),
                        "started": started,
                        "finished": finished,
                        "queued": started - 0.01,
                        "worker": worker,
                        "cached": False,
                        "continue_from": np.nan,
                        "optimum": opt if opt is not None else np.nan,
                        "metric.test_loss": obj + rng.normal(0, 0.01, n),
                        **_params(task, rng, n),
                    }
                )
                trial_parts.append(part)
                run_rows.append(
                    {
                        "experiment": "bench",
                        "run_id": run_id,
                        "task": task,
                        "searcher": searcher,
                        "searcher_name": searcher,
                        "searcher_params": json.dumps({"eta": 3} if searcher == "hyperband" else {}),
                        "seed": s,
                        "budget": json.dumps({"max_evals": n}),
                        "status": "finished",
                        "n_trials": n,
                        "started": float(started.min()),
                        "finished": float(finished.max()),
                        "versions": json.dumps(
                            {"hpbench": "0.1.0", "python": "3.11", "numpy": np.__version__}
                        ),
                        "machine": json.dumps({"cpus": 2, "platform": "linux"}),
                    }
                )
    return pd.concat(trial_parts, ignore_index=True), pd.DataFrame(run_rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--out", type=Path, default=Path("/tmp/hpbench-report-bench.html"))
    args = ap.parse_args()
    from hpbench.results.report import write_report

    trials, runs = synthetic_results(args.trials)
    t0, c0 = time.perf_counter(), time.process_time()
    path = write_report(trials, runs, args.out, title="Synthetic benchmark")
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    size = path.stat().st_size / 1e6
    print(f"write_report: {len(trials)} trials, {len(runs)} runs -> {path}")
    print(f"wall time {dt:.2f} s (limit 10 s; CPU time {cpu:.2f} s), size {size:.2f} MB (limit 15 MB)")


if __name__ == "__main__":
    main()
