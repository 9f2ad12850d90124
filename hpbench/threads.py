"""Thread limits: one thread per trial, so parallel trials do not fight over the cores.

The one home for how hpbench limits threads. Three scopes:

- ``limit_process_threads``: for the rest of a worker process (pool and Dask workers);
- ``one_thread``: around a block of code in any process (a task's training, the driver's
  own numerics when worker processes use every core), restored afterwards;
- ``one_thread_environ``: the environment a child process must be born with, because
  OpenMP and BLAS read their variables once, when they are loaded.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["THREAD_VARS", "limit_process_threads", "one_thread", "one_thread_environ", "spawn_environ"]

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def spawn_environ() -> dict[str, str]:
    """The variables a child process needs to start with one thread per library."""
    return {v: "1" for v in THREAD_VARS}


def limit_process_threads() -> None:
    """One thread for the rest of this process: environment, torch (if loaded) and threadpoolctl."""
    os.environ.update(spawn_environ())
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


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """One BLAS/OpenMP thread (and one torch thread, if torch is loaded) inside the block.

    threadpoolctl limits the libraries loaded when the block starts; a library first loaded
    inside it (scipy's own OpenBLAS on the first ``import scipy.linalg``) reads the thread
    variables instead, so they are 1 inside the block too. Such a library keeps one thread
    after the block, which is what hpbench wants of its numerics anyway.
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with one_thread_environ(), threadpool_limits(limits=1):
            yield
    finally:
        if torch is not None and before is not None:
            torch.set_num_threads(before)


@contextlib.contextmanager
def one_thread_environ() -> Iterator[None]:
    """Set the thread variables to 1 inside the block (to start a child process), then restore them."""
    saved = {v: os.environ.get(v) for v in THREAD_VARS}
    os.environ.update(spawn_environ())
    try:
        yield
    finally:
        for v, old in saved.items():
            if old is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old
