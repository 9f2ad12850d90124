"""hpbench: benchmark hyperparameter searchers fairly.

Example:
    >>> import hpbench as hb
    >>> res = hb.benchmark(["branin"], ["random", "gp-ei"], seeds=2, max_evals=20,
    ...                    store="results/demo.db")  # doctest: +SKIP
    >>> res.trials.groupby("searcher").objective.min()  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from hpbench.budget import Budget
from hpbench.objectives import Objective
from hpbench.searchers.base import Searcher
from hpbench.space import Categorical, Fidelity, Float, Int, SearchSpace
from hpbench.tasks.base import FunctionTask, Task, task
from hpbench.trial import Evaluation, Suggestion, TrialRecord, TrialStatus

__version__ = "0.1.0"

# Imported on first use: they pull in pandas and sqlite, which worker processes never need.
_LAZY = {
    "benchmark": "hpbench.experiment",
    "ExperimentResult": "hpbench.experiment",
    "load_results": "hpbench.results.store",
    "load_runs": "hpbench.results.store",
    "run_search": "hpbench.runner",
    "analyse": "hpbench.results.verdict",
    "Analysis": "hpbench.results.verdict",
    "SurrogateTask": "hpbench.surrogate.task",
    "Recording": "hpbench.surrogate.recording",
    "record": "hpbench.surrogate.record",
}

__all__ = [
    "Float",
    "Int",
    "Categorical",
    "SearchSpace",
    "Fidelity",
    "Objective",
    "Suggestion",
    "Evaluation",
    "TrialRecord",
    "TrialStatus",
    "Searcher",
    "Task",
    "FunctionTask",
    "task",
    "Budget",
    "benchmark",
    "ExperimentResult",
    "load_results",
    "load_runs",
    "run_search",
    "analyse",
    "Analysis",
    "SurrogateTask",
    "Recording",
    "record",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hpbench' has no attribute {name!r}")
