"""Are the report's statements true? Stated against simulated coverage, and seeds needed against a simulation.

Two tables:

1. Coverage. For 3, 5, 10 and 20 seeds and three shapes of final results (normal,
   log-normal as regrets often are, exponential), many simulated experiments are drawn and
   the report's intervals computed on each with the report's own code
   (``statistics.median_interval``, the order-statistic interval of the median the tables
   and curves show, and ``statistics.t_interval`` for the mean): the share of experiments
   whose interval holds the true median (mean) is the simulated coverage, printed beside
   the coverage the report states (exact for the median: "[min, max]: 75% at 3 runs").
   The mean's t interval is printed for comparison only: its 95% is nominal, reached by
   normal data only (83-86% on log-normal data), which is why the report states a coverage
   for medians and shows the mean with its standard error and no coverage claim. The script
   exits 1 when a stated coverage is more than 2 points from the simulated one.
2. Seeds needed. Paired differences with a known effect (normal with mean delta and sd 1,
   and a shifted log-normal). "simulated" is the smallest number of seeds at which the
   report's paired test (``statistics.signed_rank_test``) rejects in at least 80% of
   simulated experiments; "from the truth" is ``statistics.seeds_needed`` on a large sample
   of the effect (the method's own error); "from n seeds" is its median (and quartiles) when
   estimated, as the report does, from the differences observed in one experiment of n
   seeds (the estimate's noise at the seeds users actually run).

Usage: ``python benchmarks/verdicts.py [--reps N] [--quick]``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from hpbench.results import statistics as st

SEEDS = (3, 5, 10, 20)
SHAPES = {
    "normal": (lambda rng, size: rng.normal(0.0, 1.0, size), 0.0, 0.0),
    "log-normal": (lambda rng, size: rng.lognormal(0.0, 1.0, size), 1.0, math.exp(0.5)),
    "exponential": (lambda rng, size: rng.exponential(1.0, size), math.log(2), 1.0),
}  # draw, true median, true mean


def coverage_table(reps: int, seed: int = 0) -> float:
    """Print the table; return the largest gap between stated and simulated coverage (points)."""
    rng = np.random.default_rng(seed)
    print(f"Coverage of the report's intervals ({reps} simulated experiments per cell)")
    print(
        f"{'shape':<12} {'seeds':>5}  {'median: stated':>15} {'simulated':>9} {'gap':>5}   "
        f"{'t interval of the mean (not in the report)':>42}"
    )
    worst = 0.0
    for name, (draw, median, mean) in SHAPES.items():
        for n in SEEDS:
            y = draw(rng, (n, reps))  # (R, G): one simulated experiment per column, as the curves are
            mi = st.median_interval(y)
            stated, med_cov = (
                100 * float(mi["coverage"]),
                100 * float(np.mean((mi["lo"] <= median) & (median <= mi["hi"]))),
            )
            worst = max(worst, abs(stated - med_cov))
            hits = [lo <= mean <= hi for _, lo, hi in map(st.t_interval, y.T)]
            print(
                f"{name:<12} {n:>5}  {stated:>14.1f}% {med_cov:>8.1f}% {med_cov - stated:>+5.1f}   "
                f"{f'nominal 95.0%, simulated {100 * float(np.mean(hits)):.1f}%':>42}"
            )
    print(
        f"largest gap between stated and simulated coverage: {worst:.1f} points (the report states a "
        "coverage for medians only; means are shown as mean ± s.e., with no coverage claimed)"
    )
    return worst


def simulated_seeds(draw, power: float, reps: int, rng: np.random.Generator, limit: int = 200) -> int:
    """Smallest m whose simulated rejection rate reaches ``power`` (bisection on a monotone curve)."""

    def rate(m: int) -> float:
        return float(np.mean([st.signed_rank_test(draw(rng, m))[1] <= 0.05 for _ in range(reps)]))

    lo, hi = 1, 6
    while rate(hi) < power:
        lo, hi = hi, min(2 * hi, limit)
        if hi == limit:
            break
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if rate(mid) >= power else (mid, hi)
    return hi


def seeds_table(reps: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    effects = {
        "normal, delta = 1.2": lambda r, s: r.normal(1.2, 1.0, s),
        "normal, delta = 0.8": lambda r, s: r.normal(0.8, 1.0, s),
        "normal, delta = 0.5": lambda r, s: r.normal(0.5, 1.0, s),
        "log-normal - 0.6": lambda r, s: r.lognormal(0.0, 1.0, s) - 0.6,
    }
    print("\nSeeds needed for 80% power, paired signed-rank test at alpha 0.05")
    print(
        f"{'effect':<22} {'simulated':>9} {'from the truth':>14}   "
        + "   ".join(f"{'from ' + str(n) + ' seeds':>20}" for n in (5, 10, 20))
    )
    for name, draw in effects.items():
        sim = simulated_seeds(draw, 0.8, reps, rng)
        truth = st.seeds_needed(draw(rng, 4000))
        cells = []
        for n in (5, 10, 20):
            est = np.array([st.seeds_needed(draw(rng, n)) for _ in range(200)])
            q1, q2, q3 = np.quantile(np.where(np.isfinite(est), est, 10**6), [0.25, 0.5, 0.75])
            cells.append(
                f"{q2:>6.0f} [{q1:.0f}, {q3:.0f}]".rjust(20)
                if q3 < 10**6
                else f"{q2:>6.0f} [{q1:.0f}, inf]".rjust(20)
            )
        print(f"{name:<22} {sim:>9} {truth:>14.0f}   " + "   ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=4000, help="simulated experiments per coverage cell")
    ap.add_argument("--quick", action="store_true", help="fewer simulations (a smoke run)")
    args = ap.parse_args()
    reps = 400 if args.quick else args.reps
    t0 = time.perf_counter()
    gap = coverage_table(reps)
    seeds_table(200 if args.quick else 1000)
    print(f"\n({time.perf_counter() - t0:.1f} s)")
    if gap > 2.0 and not args.quick:
        raise SystemExit(f"stated coverage is {gap:.1f} points from the simulated one (more than 2)")


if __name__ == "__main__":
    main()
