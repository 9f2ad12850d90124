"""Which executor a run gets, from the user's options."""

from __future__ import annotations

from hpbench.executors.base import Executor
from hpbench.executors.inline import InProcessExecutor
from hpbench.executors.pool import WorkerPool

__all__ = ["make_executor"]


def make_executor(*, workers: int = 1, dask: str | None = None) -> Executor:
    """``dask`` wins over ``workers``; ``workers=0`` means in the driver process."""
    if dask:
        from hpbench.executors.dask_cluster import DaskExecutor

        return DaskExecutor(dask)
    if workers <= 0:
        return InProcessExecutor()
    return WorkerPool(workers)
