"""Which regressor should a surrogate use? Held-out Spearman per fidelity level, side by side.

For each recording (the shipped ones by default) and each candidate model with its
parameters, ``measure_quality`` predicts every recorded configuration from a fit on the
other folds (5 folds, the same folds for every model) and reports the Spearman rank
correlation between predicted and recorded seed-0 objective at every fidelity level. The
table also gives the time to fit the surrogate of the whole recording (what
``SurrogateTask`` pays once per process) and the time of one prediction of a new
configuration (all levels and the seconds, what one surrogate trial pays), plus the
seed-to-seed ceiling: the Spearman correlation between two recorded seeds of the seeded
configurations, the best any seed-0 model can hope to reach against another seed.

Usage:
    python benchmarks/surrogates.py                        # shipped recordings, all models
    python benchmarks/surrogates.py --recording r.parquet --models rf,knn --json out.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from hpbench.surrogate.builtin import BUILTIN_RECORDINGS, recording_path
from hpbench.surrogate.fit import SurrogateFit
from hpbench.surrogate.quality import MODEL_CANDIDATES, held_out_predictions, level_label, measure_quality
from hpbench.surrogate.recording import Recording

# name -> (model, params): the candidates and the variants tuned around them.
CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "rf": ("rf", {"n_trees": 100, "min_leaf": 2, "max_features": 0.5}),
    "rf-50": ("rf", {"n_trees": 50, "min_leaf": 2, "max_features": 0.5}),
    "rf-leaf1-all": ("rf", {"n_trees": 100, "min_leaf": 1, "max_features": 1.0}),
    "rf-leaf4": ("rf", {"n_trees": 100, "min_leaf": 4, "max_features": 0.5}),
    "extra-trees": ("rf", {"n_trees": 100, "min_leaf": 2, "max_features": 0.5, "extra": True}),
    "rf-joint": ("rf", {"n_trees": 100, "min_leaf": 2, "max_features": 0.5, "joint": True}),
    "rf-joint-leaf1-all": ("rf", {"n_trees": 100, "min_leaf": 1, "max_features": 1.0, "joint": True}),
    "rf-joint-leaf1": MODEL_CANDIDATES["rf-joint-leaf1"],
    "gbdt": ("gbdt", {"rounds": 300, "learning_rate": 0.05, "max_leaf_nodes": 15, "min_leaf": 10}),
    "knn-5": ("knn", {"k": 5, "power": 2.0}),
    "knn-10": ("knn", {"k": 10, "power": 1.0}),
    "gp": ("gp", {"fit_points": 300, "noise": 1e-2}),
    "gp-joint": ("gp", {"fit_points": 300, "noise": 1e-2, "joint": True}),
}


def seed_ceiling(rec: Recording) -> dict[str, float | None]:
    """Spearman between replica 0 and replica 1 of the seeded configurations, per level."""
    rows = rec.rows[rec.rows["status"] == "ok"]
    out: dict[str, float | None] = {}
    for level in rec.levels:
        at = rows if level is None else rows[rows["budget"] == level]
        wide = at.pivot_table(index="design_index", columns="replica", values="objective")
        if 1 not in wide.columns or len(wide[[0, 1]].dropna()) < 5:
            out[level_label(level)] = None
            continue
        pair = wide[[0, 1]].dropna()
        out[level_label(level)] = float(spearmanr(pair[0], pair[1]).statistic)
    return out


def against_seed_mean(rec: Recording, model: str, params: dict[str, Any], folds: int) -> dict[str, Any]:
    """On the seeded configurations, per level: the held-out prediction's Spearman against
    the mean over all recorded seeds (log scale for positive objectives), and one seed's
    against the mean of the others (what a second real measurement scores against one
    seed: the ceiling of the seed-0 figure ``measure_quality`` reports)."""
    pred, _ = held_out_predictions(rec, model=model, params=params, folds=folds)
    index = SurrogateFit(rec, model=model, params=params, exclude=rec.rows["design_index"].unique()).index
    where = {d: i for i, d in enumerate(index)}
    rows = rec.rows[rec.rows["status"] == "ok"]
    model_rho: dict[str, float | None] = {}
    seed_rho: dict[str, float | None] = {}
    for j, level in enumerate(rec.levels):
        at = rows if level is None else rows[rows["budget"] == level]
        wide = at.pivot_table(index="design_index", columns="replica", values="objective").dropna()
        label = level_label(level)
        if wide.shape[1] < 3 or len(wide) < 5:
            model_rho[label] = seed_rho[label] = None
            continue
        vals = np.log(wide.to_numpy()) if (wide.to_numpy() > 0).all() else wide.to_numpy()
        p = pred[[where[d] for d in wide.index], j]
        model_rho[label] = float(spearmanr(p, vals.mean(axis=1)).statistic)
        seed_rho[label] = float(spearmanr(vals[:, 0], vals[:, 1:].mean(axis=1)).statistic)
    return {"model": model_rho, "one_seed": seed_rho}


def time_model(rec: Recording, model: str, params: dict[str, Any]) -> tuple[float, float]:
    """Seconds to fit on all configurations; seconds per prediction of one new configuration."""
    t0 = time.perf_counter()
    fit = SurrogateFit(rec, model=model, params=params)
    fit_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    X = fit.space.encode_many([fit.space.sample(rng) for _ in range(200)])
    fit.predict_all(X[:1])  # builds the stacked forest once
    t0 = time.perf_counter()
    for row in X:
        fit.predict_all(row[None, :])
    return fit_s, (time.perf_counter() - t0) / len(X)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--recording", action="append", help="recording file (default: the shipped ones)")
    ap.add_argument("--models", default=",".join(CANDIDATES), help="comma-separated candidate names")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--json", help="write the table as JSON here")
    a = ap.parse_args()
    paths = [Path(p) for p in a.recording] if a.recording else [recording_path(t) for t in BUILTIN_RECORDINGS]
    table: list[dict[str, Any]] = []
    for path in paths:
        rec = Recording.load(path)
        labels = [level_label(b) for b in rec.levels]
        print(f"\n{rec.name}: {rec.info.get('configs')} configurations, levels {labels}")
        ceiling = seed_ceiling(rec)
        print(f"  {'seed-to-seed ceiling':<22} " + "  ".join(f"{_fmt(ceiling[x]):>6}" for x in labels))
        print(f"  {'model':<22} " + "  ".join(f"{x:>6}" for x in labels) + "   fit s   predict ms")
        for name in a.models.split(","):
            model, params = CANDIDATES[name]
            q = measure_quality(rec, model=model, params=params, folds=a.folds)
            fit_s, pred_s = time_model(rec, model, params)
            rho = [q["spearman"][x] for x in labels]
            print(
                f"  {name:<22} "
                + "  ".join(f"{_fmt(r):>6}" for r in rho)
                + f"  {fit_s:6.2f}   {pred_s * 1e3:8.2f}"
            )
            table.append(
                {
                    "task": rec.name,
                    "candidate": name,
                    "model": model,
                    "params": params,
                    "spearman": q["spearman"],
                    "n": q["n"],
                    "fit_seconds": fit_s,
                    "predict_seconds": pred_s,
                    "ceiling": ceiling,
                }
            )
        if rec.info.get("seeded_configs"):
            q = rec.quality or {}
            model, params = q.get("model", "gp"), q.get("params", {})
            agree = against_seed_mean(rec, model, params, a.folds)
            n_seeded = rec.info["seeded_configs"]
            print(f"  on the {n_seeded} seeded configurations, against the mean of the seeds:")
            for what, key in (("one recorded seed", "one_seed"), (f"shipped model ({model})", "model")):
                print(f"    {what:<20} " + "  ".join(f"{_fmt(agree[key][x]):>6}" for x in labels))
            table.append({"task": rec.name, "against_seed_mean": agree})
    if a.json:
        Path(a.json).write_text(json.dumps(table, indent=2))


def _fmt(v: float | None) -> str:
    return "  n/a" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    main()
