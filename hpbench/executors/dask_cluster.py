"""Trials as Dask futures, on a running scheduler or on a LocalCluster started for the run."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import signal
import threading
import time
from collections.abc import Collection, Iterator
from typing import Any

from hpbench.executors.base import (
    Capabilities,
    ExecutorBroken,
    RealTimeExecutor,
    TrialJob,
    TrialOutcome,
    WorkerDied,
)
from hpbench.executors.evaluate import evaluate_for_dask
from hpbench.threads import limit_process_threads, spawn_environ

__all__ = ["DaskExecutor", "parse_local_workers"]

_TRIM = "MALLOC_TRIM_THRESHOLD_"
_USER_TRIM = os.environ.get(_TRIM)  # read at import, before any LocalCluster of this process set it

# For the LocalCluster (its scheduler lives in this process): no scheduler-side retries, and
# at most one task per single-threaded worker, so a dying worker takes exactly one trial with
# it. A remote scheduler uses its own configuration. The workers' statistical profiler samples
# every thread's stack every 10 ms; on busy single-threaded workers that costs trial time, and
# hpbench never reads it. Dask's default MALLOC_TRIM_THRESHOLD_=65536 makes glibc hand memory
# back after every large free: gbdt-digits trials ran 2.6x slower with it (measured in the
# process pool too), so workers get the user's setting instead.
_CONFIG = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.scheduler.worker-saturation": 1.0,
    "distributed.worker.profile.enabled": False,
    f"distributed.nanny.pre-spawn-environ.{_TRIM}": None,
}


@contextlib.contextmanager
def _workers_ignore_ctrl_c() -> Iterator[None]:
    """Worker processes started in here ignore SIGINT from birth (an ignored signal is inherited).

    Ctrl-C in a terminal reaches the whole process group: the driver stops the workers
    itself, and a worker's own KeyboardInterrupt would only print its traceback.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _ignore_sigint() -> None:
    """Run on each worker's event loop (its main thread): a restarted worker ignores Ctrl-C too."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def parse_local_workers(address: str) -> int:
    """N of ``local:N``."""
    n = address.split(":", 1)[1]
    if not n.isdigit() or int(n) < 1:
        raise ValueError(f"--dask: rule 'local:N with N >= 1' broken, got {address!r}")
    return int(n)


def _probe_scheduler(address: str, timeout: float) -> None:
    """Connect and ask for the scheduler's identity, all within ``timeout`` s.

    Something that accepts the connection but does not speak Dask would make
    ``Client`` wait forever in its handshake; here it is a ``TimeoutError``.
    """
    import asyncio

    from distributed.comm import connect

    async def ask() -> Any:
        comm = await connect(address, timeout=timeout)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    async def bounded() -> Any:
        return await asyncio.wait_for(ask(), timeout)

    try:
        reply = asyncio.run(bounded())
    except asyncio.TimeoutError:
        raise TimeoutError("it accepted the connection but gave no Dask handshake") from None
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise ValueError(f"it answered, but not as a Dask scheduler ({str(reply)[:80]})")


class DaskExecutor(RealTimeExecutor):
    """Trials as Dask futures on a running scheduler or on a LocalCluster started for the run.

    Args:
        address: ``tcp://host:8786`` for a running scheduler, or ``local:N`` for a
            LocalCluster of N single-threaded worker processes.
        connect_timeout: seconds to wait for the scheduler before a clear error.
        no_workers_timeout: seconds the scheduler may have no worker at all, while trials
            wait, before the run stops (finished trials stored; the same command resumes).

    A task whose worker dies raises ``WorkerDied`` (the scheduler is told to allow no
    silent retries, so the runner decides and records the attempts). Dask's configuration
    and ``MALLOC_TRIM_THRESHOLD_`` are changed for the executor's lifetime only:
    ``shutdown`` restores them.
    """

    capabilities = Capabilities()

    def __init__(
        self, address: str, *, connect_timeout: float = 3.0, no_workers_timeout: float = 60.0
    ) -> None:
        if not isinstance(address, str) or not (address.startswith("local:") or "://" in address):
            raise ValueError(f"--dask: rule 'tcp://HOST:PORT or local:N' broken, got {address!r}")
        import dask
        import distributed  # noqa: F401 - its defaults must be in dask's config before we override some

        self.address = address
        self.no_workers_timeout = float(no_workers_timeout)
        self._cluster: Any = None
        self.client: Any = None
        self._closed = False
        self._futures: dict[cf.Future[TrialOutcome], Any] = {}
        self._no_workers_since: float | None = None
        self._checked = 0.0
        self._config = dask.config.set(_CONFIG)  # undone in shutdown
        self._saved_trim = os.environ.get(_TRIM)
        # An earlier LocalCluster in this process wrote dask's value into os.environ (the
        # nannies live here), and an existing variable wins over the config: undo that.
        self._set_trim(_USER_TRIM)
        try:
            self.client = self._connect(address, connect_timeout)
            nthreads = self.client.nthreads()
            if not nthreads:
                raise ValueError(
                    f"--dask: the scheduler at {address!r} has no workers; start some with 'dask worker'"
                )
            self.workers = max(1, sum(nthreads.values()))
            self.client.run(limit_process_threads)
        except BaseException:
            self.shutdown()
            raise

    def _connect(self, address: str, timeout: float) -> Any:
        from distributed import Client, LocalCluster

        if address.startswith("local:"):
            with _workers_ignore_ctrl_c():
                self._cluster = LocalCluster(
                    n_workers=parse_local_workers(address),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=50,
                    env=spawn_environ(),
                )
            client = Client(self._cluster, timeout=timeout)
            client.register_worker_callbacks(_ignore_sigint)  # workers the nannies restart later
            return client
        try:
            _probe_scheduler(address, timeout)  # Client's own timeout covers the TCP connect only
            return Client(address, timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - refused, timed out, or something else answered
            msg = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
            raise ValueError(
                f"--dask: cannot reach the Dask scheduler at {address!r} within {timeout:g} s ({msg})"
            ) from None

    @staticmethod
    def _set_trim(value: str | None) -> None:
        if value is None:
            os.environ.pop(_TRIM, None)
        else:
            os.environ[_TRIM] = value

    def submit(self, job: TrialJob) -> cf.Future[TrialOutcome]:
        dfut = self.client.submit(evaluate_for_dask, job, pure=False)
        out: cf.Future[TrialOutcome] = cf.Future()
        out.set_running_or_notify_cancel()
        self._futures[out] = dfut

        def _done(f: Any) -> None:
            if out.done():
                return
            try:
                out.set_result(f.result())
            except BaseException as exc:  # noqa: BLE001 - KilledWorker, CancelledError...
                if type(exc).__name__ == "KilledWorker":
                    out.set_exception(WorkerDied(f"Dask worker died while running the trial ({exc})"))
                else:
                    out.set_exception(exc)

        dfut.add_done_callback(_done)
        out.add_done_callback(lambda f: self._futures.pop(f, None))
        return out

    def wait(
        self, pending: Collection[cf.Future[TrialOutcome]], timeout: float
    ) -> set[cf.Future[TrialOutcome]]:
        done = super().wait(pending, timeout)
        if pending and not done:
            self._check_workers()
        return done

    def _check_workers(self) -> None:
        """Trials wait and the scheduler has had no worker for ``no_workers_timeout`` s: stop.

        Without this, a scheduler whose workers all died would keep the driver waiting
        forever. The finished trials are stored; the same command resumes the rest.
        """
        now = time.monotonic()
        if now - self._checked < min(1.0, self.no_workers_timeout / 4):
            return
        self._checked = now
        try:
            n = len(self.client.nthreads())
        except Exception:  # noqa: BLE001 - the scheduler itself is gone: Dask's own errors follow
            return
        if n:
            self._no_workers_since = None
            return
        self._no_workers_since = self._no_workers_since or now
        if now - self._no_workers_since >= self.no_workers_timeout:
            raise ExecutorBroken(
                f"--dask: the scheduler at {self.address!r} has had no workers for "
                f"{self.no_workers_timeout:g} s; the finished trials are stored: start workers "
                "('dask worker ADDRESS') and run the same command again to resume"
            )

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
        """Close the client (and the LocalCluster), then restore Dask's configuration and the environment."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.client is not None:
                if cancel and self._futures:
                    self.client.cancel(list(self._futures.values()), force=True)
                self.client.close(timeout=10)
        except Exception:  # noqa: BLE001 - closing is best effort; the cluster still goes below
            pass
        finally:
            try:
                if self._cluster is not None:
                    self._cluster.close(timeout=10)
            finally:
                self._config.__exit__(None, None, None)
                self._set_trim(self._saved_trim)
