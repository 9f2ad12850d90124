"""Parameter importance against the closed-form Sobol indices of an additive function."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hpbench.results import importance as imp

W = np.array([3.0, 1.5, 0.0, 0.0])


def _additive(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).random((n, len(W)))
    return x, ((x - 0.5) ** 2 * W).sum(axis=1)


def test_closed_form_sobol_indices_of_the_additive_function():
    # independent check of the closed form by plain Monte Carlo of Var_x_j E[f | x_j] / Var f
    rng = np.random.default_rng(0)
    grid = (np.arange(200) + 0.5) / 200
    var_f = np.var(((rng.random((200_000, len(W))) - 0.5) ** 2 * W).sum(axis=1))
    mc = np.array([np.var(w * (grid - 0.5) ** 2) for w in W]) / var_f
    assert imp.sobol_first_order_additive(W) == pytest.approx(mc, abs=0.01)


def test_forest_main_effects_recover_the_known_importances():
    x, y = _additive(300, seed=1)
    est = imp.forest_main_effects(x, y, seed=0)
    truth = imp.sobol_first_order_additive(W)  # [0.8, 0.2, 0, 0]
    assert np.argsort(-est)[:2].tolist() == [0, 1]
    assert est == pytest.approx(truth, abs=0.12)
    assert est[2:].max() < 0.05


def test_importance_frame_from_trials_with_a_categorical_and_a_log_parameter():
    rng = np.random.default_rng(2)
    n = 120
    lr = 10 ** rng.uniform(-4, -1, n)
    opt = rng.choice(["sgd", "adam"], n)
    noise = rng.random(n)
    trials = pd.DataFrame(
        {"objective": (np.log10(lr) + 2.5) ** 2 + 0.3 * (opt == "sgd"), "param.lr": lr,
         "param.opt": opt, "param.noise": noise}
    )  # fmt: skip
    params = ["param.lr", "param.opt", "param.noise"]
    scales = {"param.lr": "log", "param.opt": "category", "param.noise": "linear"}
    out = imp.importance(trials, params, scales)
    assert out["parameter"].tolist()[0] == "lr" and out["parameter"].tolist()[-1] == "noise"
    assert imp.importance(trials.iloc[:5], params, scales).empty  # too few trials: nothing claimed
    with pytest.raises(ValueError, match="'method' must be"):
        imp.importance(trials, params, scales, method="shap")
