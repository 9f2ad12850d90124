"""A custom task from a plain training function, benchmarked against the built-ins.

Run: python examples/custom_task.py [--store results/examples.db]
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

import hpbench as hb

_X, _y = load_diabetes(return_X_y=True)
_y = (_y - _y.mean()) / _y.std()
_Xtr, _Xva, _ytr, _yva = train_test_split(_X, _y, test_size=0.3, random_state=0)


@hb.task(space={"alpha": hb.Float(1e-4, 1e3, log=True), "fit_intercept": hb.Categorical([True, False])})
def ridge_diabetes(config, *, budget, seed):
    """Ridge regression on the diabetes data; objective = validation MSE."""
    model = Ridge(alpha=config["alpha"], fit_intercept=config["fit_intercept"]).fit(_Xtr, _ytr)
    mse = float(np.mean((model.predict(_Xva) - _yva) ** 2))
    return {"objective": mse, "n_nonzero": int(np.sum(np.abs(model.coef_) > 1e-8))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="results/examples.db")
    args = ap.parse_args()
    res = hb.benchmark(
        [ridge_diabetes],
        ["random", "gp-ei"],
        seeds=2,
        max_evals=15,
        name="custom-task",
        store=args.store,
        fresh=True,
        progress=False,
    )
    df = res.trials
    print(df.groupby("searcher").objective.min().to_string())


if __name__ == "__main__":
    main()
