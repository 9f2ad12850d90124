"""Multi-objective tasks: real models with a second objective, a one-objective view, and test fronts.

* :class:`MetricObjectives` turns a task that already reports a second figure in its
  metrics (``macs``, ``zero_weight_share``, ``n_params``) into a multi-objective task:
  the same model, the same training, the validation loss first and that figure second.
* :class:`ObjectiveView` is one objective of a multi-objective task as a single-objective
  task (``hpbench run --objective NAME``; registry name ``TASK@NAME``).
* :class:`ZDT` and :class:`DTLZ2` are the synthetic test problems with known Pareto fronts
  (Zitzler, Deb & Thiele, "Comparison of multiobjective evolutionary algorithms: empirical
  results", Evol. Comput. 2000; Deb, Thiele, Laumanns & Zitzler, "Scalable multi-objective
  optimization test problems", CEC 2002), sized down for fast runs (6 to 7 variables).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hpbench.objectives import Objective, as_losses, check_objectives
from hpbench.space import Float, SearchSpace
from hpbench.tasks.base import Task, share_costs
from hpbench.trial import Evaluation

__all__ = ["MetricObjectives", "ObjectiveView", "ZDT", "DTLZ2", "evaluation"]

_TRANSFORMS = ("identity", "complement")  # complement: 1 - x (a share of zeros -> of non-zeros)


def evaluation(objectives: tuple[Objective, ...], values: Mapping[str, float], **kw: Any) -> Evaluation:
    """An ``Evaluation`` whose ``objective`` is the first objective as a loss (NaN if missing)."""
    first = objectives[0]
    v = float(values.get(first.name, math.nan))
    return Evaluation(objective=-v if first.direction == "max" else v, objectives=dict(values), **kw)


def _copy_attributes(view: Task, base: Task) -> None:
    view.space, view.fidelity = base.space, base.fidelity
    view.seconds_per_eval = base.seconds_per_eval
    share_costs(view, base)


class MetricObjectives(Task):
    """A task's validation loss plus figures from its own metrics, as objectives.

    Args:
        base: the single-objective task (its model and training are used as they are).
        first: name of the base task's objective (e.g. ``"val_loss"``), minimised.
        extra: objective name -> (metric name, ``"identity"`` or ``"complement"``),
            each minimised.
        description: one line for ``hpbench list tasks``.
    """

    def __init__(
        self, *, base: Task, first: str, extra: Mapping[str, tuple[str, str]], description: str = ""
    ) -> None:
        for _metric, transform in extra.values():
            if transform not in _TRANSFORMS:
                raise ValueError(
                    f"MetricObjectives: rule 'transform in {_TRANSFORMS}' broken, got {transform!r}"
                )
        self.base = base
        self.extra = dict(extra)
        self.objectives = check_objectives("MetricObjectives", [Objective(first), *map(Objective, extra)])
        self.name = f"{base.name}-mo"
        self.version = f"{base.version}.mo1"
        _copy_attributes(self, base)
        self.description = (
            description or f"{base.description}; objectives {[o.name for o in self.objectives]}"
        )

    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        ev = self.base.evaluate(config, budget=budget, seed=seed, checkpoint=checkpoint)
        values = {self.objectives[0].name: ev.objective}
        for name, (metric, transform) in self.extra.items():
            v = float(ev.metrics.get(metric, math.nan))
            values[name] = 1.0 - v if transform == "complement" else v
        return dataclasses.replace(ev, objectives=values)


class ObjectiveView(Task):
    """One objective of a multi-objective task, as a single-objective task.

    ``objective`` is that objective as a loss; every objective is still reported (and
    stored), so the other values stay visible. The view declares only the chosen one.
    """

    def __init__(self, base: Task, objective: str) -> None:
        names = [o.name for o in base.objectives]
        if objective not in names:
            raise ValueError(
                f"objective: rule 'objective of task {base.name!r} in {names}' broken, got {objective!r}"
            )
        self.base = base
        self.chosen = base.objectives[names.index(objective)]
        self.objectives = (self.chosen,)
        self.name = f"{base.name}@{objective}"
        self.version = base.version
        self.optimum = None
        _copy_attributes(self, base)
        self.description = f"{base.name} on its objective {objective!r} alone"

    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        ev = self.base.evaluate(config, budget=budget, seed=seed, checkpoint=checkpoint)
        loss = as_losses((self.chosen,), ev.objectives)
        return dataclasses.replace(ev, objective=math.nan if loss is None else loss[0])


def _unit_space(n: int) -> SearchSpace:
    return SearchSpace({f"x{i + 1}": Float(0.0, 1.0) for i in range(n)})


def _front(ideal: list[float], nadir: list[float], volume_below: float) -> dict[str, Any]:
    """Known-front record: ideal, nadir, and the measure of the region between the ideal and the
    front that the front does not dominate. The front's hypervolume for any reference point
    r >= nadir is then prod(r - ideal) - volume_below."""
    return {"ideal": ideal, "nadir": nadir, "volume_below": volume_below}


class ZDT(Task):
    """ZDT1 (convex front f2 = 1 - sqrt(f1)) or ZDT2 (concave, f2 = 1 - f1^2), 2 objectives.

    ``f1 = x1``, ``g = 1 + 9 * mean(x2..xn)``, ``f2 = g * (1 - (f1/g)^p)`` with p = 1/2
    (ZDT1) or 2 (ZDT2). The front is ``g = 1`` over f1 in [0, 1]: ideal (0, 0), nadir
    (1, 1); the area under it is 1/3 (ZDT1) or 2/3 (ZDT2).
    """

    def __init__(self, *, variant: int = 1, n: int = 6) -> None:
        if variant not in (1, 2):
            raise ValueError(f"ZDT: rule 'variant in [1, 2]' broken, got {variant!r}")
        self.variant, self.n = variant, n
        self.name = f"zdt{variant}"
        self.space = _unit_space(n)
        self.objectives = (Objective("f1"), Objective("f2"))
        self.pareto_front = _front([0.0, 0.0], [1.0, 1.0], 1 / 3 if variant == 1 else 2 / 3)
        self.seconds_per_eval = 1e-5
        self.description = (
            f"ZDT{variant} with {n} variables: known {'convex' if variant == 1 else 'concave'} front"
        )

    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        config, _, _ = self.check_inputs(config, budget, seed, checkpoint)
        x = np.array([config[f"x{i + 1}"] for i in range(self.n)])
        f1 = float(x[0])
        g = 1.0 + 9.0 * float(np.mean(x[1:]))
        f2 = g * (1.0 - (f1 / g) ** (0.5 if self.variant == 1 else 2.0))
        return evaluation(self.objectives, {"f1": f1, "f2": f2})


class DTLZ2(Task):
    """DTLZ2 with M objectives and k = 5 distance variables (n = M + 4).

    ``g = sum((x_i - 0.5)^2)`` over the last k variables; ``f_m = (1 + g) * prod cos(x_j pi/2)
    * sin(...)``. The front is the unit sphere's positive orthant: ideal 0, nadir 1; the
    region below it in the reference box is pi/4 (M = 2) or pi/6 (M = 3).
    """

    def __init__(self, *, n_objectives: int = 3, k: int = 5) -> None:
        if n_objectives not in (2, 3):
            raise ValueError(f"DTLZ2: rule 'n_objectives in [2, 3]' broken, got {n_objectives!r}")
        self.m, self.n = n_objectives, n_objectives - 1 + k
        self.name = f"dtlz2-{n_objectives}obj"
        self.space = _unit_space(self.n)
        self.objectives = tuple(Objective(f"f{i + 1}") for i in range(self.m))
        below = math.pi / 4 if self.m == 2 else math.pi / 6
        self.pareto_front = _front([0.0] * self.m, [1.0] * self.m, below)
        self.seconds_per_eval = 1e-5
        self.description = f"DTLZ2, {self.m} objectives, {self.n} variables: known spherical front"

    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        config, _, _ = self.check_inputs(config, budget, seed, checkpoint)
        x = np.array([config[f"x{i + 1}"] for i in range(self.n)])
        g = float(np.sum((x[self.m - 1 :] - 0.5) ** 2))
        angles = x[: self.m - 1] * math.pi / 2
        values = {}
        for m in range(self.m):
            f = (1.0 + g) * float(np.prod(np.cos(angles[: self.m - 1 - m])))
            if m > 0:
                f *= math.sin(angles[self.m - 1 - m])
            values[f"f{m + 1}"] = f
        return evaluation(self.objectives, values)


def cnn_digits_mo() -> Task:
    """``cnn-digits`` as validation loss vs multiply-adds per image."""
    from hpbench.tasks.torch_models import CNNTask

    return MetricObjectives(
        base=CNNTask(),
        first="val_loss",
        extra={"macs": ("macs", "identity")},
        description="cnn-digits: validation loss vs MACs per image (standard vs depthwise-separable conv)",
    )


def logreg_digits_mo() -> Task:
    """``logreg-digits`` as validation loss vs share of non-zero weights."""
    from hpbench.tasks.sklearn_models import LogRegTask

    return MetricObjectives(
        base=LogRegTask(dataset="digits"),
        first="val_loss",
        extra={"nonzero_share": ("zero_weight_share", "complement")},
        description="logreg-digits: validation loss vs share of non-zero weights (l1/l2/elastic net)",
    )


def mlp_digits_mo() -> Task:
    """``mlp-digits`` as validation loss vs parameter count."""
    from hpbench.tasks.torch_models import MLPTask

    return MetricObjectives(
        base=MLPTask(),
        first="val_loss",
        extra={"n_params": ("n_params", "identity")},
        description="mlp-digits: validation loss vs number of parameters",
    )
