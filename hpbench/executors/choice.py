"""Which executor a run gets, from the user's options."""

from __future__ import annotations

from hpbench.executors.base import Executor
from hpbench.executors.inline import InProcessExecutor
from hpbench.executors.pool import WorkerPool

__all__ = ["make_executor"]


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
