"""How well a surrogate ranks configurations it has not seen: held-out Spearman per fidelity level.

The recorded configurations are split into ``folds`` random folds; each fold is predicted
by a ``SurrogateFit`` of the other folds, and the Spearman rank correlation between the
predicted and the recorded seed-0 objective is computed per level over all held-out
predictions (Spearman 1904; ``scipy.stats.spearmanr``). This is the figure shipped with
a recording and printed by ``hpbench list tasks``: it says how faithfully the surrogate
orders configurations the recording did not contain, which is what a searcher exploits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpbench.surrogate.fit import DEFAULT_MODEL, DEFAULT_PARAMS, SurrogateFit
from hpbench.surrogate.recording import Recording

__all__ = ["held_out_predictions", "measure_quality", "choose_model", "level_label", "MODEL_CANDIDATES"]

# The regressors ``hpbench record`` measures on every recording; the one with the highest
# held-out Spearman at the top level is shipped (ties: the first). benchmarks/surrogates.py
# compares more; these were the best at the top of the three shipped recordings (gp-joint
# on mlp and cnn, rf-joint-leaf1 on gbdt's sharper landscape; docs/surrogates.md).
MODEL_CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "gp-joint": (DEFAULT_MODEL, dict(DEFAULT_PARAMS)),
    "rf-joint": ("rf", {"n_trees": 100, "min_leaf": 2, "max_features": 0.5, "joint": True}),
    "rf-joint-leaf1": ("rf", {"n_trees": 200, "min_leaf": 1, "max_features": 0.7, "joint": True}),
}


def level_label(level: float | None) -> str:
    """A level as a JSON key: ``"27"``, ``"0.5"``, or ``"full"`` for a task without a fidelity."""
    if level is None:
        return "full"
    return f"{float(level):g}"


def held_out_predictions(
    recording: Recording,
    *,
    model: str = DEFAULT_MODEL,
    params: Mapping[str, Any] | None = None,
    folds: int = 5,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predicted and recorded objective, each (n, L) (NaN where not recorded).

    Predictions are on the modelled (transformed) scale, which is monotone in the
    objective, so ranks are those of the objective.
    """
    fit_all = SurrogateFit(
        recording, model=model, params=params, exclude=recording.rows["design_index"].unique()
    )
    truth = fit_all.transformed(fit_all.base)[:, :, 0]
    n = len(fit_all.index)
    if folds < 2 or n < folds:
        raise ValueError(f"folds: rule '2 <= folds <= configurations ({n})' broken, got {folds!r}")
    order = np.random.default_rng(seed).permutation(n)
    pred = np.full_like(truth, np.nan)
    for k in range(folds):
        held = order[k::folds]
        fit = SurrogateFit(recording, model=model, params=params, exclude=fit_all.index[held])
        pred[held] = fit.predict(fit.X[held])[:, :, 0]
    return pred, truth


def measure_quality(
    recording: Recording,
    *,
    model: str = DEFAULT_MODEL,
    params: Mapping[str, Any] | None = None,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Held-out Spearman per level of the ``model`` surrogate of ``recording``.

    Returns:
        ``{"model", "params", "folds", "spearman": {level: rho}, "n": {level: count},
        "lowest", "top", "summary"}``; ``lowest`` / ``top`` are the figures at the lowest
        and the top fidelity level.
    """
    from scipy.stats import spearmanr

    params = dict(DEFAULT_PARAMS if params is None and model == DEFAULT_MODEL else params or {})
    pred, truth = held_out_predictions(recording, model=model, params=params, folds=folds, seed=seed)
    rho: dict[str, float | None] = {}
    count: dict[str, int] = {}
    for j, level in enumerate(recording.levels):
        ok = np.isfinite(pred[:, j]) & np.isfinite(truth[:, j])
        label = level_label(level)
        count[label] = int(ok.sum())
        rho[label] = float(spearmanr(pred[ok, j], truth[ok, j]).statistic) if ok.sum() >= 3 else None
    labels = [level_label(b) for b in recording.levels]
    top, lowest = rho[labels[-1]], rho[labels[0]]
    fid = recording.task.get("fidelity")
    unit = f" {fid['name']}" if fid else ""

    def fmt(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    summary = f"top ({labels[-1]}{unit}) {fmt(top)}"
    if len(labels) > 1:
        summary += f", lowest ({labels[0]}{unit}) {fmt(lowest)}"
    return {
        "model": model,
        "params": params,
        "folds": folds,
        "spearman": rho,
        "n": count,
        "lowest": lowest,
        "top": top,
        "summary": summary,
    }


def choose_model(
    recording: Recording,
    candidates: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
    *,
    folds: int = 5,
) -> dict[str, Any]:
    """``measure_quality`` of each candidate; the quality of the best at the top level.

    The result also lists every candidate's ``summary`` under ``"candidates"``, so the
    shipped figure says what it was chosen against. A candidate without a top-level
    figure ranks last.
    """
    candidates = MODEL_CANDIDATES if candidates is None else candidates
    if not candidates:
        raise ValueError("candidates: rule 'at least one model' broken, got none")
    measured = {
        label: measure_quality(recording, model=model, params=params, folds=folds)
        for label, (model, params) in candidates.items()
    }
    best = max(measured, key=lambda k: -math.inf if measured[k]["top"] is None else measured[k]["top"])
    out = dict(measured[best])
    out["candidates"] = {k: q["summary"] for k, q in measured.items()}
    out["summary"] = f"{out['summary']} ({best}, best of {', '.join(measured)})"
    return out
