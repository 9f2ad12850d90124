"""Which executor a run gets, from the user's options."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from hpbench.executors.base import Executor
from hpbench.executors.inline import InProcessExecutor
from hpbench.executors.pool import WorkerPool

__all__ = ["INSTANT_SECONDS", "auto_workers", "make_executor"]

# A task whose top-fidelity evaluation takes at most this long (``Task.seconds_per_eval``:
# the synthetic functions, 1e-5 s, and the surrogates, 1e-4 s) costs less than shipping
# the trial to a worker process and back (about 0.3 ms), so by default it runs here.
INSTANT_SECONDS = 1e-3


def auto_workers(workers: int | None, tasks: Iterable[Any], trial_timeout: float | None) -> int:
    """``workers`` if given; else 0 (this process) when every task is instant and no trial
    timeout has to be enforced (only a worker process can be stopped), else one per core."""
    if workers is not None:
        return workers
    speeds = [getattr(t, "seconds_per_eval", None) for t in tasks]
    if trial_timeout is None and speeds and all(s is not None and s <= INSTANT_SECONDS for s in speeds):
        return 0
    return os.cpu_count() or 1


def make_executor(
    *,
    workers: int = 1,
    dask: str | None = None,
    virtual_workers: int | None = None,
    no_workers_timeout: float = 60.0,
) -> Executor:
    """``virtual_workers`` (a virtual clock) wins, then ``dask``, then ``workers`` (0: in the driver).

    ``no_workers_timeout``: seconds a Dask scheduler may have no worker at all before the run stops.
    """
    if virtual_workers is not None:
        from hpbench.executors.virtual import VirtualClockExecutor

        return VirtualClockExecutor(virtual_workers)
    if dask:
        from hpbench.executors.dask_cluster import DaskExecutor

        return DaskExecutor(dask, no_workers_timeout=no_workers_timeout)
    if workers <= 0:
        return InProcessExecutor()
    return WorkerPool(workers)
