"""Evaluation in the driver process, at once: for instant tasks, debugging and simulation."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Collection

from hpbench.executors.base import Capabilities, TrialJob, TrialOutcome
from hpbench.executors.evaluate import evaluate_trial

__all__ = ["InProcessExecutor"]


class InProcessExecutor:
    """Evaluates in the driver, at once; for debugging and for trials that take microseconds.

    A trial timeout interrupts Python code only: a task stuck in native code, or one that
    swallows ``BaseException``, cannot be stopped here (use worker processes for those).
    """

    workers = 1
    capabilities = Capabilities(in_driver=True, prefetch=False)

    def evaluate(self, job: TrialJob) -> TrialOutcome:
        return evaluate_trial(job)

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]:
        fut: cf.Future[TrialOutcome] = cf.Future()
        fut.set_result(evaluate_trial(job))
        return fut

    def wait(
        self, pending: Collection[cf.Future[TrialOutcome]], timeout: float
    ) -> set[cf.Future[TrialOutcome]]:
        return {f for f in pending if f.done()}

    def running_since(self, fut: cf.Future[TrialOutcome]) -> float | None:
        return None

    def abandon(self, fut: cf.Future[TrialOutcome]) -> None:
        pass

    def shutdown(self, *, cancel: bool = False) -> None:
        pass
