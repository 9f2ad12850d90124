"""hpbench: benchmark hyperparameter searchers fairly.

Example:
    >>> import hpbench as hb
    >>> res = hb.benchmark(tasks=["branin"], searchers=["random"], seeds=2, max_evals=10,
    ...                    store=":memory:")  # doctest: +SKIP
"""

from hpbench.searchers.base import Searcher
from hpbench.space import Categorical, Fidelity, Float, Int, SearchSpace
from hpbench.tasks.base import FunctionTask, Task, task
from hpbench.trial import Evaluation, Suggestion, TrialRecord, TrialStatus

__version__ = "0.1.0"

__all__ = [
    "Float",
    "Int",
    "Categorical",
    "SearchSpace",
    "Fidelity",
    "Suggestion",
    "Evaluation",
    "TrialRecord",
    "TrialStatus",
    "Searcher",
    "Task",
    "FunctionTask",
    "task",
    "__version__",
]

from hpbench.budget import Budget  # noqa: E402
from hpbench.experiment import ExperimentResult, benchmark  # noqa: E402
from hpbench.results.store import load_results, load_runs  # noqa: E402
from hpbench.runner import run_search  # noqa: E402

__all__ += ["Budget", "benchmark", "ExperimentResult", "load_results", "load_runs", "run_search"]
