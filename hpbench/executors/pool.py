"""A local pool of spawned worker processes, one thread each, and its worker protocol.

The protocol, over one duplex pipe per worker:

- driver -> worker: a ``TrialJob`` to evaluate, or ``Stop``;
- worker -> driver: ``Ready`` once, when start-up (imports, thread limits) is done, then
  one ``TrialOutcome`` per job.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import multiprocessing.connection as mpc
import signal
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Union

from hpbench.checks import is_integer
from hpbench.executors.base import (
    Capabilities,
    ExecutorBroken,
    RealTimeExecutor,
    TrialJob,
    TrialOutcome,
    WorkerDied,
)
from hpbench.executors.evaluate import evaluate_in_worker, sendable
from hpbench.threads import limit_process_threads, one_thread_environ

__all__ = ["WorkerPool", "Ready", "Stop"]


@dataclass(frozen=True)
class Ready:
    """Worker -> driver, once: start-up is done; from now on time counts against trials."""


@dataclass(frozen=True)
class Stop:
    """Driver -> worker: exit after the current job."""


ToWorker = Union[TrialJob, Stop]
FromWorker = Union[Ready, TrialOutcome]


def _worker_main(conn: mpc.Connection) -> None:
    """Loop of one pool process: receive a job, evaluate, send the outcome; stop at EOF or ``Stop``."""
    limit_process_threads()
    # Ctrl-C goes to the whole process group: let the driver decide, not the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send(Ready())
    while True:
        try:
            msg: ToWorker = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if isinstance(msg, Stop):
            return
        out = evaluate_in_worker(msg)
        try:
            conn.send(out)
        except (BrokenPipeError, OSError):
            return
        except Exception:  # noqa: BLE001 - the outcome does not pickle: the pipe is untouched
            conn.send(sendable(out))


class _Worker:
    def __init__(self, ctx: Any) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child,), daemon=True)
        with one_thread_environ():  # OpenMP/BLAS read these once: the child has them from birth
            self.proc.start()
        child.close()
        self.name = f"{socket.gethostname()}:{self.proc.pid}"
        self.ready_at: float | None = None


class WorkerPool(RealTimeExecutor):
    """A local pool of ``workers`` spawned processes, one thread each.

    Unlike ``concurrent.futures.ProcessPoolExecutor``, which breaks as a whole when one
    process dies, each job is sent to one known process: if that process dies, only
    its trial fails (``WorkerDied``) and a fresh process takes its place.
    """

    def __init__(self, workers: int) -> None:
        if not is_integer(workers) or workers < 1:
            raise ValueError(f"workers: rule 'integer >= 1' broken, got {workers!r}")
        self.workers = int(workers)
        self.capabilities = Capabilities(pickles_tasks=True, local_processes=self.workers)
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
                if self._closed or not self._handle(ready, conns, sentinels):
                    return
                self._dispatch()

    # The lock is held by the caller.
    def _handle(self, ready: list[Any], conns: dict[Any, _Worker], sentinels: dict[Any, _Worker]) -> bool:
        """Take what the workers sent and replace the dead ones; False when the pool is closing."""
        dead: list[_Worker] = []
        for obj in ready:
            if obj is self._wake_r:
                try:
                    while self._wake_r.poll():
                        self._wake_r.recv()
                except (EOFError, OSError):
                    return False
                self._woken = False
            elif obj in conns:
                w = conns[obj]
                try:
                    self._receive(w, w.conn.recv())
                except (EOFError, OSError):
                    dead.append(w)
            elif sentinels[obj] not in dead:
                dead.append(sentinels[obj])
        for w in dead:
            self._replace(w)
        return True

    # The lock is held by the caller.
    def _receive(self, w: _Worker, msg: FromWorker) -> None:
        if isinstance(msg, Ready):
            w.ready_at = time.time()
            return
        fut, _ = self._busy.pop(w)
        self._startup_deaths = 0
        self._idle.append(w)
        if not fut.done():
            fut.set_result(msg)

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
            self._break(code)
            return
        nw = _Worker(self._ctx)
        self._all.append(nw)
        self._idle.append(nw)

    # The lock is held by the caller.
    def _break(self, code: int | None) -> None:
        """Processes die before taking any work: respawning forever would not help."""
        self._broken = ExecutorBroken(
            f"worker processes die at start-up (exit code {code}); a script that runs hpbench with "
            'workers must guard its entry point with `if __name__ == "__main__":`'
        )
        for f in [f for f, _ in self._queue] + [f for f, _ in self._busy.values()]:
            if not f.done():
                f.set_exception(self._broken)
        self._queue.clear()

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
                    w.conn.send(Stop())
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
