"""Which executor a run gets, from the user's options."""

from __future__ import annotations

from hpbench.executors.base import Executor
from hpbench.executors.inline import InProcessExecutor
from hpbench.executors.pool import WorkerPool

__all__ = ["make_executor"]


def make_executor(
    *, workers: int = 1, dask: str | None = None, virtual_workers: int | None = None
) -> Executor:
    """``virtual_workers`` (a virtual clock) wins, then ``dask``, then ``workers`` (0: in the driver)."""
    if virtual_workers is not None:
        from hpbench.executors.virtual import VirtualClockExecutor

        return VirtualClockExecutor(virtual_workers)
    if dask:
        from hpbench.executors.dask_cluster import DaskExecutor

        return DaskExecutor(dask)
    if workers <= 0:
        return InProcessExecutor()
    return WorkerPool(workers)
