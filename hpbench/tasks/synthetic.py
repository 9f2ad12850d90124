"""Synthetic test functions with known optima: Branin and Hartmann 3/6.

Multi-fidelity variants follow the construction of Kandasamy et al., "Multi-fidelity
Bayesian optimisation with continuous approximations" (ICML 2017): some constants of
the function move with the normalised fidelity ``z = log(b) / log(high)`` (so the
eta=3 rungs 1, 3, 9, 27, 81 sit at z = 0, 1/4, 1/2, 3/4, 1) and the perturbation
vanishes at ``z = 1``:

- Branin: ``b(z) = 5.1/(4 pi^2) - 0.01 (1 - z)``, ``c(z) = 5/pi - 0.1 (1 - z)``,
  ``t(z) = 1/(8 pi) + 0.05 (1 - z)``.
- Hartmann: ``alpha_i(z) = alpha_i - 0.1 (1 - z)``.

Noisy variants add Gaussian noise of standard deviation ``noise`` drawn from a
generator seeded by (seed, config), so one (config, budget, seed) gives one value;
``metrics["noiseless"]`` keeps the true value.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpbench.checks import is_real
from hpbench.space import Fidelity, Float, SearchSpace
from hpbench.tasks.base import Task
from hpbench.trial import Evaluation

__all__ = ["Branin", "Hartmann", "branin", "hartmann"]

# Hartmann constants (Dixon & Szegö 1978; values as tabulated by Surjanovic & Bingham).
_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def branin(x1: float, x2: float, z: float = 1.0) -> float:
    """Branin-Hoo on [-5, 10] x [0, 15]; minimum 0.397887 at three points when z = 1."""
    b = 5.1 / (4 * math.pi**2) - 0.01 * (1 - z)
    c = 5 / math.pi - 0.1 * (1 - z)
    t = 1 / (8 * math.pi) + 0.05 * (1 - z)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def hartmann(x: np.ndarray, z: float = 1.0) -> float:
    """Hartmann 3-D or 6-D on [0, 1]^d; minima -3.86278 (3-D) and -3.32237 (6-D) when z = 1."""
    x = np.asarray(x, dtype=float)
    a, p = (_H3_A, _H3_P) if x.shape[-1] == 3 else (_H6_A, _H6_P)
    alpha = _ALPHA - 0.1 * (1 - z)
    inner = np.sum(a * (x - p) ** 2, axis=-1)
    return float(-np.sum(alpha * np.exp(-inner)))


class _Synthetic(Task):
    noise: float = 0.0

    def __init__(self, *, noise: float = 0.0, multi_fidelity: bool = False) -> None:
        if not is_real(noise) or not noise >= 0:
            raise ValueError(f"{self.name}: rule 'noise >= 0' broken, got {noise!r}")
        self.noise = float(noise)
        self.fidelity = Fidelity("level", 1, 81) if multi_fidelity else None
        self.seconds_per_eval = 1e-5
        suffix = " (noisy)" if noise else (" with fidelity 1..81" if multi_fidelity else "")
        self.description = self.description + suffix

    def _z(self, budget: float | None) -> float:
        if self.fidelity is None or budget is None:
            return 1.0
        return math.log(budget) / math.log(self.fidelity.high)

    def _value(self, config: Mapping[str, Any], z: float) -> float:
        raise NotImplementedError

    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        config, budget, seed = self.check_inputs(config, budget, seed, checkpoint)
        if checkpoint is not None:
            start = json.loads(checkpoint)["budget"]
            if budget is None or start > budget:
                raise ValueError(
                    f"checkpoint: rule 'checkpoint budget <= budget' broken, got {start} > {budget}"
                )
        value = self._value(config, self._z(budget))
        objective = value
        if self.noise:
            # A stable hash of the config (Python's hash() of str is salted per process).
            digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).digest()
            key = [int(seed), *np.frombuffer(digest[:16], dtype=np.uint32).tolist()]
            objective = value + self.noise * float(np.random.default_rng(key).standard_normal())
        ckpt = None if self.fidelity is None else json.dumps({"budget": budget}).encode()
        return Evaluation(objective=objective, metrics={"noiseless": value}, checkpoint=ckpt)


class Branin(_Synthetic):
    """Branin-Hoo function, 2-D, minimum 0.397887."""

    description = "Branin-Hoo, 2-D, three global minima"

    def __init__(self, *, noise: float = 0.0, multi_fidelity: bool = False) -> None:
        self.name = "branin"
        self.space = SearchSpace({"x1": Float(-5.0, 10.0), "x2": Float(0.0, 15.0)})
        self.optimum = 0.397887
        super().__init__(noise=noise, multi_fidelity=multi_fidelity)

    def _value(self, config: Mapping[str, Any], z: float) -> float:
        return branin(config["x1"], config["x2"], z)


class Hartmann(_Synthetic):
    """Hartmann function on the unit cube, 3-D (minimum -3.86278) or 6-D (-3.32237)."""

    def __init__(self, *, dim: int = 6, noise: float = 0.0, multi_fidelity: bool = False) -> None:
        if dim not in (3, 6):
            raise ValueError(f"Hartmann: rule 'dim in [3, 6]' broken, got {dim!r}")
        self.name = f"hartmann{dim}"
        self.dim = dim
        self.space = SearchSpace({f"x{i + 1}": Float(0.0, 1.0) for i in range(dim)})
        self.optimum = -3.86278 if dim == 3 else -3.32237
        self.description = f"Hartmann {dim}-D on the unit cube"
        super().__init__(noise=noise, multi_fidelity=multi_fidelity)

    def _value(self, config: Mapping[str, Any], z: float) -> float:
        return hartmann(np.array([config[f"x{i + 1}"] for i in range(self.dim)]), z)
