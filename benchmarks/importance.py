"""Which parameter-importance estimator is more faithful: random-forest fANOVA or GP lengthscales.

On functions whose importances are known: an additive 6-D function (closed-form Sobol
indices) and Hartmann-6 (first-order Sobol indices of the true function by the Saltelli
estimator on 2^14 points). Each estimator sees N random configurations (what random search
would store), over REPEATS seeds; we report the Spearman rank correlation with the truth
and the total absolute error of the normalised importances (lower is better).

    python benchmarks/importance.py --n 100 --repeats 5
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import spearmanr

from hpbench.results.importance import forest_main_effects, gp_lengthscales, sobol_first_order_additive
from hpbench.tasks.synthetic import Hartmann

WEIGHTS = np.array([4.0, 2.0, 1.0, 0.5, 0.0, 0.0])


def additive(x: np.ndarray) -> np.ndarray:
    return ((x - 0.5) ** 2 * WEIGHTS).sum(axis=1)


def hartmann6(x: np.ndarray) -> np.ndarray:
    task = Hartmann(dim=6)
    names = list(task.space)
    return np.array([task.evaluate(dict(zip(names, row))).objective for row in x])


def saltelli_first_order(f, d: int, n: int, seed: int = 0) -> np.ndarray:
    """S_j = E[f(B) (f(A_B^j) - f(A))] / Var f (Saltelli et al. 2010, Table 2, estimator (b))."""
    rng = np.random.default_rng(seed)
    a, b = rng.random((n, d)), rng.random((n, d))
    fa, fb = f(a), f(b)
    var = np.var(np.r_[fa, fb])
    out = np.zeros(d)
    for j in range(d):
        ab = a.copy()
        ab[:, j] = b[:, j]
        out[j] = np.mean(fb * (f(ab) - fa)) / var
    return np.clip(out, 0, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    truths = {
        "additive-6d": (additive, sobol_first_order_additive(WEIGHTS)),
        "hartmann6": (hartmann6, saltelli_first_order(hartmann6, 6, 2**14)),
    }
    print(f"{'function':<12} {'method':<7} {'spearman':>9} {'abs error':>10} {'seconds':>8}   truth")
    for fname, (f, truth) in truths.items():
        for method, est in (("forest", forest_main_effects), ("gp", gp_lengthscales)):
            rho, err, secs = [], [], []
            for r in range(a.repeats):
                x = np.random.default_rng(100 + r).random((a.n, 6))
                t0 = time.perf_counter()
                imp = est(x, f(x), seed=r)
                secs.append(time.perf_counter() - t0)
                imp = imp / imp.sum() if imp.sum() > 0 else imp
                rho.append(spearmanr(imp, truth).statistic)
                err.append(np.abs(imp - truth / truth.sum()).sum())
            stats = f"{np.median(rho):>9.3f} {np.median(err):>10.3f} {np.median(secs):>8.2f}"
            print(f"{fname:<12} {method:<7} {stats}   {np.round(truth, 3).tolist()}")


if __name__ == "__main__":
    main()
