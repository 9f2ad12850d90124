"""One trial's evaluation, wherever it runs: deadline, outcome, never an exception.

Trial timeouts are enforced here, inside the worker: with ``SIGALRM`` in a process's main
thread, with an asynchronous exception in other threads (Dask worker threads); both
interrupt the evaluation at the next Python bytecode. Code stuck in native code never
reaches one, so the runner also has a backstop that calls ``Executor.abandon``.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import math
import os
import pickle
import signal
import socket
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

from hpbench.executors.base import TrialJob, TrialOutcome
from hpbench.tasks.base import Task

__all__ = ["evaluate_trial", "evaluate_in_worker", "evaluate_for_dask", "sendable", "worker_name"]

_task_cache: dict[str, Task] = {}
_prepared: set[tuple[type, str]] = set()  # (class, name) of the tasks prepared in this process


def _resolve_task(ref: str | Task) -> Task:
    """The task of a job, built (registry names) and prepared once per process."""
    if isinstance(ref, str):
        if ref not in _task_cache:
            from hpbench.registry import get_task

            _task_cache[ref] = get_task(ref)
        task = _task_cache[ref]
    else:
        task = ref
    key = (type(task), task.name)
    if key not in _prepared:
        task.prepare()
        _prepared.add(key)
    return task


class _Timeout(BaseException):
    """Raised inside an evaluation at its deadline; a BaseException, so ``except Exception`` in a task
    does not catch it. A task that catches it anyway (``except BaseException``) is still stored as
    timed out; in a worker process the runner's backstop kills one that never returns, but with
    ``--workers 0`` (the driver's own process) nothing can stop it."""


_NAME: str | None = None
_NO_DEADLINE = contextlib.nullcontext()  # stateless, so one instance serves every trial


def _forget_name() -> None:
    global _NAME
    _NAME = None


os.register_at_fork(after_in_child=_forget_name)


def worker_name() -> str:
    """host:pid, computed once per process (gethostname and getpid are system calls)."""
    global _NAME
    if _NAME is None:
        _NAME = f"{socket.gethostname()}:{os.getpid()}"
    return _NAME


class _Deadline:
    """Interrupt the calling thread with ``_Timeout`` after ``seconds``.

    The main thread uses ``SIGALRM``; any other thread gets an asynchronous exception
    (``PyThreadState_SetAsyncExc``), delivered at its next bytecode.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._done = False
        self._timer: threading.Timer | None = None
        self._old: Any = None
        self._alarm = False
        self.fired = False  # the deadline passed (even if the task caught _Timeout and went on)

    def __enter__(self) -> _Deadline:
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM"):

            def _on_alarm(signum: int, frame: Any) -> None:
                self.fired = True
                raise _Timeout()

            self._alarm = True
            self._old = signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, float(self.seconds))
        else:
            ident = threading.get_ident()

            def _fire() -> None:
                with self._lock:
                    if not self._done:
                        self.fired = True
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(ident), ctypes.py_object(_Timeout)
                        )

            self._timer = threading.Timer(float(self.seconds), _fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        if self._alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._old)
        if self._timer is not None:
            self._timer.cancel()


def _not_finite(objective: float, objectives: Mapping[str, float] | None) -> str | None:
    """Why a trial fails on its values (a non-finite objective, or any of several), or ``None``."""
    if not math.isfinite(objective):
        return f"objective is {objective!r} (not finite)"
    for name, v in (objectives or {}).items():
        if not math.isfinite(v):
            return f"objective {name!r} is {v!r} (not finite)"
    return None


def _crashed(exc: Exception, started: float, worker: str) -> TrialOutcome:
    tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return TrialOutcome("failed", None, None, {}, None, tb[:2000], started, time.time(), worker)


def evaluate_trial(job: TrialJob) -> TrialOutcome:
    """Run one evaluation, turning every failure into an outcome (never raises).

    The trial's clock (``started``) starts when ``evaluate`` does: building and preparing
    the task (imports, data loading) is the worker's start-up, not the trial's time.
    """
    worker = worker_name()
    try:
        task = _resolve_task(job.task)
    except Exception as exc:  # noqa: BLE001 - a task that cannot be built fails its trial
        return _crashed(exc, time.time(), worker)
    started = time.time()
    try:
        # No timer, signal handler or lock when there is no timeout (the usual, hot case).
        deadline = None if job.timeout is None else _Deadline(job.timeout)
        with deadline or _NO_DEADLINE:
            ev = task.evaluate(job.config, budget=job.budget, seed=job.seed, checkpoint=job.checkpoint)
        if deadline is not None and deadline.fired:  # it caught the timeout and returned anyway
            msg = f"trial exceeded the timeout of {job.timeout} s (the task caught the timeout and went on)"
            return TrialOutcome("timeout", None, None, {}, None, msg, started, time.time(), worker)
        obj = float(ev.objective)
        bad = _not_finite(obj, ev.objectives)
        if bad is not None:
            out = ("failed", None, ev.cost, dict(ev.metrics), None, bad, started, time.time(), worker)
            return TrialOutcome(*out, ev.seconds, ev.objectives)
        return TrialOutcome(
            "ok",
            obj,
            ev.cost,
            dict(ev.metrics),
            ev.checkpoint,
            None,
            started,
            time.time(),
            worker,
            ev.seconds,
            ev.objectives,
        )
    except _Timeout:
        msg = f"trial exceeded the timeout of {job.timeout} s"
        return TrialOutcome("timeout", None, None, {}, None, msg, started, time.time(), worker)
    except Exception as exc:  # noqa: BLE001 - a failing trial must not stop the run
        return _crashed(exc, started, worker)


def evaluate_in_worker(job: TrialJob) -> TrialOutcome:
    """``evaluate_trial`` in a worker process, where SIGINT is ignored: a ``KeyboardInterrupt``
    is the task's own, and fails its trial saying so instead of killing the worker."""
    started = time.time()
    try:
        return evaluate_trial(job)
    except KeyboardInterrupt as exc:
        why = (
            f"KeyboardInterrupt raised by the task ({exc})"
            if str(exc)
            else "KeyboardInterrupt raised by the task"
        )
        return TrialOutcome("failed", None, None, {}, None, why, started, time.time(), worker_name())


def evaluate_for_dask(job: TrialJob) -> TrialOutcome:
    """What a Dask worker runs: a metric that cannot be pickled would kill the result's transfer."""
    return sendable(evaluate_in_worker(job), whole=False)


def sendable(out: TrialOutcome, *, whole: bool = True) -> TrialOutcome:
    """``out`` without the metrics that cannot be pickled, the error saying which were dropped.

    ``whole=False``: check the metrics only (a checkpoint is bytes, the rest numbers), to
    spare pickling a large checkpoint twice.
    """
    try:
        pickle.dumps(out if whole else out.metrics)
        return out
    except Exception:  # noqa: BLE001 - any pickling failure means the same here
        pass
    kept, dropped = {}, []
    for k, v in out.metrics.items():
        try:
            pickle.dumps(v)
            kept[k] = v
        except Exception as exc:  # noqa: BLE001 - any pickling failure means the same here
            dropped.append(f"{k!r} ({type(exc).__name__})")
    note = f"metrics dropped (cannot be sent from the worker): {', '.join(dropped) or 'none'}"
    error = "; ".join(x for x in (out.error, note) if x)
    fixed = dataclasses.replace(out, metrics=kept, error=error)
    try:
        pickle.dumps(fixed)
        return fixed
    except Exception as exc:  # noqa: BLE001 - e.g. the checkpoint: the trial fails, with the cause
        msg = f"the outcome cannot be sent from the worker ({type(exc).__name__}: {exc})"[:2000]
        return TrialOutcome("failed", None, None, {}, None, msg, out.started, out.finished, out.worker)
