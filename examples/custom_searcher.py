"""A custom searcher in a few lines: a (1+1) evolution strategy on the unit cube.

Subclass ``hpbench.Searcher``, implement ``_ask`` and ``_tell``; keyword-only
parameters are stored under their own names so ``get_params()`` and the store see them.

Run: python examples/custom_searcher.py [--store results/examples.db]
"""

from __future__ import annotations

import argparse

import numpy as np

import hpbench as hb


class OnePlusOne(hb.Searcher):
    """(1+1)-ES: perturb the best configuration so far with Gaussian noise of width ``sigma``."""

    name = "one-plus-one"

    def __init__(self, *, space, fidelity=None, seed=0, sigma: float = 0.15, n_init: int = 3):
        super().__init__(space=space, fidelity=fidelity, seed=seed)
        if not sigma > 0:
            raise ValueError(f"one-plus-one: rule 'sigma > 0' broken, got {sigma!r}")
        self.sigma = sigma
        self.n_init = n_init
        self._best: tuple[float, np.ndarray] | None = None

    def _ask(self, trial_id: int) -> hb.Suggestion:
        rng = self.rng_for(trial_id)
        if self._best is None or trial_id < self.n_init:
            config = self.space.sample(rng)
        else:
            u = np.clip(self._best[1] + self.sigma * rng.standard_normal(self.space.width), 0, 1)
            config = self.space.decode(u)
        return hb.Suggestion(trial_id, config)

    def _tell(self, suggestion: hb.Suggestion, objective: float | None) -> None:
        if objective is not None and (self._best is None or objective < self._best[0]):
            self._best = (objective, self.space.encode(suggestion.config))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", default="results/examples.db")
    args = ap.parse_args()
    res = hb.benchmark(
        ["branin", "hartmann3"],
        [OnePlusOne, "random"],
        seeds=3,
        max_evals=40,
        name="custom-searcher",
        store=args.store,
        fresh=True,
        progress=False,
    )
    print(res.trials.groupby(["task", "searcher"]).objective.min().to_string())


if __name__ == "__main__":
    main()
