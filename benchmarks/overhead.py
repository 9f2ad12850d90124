"""Per-trial overhead of hpbench against Optuna, side by side in one run.

Three loops over the same four-parameter space (float, log-float, int, categorical) and an
objective that returns at once, so only the machinery is timed:

- hpbench random search, in-process executor, every trial committed to a real SQLite store
  (``hpbench.benchmark(..., workers=0)``, the whole call, set-up included);
- Optuna's RandomSampler on an in-memory study (``study.optimize``);
- Optuna's RandomSampler on Optuna's own SQLite storage (fewer trials: it is slow).

The three are interleaved repeat by repeat, so a busy machine slows them alike; the median
of the repeats is reported. Target: hpbench persisting every trial >= 2x Optuna in memory.

Usage::

    python benchmarks/overhead.py [--trials 5000] [--sqlite-trials 100] [--repeats 7]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hpbench as hb

SPACE = {
    "x": hb.Float(-5.0, 5.0),
    "lr": hb.Float(1e-4, 1.0, log=True),
    "n": hb.Int(1, 10),
    "kind": hb.Categorical(["a", "b", "c"]),
}


def _instant(config: Mapping[str, Any], *, budget: float | None, seed: int) -> float:
    """Returns at once: the time of a trial is the tool's own overhead."""
    return config["x"] ** 2 + config["n"]


INSTANT = hb.FunctionTask(_instant, space=SPACE, name="instant")


def run_hpbench(n: int, folder: Path, rep: int) -> float:
    t0 = time.perf_counter()
    res = hb.benchmark(
        [INSTANT],
        ["random"],
        seeds=[rep],
        max_evals=n,
        store=folder / f"hpbench-{rep}.db",
        name=f"overhead-{rep}",
        workers=0,
        progress=False,
    )
    elapsed = time.perf_counter() - t0
    assert len(res.trials) == n
    return elapsed


def _optuna_objective(trial: Any) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    trial.suggest_float("lr", 1e-4, 1.0, log=True)
    n = trial.suggest_int("n", 1, 10)
    trial.suggest_categorical("kind", ["a", "b", "c"])
    return x**2 + n


def run_optuna(n: int, storage: str | None, rep: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    study = optuna.create_study(
        storage=storage, sampler=optuna.samplers.RandomSampler(seed=rep), study_name=f"overhead-{rep}"
    )
    study.optimize(_optuna_objective, n_trials=n)
    elapsed = time.perf_counter() - t0
    assert len(study.trials) == n
    return elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=5000, help="trials for hpbench and in-memory Optuna")
    ap.add_argument("--sqlite-trials", type=int, default=100, help="trials for Optuna on SQLite")
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="hpbench-overhead-") as tmp:
        folder = Path(tmp)
        loops: dict[str, tuple[int, Callable[[int], float]]] = {
            "hpbench random, SQLite store": (a.trials, lambda r: run_hpbench(a.trials, folder, r)),
            "optuna RandomSampler, in-memory": (a.trials, lambda r: run_optuna(a.trials, None, r)),
            "optuna RandomSampler, SQLite": (
                a.sqlite_trials,
                lambda r: run_optuna(a.sqlite_trials, f"sqlite:///{folder}/optuna-{r}.db", r),
            ),
        }
        run_optuna(50, None, 999)  # import optuna and warm up outside the timings
        run_hpbench(50, folder, 999)
        times: dict[str, list[float]] = {k: [] for k in loops}
        for rep in range(a.repeats):
            for name, (_, fn) in loops.items():
                times[name].append(fn(rep))

    rates = {name: loops[name][0] / statistics.median(ts) for name, ts in times.items()}
    print(f"{'loop':<34} {'trials':>7} {'median s':>9} {'trials/s':>10}   (median of {a.repeats} repeats)")
    for name, ts in times.items():
        print(f"{name:<34} {loops[name][0]:>7} {statistics.median(ts):>9.3f} {rates[name]:>10,.0f}")
    ratio = rates["hpbench random, SQLite store"] / rates["optuna RandomSampler, in-memory"]
    ratio_sql = rates["hpbench random, SQLite store"] / rates["optuna RandomSampler, SQLite"]
    print(
        f"hpbench / optuna in-memory: {ratio:.2f}x (target >= 2x); hpbench / optuna SQLite: {ratio_sql:.1f}x"
    )
    # Paired: each repeat timed both loops back to back, so a slow spell of the machine
    # hits both members of a pair; the median of the pair ratios is the robust figure.
    pairs = sorted(
        o / h for h, o in zip(times["hpbench random, SQLite store"], times["optuna RandomSampler, in-memory"])
    )
    print(
        f"paired per repeat: median {statistics.median(pairs):.2f}x, "
        f"range {pairs[0]:.2f}x-{pairs[-1]:.2f}x over {len(pairs)} repeats"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
