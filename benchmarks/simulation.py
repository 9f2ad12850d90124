"""Benchmarks at the speed of lookup: surrogate tasks on a virtual clock (issue 15), in one run.

Four tables:

1. **Scale.** ``random``, ``gp-ei``, ``sh``, ``hyperband``, ``asha``, ``optuna-tpe`` x
   ``--seeds`` seeds x ``--max-cost`` full-fidelity evaluations (FFE) on
   ``mlp-digits-surrogate``, 4 virtual workers per run (``hb.benchmark(...,
   virtual_workers=4)``, every trial committed to a SQLite store). Jobs (one searcher,
   five seeds each) run in two processes: the section's elapsed wall time is on 2 cores.
   Beside it, per searcher: the simulated time (each run's clock at its last trial's end,
   summed over runs) and the estimated real training time of the same study (the sum of
   the trials' predicted CPU seconds, ``Evaluation.seconds``: what one core would train).
   ``job s`` is the jobs' own elapsed seconds in their processes, start-up included.
2. **Asynchrony.** ASHA against synchronous Hyperband at 1, 4 and 16 virtual workers,
   ``--async-seeds`` seeds, the same budget: simulated time until the run's incumbent (best
   top-fidelity objective) reaches ``T(5%)``, the top-5% quality level of
   ``benchmarks/multifidelity.py``: the 0.05-quantile of the top-fidelity objectives of the
   random-search runs of table 1, pooled. Median over seeds (``> end`` when half or more
   never reached it), and how many did.
3. **Fidelity of the replay.** The shipped surrogate's held-out Spearman correlation per
   fidelity level (``hpbench.surrogate.quality.measure_quality``, 5 folds; the model choice
   is ``benchmarks/surrogates.py``), then the same six searchers on the real ``mlp-digits``
   (real training, in-process, one trial at a time) and on ``mlp-digits-surrogate`` with
   ``--fidelity-seeds`` seeds 0.. and ``--fidelity-cost`` FFE each: median final incumbent
   and seed-paired mean rank on both, and Kendall's tau between the two rankings.
4. **Throughput.** Whole processes, timed from the outside: ``python -m hpbench run`` on
   ``branin`` with random search (the CLI default executor, then ``--workers 0`` and
   ``--virtual-workers 1``; a fresh store each) against a script running Optuna's
   in-memory ``RandomSampler`` on the same function, same number of trials, interleaved
   repeat by repeat (median wall time; ``cpu s`` is the child's user + sys time, which a
   loaded machine disturbs less). Bytecode as an installed package has it: every process
   reads and writes ``.pyc`` files under a private ``PYTHONPYCACHEPREFIX``, written by an
   untimed warm-up round of 10 trials each (as ``benchmarks/startup.py`` does);
   ``--no-bytecode`` times a source checkout under ``PYTHONDONTWRITEBYTECODE=1`` instead,
   where hpbench compiles its modules at every start. ``benchmarks/overhead.py`` times the
   in-process loops.

Seeds: run seed ``k`` is split into searcher and task seeds (``hpbench.runner.split_seed``);
every searcher sees the same task seeds. The surrogate is deterministic under them, so
tables 1, 2 and the surrogate half of 3 are the same on any machine except for their wall times.

Usage::

    python benchmarks/simulation.py [--seeds 20] [--max-cost 100] [--async-seeds 20]
        [--fidelity-seeds 5] [--fidelity-cost 8] [--no-fidelity]
        [--throughput-trials 20000] [--repeats 3] [--no-throughput | --only-throughput]
        [--no-bytecode]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from startup import _env, _time  # benchmarks/startup.py: bytecode and timing of child processes

import hpbench as hb
from hpbench.budget import Budget
from hpbench.executors import VirtualClockExecutor
from hpbench.executors.virtual import EPOCH
from hpbench.incumbent import eligible
from hpbench.registry import get_task, make_searcher
from hpbench.runner import run_search, split_seed
from hpbench.threads import limit_process_threads
from hpbench.trial import TrialStatus

TASK = "mlp-digits-surrogate"
SEARCHERS = ("random", "gp-ei", "sh", "hyperband", "asha", "optuna-tpe")
CHUNK = 5  # seeds per scale job
QUANTILE = 0.05  # the top-5% target of benchmarks/multifidelity.py
WORKER_COUNTS = (1, 4, 16)


# ------------------------------------------------------------------------------ scale
def _scale_job(searcher: str, seeds: list[int], max_cost: float, folder: str) -> dict[str, Any]:
    """One searcher on a few seeds through ``hb.benchmark``, 4 virtual workers; what it simulated."""
    t0 = time.perf_counter()
    res = hb.benchmark(
        [TASK],
        [searcher],
        seeds=seeds,
        max_cost=max_cost,
        store=Path(folder) / f"{searcher}-{seeds[0]}.db",
        name=f"scale-{searcher}-{seeds[0]}",
        virtual_workers=4,
        progress=False,
    )
    df = res.trials
    wall = time.perf_counter() - t0
    top = df[(df.status == "ok") & (df.budget == df.budget.max())].objective.to_numpy()
    return {
        "searcher": searcher,
        "wall": wall,
        "trials": len(df),
        "runs": df.run_id.nunique(),
        "virtual": float((df.groupby("run_id").finished.max() - EPOCH).sum()),
        "train": float((df.finished - df.started).sum()),
        "top": top,
    }


def scale_table(seeds: int, max_cost: float, pool: cf.Executor, folder: str) -> np.ndarray:
    """Print table 1; return the random runs' top-fidelity objectives (the target's pool)."""
    jobs = [(s, list(range(k, min(seeds, k + CHUNK)))) for s in SEARCHERS for k in range(0, seeds, CHUNK)]
    jobs.sort(key=lambda j: j[0] != "gp-ei")  # the slowest first, so the two processes end together
    t0 = time.perf_counter()
    results = list(pool.map(_scale_job, *zip(*jobs), [max_cost] * len(jobs), [folder] * len(jobs)))
    elapsed = time.perf_counter() - t0
    print(f"\n## Scale: {TASK}, {seeds} seeds x max_cost {max_cost:g} FFE, 4 virtual workers per run")
    head = f"{'searcher':<12}{'runs':>6}{'trials':>8}{'job s':>8}{'simulated s':>13}{'training s':>12}"
    print(f"{head}{'training / job':>16}")
    tot = {"wall": 0.0, "virtual": 0.0, "train": 0.0, "trials": 0}
    for s in SEARCHERS:
        mine = [r for r in results if r["searcher"] == s]
        row = {k: sum(r[k] for r in mine) for k in ("wall", "virtual", "train", "trials", "runs")}
        for k in tot:
            tot[k] += row[k]
        print(
            f"{s:<12}{row['runs']:>6}{row['trials']:>8}{row['wall']:>8.1f}{row['virtual']:>13,.0f}"
            f"{row['train']:>12,.0f}{row['train'] / row['wall']:>15.0f}x"
        )
    print(
        f"study: {elapsed:.0f} s wall on 2 processes (target < 180 s) for {tot['trials']} trials; it "
        f"simulated {tot['virtual'] / 3600:.2f} h of 4-worker clock time and stands for "
        f"{tot['train'] / 3600:.2f} h of single-core training ({tot['train'] / elapsed:.0f}x the wall time)"
    )
    return np.concatenate([r["top"] for r in results if r["searcher"] == "random"])


# -------------------------------------------------------------------------- asynchrony
def _async_run(
    searcher: str, workers: int, seed: int, max_cost: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """(finish times, top-fidelity objective or inf) of one run's trials in finish order, and its end."""
    task = get_task(TASK)
    assert task.fidelity is not None
    s_seed, t_seed = split_seed(seed)
    s = make_searcher(searcher, space=task.space, fidelity=task.fidelity, seed=s_seed)
    records = run_search(
        task,
        s,
        budget=Budget(max_cost=max_cost),
        task_seed=t_seed,
        executor=VirtualClockExecutor(workers),
        trials_per_run=workers,
    )
    top = task.fidelity.high
    ends = np.array([r.finished for r in records])
    values = np.array(
        [
            r.objective
            if r.status is TrialStatus.OK and r.budget == top and r.objective is not None
            else math.inf
            for r in records
        ]
    )
    return ends, values, float(ends.max())


def time_to(ends: np.ndarray, values: np.ndarray, target: float) -> float:
    """Simulated time when the incumbent first reaches ``target`` (inf if never)."""
    hit = np.flatnonzero(values <= target)
    return math.inf if len(hit) == 0 else float(ends[hit[0]] - EPOCH)


def asynchrony_table(seeds: int, max_cost: float, target: float, n_pool: int, pool: cf.Executor) -> None:
    """Print table 2: ASHA and Hyperband time to the target at 1, 4 and 16 workers."""
    jobs = [(s, w, k) for s in ("asha", "hyperband") for w in WORKER_COUNTS for k in range(seeds)]
    t0 = time.perf_counter()
    out = dict(zip(jobs, pool.map(_async_run, *zip(*jobs), [max_cost] * len(jobs))))
    wall = time.perf_counter() - t0
    print(
        f"\n## Asynchrony: ASHA vs synchronous Hyperband, {seeds} seeds x max_cost {max_cost:g} FFE "
        f"({wall:.0f} s wall)"
    )
    print(
        f"target T({QUANTILE:.0%}) = {target:.4f} (validation loss; quantile of {n_pool} random evaluations)"
    )
    print(f"{'workers':>8}{'asha s':>10}{'reached':>9}{'hyperband s':>13}{'reached':>9}{'hb / asha':>11}")
    for w in WORKER_COUNTS:
        cells, med = "", {}
        for s in ("asha", "hyperband"):
            times = np.array([time_to(*out[(s, w, k)][:2], target) for k in range(seeds)])
            med[s] = float(np.median(times))
            end = float(np.median([out[(s, w, k)][2] for k in range(seeds)]))
            text = f"{med[s]:.1f}" if math.isfinite(med[s]) else f"> {end:.0f}"
            width = 10 if s == "asha" else 13
            cells += f"{text:>{width}}{f'{int(np.isfinite(times).sum())}/{seeds}':>9}"
        both = math.isfinite(med["hyperband"]) and math.isfinite(med["asha"])
        ratio = f"{med['hyperband'] / med['asha']:.2f}" if both else "n/a"
        print(f"{w:>8}{cells}{ratio:>11}")


# ---------------------------------------------------------------------------- fidelity
REAL_TASK = "mlp-digits"


def _final(task_name: str, searcher: str, seed: int, max_cost: float) -> float:
    """Final incumbent (best top-fidelity validation objective, inf if none) of one in-process run."""
    task = get_task(task_name)
    assert task.fidelity is not None
    s_seed, t_seed = split_seed(seed)
    s = make_searcher(searcher, space=task.space, fidelity=task.fidelity, seed=s_seed)
    records = run_search(task, s, budget=Budget(max_cost=max_cost), task_seed=t_seed)
    high = task.fidelity.high
    values = [r.objective for r in records if eligible(str(r.status), r.objective, r.budget, high)]
    return min(values, default=math.inf)


def mean_ranks(finals: dict[tuple[str, int], float], seeds: int) -> dict[str, float]:
    """Seed-paired mean rank of each searcher (rank 1 = lowest final; ties averaged)."""
    from scipy.stats import rankdata

    table = np.array([[finals[(s, k)] for s in SEARCHERS] for k in range(seeds)])
    ranks = np.vstack([rankdata(row) for row in table])
    return dict(zip(SEARCHERS, ranks.mean(axis=0).tolist()))


def fidelity_table(seeds: int, max_cost: float, pool: cf.Executor) -> None:
    """Print table 3: the surrogate's held-out Spearman per level, and its ranking of the
    searchers against the ranking on the real task (Kendall's tau), same seeds and budget."""
    from scipy.stats import kendalltau

    from hpbench.surrogate.builtin import recording_path
    from hpbench.surrogate.quality import measure_quality
    from hpbench.surrogate.recording import Recording

    quality = measure_quality(Recording.load(recording_path(REAL_TASK)))
    print(f"\n## Fidelity of the replay: {TASK} against {REAL_TASK}")
    print(
        "held-out Spearman (5 folds) per level: "
        + ", ".join(
            f"{lvl} {rho:.3f}" if rho is not None else f"{lvl} n/a"
            for lvl, rho in quality["spearman"].items()
        )
    )
    jobs = [(t, s, k) for t in (REAL_TASK, TASK) for s in SEARCHERS for k in range(seeds)]
    jobs.sort(key=lambda j: j[0] != REAL_TASK)  # real training first
    t0 = time.perf_counter()
    finals = list(pool.map(_final, *zip(*jobs), [max_cost] * len(jobs)))
    wall = time.perf_counter() - t0
    by_task = {t: {(s, k): v for (tt, s, k), v in zip(jobs, finals) if tt == t} for t in (REAL_TASK, TASK)}
    ranks = {t: mean_ranks(by_task[t], seeds) for t in by_task}
    print(f"ranking at max_cost {max_cost:g} FFE, seeds 0..{seeds - 1} on both ({wall:.0f} s wall):")
    print(f"{'searcher':<12}{'real median':>13}{'real rank':>11}{'surr. median':>14}{'surr. rank':>12}")
    for s in SEARCHERS:
        med = {t: float(np.median([by_task[t][(s, k)] for k in range(seeds)])) for t in by_task}
        print(
            f"{s:<12}{med[REAL_TASK]:>13.4f}{ranks[REAL_TASK][s]:>11.2f}{med[TASK]:>14.4f}{ranks[TASK][s]:>12.2f}"
        )
    tau = kendalltau([ranks[REAL_TASK][s] for s in SEARCHERS], [ranks[TASK][s] for s in SEARCHERS])
    print(f"Kendall's tau of the mean ranks, surrogate vs real: {tau.statistic:.3f} (p = {tau.pvalue:.3f})")


# -------------------------------------------------------------------------- throughput
_OPTUNA = """
import math, sys, optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
def branin(t):
    x1, x2 = t.suggest_float("x1", -5.0, 10.0), t.suggest_float("x2", 0.0, 15.0)
    b, c = 5.1 / (4 * math.pi ** 2), 5 / math.pi
    return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10
storage = None  # in memory; or argv[2]: a journal file / SQLite file, persisted as hpbench's store is
if len(sys.argv) > 2 and sys.argv[2].endswith(".log"):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    storage = JournalStorage(JournalFileBackend(sys.argv[2]))
elif len(sys.argv) > 2:
    storage = "sqlite:///" + sys.argv[2]
study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), storage=storage)
study.optimize(branin, n_trials=int(sys.argv[1]))
assert len(study.trials) == int(sys.argv[1])
"""
# Optuna with a persistent storage, at a tenth / a hundredth of the trials (it is that much slower)
_PERSISTENT = {
    "optuna RandomSampler, journal file": (".log", 10),
    "optuna RandomSampler, SQLite": (".db", 100),
}


def throughput_table(trials: int, repeats: int, folder: str, *, bytecode: bool = True) -> None:
    """Print table 4: whole-process trials per second, hpbench CLI against Optuna in memory."""
    cli = ["-m", "hpbench", "run", "--task", "branin", "--searcher", "random", "--seeds", "1"]
    cli += ["--no-progress", "--name", "tp"]
    loops = {
        "hpbench run (CLI default)": [],
        "hpbench run --workers 0": ["--workers", "0"],
        "hpbench run --virtual-workers 1": ["--virtual-workers", "1"],
        "optuna RandomSampler, in-memory": None,
        **dict.fromkeys(_PERSISTENT),
    }
    env = _env(os.environ.get("PYTHONPATH", ""), str(Path(folder) / "pycache") if bytecode else None)
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in loops}
    for rep in range(repeats + 1):  # round 0 is untimed: it compiles the bytecode, warms the caches
        for k, (name, extra) in enumerate(loops.items()):
            suffix, share = _PERSISTENT.get(name, ("", 1))
            n = str(trials // share if rep else 10)
            if extra is None:
                args = ["-c", _OPTUNA, n, *([str(Path(folder) / f"op-{rep}-{k}{suffix}")] if suffix else [])]
            else:  # a fresh store for every process
                store = str(Path(folder) / f"tp-{rep}-{k}.db")
                args = [*cli, "--max-evals", n, *extra, "--store", store]
            sample = _time(args, env, quiet=True)
            if rep:
                times[name].append(sample)
    how = "bytecode cached" if bytecode else "PYTHONDONTWRITEBYTECODE=1, hpbench compiled at every start"
    head = f"branin, random search, {trials} trials, whole process (median of {repeats}; {how})"
    print(f"\n## Throughput: {head}")
    print(f"{'process':<34}{'median s':>10}{'cpu s':>8}{'trials/s':>10}{'vs optuna':>11}")
    optuna_rate = trials / statistics.median(w for w, _ in times["optuna RandomSampler, in-memory"])
    for name, ts in times.items():
        wall, cpu = statistics.median(w for w, _ in ts), statistics.median(c for _, c in ts)
        rate = trials // _PERSISTENT.get(name, ("", 1))[1] / wall
        print(f"{name:<34}{wall:>10.2f}{cpu:>8.2f}{rate:>10,.0f}{rate / optuna_rate:>10.2f}x")
    print("target: the CLI default >= 2x Optuna in memory (which stores nothing; hpbench commits every trial")
    print(f"to SQLite; the persistent Optuna rows ran {trials // 10} and {trials // 100} trials)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=20, help="seeds per searcher in the scale table")
    ap.add_argument("--max-cost", type=float, default=100.0, help="FFE per run (scale and asynchrony)")
    ap.add_argument("--async-seeds", type=int, default=20, help="seeds per cell of the asynchrony table")
    ap.add_argument("--throughput-trials", type=int, default=20000)
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the throughput processes")
    ap.add_argument("--fidelity-seeds", type=int, default=5, help="seeds of the real-vs-surrogate ranking")
    ap.add_argument("--fidelity-cost", type=float, default=8.0, help="FFE per run of that ranking")
    ap.add_argument("--no-fidelity", action="store_true", help="skip table 3 (it trains the real task)")
    only = ap.add_mutually_exclusive_group()
    only.add_argument("--no-throughput", action="store_true", help="skip table 4")
    only.add_argument("--only-throughput", action="store_true", help="run table 4 alone")
    ap.add_argument(
        "--no-bytecode", action="store_true", help="table 4 with PYTHONDONTWRITEBYTECODE=1 (compile at start)"
    )
    a = ap.parse_args(argv)
    workers = min(2, os.cpu_count() or 1)
    with tempfile.TemporaryDirectory(prefix="hpbench-sim-") as folder:
        if a.only_throughput:
            throughput_table(a.throughput_trials, a.repeats, folder, bytecode=not a.no_bytecode)
            return 0
        with cf.ProcessPoolExecutor(workers, initializer=limit_process_threads) as pool:
            pooled = scale_table(a.seeds, a.max_cost, pool, folder)
            target = float(np.quantile(pooled, QUANTILE, method="inverted_cdf"))
            asynchrony_table(a.async_seeds, a.max_cost, target, len(pooled), pool)
            if not a.no_fidelity:
                fidelity_table(a.fidelity_seeds, a.fidelity_cost, pool)
        if not a.no_throughput:
            throughput_table(a.throughput_trials, a.repeats, folder, bytecode=not a.no_bytecode)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
