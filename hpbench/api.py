"""What the library accepts where a task or a searcher is expected, and ``hb.run_search``.

A searcher can be given as

- a registry name, with parameters after a colon: ``"hyperband:eta=3,proposer=gp-ei"``;
- a table: ``{"name": "hyperband", "eta": 3}`` (or a ``SearcherSpec``);
- a ``Searcher`` subclass: ``MySearcher`` (registered under its ``name``);
- a class or name with parameters: ``(MySearcher, {"sigma": 0.3})``, ``("gp-ei", {"n_init": 5})``;
- ``functools.partial(MySearcher, sigma=0.3)``.

Whatever the form, the experiment stores the searcher's registry name and parameters, so
a run can be rebuilt (and resumed) from the store.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from hpbench.budget import Budget
from hpbench.registry import get_task, make_searcher, register_searcher, register_task
from hpbench.searchers.base import Searcher
from hpbench.spec import SearcherSpec, parse_searcher
from hpbench.tasks.base import Task
from hpbench.trial import TrialRecord

__all__ = ["as_searcher_spec", "as_task", "run_search"]

SearcherLike = Any  # str | Mapping | SearcherSpec | type[Searcher] | tuple | functools.partial


def _class_spec(cls: type[Searcher], params: Mapping[str, Any]) -> SearcherSpec:
    if cls.name == Searcher.name:
        raise ValueError(
            f"searchers: rule 'a Searcher subclass sets the class attribute name' broken, got {cls.__name__} "
            "without one (add e.g. name = 'my-searcher')"
        )
    register_searcher(cls.name, cls)
    return SearcherSpec(cls.name, dict(params))


def _is_searcher_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, Searcher)


def as_searcher_spec(item: SearcherLike) -> SearcherSpec:
    """Any accepted form of a searcher (see the module doc) -> its ``SearcherSpec``.

    Raises:
        TypeError: a form not listed, naming what was given.
    """
    if _is_searcher_class(item):
        return _class_spec(item, {})
    if isinstance(item, functools.partial) and _is_searcher_class(item.func):
        if item.args:
            raise TypeError(
                f"searchers: rule 'partial with keyword arguments only' broken, got positional {item.args!r}"
            )
        return _class_spec(item.func, item.keywords)
    if isinstance(item, tuple):
        if len(item) != 2 or not isinstance(item[1], Mapping):
            raise TypeError(f"searchers: rule '(class or name, {{parameters}})' broken, got {item!r}")
        what, params = item
        if _is_searcher_class(what):
            return _class_spec(what, params)
        if isinstance(what, str):
            base = parse_searcher(what)
            return SearcherSpec(base.name, {**base.params, **params})
        raise TypeError(f"searchers: first item must be a Searcher subclass or a name, got {what!r}")
    if isinstance(item, (str, Mapping, SearcherSpec)):
        return parse_searcher(item)
    raise TypeError(
        "searchers: each must be a name ('hyperband:eta=3'), a table, a Searcher subclass, "
        f"(class or name, {{parameters}}) or functools.partial(SearcherClass, ...); got {item!r}"
    )


def as_task(item: str | Task) -> Task:
    """A registry name or a ``Task`` -> the ``Task`` (a Task object is registered under its name)."""
    if isinstance(item, Task):
        register_task(item.name, item)
        return item
    if isinstance(item, str):
        return get_task(item)
    raise TypeError(f"tasks: each must be a name or a Task, got {item!r}")


def run_search(
    task: str | Task,
    searcher: SearcherLike | Searcher,
    *,
    budget: Budget | None = None,
    max_evals: int | None = None,
    max_cost: float | None = None,
    max_seconds: float | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> list[TrialRecord]:
    """Run one searcher on one task in memory (nothing stored) and return its trials.

    Args:
        task: a registry name (``"branin"``) or a ``Task``.
        searcher: any form ``hb.benchmark`` takes (``"hyperband:eta=3"``, a class,
            ``(class, params)``...), or a ready ``Searcher`` instance (used as it is).
        budget: the run's limits; or give ``max_evals`` / ``max_cost`` / ``max_seconds``.
        seed: run seed, split into searcher and task seeds as ``hb.benchmark`` does.
        **kwargs: passed to the runner (``executor``, ``trials_per_run``, ``trial_timeout``).

    Returns:
        The trials in completion order.

    Example:
        >>> import hpbench as hb
        >>> len(hb.run_search("branin-mf", "hyperband:eta=3", max_cost=5))  # doctest: +SKIP
        23
    """
    from hpbench.runner import run_search as _run
    from hpbench.runner import split_seed

    if budget is None:
        budget = Budget(max_evals=max_evals, max_cost=max_cost, max_seconds=max_seconds)
    elif any(v is not None for v in (max_evals, max_cost, max_seconds)):
        raise TypeError("run_search: give either 'budget' or max_evals/max_cost/max_seconds, not both")
    t = as_task(task)
    searcher_seed, task_seed = split_seed(seed)
    if isinstance(searcher, Searcher):
        s = searcher
    else:
        spec = as_searcher_spec(searcher)
        s = make_searcher(spec.name, space=t.space, fidelity=t.fidelity, seed=searcher_seed, **spec.params)
    return _run(t, s, budget=budget, task_seed=task_seed, **kwargs)
