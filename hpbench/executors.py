"""Where trials run: in the driver process, in a local process pool, or on Dask.

All three look the same to the runner: ``submit(job) -> concurrent.futures.Future``
of a ``TrialOutcome``. Workers never touch the store; they evaluate and return.

Trial timeouts are enforced inside the worker with ``SIGALRM`` (the evaluation is
interrupted at the next Python bytecode), and by the runner as a backstop for code
that never returns to Python.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import multiprocessing as mp
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hpbench.tasks.base import Task

__all__ = [
    "TrialJob",
    "TrialOutcome",
    "Executor",
    "InProcessExecutor",
    "ProcessPoolExecutor",
    "DaskExecutor",
    "make_executor",
    "limit_threads",
    "WorkerDied",
]

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS")


class WorkerDied(RuntimeError):
    """The process evaluating a trial died (killed, out of memory)."""


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs to evaluate one trial (picklable)."""

    task: str | Task  # a registry name (rebuilt and cached in the worker) or a Task object
    config: Mapping[str, Any]
    budget: float | None
    seed: int
    checkpoint: bytes | None = None
    timeout: float | None = None
    queued: float = field(default_factory=time.time)


@dataclass(frozen=True)
class TrialOutcome:
    """What came back: ``status`` is "ok", "failed" or "timeout"."""

    status: str
    objective: float | None
    cost: float | None
    metrics: Mapping[str, Any]
    checkpoint: bytes | None
    error: str | None
    started: float
    finished: float
    worker: str


def limit_threads() -> None:
    """One thread per worker process, so parallel trials don't fight over the cores."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    try:  # only if the task already imported it; importing torch here would cost seconds
        import sys

        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(1)
    except Exception:  # noqa: BLE001 - best effort
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # noqa: BLE001
        pass


_task_cache: dict[str, Task] = {}


def _resolve_task(ref: str | Task) -> Task:
    if isinstance(ref, Task):
        return ref
    if ref not in _task_cache:
        from hpbench.registry import get_task

        _task_cache[ref] = get_task(ref)
    return _task_cache[ref]


class _Timeout(BaseException):
    """Raised by SIGALRM inside an evaluation; a BaseException so task code can't swallow it."""


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def evaluate_trial(job: TrialJob) -> TrialOutcome:
    """Run one evaluation, turning every failure into an outcome (never raises)."""
    started = time.time()
    use_alarm = (
        job.timeout is not None
        and hasattr(signal, "SIGALRM")
        and threading.current_thread() is threading.main_thread()
    )
    old_handler = None
    try:
        task = _resolve_task(job.task)
        if use_alarm:
            def _on_alarm(signum: int, frame: Any) -> None:
                raise _Timeout()

            old_handler = signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, float(job.timeout))  # type: ignore[arg-type]
        try:
            ev = task.evaluate(job.config, budget=job.budget, seed=job.seed, checkpoint=job.checkpoint)
        finally:
            if use_alarm:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, old_handler)
        obj = float(ev.objective)
        if not math.isfinite(obj):
            return TrialOutcome("failed", None, ev.cost, dict(ev.metrics), None,
                                f"objective is {obj!r} (not finite)", started, time.time(), _worker_name())
        return TrialOutcome("ok", obj, ev.cost, dict(ev.metrics), ev.checkpoint, None, started, time.time(),
                            _worker_name())
    except _Timeout:
        return TrialOutcome("timeout", None, None, {}, None, f"trial exceeded the timeout of {job.timeout} s",
                            started, time.time(), _worker_name())
    except Exception as exc:  # noqa: BLE001 - a failing trial must not stop the run
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return TrialOutcome("failed", None, None, {}, None, tb[:2000], started, time.time(), _worker_name())


class Executor(Protocol):
    workers: int

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]: ...

    def restart(self) -> None: ...

    def shutdown(self, *, cancel: bool = False) -> None: ...


class InProcessExecutor:
    """Evaluates in the driver, at once; for debugging and for trials that take microseconds."""

    workers = 1

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]:
        fut: cf.Future[TrialOutcome] = cf.Future()
        fut.set_result(evaluate_trial(job))
        return fut

    def restart(self) -> None:
        pass

    def shutdown(self, *, cancel: bool = False) -> None:
        pass


def _init_worker() -> None:
    limit_threads()
    # Ctrl-C goes to the whole process group: let the driver decide, not the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class ProcessPoolExecutor:
    """A local pool of ``workers`` spawned processes, one thread each."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.workers, mp_context=mp.get_context("spawn"), initializer=_init_worker
        )

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]:
        return self._pool.submit(evaluate_trial, job)

    def restart(self) -> None:
        """Replace the pool after a worker died (all its futures fail with BrokenProcessPool)."""
        self._kill()
        self._pool = self._new_pool()

    def _kill(self) -> None:
        procs = list(getattr(self._pool, "_processes", {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.kill()
        for p in procs:
            p.join(timeout=5)

    def shutdown(self, *, cancel: bool = False) -> None:
        if cancel:
            self._kill()
        else:
            self._pool.shutdown(wait=True)


class DaskExecutor:
    """Trials as Dask futures on a running scheduler or on a LocalCluster started for the run.

    Args:
        address: ``tcp://host:8786`` for a running scheduler, or ``local:N`` for a
            LocalCluster of N single-threaded worker processes.
        connect_timeout: seconds to wait for the scheduler before a clear error.
    """

    def __init__(self, address: str, *, connect_timeout: float = 5.0) -> None:
        import dask
        from distributed import Client, LocalCluster

        # A trial whose worker dies is retried once elsewhere, then fails (KilledWorker).
        dask.config.set({"distributed.scheduler.allowed-failures": 1})
        self.address = address
        self._cluster = None
        if address.startswith("local:"):
            n = parse_local_workers(address)
            self._cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                silence_logs=40, env={v: "1" for v in _THREAD_VARS},
            )
            self.client = Client(self._cluster, timeout=connect_timeout)
            self.workers = n
        else:
            try:
                self.client = Client(address, timeout=connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise ValueError(f"--dask: cannot reach the Dask scheduler at {address!r} ({exc})") from None
            self.workers = max(1, sum(self.client.nthreads().values()))
        self.client.run(limit_threads)

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]:
        fut = self.client.submit(evaluate_trial, job, pure=False)
        out: cf.Future[TrialOutcome] = cf.Future()

        def _done(f: Any) -> None:
            if out.done():
                return
            try:
                out.set_result(f.result())
            except Exception as exc:  # noqa: BLE001 - KilledWorker, CancelledError...
                name = type(exc).__name__
                out.set_exception(WorkerDied(f"{name}: {exc}") if name == "KilledWorker" else exc)

        fut.add_done_callback(_done)
        out._dask_future = fut  # type: ignore[attr-defined]  # keep it alive
        return out

    def restart(self) -> None:
        pass

    def shutdown(self, *, cancel: bool = False) -> None:
        try:
            self.client.close(timeout=10)
        finally:
            if self._cluster is not None:
                self._cluster.close(timeout=10)


def parse_local_workers(address: str) -> int:
    n = address.split(":", 1)[1]
    if not n.isdigit() or int(n) < 1:
        raise ValueError(f"--dask: rule 'local:N with N >= 1' broken, got {address!r}")
    return int(n)


def make_executor(*, workers: int = 1, dask: str | None = None) -> Executor:
    """``dask`` wins over ``workers``; ``workers=0`` means in-process."""
    if dask:
        return DaskExecutor(dask)
    if workers <= 0:
        return InProcessExecutor()
    return ProcessPoolExecutor(workers)
