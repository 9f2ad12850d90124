"""The task contract and a task built from a plain function.

A task is a minimisation problem over a ``SearchSpace``, optionally with a
``Fidelity``. ``evaluate`` must be deterministic in ``(config, budget, seed)``.
"""

from __future__ import annotations

import importlib
import inspect
import math
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from hpbench.checks import is_integer, is_real
from hpbench.objectives import Objective
from hpbench.space import Fidelity, SearchSpace
from hpbench.trial import Evaluation

__all__ = ["Task", "FunctionTask", "task"]


class Task(ABC):
    """Base class of all tasks.

    Attributes:
        name: registry name.
        space: the search space.
        fidelity: the budget axis, or ``None`` (full budget only).
        optimum: the known minimum (for regret), or ``None``.
        version: bump when the objective changes, so cached evaluations are not reused.
        seconds_per_eval: measured seconds of one top-fidelity evaluation on one core.
        overhead: fixed per-trial overhead in fidelity units (c0 of the cost model:
            continuing from a to b costs (b - a + c0) / (high + c0)); 0 for tasks
            without a fidelity or without a measured value.
        description: one line for ``hpbench list tasks``.
            (``cost_factor(config)``, a method: how much more or less than the average
            configuration this one costs to train; 1 unless the task declares it.)
        objectives: the objectives of a multi-objective task (see ``hpbench.objectives``;
            the first is the default single objective), or ``()`` for one objective.
        pareto_front: for tasks with a known Pareto front, its ``ideal`` and ``nadir``
            points (as losses) and ``volume_below`` (the measure of the region between the
            ideal and the front: the front's hypervolume from any reference point r >= nadir
            is prod(r - ideal) - volume_below); ``None`` otherwise.
    """

    name: str = "task"
    space: SearchSpace
    fidelity: Fidelity | None = None
    optimum: float | None = None
    version: str = "1"
    seconds_per_eval: float | None = None
    overhead: float = 0.0
    description: str = ""
    objectives: tuple[Objective, ...] = ()
    pareto_front: dict[str, Any] | None = None

    @property
    def n_objectives(self) -> int:
        """How many objectives a multi-objective searcher is told (1 for a single-objective task)."""
        return max(1, len(self.objectives))

    @abstractmethod
    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        """Train/evaluate ``config`` up to ``budget``; continue from ``checkpoint`` if given."""

    def cost_factor(self, config: Mapping[str, Any]) -> float:
        """How much training ``config`` costs against the average configuration of the space.

        The cost model multiplies a trial's share of a full evaluation by this factor, so
        cost tracks compute when configurations differ in price (batch size, network size).
        It must be deterministic (budgets stay nominal, runs reproducible), a finite number
        > 0, and average 1 over the search space's prior, so ``max_cost`` keeps meaning
        "this many full evaluations of an average configuration". The default is 1.
        """
        return 1.0

    def prepare(self) -> None:
        """Import libraries and load data, so the first ``evaluate`` does not pay for it.

        Called once per process before the first trial's clock starts (a time budget
        bills only ``evaluate``); must be idempotent. The default does nothing.
        """
        return None

    def check_budget(self, budget: float | None) -> float | None:
        """Validate ``budget`` against the fidelity (``None`` means the top fidelity)."""
        if self.fidelity is None:
            if budget is not None:
                raise ValueError(f"budget: task '{self.name}' has no fidelity, got {budget!r}")
            return None
        return self.fidelity.validate(self.fidelity.high if budget is None else budget)

    def check_inputs(
        self, config: Any, budget: float | None, seed: Any, checkpoint: bytes | None
    ) -> tuple[dict[str, Any], float | None, int]:
        """Validate what ``evaluate`` receives; return (clean config, budget, seed).

        Raises ValueError/TypeError naming the input: a config outside the space, a
        budget off the fidelity, a negative or non-integer seed, or a checkpoint for a
        task that has no fidelity (nothing to continue).
        """
        config = self.space.validate(config)
        budget = self.check_budget(budget)
        if not is_integer(seed) or seed < 0:
            raise TypeError(f"seed: must be a non-negative integer, got {seed!r}")
        if checkpoint is not None and self.fidelity is None:
            raise ValueError(f"checkpoint: task '{self.name}' has no fidelity and takes none, got bytes")
        return config, budget, int(seed)

    def info(self, *, version: bool = True) -> dict[str, Any]:
        """What ``hpbench list tasks`` shows; ``version=False`` leaves out the version, which
        some tasks compute on first use (``cbow-pydocs`` builds its corpus for it)."""
        out = {
            "name": self.name,
            "version": self.version if version else None,
            "description": self.description,
            "space": self.space.to_dict(),
            "fidelity": None if self.fidelity is None else self.fidelity.to_dict(),
            "optimum": self.optimum,
            "seconds_per_eval": self.seconds_per_eval,
            "objectives": [o.to_dict() for o in self.objectives],
            "pareto_front": self.pareto_front,
        }
        if not version:
            del out["version"]
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class FunctionTask(Task):
    """A task around ``fn(config, *, budget, seed) -> float | Evaluation | dict``.

    A dict return needs the key ``objective``; the key ``checkpoint`` (bytes) becomes the
    evaluation's checkpoint, other keys become metrics. ``fn`` must be importable (module
    level) to run in worker processes.

    A function that also takes ``checkpoint`` can continue training: it receives the
    bytes it returned for an earlier, lower fidelity level of the same configuration
    (or ``None``: train from zero) and returns a checkpoint of its own. A function that
    does not take it always trains from zero, and each of its trials is charged from
    zero (see ``hpbench.budget``).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        space: SearchSpace | Mapping[str, Any],
        name: str | None = None,
        fidelity: Fidelity | None = None,
        optimum: float | None = None,
        version: str = "1",
        description: str = "",
        overhead: float = 0.0,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"FunctionTask: 'fn' must be callable, got {fn!r}")
        self.fn = fn
        self.takes_checkpoint = _takes_keyword(fn, "checkpoint")
        self.space = space if isinstance(space, SearchSpace) else SearchSpace(space)
        self.name = name or fn.__name__.replace("_", "-")
        if fidelity is not None and not isinstance(fidelity, Fidelity):
            raise TypeError(f"FunctionTask: 'fidelity' must be a Fidelity or None, got {fidelity!r}")
        self.fidelity = fidelity
        self.optimum = optimum
        self.version = version
        self.description = description or (fn.__doc__ or "").strip().split("\n")[0]
        self.overhead = _check_overhead(overhead, fidelity)

    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        config, budget, seed = self.check_inputs(config, budget, seed, checkpoint)
        if self.takes_checkpoint:
            out = self.fn(config, budget=budget, seed=seed, checkpoint=checkpoint)
        else:
            out = self.fn(config, budget=budget, seed=seed)
        if type(out) is float:  # the usual case first: the Mapping check below is an ABC check
            return Evaluation(objective=out)
        if isinstance(out, Evaluation):
            return out
        if isinstance(out, Mapping):
            if "objective" not in out:
                raise ValueError(
                    f"task '{self.name}': a dict result needs the key 'objective', got {dict(out)!r}"
                )
            metrics = {k: v for k, v in out.items() if k not in ("objective", "checkpoint")}
            return Evaluation(objective=out["objective"], metrics=metrics, checkpoint=out.get("checkpoint"))
        return Evaluation(objective=out)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        # Decorated functions are replaced by their task at module level: pickle by
        # reference to that name, so worker processes import it instead of copying it.
        module = sys.modules.get(getattr(self.fn, "__module__", ""), None)
        if module is not None and getattr(module, self.fn.__qualname__, None) is self:
            return (_load_attr, (self.fn.__module__, self.fn.__qualname__))
        return (
            _rebuild_function_task,
            (
                self.fn,
                self.space,
                self.name,
                self.fidelity,
                self.optimum,
                self.version,
                self.description,
                self.overhead,
            ),
        )


def share_costs(view: Task, base: Task) -> None:
    """``view`` (a wrapper, a replay, a multi-objective view of ``base``) is charged as ``base``:
    the same overhead c0 and the same ``cost_factor``."""
    view.overhead = base.overhead
    view.cost_factor = base.cost_factor  # type: ignore[method-assign]


def _check_overhead(overhead: Any, fidelity: Fidelity | None) -> float:
    """``overhead`` (c0, fidelity units): a finite number >= 0, and 0 without a fidelity."""
    if not is_real(overhead):
        raise TypeError(f"overhead: must be a number, got {overhead!r}")
    if not (math.isfinite(overhead) and overhead >= 0):
        raise ValueError(f"overhead: rule 'overhead >= 0 and finite' broken, got {overhead!r}")
    if fidelity is None and overhead != 0:
        raise ValueError(f"overhead: rule 'overhead = 0 without a fidelity' broken, got {overhead!r}")
    return float(overhead)


def _takes_keyword(fn: Callable[..., Any], name: str) -> bool:
    """Whether ``fn`` accepts the keyword argument ``name`` (by name or through ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return False
    return any(
        p.kind is p.VAR_KEYWORD or (p.name == name and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        for p in params
    )


def _load_attr(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _rebuild_function_task(
    fn: Any,
    space: Any,
    name: Any,
    fidelity: Any,
    optimum: Any,
    version: Any,
    description: Any,
    overhead: Any = 0.0,
) -> FunctionTask:
    return FunctionTask(
        fn,
        space=space,
        name=name,
        fidelity=fidelity,
        optimum=optimum,
        version=version,
        description=description,
        overhead=overhead,
    )


def task(
    *,
    space: SearchSpace | Mapping[str, Any],
    name: str | None = None,
    fidelity: Fidelity | None = None,
    optimum: float | None = None,
    version: str = "1",
    overhead: float = 0.0,
) -> Callable[[Callable[..., Any]], FunctionTask]:
    """Decorator: turn a training function into a task (see ``FunctionTask``).

    The function is called as ``fn(config, *, budget, seed)``: ``config`` maps parameter
    names to values (inactive conditional parameters absent), ``budget`` is the fidelity
    value to train to (epochs, rounds; ``None`` when the task has no ``fidelity``), and
    ``seed`` the run's task seed. It returns the objective (a float, minimised), a dict
    with ``"objective"`` and metrics, or an ``hb.Evaluation``.

    Args:
        space: the search space (a ``SearchSpace`` or a dict of parameters).
        name: the task's name; default: the function's name with ``_`` replaced by ``-``.
        fidelity: ``hb.Fidelity(name, low, high)`` when the function takes a budget.
        optimum: the known optimal objective, if any (the report measures regret against it).
        version: bump it when the function changes, so cached evaluations are not reused.
        overhead: the fixed cost of one call in fidelity units (c0 of the cost model:
            continuing from a to b costs (b - a + c0) / (high + c0)); measure it with
            ``hpbench calibrate``. Default 0.

    Returns:
        A decorator returning a ``FunctionTask``.

    Example:
        >>> import hpbench as hb
        >>> @hb.task(space={"x": hb.Float(-5, 5)}, optimum=0.0)
        ... def quadratic(config, *, budget, seed):
        ...     return (config["x"] - 1) ** 2
        >>> quadratic.evaluate({"x": 1.0}).objective
        0.0

        A function that takes ``checkpoint`` continues where an earlier, lower level of
        the same configuration stopped, so Hyperband's promotions pay only the increment:

        >>> import json
        >>> @hb.task(space={"x": hb.Float(-5, 5)}, fidelity=hb.Fidelity("epochs", 1, 9))
        ... def counting(config, *, budget, seed, checkpoint=None):
        ...     done = 0 if checkpoint is None else json.loads(checkpoint)["epochs"]
        ...     loss = config["x"] ** 2 + 1.0 / budget  # "train" epochs done+1 .. budget
        ...     return hb.Evaluation(loss, checkpoint=json.dumps({"epochs": budget}).encode(),
        ...                          metrics={"trained": budget - done})
        >>> first = counting.evaluate({"x": 1.0}, budget=3)
        >>> counting.evaluate({"x": 1.0}, budget=9, checkpoint=first.checkpoint).metrics["trained"]
        6
    """

    def wrap(fn: Callable[..., Any]) -> FunctionTask:
        return FunctionTask(
            fn, space=space, name=name, fidelity=fidelity, optimum=optimum, version=version, overhead=overhead
        )

    return wrap
