"""A virtual clock: N simulated workers, trials evaluated in the driver, time simulated.

``submit`` evaluates the job at once in this process (surrogate tasks take microseconds)
and schedules it on the simulated worker that is free: it starts at the clock's current
time (the driver submits only when a worker is free) and ends ``Evaluation.seconds``
later (the measured time for tasks that report none). The future stays pending until
``wait`` pops the earliest end (ties by submission order), advances the clock to it and
completes it, so the searcher is told in simulated-time order, exactly as on N machines.

Times are seconds from ``EPOCH`` (0.0), and the workers are named ``virtual-0`` ...:
no real time enters a trial's record, so the same seed gives the same stored trials on
any machine (for tasks that report ``seconds``; others contribute their measured time).
A trial timeout is simulated too: a trial longer than it ends as ``timeout`` at its
start plus the timeout.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import heapq
import time
from collections.abc import Collection

from hpbench.checks import is_integer
from hpbench.executors.base import Capabilities, TrialJob, TrialOutcome
from hpbench.executors.evaluate import evaluate_trial

__all__ = ["VirtualClockExecutor", "EPOCH"]

EPOCH = 0.0  # simulated time of a run's start


def _duration(out: TrialOutcome) -> float:
    """The simulated seconds of a trial: the task's ``seconds``, else the measured time."""
    secs = out.seconds if out.seconds is not None else out.finished - out.started
    return max(0.0, float(secs))


class VirtualClockExecutor:
    """``workers`` simulated workers on one clock (one run at a time: see ``restart``).

    Args:
        workers: simulated workers (trials in flight at once), >= 1.
    """

    capabilities = Capabilities(prefetch=False, virtual_time=True)

    def __init__(self, workers: int) -> None:
        if not is_integer(workers):
            raise TypeError(f"virtual_workers: must be an integer, got {workers!r}")
        if workers < 1:
            raise ValueError(f"virtual_workers: rule 'virtual_workers >= 1' broken, got {workers!r}")
        self.workers = int(workers)
        self.restart()

    def restart(self, at: float = EPOCH) -> None:
        """A fresh clock at ``at`` with every worker free (nothing may be in flight)."""
        if getattr(self, "_events", None):
            raise RuntimeError("virtual clock: restart with trials in flight")
        self.now = float(at)
        self._free = list(range(self.workers))  # simulated workers with nothing to run
        self._events: list[tuple[float, int, int, cf.Future[TrialOutcome], TrialOutcome]] = []
        self._seq = 0

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]:
        if not self._free:
            raise RuntimeError(f"virtual clock: all {self.workers} simulated workers are busy")
        worker = min(self._free)
        self._free.remove(worker)
        out = evaluate_trial(job)
        start = self.now
        end = start + _duration(out)
        if job.timeout is not None and end - start > job.timeout:
            end = start + job.timeout
            msg = f"trial exceeded the timeout of {job.timeout} s (simulated)"
            out = TrialOutcome("timeout", None, None, {}, None, msg, start, end, "")
        out = dataclasses.replace(out, started=start, finished=end, worker=f"virtual-{worker}")
        fut: cf.Future[TrialOutcome] = cf.Future()
        heapq.heappush(self._events, (end, self._seq, worker, fut, out))
        self._seq += 1
        return fut

    def evaluate(self, job: TrialJob) -> TrialOutcome:
        fut = self.submit(job)
        self.wait({fut}, 0.0)
        return fut.result()

    def wait(
        self, pending: Collection[cf.Future[TrialOutcome]], timeout: float
    ) -> set[cf.Future[TrialOutcome]]:
        """The earliest simulated end among ``pending``: the clock moves to it (never waits)."""
        while self._events:
            end, _, worker, fut, out = heapq.heappop(self._events)
            self._free.append(worker)
            if fut in pending:
                self.now = max(self.now, end)
                fut.set_result(out)
                return {fut}
        return set()

    def running_since(self, fut: cf.Future[TrialOutcome]) -> float | None:
        return time.time()  # already evaluated: never hung in real time

    def abandon(self, fut: cf.Future[TrialOutcome]) -> None:
        fut.cancel()

    def shutdown(self, *, cancel: bool = False) -> None:
        for *_, fut, _ in self._events:
            fut.cancel()
        self._events.clear()
        self._free = list(range(self.workers))
