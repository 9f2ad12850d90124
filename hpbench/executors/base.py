"""What the runner needs from an executor, and what flows between them.

Failure model:

- A trial's own errors (exceptions, NaN/inf objectives, timeouts) become a
  ``TrialOutcome`` with status ``failed`` or ``timeout``; the future never raises for them.
- A worker *process* that dies (SIGKILL, out of memory, a crash in native code) makes
  exactly the future of the trial it was running raise ``WorkerDied``; the other
  trials keep running and the runner decides whether to retry.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hpbench.tasks.base import Task

__all__ = [
    "TrialJob",
    "TrialOutcome",
    "Capabilities",
    "Executor",
    "WorkerDied",
    "ExecutorBroken",
    "RealTimeExecutor",
]


class WorkerDied(RuntimeError):
    """The process evaluating a trial died (killed, out of memory)."""


class ExecutorBroken(ValueError):
    """Worker processes cannot start (e.g. a script that spawns them lacks ``if __name__ == "__main__"``).

    A ``ValueError`` because the user must fix the environment; the CLI prints one line.
    """


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs to evaluate one trial (picklable).

    ``budget`` is the fidelity level to train to (``None`` without a fidelity);
    ``queued`` is when the job was handed to the executor (set again on a retry).
    """

    task: str | Task  # a registry name (rebuilt and cached in the worker) or a Task object
    config: Mapping[str, Any]
    budget: float | None
    seed: int
    checkpoint: bytes | None = None
    timeout: float | None = None
    queued: float = field(default_factory=time.time)


@dataclass(frozen=True)
class TrialOutcome:
    """What came back: ``status`` is "ok", "failed" or "timeout".

    ``seconds`` is the compute time the evaluation stands for when it is not
    ``finished - started`` (``Evaluation.seconds`` of a surrogate task), else ``None``.
    """

    status: str
    objective: float | None
    cost: float | None
    metrics: Mapping[str, Any]
    checkpoint: bytes | None
    error: str | None
    started: float
    finished: float
    worker: str
    seconds: float | None = None


@dataclass(frozen=True)
class Capabilities:
    """What an executor can do; the runner and the experiment read these, never the class.

    Attributes:
        in_driver: trials are evaluated in the driver process, synchronously, by
            ``Executor.evaluate`` (no futures, nothing queued ahead).
        prefetch: a queued job per worker on top of the running ones hides the
            driver's own latency (commit, tell, ask) from the workers.
        pickles_tasks: tasks reach the workers through ``pickle`` (so a task object must
            pickle by reference; checked before anything is written).
        local_processes: worker processes that share this machine's cores with the
            driver (the driver's own numerics then get one thread).
        virtual_time: outcomes carry simulated start and end times and ``wait`` returns
            futures in simulated-time order (the virtual clock); a run's time budget then
            counts those times only, not the searcher's own ask/tell time.
    """

    in_driver: bool = False
    prefetch: bool = True
    pickles_tasks: bool = False
    local_processes: int = 0
    virtual_time: bool = False


class Executor(Protocol):
    """Where trials run: in the driver, in a local process pool, on Dask.

    ``workers`` is how many trials can run at once.
    """

    workers: int
    capabilities: Capabilities

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]: ...

    def evaluate(self, job: TrialJob) -> TrialOutcome:
        """Evaluate at once in this process (executors with ``capabilities.in_driver``)."""
        ...

    def wait(
        self, pending: Collection[cf.Future[TrialOutcome]], timeout: float
    ) -> set[cf.Future[TrialOutcome]]:
        """The futures of ``pending`` that are done, waiting up to ``timeout`` s for the first."""
        ...

    def running_since(self, fut: cf.Future[TrialOutcome]) -> float | None: ...

    def abandon(self, fut: cf.Future[TrialOutcome]) -> None: ...

    def shutdown(self, *, cancel: bool = False) -> None: ...


class RealTimeExecutor:
    """What executors whose futures finish in real time share: ``evaluate`` and ``wait``."""

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]:
        raise NotImplementedError

    def evaluate(self, job: TrialJob) -> TrialOutcome:
        return self.submit(job).result()

    def wait(
        self, pending: Collection[cf.Future[TrialOutcome]], timeout: float
    ) -> set[cf.Future[TrialOutcome]]:
        done, _ = cf.wait(list(pending), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return done
