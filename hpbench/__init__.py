"""hpbench: benchmark hyperparameter searchers fairly.

Every name below is imported on first use (PEP 562), so ``hpbench --help`` and worker
processes pay only for what they touch (numpy for spaces, pandas for results).

Example:
    >>> import hpbench as hb
    >>> res = hb.benchmark(["branin"], ["random", "gp-ei"], seeds=2, max_evals=20,
    ...                    store="results/demo.db")  # doctest: +SKIP
    >>> res.trials.groupby("searcher").objective.min()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Float": "hpbench.space",
    "Int": "hpbench.space",
    "Categorical": "hpbench.space",
    "SearchSpace": "hpbench.space",
    "Fidelity": "hpbench.space",
    "Objective": "hpbench.objectives",
    "Suggestion": "hpbench.trial",
    "Evaluation": "hpbench.trial",
    "TrialRecord": "hpbench.trial",
    "TrialStatus": "hpbench.trial",
    "Searcher": "hpbench.searchers.base",
    "Task": "hpbench.tasks.base",
    "FunctionTask": "hpbench.tasks.base",
    "task": "hpbench.tasks.base",
    "Budget": "hpbench.budget",
    "benchmark": "hpbench.experiment",
    "ExperimentResult": "hpbench.experiment",
    "TrialEvent": "hpbench.experiment",
    "load_results": "hpbench.results.store",
    "load_runs": "hpbench.results.store",
    "run_search": "hpbench.api",
    "register_task": "hpbench.registry",
    "register_searcher": "hpbench.registry",
    "analyse": "hpbench.results.verdict",
    "Analysis": "hpbench.results.verdict",
    "SurrogateTask": "hpbench.surrogate.task",
    "Recording": "hpbench.surrogate.recording",
    "record": "hpbench.surrogate.record",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hpbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
