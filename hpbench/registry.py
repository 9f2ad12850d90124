"""Names -> factories for tasks and searchers, including plug-ins from entry points.

Built-ins are listed as ``"module:attribute"`` strings and imported on first use, so
``hpbench list`` does not import torch, optuna or scikit-optimize. Other installed
packages add names through the entry-point groups ``hpbench.tasks`` and
``hpbench.searchers`` (the object is a Task subclass / factory, or a Searcher subclass).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from hpbench.searchers.base import Searcher
from hpbench.space import Fidelity, SearchSpace
from hpbench.tasks.base import FunctionTask, Task

__all__ = [
    "task_names",
    "searcher_names",
    "get_task",
    "split_task_name",
    "get_searcher_class",
    "make_searcher",
    "register_task",
    "register_searcher",
]

_S = "hpbench.searchers."
_T = "hpbench.tasks."

_BUILTIN_SEARCHERS: dict[str, str] = {
    "random": _S + "random:RandomSearch",
    "gp-ei": _S + "gp.searcher:GPEISearcher",
    "sh": _S + "successive_halving:SuccessiveHalving",
    "hyperband": _S + "hyperband:Hyperband",
    "asha": _S + "asha:ASHA",
    "optuna": _S + "optuna_adapter:OptunaSearcher",
    "optuna-tpe": _S + "optuna_adapter:OptunaTPE",
    "optuna-gp": _S + "optuna_adapter:OptunaGP",
    "optuna-cmaes": _S + "optuna_adapter:OptunaCMAES",
    "optuna-qmc": _S + "optuna_adapter:OptunaQMC",
    "optuna-random": _S + "optuna_adapter:OptunaRandom",
    "optuna-nsga2": _S + "optuna_adapter:OptunaNSGAII",
    "parego": _S + "parego:ParEGO",
    "skopt": _S + "skopt_adapter:SkoptSearcher",
    "skopt-gp": _S + "skopt_adapter:SkoptGP",
    "skopt-rf": _S + "skopt_adapter:SkoptRF",
    "skopt-et": _S + "skopt_adapter:SkoptET",
    "smac-bb": _S + "smac_adapter:SmacBB",
    "smac-hpo": _S + "smac_adapter:SmacHPO",
}

# name -> ("module:factory", kwargs); the factory returns a Task.
_BUILTIN_TASKS: dict[str, tuple[str, dict[str, Any]]] = {
    "branin": (_T + "synthetic:Branin", {}),
    "branin-noisy": (_T + "synthetic:Branin", {"noise": 0.1}),
    "branin-mf": (_T + "synthetic:Branin", {"multi_fidelity": True}),
    "hartmann3": (_T + "synthetic:Hartmann", {"dim": 3}),
    "hartmann6": (_T + "synthetic:Hartmann", {"dim": 6}),
    "hartmann6-noisy": (_T + "synthetic:Hartmann", {"dim": 6, "noise": 0.05}),
    "hartmann6-mf": (_T + "synthetic:Hartmann", {"dim": 6, "multi_fidelity": True}),
    "logreg-breast-cancer": (_T + "sklearn_models:LogRegTask", {"dataset": "breast_cancer"}),
    "logreg-digits": (_T + "sklearn_models:LogRegTask", {"dataset": "digits"}),
    "svm-digits": (_T + "sklearn_models:SVMTask", {"dataset": "digits"}),
    "gbdt-digits": (_T + "sklearn_models:GBDTTask", {"dataset": "digits"}),
    "gbdt-diabetes": (_T + "sklearn_models:GBDTTask", {"dataset": "diabetes"}),
    "mlp-digits": (_T + "torch_models:MLPTask", {}),
    "cnn-digits": (_T + "torch_models:CNNTask", {}),
    "cbow-pydocs": (_T + "cbow:CBOWTask", {}),
    "gan-ring": (_T + "gan:GANRingTask", {}),
    "ner-hironsan": (_T + "ner:NERTask", {}),
    # Surrogates of shipped recordings (hpbench/surrogate/data/, made by `hpbench record`).
    "mlp-digits-surrogate": ("hpbench.surrogate.builtin:builtin_surrogate", {"task": "mlp-digits"}),
    "cnn-digits-surrogate": ("hpbench.surrogate.builtin:builtin_surrogate", {"task": "cnn-digits"}),
    "gbdt-digits-surrogate": ("hpbench.surrogate.builtin:builtin_surrogate", {"task": "gbdt-digits"}),
    "cnn-digits-mo": (_T + "multiobjective:cnn_digits_mo", {}),
    "logreg-digits-mo": (_T + "multiobjective:logreg_digits_mo", {}),
    "mlp-digits-mo": (_T + "multiobjective:mlp_digits_mo", {}),
    "zdt1": (_T + "multiobjective:ZDT", {"variant": 1}),
    "zdt2": (_T + "multiobjective:ZDT", {"variant": 2}),
    "dtlz2-2obj": (_T + "multiobjective:DTLZ2", {"n_objectives": 2}),
    "dtlz2-3obj": (_T + "multiobjective:DTLZ2", {"n_objectives": 3}),
}

_extra_tasks: dict[str, Callable[[], Task]] = {}
_extra_searchers: dict[str, type[Searcher]] = {}
_plugins_loaded = False


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    installed = entry_points()  # one scan of the installed packages for both groups
    for ep in installed.select(group="hpbench.tasks"):
        _extra_tasks.setdefault(ep.name, _LazyEntryPoint(ep))  # type: ignore[arg-type]
    for ep in installed.select(group="hpbench.searchers"):
        _extra_searchers.setdefault(ep.name, _LazyEntryPoint(ep))  # type: ignore[arg-type]


class _LazyEntryPoint:
    def __init__(self, ep: Any) -> None:
        self.ep = ep

    def load(self) -> Any:
        return self.ep.load()


def _resolve(obj: Any) -> Any:
    return obj.load() if isinstance(obj, _LazyEntryPoint) else obj


def task_names() -> list[str]:
    _load_plugins()
    return sorted(set(_BUILTIN_TASKS) | set(_extra_tasks))


def searcher_names() -> list[str]:
    _load_plugins()
    return sorted(set(_BUILTIN_SEARCHERS) | set(_extra_searchers))


def _unknown(kind: str, name: Any, known: list[str]) -> ValueError:
    hint = difflib.get_close_matches(str(name), known, n=1)
    suffix = f"; did you mean {hint[0]!r}?" if hint else f" (known: {', '.join(known)})"
    return ValueError(f"{kind}: unknown name {name!r}{suffix}")


def register_task(name: str, factory: Callable[[], Task] | Task) -> None:
    """Add a task by name; ``factory`` is a Task or a zero-argument callable returning one."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_task: 'name' must be a non-empty string, got {name!r}")
    if name in _BUILTIN_TASKS and _is_custom(factory):
        raise ValueError(
            f"task: rule 'a custom task does not take a built-in name' broken, got {name!r} "
            f"(give it another name, e.g. name='my-{name}')"
        )
    _extra_tasks[name] = (lambda: factory) if isinstance(factory, Task) else factory


def _is_custom(factory: Any) -> bool:
    """A user's task (or factory): anything not defined by hpbench itself, and every function task."""
    if isinstance(factory, FunctionTask):
        return True
    where = type(factory).__module__ if isinstance(factory, Task) else getattr(factory, "__module__", "")
    return not str(where).startswith("hpbench.")


def register_searcher(name: str, cls: type[Searcher]) -> None:
    """Add a searcher class by name."""
    if not (isinstance(cls, type) and issubclass(cls, Searcher)):
        raise TypeError(f"register_searcher: 'cls' must be a Searcher subclass, got {cls!r}")
    _extra_searchers[name] = cls


def split_task_name(name: str) -> tuple[str, str | None]:
    """``"TASK@OBJECTIVE"`` -> (``"TASK"``, ``"OBJECTIVE"``); a plain name -> (name, None)."""
    base, sep, objective = str(name).partition("@")
    return base, (objective if sep else None)


def single_objective_names(tasks: tuple[str, ...], objective: str) -> tuple[str, ...]:
    """``--objective NAME``: every task as ``TASK@NAME``; each must declare that objective."""
    out = []
    for t in tasks:
        names = [o.name for o in get_task(t).objectives]
        if objective not in names:
            have = f"objectives {names}" if names else "one objective only"
            raise ValueError(f"objective: rule 'task {t!r} has objective {objective!r}' broken ({have})")
        out.append(f"{t}@{objective}")
    return tuple(out)


def get_task(name: str) -> Task:
    """Build the task registered as ``name``; ``TASK@OBJECTIVE`` is one objective of a task."""
    base, objective = split_task_name(name)
    if objective is not None:
        from hpbench.tasks.multiobjective import ObjectiveView

        return ObjectiveView(get_task(base), objective)
    _load_plugins()
    if name in _extra_tasks:
        obj = _resolve(_extra_tasks[name])
        task = obj() if not isinstance(obj, Task) else obj
    elif name in _BUILTIN_TASKS:
        target, kwargs = _BUILTIN_TASKS[name]
        task = _import(target)(**kwargs)
    else:
        raise _unknown("task", name, task_names())
    if not isinstance(task, Task):
        raise TypeError(f"task {name!r}: factory returned {type(task).__name__}, not a Task")
    task.name = name
    return task


def get_searcher_class(name: str) -> type[Searcher]:
    _load_plugins()
    if name in _extra_searchers:
        cls = _resolve(_extra_searchers[name])
    elif name in _BUILTIN_SEARCHERS:
        cls = _import(_BUILTIN_SEARCHERS[name])
    else:
        raise _unknown("searcher", name, searcher_names())
    if not (isinstance(cls, type) and issubclass(cls, Searcher)):
        raise TypeError(f"searcher {name!r}: entry is {cls!r}, not a Searcher subclass")
    return cls


def check_searcher_params(name: str, params: dict[str, Any]) -> None:
    """Refuse parameter names the searcher does not take, with a did-you-mean."""
    cls = get_searcher_class(name)
    known = cls.param_names()
    for key in params:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else f" (takes: {', '.join(known) or 'none'})"
            raise ValueError(f"searcher {name!r}: unknown parameter {key!r}{extra}")


def make_searcher(
    name: str,
    *,
    space: SearchSpace,
    fidelity: Fidelity | None = None,
    seed: int = 0,
    n_objectives: int = 1,
    **params: Any,
) -> Searcher:
    """Build the searcher registered as ``name`` with its parameters.

    ``n_objectives`` (the task's) reaches only searchers that take several objectives
    (``multi_objective = True``); any other searcher optimises the first objective.
    """
    check_searcher_params(name, params)
    cls = get_searcher_class(name)
    if cls.multi_objective:
        params = {**params, "n_objectives": n_objectives}
    return cls(space=space, fidelity=fidelity, seed=seed, **params)
