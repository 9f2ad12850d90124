"""Where trials run: in the driver process, in a local process pool, or on Dask.

All three look the same to the runner: ``submit(job) -> concurrent.futures.Future``
of a ``TrialOutcome``. Workers never touch the store; they evaluate and return.

Failure model:

- A trial's own errors (exceptions, NaN/inf objectives, timeouts) become a
  ``TrialOutcome`` with status ``failed`` or ``timeout``; the future never raises for them.
- A worker *process* that dies (SIGKILL, out of memory, a crash in native code) makes
  exactly the future of the trial it was running raise ``WorkerDied``; the other
  trials keep running and the runner decides whether to retry.

Trial timeouts are enforced inside the worker: with ``SIGALRM`` in a process's main
thread, with an asynchronous exception in other threads (Dask worker threads); both
interrupt the evaluation at the next Python bytecode. Code stuck in native code never
reaches one, so the runner also has a backstop that calls ``Executor.abandon``.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import ctypes
import math
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import signal
import socket
import sys
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
    "evaluate_trial",
    "WorkerDied",
    "ExecutorBroken",
]

_USER_TRIM = os.environ.get("MALLOC_TRIM_THRESHOLD_")  # before any LocalCluster changed it
_THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


class WorkerDied(RuntimeError):
    """The process evaluating a trial died (killed, out of memory)."""


class ExecutorBroken(ValueError):
    """Worker processes cannot start (e.g. a script that spawns them lacks ``if __name__ == "__main__"``).

    A ``ValueError`` because the user must fix the environment; the CLI prints one line.
    """


@dataclass(frozen=True)
class TrialJob:
    """Everything a worker needs to evaluate one trial (picklable).

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
    objectives: Mapping[str, float] | None = None  # multi-objective tasks: name -> value


def limit_threads() -> None:
    """One thread per worker process, so parallel trials don't fight over the cores."""
    for var in _THREAD_VARS:
        os.environ[var] = "1"
    try:  # only if the task already imported it; importing torch here would cost seconds
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
    if not isinstance(ref, str):
        return ref
    if ref not in _task_cache:
        from hpbench.registry import get_task

        _task_cache[ref] = get_task(ref)
    return _task_cache[ref]


class _Timeout(BaseException):
    """Raised inside an evaluation at its deadline; a BaseException so task code can't swallow it."""


_NAME: str | None = None


def _forget_name() -> None:
    global _NAME
    _NAME = None


os.register_at_fork(after_in_child=_forget_name)


def _worker_name() -> str:
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

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._done = False
        self._timer: threading.Timer | None = None
        self._old: Any = None
        self._alarm = False

    def __enter__(self) -> _Deadline:
        if self.seconds is None:
            return self
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGALRM"):

            def _on_alarm(signum: int, frame: Any) -> None:
                raise _Timeout()

            self._alarm = True
            self._old = signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, float(self.seconds))
        else:
            ident = threading.get_ident()

            def _fire() -> None:
                with self._lock:
                    if not self._done:
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


def evaluate_trial(job: TrialJob) -> TrialOutcome:
    """Run one evaluation, turning every failure into an outcome (never raises)."""
    started = time.time()
    worker = _worker_name()
    try:
        task = _resolve_task(job.task)
        # No timer, signal handler or lock when there is no timeout (the usual, hot case).
        with contextlib.nullcontext() if job.timeout is None else _Deadline(job.timeout):
            ev = task.evaluate(job.config, budget=job.budget, seed=job.seed, checkpoint=job.checkpoint)
        obj = float(ev.objective)
        bad = _not_finite(obj, ev.objectives)
        if bad is not None:
            return TrialOutcome(
                "failed",
                None,
                ev.cost,
                dict(ev.metrics),
                None,
                bad,
                started,
                time.time(),
                worker,
                ev.objectives,
            )
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
            ev.objectives,
        )
    except _Timeout:
        msg = f"trial exceeded the timeout of {job.timeout} s"
        return TrialOutcome("timeout", None, None, {}, None, msg, started, time.time(), worker)
    except Exception as exc:  # noqa: BLE001 - a failing trial must not stop the run
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return TrialOutcome("failed", None, None, {}, None, tb[:2000], started, time.time(), worker)


def _not_finite(objective: float, objectives: Mapping[str, float] | None) -> str | None:
    """Why a trial fails on its values (a non-finite objective, or any of several), or ``None``."""
    if not math.isfinite(objective):
        return f"objective is {objective!r} (not finite)"
    for name, v in (objectives or {}).items():
        if not math.isfinite(v):
            return f"objective {name!r} is {v!r} (not finite)"
    return None


class Executor(Protocol):
    """What the runner needs from an executor."""

    workers: int

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]: ...

    def running_since(self, fut: cf.Future[TrialOutcome]) -> float | None: ...

    def abandon(self, fut: cf.Future[TrialOutcome]) -> None: ...

    def shutdown(self, *, cancel: bool = False) -> None: ...


class InProcessExecutor:
    """Evaluates in the driver, at once; for debugging and for trials that take microseconds."""

    workers = 1

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]:
        fut: cf.Future[TrialOutcome] = cf.Future()
        fut.set_result(evaluate_trial(job))
        return fut

    def running_since(self, fut: cf.Future[TrialOutcome]) -> float | None:
        return None

    def abandon(self, fut: cf.Future[TrialOutcome]) -> None:
        pass

    def shutdown(self, *, cancel: bool = False) -> None:
        pass


# --------------------------------------------------------------------------- process pool
def _init_worker() -> None:
    limit_threads()
    # Ctrl-C goes to the whole process group: let the driver decide, not the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_main(conn: mpc.Connection) -> None:
    """Loop of one pool process: receive a job, evaluate, send the outcome; stop at EOF or None."""
    _init_worker()
    conn.send("ready")  # start-up (imports) is done: from now on, time counts against trials
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if job is None:
            return
        try:
            conn.send(evaluate_trial(job))
        except (BrokenPipeError, OSError):
            return


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        # OpenMP/BLAS read these once, when loaded: the child must have them from birth.
        saved = {v: os.environ.get(v) for v in _THREAD_VARS}
        os.environ.update({v: "1" for v in _THREAD_VARS})
        try:
            self.proc.start()
        finally:
            for v, old in saved.items():
                if old is None:
                    os.environ.pop(v, None)
                else:
                    os.environ[v] = old
        child.close()
        self.name = f"{socket.gethostname()}:{self.proc.pid}"
        self.ready_at: float | None = None


class ProcessPoolExecutor:
    """A local pool of ``workers`` spawned processes, one thread each.

    Unlike ``concurrent.futures.ProcessPoolExecutor``, which breaks as a whole when one
    process dies, each job is sent to one known process: if that process dies, only
    its trial fails (``WorkerDied``) and a fresh process takes its place.
    """

    def __init__(self, workers: int) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers: rule 'integer >= 1' broken, got {workers!r}")
        self.workers = workers
        self._ctx = mp.get_context("spawn")
        self._lock = threading.RLock()
        self._queue: collections.deque[tuple[cf.Future[TrialOutcome], TrialJob]] = collections.deque()
        self._all: list[_Worker] = [_Worker(self._ctx) for _ in range(workers)]
        self._idle: list[_Worker] = list(self._all)
        self._busy: dict[_Worker, tuple[cf.Future[TrialOutcome], float]] = {}
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._closed = False
        self._woken = False
        self._startup_deaths = 0
        self._broken: ExecutorBroken | None = None
        self._thread = threading.Thread(target=self._loop, name="hpbench-pool", daemon=True)
        self._thread.start()

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]:
        fut: cf.Future[TrialOutcome] = cf.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("process pool is shut down")
            if self._broken is not None:
                raise self._broken
            self._queue.append((fut, job))
            self._dispatch()
            if not self._woken:  # the loop must start watching the newly busy worker
                self._woken = True
                self._wake_w.send(None)
        return fut

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (for tests and diagnostics)."""
        with self._lock:
            return [w.proc.pid for w in self._all if w.proc.pid is not None]

    def running_since(self, fut: cf.Future[TrialOutcome]) -> float | None:
        """When the trial started running; a worker still starting up counts as starting now."""
        with self._lock:
            for w, (f, since) in self._busy.items():
                if f is fut:
                    return time.time() if w.ready_at is None else max(since, w.ready_at)
        return None

    def abandon(self, fut: cf.Future[TrialOutcome]) -> None:
        """Stop the trial behind ``fut``: drop it from the queue, or kill its process."""
        with self._lock:
            for item in list(self._queue):
                if item[0] is fut:
                    self._queue.remove(item)
                    fut.cancel()
                    return
            for w, (f, _) in self._busy.items():
                if f is fut:
                    w.proc.kill()  # the loop notices the death, replaces the process
                    return

    # The lock is held by the caller.
    def _dispatch(self) -> None:
        while self._queue and self._idle:
            fut, job = self._queue.popleft()
            if fut.cancelled():
                continue
            w = self._idle.pop()
            try:
                w.conn.send(job)
            except (OSError, EOFError):  # the process died while idle: the loop replaces it
                self._queue.appendleft((fut, job))
                continue
            except Exception as exc:  # noqa: BLE001 - pickling; the pipe is untouched, the worker fine
                self._idle.append(w)
                if fut.set_running_or_notify_cancel():
                    fut.set_exception(exc)
                continue
            fut.set_running_or_notify_cancel()  # if cancelled meanwhile, its outcome is dropped
            self._busy[w] = (fut, time.time())

    def _loop(self) -> None:
        while True:
            with self._lock:
                if self._closed:
                    return
                conns = {w.conn: w for w in self._all if w in self._busy or w.ready_at is None}
                sentinels = {w.proc.sentinel: w for w in self._all}
            ready = mpc.wait([*conns, *sentinels, self._wake_r], timeout=1.0)
            with self._lock:
                if self._closed:
                    return
                dead: list[_Worker] = []
                for obj in ready:
                    if obj is self._wake_r:
                        try:
                            while self._wake_r.poll():
                                self._wake_r.recv()
                        except (EOFError, OSError):
                            return
                        self._woken = False
                    elif obj in conns:
                        w = conns[obj]
                        try:
                            out = w.conn.recv()
                        except (EOFError, OSError):
                            dead.append(w)
                            continue
                        if isinstance(out, str):  # "ready"
                            w.ready_at = time.time()
                            continue
                        fut, _ = self._busy.pop(w)
                        self._startup_deaths = 0
                        self._idle.append(w)
                        if not fut.done():
                            fut.set_result(out)
                    elif sentinels[obj] not in dead:
                        dead.append(sentinels[obj])
                for w in dead:
                    self._replace(w)
                self._dispatch()

    # The lock is held by the caller.
    def _replace(self, w: _Worker) -> None:
        if w not in self._all:
            return
        w.proc.join(timeout=1)
        code = w.proc.exitcode
        self._all.remove(w)
        if w in self._idle:
            self._idle.remove(w)
        item = self._busy.pop(w, None)
        w.conn.close()
        if item is not None and not item[0].done():
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            item[0].set_exception(WorkerDied(f"worker process {w.name} died ({how}) while running the trial"))
        if w.ready_at is None:
            self._startup_deaths += 1
        if self._startup_deaths > 2 * self.workers:
            # Processes die before taking any work: respawning forever would not help.
            self._broken = ExecutorBroken(
                f"worker processes die at start-up (exit code {code}); a script that runs hpbench with "
                'workers must guard its entry point with `if __name__ == "__main__":`'
            )
            for f in [f for f, _ in self._queue] + [f for f, _ in self._busy.values()]:
                if not f.done():
                    f.set_exception(self._broken)
            self._queue.clear()
            return
        nw = _Worker(self._ctx)
        self._all.append(nw)
        self._idle.append(nw)

    def shutdown(self, *, cancel: bool = False) -> None:
        """Stop the workers; ``cancel=True`` kills them at once, failing the trials they run."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._all)
            pending = [f for f, _ in self._queue] + [f for f, _ in self._busy.values()]
            self._queue.clear()
        with contextlib.suppress(OSError):
            self._wake_w.send(None)
        self._thread.join(timeout=5)
        for w in workers:
            if cancel:
                w.proc.kill()
            else:
                with contextlib.suppress(OSError):
                    w.conn.send(None)
        for w in workers:
            w.proc.join(timeout=None if not cancel else 5)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=5)
            w.conn.close()
        for f in pending:
            if not f.done():
                f.cancel() or f.set_exception(cf.CancelledError())
        self._wake_r.close()
        self._wake_w.close()


# ----------------------------------------------------------------------------------- Dask
class DaskExecutor:
    """Trials as Dask futures on a running scheduler or on a LocalCluster started for the run.

    Args:
        address: ``tcp://host:8786`` for a running scheduler, or ``local:N`` for a
            LocalCluster of N single-threaded worker processes.
        connect_timeout: seconds to wait for the scheduler before a clear error.

    A task whose worker dies raises ``WorkerDied`` (the scheduler is told to allow no
    silent retries, so the runner decides and records the attempts).
    """

    def __init__(self, address: str, *, connect_timeout: float = 3.0) -> None:
        if not isinstance(address, str) or not (address.startswith("local:") or "://" in address):
            raise ValueError(f"--dask: rule 'tcp://HOST:PORT or local:N' broken, got {address!r}")
        import dask
        from distributed import Client, LocalCluster

        # For the LocalCluster (its scheduler lives in this process): no scheduler-side
        # retries, and at most one task per single-threaded worker, so a dying worker takes
        # exactly one trial with it. A remote scheduler uses its own configuration.
        # The workers' statistical profiler samples every thread's stack every 10 ms; on
        # busy single-threaded workers that costs trial time, and hpbench never reads it.
        dask.config.set(
            {
                "distributed.scheduler.allowed-failures": 0,
                "distributed.scheduler.worker-saturation": 1.0,
                "distributed.worker.profile.enabled": False,
                # Dask's default MALLOC_TRIM_THRESHOLD_=65536 makes glibc hand memory back
                # after every large free: gbdt-digits trials ran 2.6x slower with it
                # (measured in the process pool too). Workers get the user's setting instead.
                "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
            }
        )
        # An earlier LocalCluster in this process wrote dask's value into os.environ (the
        # nannies live here), and an existing variable wins over the config: undo that.
        if _USER_TRIM is None:
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        else:
            os.environ["MALLOC_TRIM_THRESHOLD_"] = _USER_TRIM
        self.address = address
        self._cluster: Any = None
        self._closed = False
        self._futures: dict[cf.Future[TrialOutcome], Any] = {}
        if address.startswith("local:"):
            n = parse_local_workers(address)
            self._cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=50,
                env={v: "1" for v in _THREAD_VARS},
            )
            self.client = Client(self._cluster, timeout=connect_timeout)
        else:
            try:
                self.client = Client(address, timeout=connect_timeout)
            except Exception as exc:  # noqa: BLE001 - refused, timed out, or something else answered
                msg = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
                raise ValueError(
                    f"--dask: cannot reach the Dask scheduler at {address!r} "
                    f"within {connect_timeout:g} s ({msg})"
                ) from None
        nthreads = self.client.nthreads()
        if not nthreads:
            self.shutdown()
            raise ValueError(
                f"--dask: the scheduler at {address!r} has no workers; start some with 'dask worker'"
            )
        self.workers = max(1, sum(nthreads.values()))
        self.client.run(limit_threads)

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]:
        dfut = self.client.submit(evaluate_trial, job, pure=False)
        out: cf.Future[TrialOutcome] = cf.Future()
        out.set_running_or_notify_cancel()
        self._futures[out] = dfut

        def _done(f: Any) -> None:
            if out.done():
                return
            try:
                out.set_result(f.result())
            except BaseException as exc:  # noqa: BLE001 - KilledWorker, CancelledError...
                name = type(exc).__name__
                if name == "KilledWorker":
                    out.set_exception(WorkerDied(f"Dask worker died while running the trial ({exc})"))
                else:
                    out.set_exception(exc)

        dfut.add_done_callback(_done)
        out.add_done_callback(lambda f: self._futures.pop(f, None))
        return out

    def running_since(self, fut: cf.Future[TrialOutcome]) -> float | None:
        return None

    def abandon(self, fut: cf.Future[TrialOutcome]) -> None:
        """Cancel the task; if it is stuck on a worker, restart that worker (best effort)."""
        dfut = self._futures.pop(fut, None)
        if dfut is None:
            return
        try:
            where = [w for w, keys in self.client.processing().items() if dfut.key in keys]
            self.client.cancel(dfut, force=True)
            if where:
                self.client.restart_workers(where, timeout=30, raise_for_error=False)
        except Exception:  # noqa: BLE001 - the trial is already recorded as timed out
            pass

    def shutdown(self, *, cancel: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if cancel and self._futures:
                self.client.cancel(list(self._futures.values()), force=True)
            self.client.close(timeout=10)
        except Exception:  # noqa: BLE001 - closing is best effort; the cluster still goes below
            pass
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
