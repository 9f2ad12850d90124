"""Which configuration should a run be judged by on a noisy task? gp-ei's two candidates side by side.

For each seed, ``gp-ei`` runs on a noisy task; its run is then judged by the noiseless value of
(a) the best observed trial (the default recommendation) and (b) the evaluated point with the
lowest posterior mean (``GPEISearcher.recommend``, what the runner stores and the analysis
uses). Printed: the median noiseless regret of each over the seeds, with its order-statistic
interval, how often (b) is better / equal / worse, and the median regret the *observed*
objective would report (the lucky-noise figure issue 11 complains about).

Usage: ``python benchmarks/recommendation.py [--seeds N] [--evals N] [--tasks a,b]``.
Defaults: 10 seeds, 30 evaluations, branin-noisy and hartmann6-noisy.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import hpbench as hb
from hpbench.results import statistics as st

GP = "gp-ei:n_candidates=512"


def _row(task: str, seeds: int, evals: int, store: Path) -> list[str]:
    res = hb.benchmark([task], [GP], seeds=seeds, max_evals=evals, store=store, progress=False)
    t, runs = res.trials, res.runs.set_index("run_id")
    opt = float(t["optimum"].iloc[0])
    observed, best, rec = [], [], []
    for rid, g in t[t["status"] == "ok"].groupby("run_id"):
        i = g["objective"].idxmin()
        observed.append(g.loc[i, "objective"] - opt)
        best.append(g.loc[i, "metric.noiseless"] - opt)
        chosen = g[g["trial"] == int(runs.loc[rid, "recommended"])]
        rec.append(float(chosen["metric.noiseless"].iloc[0]) - opt)
    a, b = np.array(best), np.array(rec)

    def med(v: np.ndarray) -> str:
        mi = st.median_interval(v, 0.95)
        return f"{mi['median'][0]:.4g} [{mi['lo'][0]:.3g}, {mi['hi'][0]:.3g}]"

    wins = f"{int((b < a).sum())}/{int((b == a).sum())}/{int((b > a).sum())}"
    return [task, str(seeds), str(evals), med(np.array(observed)), med(a), med(b), wins]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--evals", type=int, default=30)
    ap.add_argument("--tasks", default="branin-noisy,hartmann6-noisy")
    args = ap.parse_args()
    head = [
        "task",
        "seeds",
        "evals",
        "observed regret (lucky)",
        "noiseless: best observed",
        "noiseless: posterior mean",
        "better/equal/worse",
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            rows.append(_row(task, args.seeds, args.evals, Path(tmp) / f"{task}.db"))
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)))
    print(f"median regret over seeds, [95% order-statistic interval of the median]; searcher {GP}")


if __name__ == "__main__":
    main()
