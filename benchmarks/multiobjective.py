"""Multi-objective benchmarking: our hypervolume next to moocore's and pymoo's, and searchers side by side.

1. Hypervolume. Our exact 2-D and 3-D hypervolume (``hpbench.results.hypervolume``) on
   1,000 random fronts per dimension (10 to 100 points each: non-dominated points on a
   random convex, linear or concave front, plus dominated ones, with ties), next to
   ``moocore.hypervolume`` and pymoo's ``HV`` indicator (pymoo 0.6 computes it by calling
   moocore, so the two columns agree by construction; ``tests/test_mo_numerics.py`` adds a
   brute-force union-of-boxes reference that shares no code with either): the largest relative difference
   (target < 1e-9), and seconds for one 1,000-point 3-D front (median of 15 interleaved repeats).
2. Searchers. Final hypervolume regret (median and its distribution-free 95% interval,
   the report's rules: ``hpbench.results.mo_analysis``) after ``--evals`` evaluations on
   ZDT1, DTLZ2 with 3 objectives and ``logreg-digits-mo``, ``parego`` against
   ``optuna-nsga2`` (population 10: Optuna's default 50 would make all 50 evaluations
   its random first generation), multi-objective ``optuna-tpe``, multi-objective
   ``optuna-gp`` and ``random``. Every run goes through ``hb.benchmark`` into one SQLite
   store (one experiment per task and searcher), so a second call resumes.
3. ``cnn-digits-mo`` (validation loss vs multiply-adds): the pooled Pareto front of
   ``random`` and ``parego`` runs and the share of it that uses depthwise-separable
   convolutions, over the whole front and in its lower-MAC half.

Usage:
    python benchmarks/multiobjective.py                  # as sized in the README
    python benchmarks/multiobjective.py --quick          # minutes: fewer seeds and evaluations
    python benchmarks/multiobjective.py --skip-searchers # hypervolume check only
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import statistics
import sys
import time

import numpy as np

from hpbench.results.hypervolume import hypervolume

SEARCHERS = {
    "parego": "parego",
    "optuna-nsga2-pop10": {
        "name": "optuna-nsga2",
        "label": "optuna-nsga2-pop10",
        "sampler_params": {"population_size": 10},
    },
    "optuna-tpe": "optuna-tpe",
    "optuna-gp": "optuna-gp",
    "random": "random",
}


# ----------------------------------------------------------------------------- hypervolume
def random_front(rng: np.random.Generator, k: int) -> np.ndarray:
    """10 to 100 points: a random front (convex, linear or concave) plus dominated points and ties."""
    n = int(rng.integers(10, 101))
    D = rng.dirichlet(np.ones(k), size=n)
    p = rng.choice([0.5, 1.0, 2.0])
    F = D ** (1 / p)
    F[: n // 3] += rng.random((n // 3, k)) * 0.5  # dominated (or off-front) points
    if n > 4:
        F[-2] = F[-3]  # an exact duplicate
        F[-1, 0] = F[-4, 0]  # a tie in one objective
    return np.round(F * 1000) / 1000 if rng.random() < 0.3 else F


def hypervolume_check(n_fronts: int) -> None:
    import moocore
    from pymoo.indicators.hv import HV

    rng = np.random.default_rng(2026)
    print(f"\n## Hypervolume: ours vs moocore and pymoo, {n_fronts} random fronts per dimension\n")
    print("| dims | fronts | max rel. diff vs moocore | max rel. diff vs pymoo | max abs. diff |")
    print("| --- | --- | --- | --- | --- |")
    for k in (2, 3):
        rel_m = rel_p = abs_max = 0.0
        for _ in range(n_fronts):
            F = random_front(rng, k)
            ref = np.full(k, 1.6)
            ours = hypervolume(F, ref)
            m = float(moocore.hypervolume(F, ref=ref))
            p = float(HV(ref_point=ref)(F))
            rel_m = max(rel_m, abs(ours - m) / m)
            rel_p = max(rel_p, abs(ours - p) / p)
            abs_max = max(abs_max, abs(ours - m), abs(ours - p))
        print(f"| {k} | {n_fronts} | {rel_m:.2e} | {rel_p:.2e} | {abs_max:.2e} |")
    D = rng.dirichlet(np.ones(3), size=1000) ** 0.5  # 1,000 mutually non-dominated points
    ref = np.full(3, 1.1)
    fns = {
        "hpbench": lambda: hypervolume(D, ref),
        "moocore": lambda: moocore.hypervolume(D, ref=ref),
        "pymoo": lambda: HV(ref_point=ref)(D),
    }
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(15):  # interleaved repeats: every repeat sees the same machine load
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    ratio = statistics.median(a / b for a, b in zip(times["hpbench"], times["moocore"]))
    print("\n| 1,000-point 3-D front | seconds (median of 15, interleaved) | vs moocore |")
    print("| --- | --- | --- |")
    base = statistics.median(times["moocore"])
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.4f} | {statistics.median(ts) / base:.1f}x |")
    print(f"\npaired per-repeat ratio hpbench / moocore: median {ratio:.1f}x")


# ------------------------------------------------------------------------------- searchers
def _run_group(task: str, label: str, seeds: list[int], evals: int, store: str) -> tuple[str, str, float]:
    import hpbench as hb

    t0 = time.time()
    hb.benchmark(
        [task],
        [SEARCHERS[label]],
        seeds=seeds,
        max_evals=evals,
        name=f"mo-{task}-{label}-{evals}",
        store=store,
        workers=0,
        progress=False,
    )
    return task, label, time.time() - t0


def run_groups(groups: list[tuple[str, str, list[int], int]], store: str, jobs: int) -> None:
    with cf.ProcessPoolExecutor(jobs) as pool:
        futs = [pool.submit(_run_group, t, s, seeds, ev, store) for t, s, seeds, ev in groups]
        for f in cf.as_completed(futs):
            task, label, sec = f.result()
            print(f"  done {task} / {label}: {sec:.0f} s", file=sys.stderr, flush=True)


def regret_table(store: str, tasks: list[str]) -> None:
    import hpbench as hb
    from hpbench.results import analysis as an
    from hpbench.results import mo_analysis as mo

    trials, runs = hb.load_results(store), hb.load_runs(store)
    trials = trials[trials["task"].isin(tasks)]
    probs = mo.problems(trials, runs)
    final = an.final_runs(mo.hypervolume_trials(trials, probs), mo.references(probs))
    print("\n## Final hypervolume regret (median [distribution-free interval of the median], seeds)\n")
    print("| task | reference | " + " | ".join(SEARCHERS) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in SEARCHERS) + " |")
    for task in tasks:
        p = probs[task]
        cells = []
        for s in SEARCHERS:
            v = final[(final["task"] == task) & (final["searcher"] == s)]["regret"].to_numpy(dtype=float)
            if not len(v):
                cells.append("n/a")
                continue
            ci = an.median_interval(v.reshape(-1, 1))
            cells.append(f"{np.median(v):.4f} [{ci['lo'][0]:.4f}, {ci['hi'][0]:.4f}] ({len(v)})")
        print(f"| {task} | {p.reference_source} HV {p.reference_hv:.4f} | " + " | ".join(cells) + " |")
    pairs = an.pairwise_tests(final, value="regret")
    print("\nparego vs each (Wilcoxon paired by seed where the seeds match, Holm per task):")
    for _, r in pairs[(pairs["a"] == "parego") | (pairs["b"] == "parego")].iterrows():
        print(f"  {r['task']}: {r['a']} vs {r['b']}: p_holm={r['p_holm']:.3g}, lower median: {r['better']}")


def cnn_front(store: str) -> None:
    import hpbench as hb
    from hpbench.results import mo_analysis as mo

    trials, runs = hb.load_results(store), hb.load_runs(store)
    trials = trials[trials["task"] == "cnn-digits-mo"]
    if trials.empty:
        return
    p = mo.problems(trials, runs)["cnn-digits-mo"]
    front = mo.pooled_front(trials, p)
    ok = trials[trials["status"] == "ok"]
    print(f"\n## cnn-digits-mo: pooled Pareto front ({len(ok)} ok trials, {len(front)} on the front)\n")
    print("| MACs | val loss | val accuracy | conv type | channels | bottleneck | kernel | searcher |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for _, r in front.sort_values("objective.macs").iterrows():
        acc = r["metric.val_accuracy"]
        print(
            f"| {int(r['objective.macs']):,} | {r['objective.val_loss']:.4f} | {acc:.3f} | "
            f"{r['param.conv_type']} | {int(r['param.channels'])} | {int(r['param.bottleneck'])} | "
            f"{int(r['param.kernel_size'])} | {r['searcher']} |"
        )
    dw = front["param.conv_type"] == "depthwise_separable"
    low = front["objective.macs"] <= front["objective.macs"].median()
    share_all = ok["param.conv_type"].eq("depthwise_separable").mean()
    print(
        f"\ndepthwise-separable: {dw.mean():.0%} of the front ({int(dw.sum())}/{len(front)}), "
        f"{dw[low].mean():.0%} of its lower-MAC half ({int(dw[low].sum())}/{int(low.sum())}, "
        f"MACs <= {int(front['objective.macs'].median()):,}); {share_all:.0%} of all ok trials"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seeds", type=int, default=10, help="seeds on the synthetic tasks")
    ap.add_argument("--logreg-seeds", type=int, default=3)
    ap.add_argument("--gp-seeds", type=int, default=1, help="seeds of optuna-gp (slow with 2-3 objectives)")
    ap.add_argument("--evals", type=int, default=50)
    ap.add_argument("--cnn-seeds", type=int, default=2)
    ap.add_argument("--cnn-evals", type=int, default=15)
    ap.add_argument("--fronts", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=3)
    ap.add_argument("--store", default="results/multiobjective.db")
    ap.add_argument("--report", help="also write the HTML report of the store here")
    ap.add_argument("--skip-searchers", action="store_true")
    a = ap.parse_args(argv)
    if a.quick:
        a.seeds, a.logreg_seeds, a.gp_seeds, a.evals, a.cnn_seeds, a.cnn_evals, a.fronts = (
            3,
            2,
            1,
            20,
            1,
            10,
            100,
        )
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    hypervolume_check(a.fronts)
    if a.skip_searchers:
        return
    tasks = ["zdt1", "dtlz2-3obj", "logreg-digits-mo"]
    groups = []
    for task in tasks:
        n = a.logreg_seeds if task.startswith("logreg") else a.seeds
        for s in SEARCHERS:
            groups.append((task, s, list(range(min(n, a.gp_seeds) if s == "optuna-gp" else n)), a.evals))
    groups += [("cnn-digits-mo", s, list(range(a.cnn_seeds)), a.cnn_evals) for s in ("parego", "random")]
    slow = {"optuna-gp": 0, "parego": 1}  # longest first keeps both processes busy to the end
    groups.sort(key=lambda g: (slow.get(g[1], 2), g[0] != "cnn-digits-mo"))
    t0 = time.time()
    run_groups(groups, a.store, a.jobs)
    print(f"\n(searcher runs: {time.time() - t0:.0f} s wall, {a.jobs} processes)")
    regret_table(a.store, tasks)
    cnn_front(a.store)
    if a.report:
        import hpbench as hb
        from hpbench.results.report import write_report

        write_report(
            hb.load_results(a.store), hb.load_runs(a.store), a.report, title="multi-objective benchmark"
        )
        print(f"\nreport: {a.report}")


if __name__ == "__main__":
    main()
