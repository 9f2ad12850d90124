"""Where trials run: in the driver process, in a local process pool, or on Dask.

All look the same to the runner (the ``Executor`` protocol in ``base``): ``submit(job)``
returns a ``concurrent.futures.Future`` of a ``TrialOutcome``, ``wait`` says which are
done, and ``capabilities`` says what else the executor can do. Workers never touch the
store; they evaluate and return.

Modules: ``base`` (the protocol, jobs, outcomes, errors), ``evaluate`` (one trial, with
its deadline), ``inline`` (in the driver), ``pool`` (local processes and their worker
protocol), ``dask_cluster`` (Dask), ``virtual`` (N simulated workers on a virtual clock),
``choice`` (which one a run gets).
"""

from __future__ import annotations

from hpbench.executors.base import (
    Capabilities,
    Executor,
    ExecutorBroken,
    RealTimeExecutor,
    TrialJob,
    TrialOutcome,
    WorkerDied,
)
from hpbench.executors.choice import make_executor
from hpbench.executors.dask_cluster import DaskExecutor
from hpbench.executors.evaluate import evaluate_trial
from hpbench.executors.inline import InProcessExecutor
from hpbench.executors.pool import WorkerPool
from hpbench.executors.virtual import VirtualClockExecutor
from hpbench.threads import limit_process_threads

__all__ = [
    "TrialJob",
    "TrialOutcome",
    "Capabilities",
    "Executor",
    "InProcessExecutor",
    "WorkerPool",
    "VirtualClockExecutor",
    "DaskExecutor",
    "make_executor",
    "evaluate_trial",
    "RealTimeExecutor",
    "WorkerDied",
    "ExecutorBroken",
    "limit_process_threads",
]
