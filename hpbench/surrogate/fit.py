"""From a recording to fitted predictions: per level, (configuration) -> objective and metrics; seconds.

The recording's replica-0 rows (run seed 0) are the surrogate's "seed-0 world": one
multi-output regressor (``hpbench.surrogate.models``) over (configuration, level) --
``joint``, the default -- or one per level maps the encoded configuration to the
objective and every numeric metric, each on a transformed scale
(log for positive quantities, logit for shares in [0, 1], else as recorded) so that
heavy-tailed losses do not dominate the fit. Compute time follows the cost model of the
design (a fixed per-trial part plus a part proportional to the fidelity trained): per
recorded configuration, CPU seconds of a step from ``a`` to ``b`` = ``s0 + r * (b - a)``
fitted by non-negative least squares to its steps, and one more regressor predicts
``log s0`` and ``log r`` for configurations that were not recorded.

Shape glossary: n configurations, L levels, Q quantities (objective first, then metrics),
D encoded width.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hpbench.space import SearchSpace
from hpbench.surrogate.models import (
    DEFAULT_MODEL,
    DEFAULT_PARAMS,
    Forest,
    Regressor,
    StackedForest,
    make_model,
)
from hpbench.surrogate.recording import Recording

__all__ = ["Transform", "SurrogateFit", "linear_seconds", "DEFAULT_MODEL", "DEFAULT_PARAMS"]

_EPS = 1e-4
# Wall-clock figures the real task reports: they measure the machine's load, not the model.
UNMODELLED = frozenset({"train_seconds"})


@dataclass(frozen=True)
class Transform:
    """A monotone map of one quantity to the scale it is modelled on."""

    kind: str  # "log", "logit" or "identity"

    @classmethod
    def for_values(cls, values: np.ndarray, *, share: bool = True) -> Transform:
        """logit for a metric whose values all lie in [0, 1] (``share``), log for positive ones."""
        v = values[np.isfinite(values)]
        if share and len(v) and v.min() >= 0 and v.max() <= 1:
            return cls("logit")
        if len(v) and v.min() > 0:
            return cls("log")
        return cls("identity")

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float)
        if self.kind == "log":
            return np.log(np.maximum(x, 1e-300))
        if self.kind == "logit":
            p = np.clip(x, _EPS, 1 - _EPS)
            return np.log(p / (1 - p))
        return x

    def inverse(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, float)
        if self.kind == "log":
            return np.exp(np.minimum(z, 700.0))
        if self.kind == "logit":
            return 1.0 / (1.0 + np.exp(-z))
        return z


def linear_seconds(delta: np.ndarray, seconds: np.ndarray) -> tuple[float, float]:
    """Non-negative ``(s0, r)`` with ``seconds ~ s0 + r * delta`` (least squares).

    Two-variable non-negative least squares in closed form (what ``scipy.optimize.nnls``
    returns, at a fraction of its per-call cost): the unconstrained solution when both are
    >= 0, else the better of the two faces ``r = 0`` (``s0`` = mean) and ``s0 = 0``.
    """
    d, s = np.asarray(delta, float), np.asarray(seconds, float)
    if len(d) == 0:
        return math.nan, math.nan
    if np.ptp(d) == 0:  # one kind of step only: all of it is per-trial time
        return float(np.mean(s)), 0.0
    dm, sm = d.mean(), s.mean()
    r = float(np.dot(d - dm, s - sm) / np.dot(d - dm, d - dm))
    s0 = float(sm - r * dm)
    if s0 >= 0 and r >= 0:
        return s0, r
    faces = [(max(float(sm), 0.0), 0.0)]
    dd = float(np.dot(d, d))
    if dd > 0:
        faces.append((0.0, max(float(np.dot(d, s)) / dd, 0.0)))
    return min(faces, key=lambda c: float(np.sum((s - c[0] - c[1] * d) ** 2)))


class SurrogateFit:
    """Regressors fitted to a recording's seed-0 rows, optionally leaving configurations out.

    Args:
        recording: the recording.
        model: regressor name (``hpbench.surrogate.models.MODELS``).
        params: its parameters.
        exclude: design indices left out of the fit (held-out evaluation).

    Attributes:
        quantities: ``["objective", *metrics]``, the Q modelled quantities.
        levels: the L fidelity levels.
        transforms: one ``Transform`` per quantity.
        base: (n, L, Q) recorded seed-0 values (NaN where not recorded or failed).
        seconds: (n, 2) fitted ``(s0, r)`` per configuration (NaN when not measured).
        configs: the n configuration JSON keys, in design order; ``X``: (n, D) encoded.
    """

    def __init__(
        self,
        recording: Recording,
        *,
        model: str = DEFAULT_MODEL,
        params: Mapping[str, Any] | None = None,
        exclude: Sequence[int] = (),
    ) -> None:
        self.space: SearchSpace = recording.space
        self.levels = list(recording.levels)
        self.quantities = ["objective", *[m for m in recording.metric_names if m not in UNMODELLED]]
        rows = recording.rows
        self.index = np.sort(rows["design_index"].unique())
        first = rows.drop_duplicates("design_index").set_index("design_index")["config"]
        self.configs = [str(first[i]) for i in self.index]
        self.X = self.space.encode_many([json.loads(c) for c in self.configs])
        self.base = _values(rows[rows["replica"] == 0], self.index, self.levels, self.quantities)
        self.transforms = [
            Transform.for_values(self.base[:, :, q].ravel(), share=q > 0) for q in range(len(self.quantities))
        ]
        self.seconds = _fit_seconds(rows[rows["replica"] == 0], self.index)
        keep = ~np.isin(self.index, np.asarray(exclude, dtype=np.int64))
        params = dict(params or {})
        self.joint = bool(params.pop("joint", False))
        self.models = (
            self._fit_joint(model, params, keep) if self.joint else self._fit_levels(model, params, keep)
        )
        self.seconds_model = self._fit_seconds_model(model, params, keep)

    def transformed(self, values: np.ndarray) -> np.ndarray:
        """(..., Q) values -> their modelled scale, quantity by quantity."""
        out = np.empty_like(values, dtype=float)
        for q, t in enumerate(self.transforms):
            out[..., q] = t.forward(values[..., q])
        return out

    def untransformed(self, z: np.ndarray) -> np.ndarray:
        out = np.empty_like(z, dtype=float)
        for q, t in enumerate(self.transforms):
            out[..., q] = t.inverse(z[..., q])
        return out

    def _fit_levels(self, model: str, params: Mapping[str, Any] | None, keep: np.ndarray) -> list[Any]:
        Z = self.transformed(self.base)  # (n, L, Q)
        fitted: list[Regressor | None] = []
        for j in range(len(self.levels)):
            ok = keep & np.all(np.isfinite(Z[:, j, :]), axis=1)
            if not ok.any():
                fitted.append(None)
                continue
            fitted.append(make_model(model, params).fit(self.X[ok], Z[ok, j, :]))
        return fitted

    def _augment(self, X: np.ndarray) -> np.ndarray:
        """(k, D) -> (L * k, D + 1): every row once per level, the level's position in [0, 1] appended."""
        n_levels = len(self.levels)
        where = np.linspace(0.0, 1.0, n_levels) if n_levels > 1 else np.zeros(1)
        return np.concatenate([np.c_[X, np.full(len(X), t)] for t in where])

    def _fit_joint(self, model: str, params: Mapping[str, Any], keep: np.ndarray) -> list[Any]:
        """One regressor for all levels, the level an input: levels share what they have in common."""
        Z = self.transformed(self.base)
        Xa = self._augment(self.X)
        Za = np.concatenate([Z[:, j, :] for j in range(len(self.levels))])
        ok = np.tile(keep, len(self.levels)) & np.all(np.isfinite(Za), axis=1)
        return [make_model(model, params).fit(Xa[ok], Za[ok]) if ok.any() else None]

    def _fit_seconds_model(self, model: str, params: Mapping[str, Any] | None, keep: np.ndarray) -> Any:
        self._floor = _floor(self.seconds)
        self._stacked: StackedForest | None = None
        S = np.log(self.seconds + self._floor)
        ok = keep & np.all(np.isfinite(S), axis=1)
        return make_model(model, params).fit(self.X[ok], S[ok]) if ok.any() else None

    def _outputs(self, X: np.ndarray) -> list[np.ndarray | None]:
        """Every fitted model's prediction: the level models' (joint: at ``_augment(X)``), the seconds'."""
        Xin = self._augment(X) if self.joint else X
        models = [*self.models, self.seconds_model]
        fitted = [m for m in models if m is not None]
        if fitted and all(isinstance(m, Forest) for m in fitted):
            # One walk of all trees; the seconds forest never splits on the appended column.
            if self._stacked is None:
                self._stacked = StackedForest(fitted)  # type: ignore[arg-type]
            it = iter(self._stacked.predict(Xin))
            out = [None if m is None else next(it) for m in models]
            if out[-1] is not None:
                out[-1] = out[-1][: len(X)]
            return out
        levels = [None if m is None else m.predict(Xin) for m in self.models]
        return [*levels, None if self.seconds_model is None else self.seconds_model.predict(X)]

    def predict_all(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Modelled-scale values (k, L, Q) (NaN where a level had no data) and ``(s0, r)`` (k, 2)."""
        X = np.atleast_2d(X)
        k, n_levels, n_q = len(X), len(self.levels), len(self.quantities)
        out = np.full((k, n_levels, n_q), np.nan)
        *levels, secs = self._outputs(X)
        if self.joint and levels[0] is not None:
            out[:] = levels[0].reshape(n_levels, k, n_q).transpose(1, 0, 2)
        elif not self.joint:
            for j, pred in enumerate(levels):
                if pred is not None:
                    out[:, j, :] = pred
        seconds = np.zeros((k, 2)) if secs is None else np.maximum(np.exp(secs) - self._floor, 0.0)
        return out, seconds

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted values on the modelled scale, shape (k, L, Q)."""
        return self.predict_all(X)[0]


def _floor(seconds: np.ndarray) -> np.ndarray:
    """Per column, a small positive offset so log(s0), log(r) stay finite when one is 0."""
    out = np.full(seconds.shape[1], 1e-6)
    for c in range(seconds.shape[1]):
        positive = seconds[:, c][seconds[:, c] > 0]  # NaN compares False: dropped too
        if len(positive):
            out[c] = 1e-3 * float(np.median(positive))
    return out


def _values(rows: pd.DataFrame, index: np.ndarray, levels: list[Any], quantities: list[str]) -> np.ndarray:
    """(n, L, Q) values of ok rows; NaN elsewhere."""
    out = np.full((len(index), len(levels), len(quantities)), np.nan)
    ok = rows[rows["status"] == "ok"]
    pos = {int(d): i for i, d in enumerate(index)}
    lev = {_level_key(b): j for j, b in enumerate(levels)}
    cols = ["objective", *[f"metric.{q}" for q in quantities[1:]]]
    values = ok[cols].to_numpy(dtype=float)
    for (d, b), row in zip(zip(ok["design_index"], ok["budget"]), values):
        j = lev.get(_level_key(b))
        if j is not None:
            out[pos[int(d)], j, :] = row
    return out


def _level_key(budget: Any) -> float | None:
    return None if budget is None or (isinstance(budget, float) and math.isnan(budget)) else float(budget)


def _fit_seconds(rows: pd.DataFrame, index: np.ndarray) -> np.ndarray:
    """(n, 2) ``(s0, r)`` per configuration from its ok steps with a measured CPU time."""
    out = np.full((len(index), 2), np.nan)
    ok = rows[(rows["status"] == "ok") & rows["cpu_seconds"].notna()]
    pos = {int(d): i for i, d in enumerate(index)}
    for d, grp in ok.groupby("design_index"):
        budget = grp["budget"].to_numpy(float)
        delta = np.where(np.isnan(budget), 0.0, budget - grp["start"].to_numpy(float))
        out[pos[int(d)]] = linear_seconds(delta, grp["cpu_seconds"].to_numpy(float))
    return out
