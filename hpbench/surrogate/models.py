"""Regressors of a surrogate: configuration on the unit cube -> recorded quantities.

Every model maps inputs ``X`` (n, D) -- configurations encoded by ``SearchSpace.encode``
-- to targets ``Y`` (n, m), several outputs at once (the objective and each metric at one
fidelity level), and predicts one configuration in microseconds to milliseconds, since a
surrogate task predicts inside the benchmark's hot loop. Candidates, compared by held-out
Spearman correlation in ``benchmarks/surrogates.py``:

- ``knn``: k nearest neighbours, inverse-distance weights (exact at recorded points).
- ``rf``: random forest (Breiman 2001), fitted by scikit-learn, predicted by a flattened
  traversal of all trees at once in numpy (scikit-learn's own ``predict`` costs ~10 ms
  per call, mostly per-tree dispatch).
- ``gbdt``: histogram gradient boosting (Ke et al. 2017), one model per output.
- ``gp``: Gaussian process regression with hpbench's Matern-5/2 ARD kernel (Rasmussen &
  Williams 2006, Algorithm 2.1), hyperparameters fitted by marginal likelihood on a subset
  and shared by the outputs.

Shape glossary: n training configurations, k query configurations, D encoded width, m outputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from hpbench.threads import one_thread  # scikit-learn fits on one thread, in the driver and in workers

__all__ = [
    "Regressor",
    "make_model",
    "MODELS",
    "DEFAULT_MODEL",
    "DEFAULT_PARAMS",
    "one_thread",
    "StackedForest",
]


class Regressor(Protocol):
    def fit(self, X: np.ndarray, Y: np.ndarray) -> Regressor: ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


class KNN:
    """k nearest neighbours in the (optionally per-column weighted) unit cube.

    Args:
        k: neighbours averaged.
        power: weights ``1 / d^power``; a query at distance 0 returns that point's targets.
    """

    def __init__(self, *, k: int = 8, power: float = 2.0) -> None:
        self.k, self.power = k, power

    def fit(self, X: np.ndarray, Y: np.ndarray) -> KNN:
        self.X, self.Y = np.asarray(X, float), np.asarray(Y, float)
        self.sq = np.sum(self.X * self.X, axis=1)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, float))
        d2 = np.maximum(np.sum(X * X, axis=1)[:, None] + self.sq[None, :] - 2.0 * X @ self.X.T, 0.0)
        k = min(self.k, len(self.X))
        idx = np.argpartition(d2, k - 1, axis=1)[:, :k]  # (k_q, k)
        near = np.take_along_axis(d2, idx, axis=1)
        w = 1.0 / np.maximum(near, 1e-24) ** (self.power / 2.0)
        w /= w.sum(axis=1, keepdims=True)
        return np.einsum("qk,qkm->qm", w, self.Y[idx])


class Forest:
    """Random forest (``extra=True``: extremely randomised trees) with a numpy predictor.

    Args:
        n_trees: trees.
        min_leaf: minimum samples per leaf.
        max_features: share of columns tried per split.
        extra: extremely randomised trees (Geurts et al. 2006) instead of bootstrap CART.
    """

    def __init__(
        self, *, n_trees: int = 100, min_leaf: int = 2, max_features: float = 0.5, extra: bool = False
    ) -> None:
        self.n_trees, self.min_leaf, self.max_features, self.extra = n_trees, min_leaf, max_features, extra

    def fit(self, X: np.ndarray, Y: np.ndarray) -> Forest:
        from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor

        cls = ExtraTreesRegressor if self.extra else RandomForestRegressor
        model = cls(
            n_estimators=self.n_trees,
            min_samples_leaf=self.min_leaf,
            max_features=self.max_features,
            random_state=0,
            n_jobs=1,
        )
        with one_thread():
            model.fit(np.asarray(X, float), np.asarray(Y, float))
        self._flatten([e.tree_ for e in model.estimators_])
        return self

    def _flatten(self, trees: list[Any]) -> None:
        """All trees' nodes in one array set; child indices offset to global node ids."""
        offsets = np.cumsum([0] + [t.node_count for t in trees])
        left, right, feat, thr, value = [], [], [], [], []
        for off, t in zip(offsets, trees):
            leaf = t.children_left < 0
            left.append(np.where(leaf, np.arange(t.node_count) + off, t.children_left + off))
            right.append(np.where(leaf, np.arange(t.node_count) + off, t.children_right + off))
            feat.append(np.where(leaf, 0, t.feature))
            thr.append(np.where(leaf, np.inf, t.threshold))
            value.append(t.value[:, :, 0])
        self.left, self.right = np.concatenate(left), np.concatenate(right)
        self.feature, self.threshold = np.concatenate(feat), np.concatenate(thr)
        self.value = np.concatenate(value)  # (nodes, m)
        self.roots = offsets[:-1]
        self.depth = max(int(t.max_depth) for t in trees)

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, float))
        node = np.broadcast_to(self.roots, (len(X), len(self.roots))).copy()  # (k, trees)
        rows = np.arange(len(X))[:, None]
        for _ in range(self.depth):  # a leaf points to itself, so extra steps are harmless
            go_left = X[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        return self.value[node].mean(axis=1)


class StackedForest:
    """Several fitted forests traversed as one: one numpy walk predicts all their outputs.

    ``predict`` returns one (k, m_g) array per forest g; the cost of a walk hardly depends
    on the number of trees, so a surrogate with one forest per fidelity level pays one.
    """

    def __init__(self, forests: list[Forest]) -> None:
        sizes = [len(f.left) for f in forests]
        offsets = np.cumsum([0, *sizes])[:-1]
        self.left = np.concatenate([f.left + o for f, o in zip(forests, offsets)])
        self.right = np.concatenate([f.right + o for f, o in zip(forests, offsets)])
        self.feature = np.concatenate([f.feature for f in forests])
        self.threshold = np.concatenate([f.threshold for f in forests])
        self.roots = np.concatenate([f.roots + o for f, o in zip(forests, offsets)])
        self.depth = max(f.depth for f in forests)
        self.values = [f.value for f in forests]
        self.offsets = offsets
        self.trees = np.cumsum([0, *[len(f.roots) for f in forests]])

    def predict(self, X: np.ndarray) -> list[np.ndarray]:
        X = np.atleast_2d(np.asarray(X, float))
        node = np.broadcast_to(self.roots, (len(X), len(self.roots))).copy()
        rows = np.arange(len(X))[:, None]
        for _ in range(self.depth):
            go_left = X[rows, self.feature[node]] <= self.threshold[node]
            node = np.where(go_left, self.left[node], self.right[node])
        out = []
        for g, value in enumerate(self.values):
            mine = node[:, self.trees[g] : self.trees[g + 1]] - self.offsets[g]
            out.append(value[mine].mean(axis=1))
        return out


class Boosting:
    """Histogram gradient boosting, one scikit-learn model per output.

    Args:
        rounds: boosting iterations.
        learning_rate: shrinkage.
        max_leaf_nodes: leaves per tree.
        min_leaf: minimum samples per leaf.
    """

    def __init__(
        self, *, rounds: int = 300, learning_rate: float = 0.05, max_leaf_nodes: int = 15, min_leaf: int = 10
    ) -> None:
        self.rounds, self.learning_rate = rounds, learning_rate
        self.max_leaf_nodes, self.min_leaf = max_leaf_nodes, min_leaf

    def fit(self, X: np.ndarray, Y: np.ndarray) -> Boosting:
        from sklearn.ensemble import HistGradientBoostingRegressor

        self.models = []
        with one_thread():
            for j in range(Y.shape[1]):
                m = HistGradientBoostingRegressor(
                    max_iter=self.rounds,
                    learning_rate=self.learning_rate,
                    max_leaf_nodes=self.max_leaf_nodes,
                    min_samples_leaf=self.min_leaf,
                    early_stopping=False,
                    random_state=0,
                )
                self.models.append(m.fit(X, Y[:, j]))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, float))
        with one_thread():
            return np.stack([m.predict(X) for m in self.models], axis=1)


class GP:
    """GP regression on standardised outputs; hyperparameters fitted on the first output.

    Args:
        fit_points: configurations (a fixed subset) the marginal likelihood is fitted on.
        noise: prior mean of the noise variance (standardised units): recorded
            objectives carry seed-to-seed noise, unlike the searcher's default prior.
    """

    def __init__(self, *, fit_points: int = 300, noise: float = 1e-2) -> None:
        self.fit_points, self.noise = fit_points, noise

    def fit(self, X: np.ndarray, Y: np.ndarray) -> GP:
        import math

        from hpbench.searchers.gp.kernel import GPPosterior, HyperPrior, fit_hyperparameters

        X, Y = np.asarray(X, float), np.asarray(Y, float)
        self.mu, self.sd = Y.mean(axis=0), np.maximum(Y.std(axis=0), 1e-12)
        Z = (Y - self.mu) / self.sd
        rng = np.random.default_rng(0)
        sub = rng.permutation(len(X))[: self.fit_points]
        prior = HyperPrior(noise_loc=math.log(self.noise), noise_bounds=(1e-6, 1.0))
        import scipy.linalg

        with one_thread():
            theta, _ = fit_hyperparameters(X[sub], Z[sub, 0], rng=rng, prior=prior, n_starts=2)
            self.post = GPPosterior(X, Z[:, 0], theta)
            self.alpha = scipy.linalg.cho_solve((self.post.L, True), Z, check_finite=False)  # (n, m)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        from hpbench.searchers.gp.kernel import matern52

        X = np.atleast_2d(np.asarray(X, float))
        Kq = matern52(X, self.post.X, self.post.lengthscales, self.post.signal_var)
        return (Kq @ self.alpha) * self.sd + self.mu


MODELS: dict[str, type] = {"knn": KNN, "rf": Forest, "gbdt": Boosting, "gp": GP}

# Chosen by benchmarks/surrogates.py: the highest held-out Spearman, averaged over the levels
# of the three shipped recordings (2026-12-02, 64-80 configurations each; re-checked 2026-12-03 on
# 1,000 / 1,000 / 224: best at the top of mlp and cnn, a forest better at gbdt's; docs/surrogates.md).
DEFAULT_MODEL = "gp"
DEFAULT_PARAMS: dict[str, Any] = {"fit_points": 300, "noise": 1e-2, "joint": True}


def make_model(name: str, params: Mapping[str, Any] | None = None) -> Regressor:
    """A model by name (``knn``, ``rf``, ``gbdt``, ``gp``) with its parameters."""
    if name not in MODELS:
        raise ValueError(f"model: rule 'one of {sorted(MODELS)}' broken, got {name!r}")
    try:
        return MODELS[name](**dict(params or {}))
    except TypeError as exc:
        raise TypeError(f"model {name!r}: {exc}") from None
