"""The ask -> evaluate -> tell loop over many runs at once.

One *run* is (task, searcher with its parameters, seed) under a ``Budget``. The
driver interleaves all runs of an experiment: each free worker slot takes the next
suggestion from the next run that has one, so whole runs and, for searchers that
allow it, several trials of one run are in flight at once. With ``trials_per_run=1``
every run is sequential and its trials depend only on its seed, never on the number
of workers.

Modules: ``state`` (one run: searcher, ledger, checkpoints, replay), ``driver`` (the
loop in named steps), ``virtual`` (runs on a virtual clock, one at a time). The
accounting is ``hpbench.budget.RunBudget``; the cache is ``hpbench.cache``.
"""

from __future__ import annotations

import numpy as np

from hpbench.budget import Budget
from hpbench.checks import check_trial_timeout
from hpbench.executors.base import Executor
from hpbench.executors.inline import InProcessExecutor
from hpbench.runner.driver import Driver, InFlight, drive
from hpbench.runner.state import RunState
from hpbench.runner.virtual import drive_virtual
from hpbench.searchers.base import Searcher
from hpbench.tasks.base import Task
from hpbench.trial import TrialRecord

__all__ = ["Budget", "RunState", "Driver", "InFlight", "run_search", "drive", "drive_virtual", "split_seed"]


def split_seed(seed: int) -> tuple[int, int]:
    """Independent (searcher seed, task seed) streams from one run seed."""
    a, b = np.random.SeedSequence(seed).spawn(2)
    return int(a.generate_state(1)[0]), int(b.generate_state(1)[0])


def run_search(
    task: Task,
    searcher: Searcher,
    *,
    budget: Budget,
    task_seed: int = 0,
    executor: Executor | None = None,
    trials_per_run: int = 1,
    trial_timeout: float | None = None,
) -> list[TrialRecord]:
    """Run one searcher on one task, in memory, and return its trials in completion order.

    Args:
        task: what to evaluate.
        searcher: what proposes (built on ``task.space`` and ``task.fidelity``).
        budget: the run's limits.
        task_seed: seed handed to every evaluation.
        executor: where trials run (default: in this process).
        trials_per_run: trials in flight at once.
        trial_timeout: seconds after which a trial is stopped.

    Returns:
        The trial records, in the order they finished.

    Example:
        >>> from hpbench.registry import get_task, make_searcher
        >>> task = get_task("branin")
        >>> s = make_searcher("random", space=task.space, seed=0)
        >>> len(run_search(task, s, budget=Budget(max_evals=5)))
        5
    """
    if searcher.needs_fidelity and task.fidelity is None:
        raise ValueError(f"{searcher.name}: needs a task with a fidelity, got {task.name!r}")
    check_trial_timeout(trial_timeout)
    run = RunState(task=task, searcher=searcher, budget=budget, task_seed=task_seed)
    drive([run], executor or InProcessExecutor(), trials_per_run=trials_per_run, trial_timeout=trial_timeout)
    return run.records
