"""The advisory lock of one experiment: one process runs it at a time.

The lock is an ``flock`` on a small file next to the store, ``STORE.NAME.lock``, holding
"pid N on HOST" for the message another process gets. The kernel releases it when the
holder dies (SIGKILL included), so a killed run never leaves a stale lock; the file is
removed when the holder lets go. Readers (``status``, ``report``, ``export``) take no lock:
SQLite's own locking keeps them consistent.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from hpbench.results.store import StoreError

__all__ = ["experiment_lock", "lock_path"]

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory lock, SQLite's locking only
    fcntl = None  # type: ignore[assignment]


def lock_path(store: str, name: str) -> str:
    """The lock file of experiment ``name`` in ``store``."""
    return f"{store}.{name}.lock"


def _holder(path: str) -> str:
    with contextlib.suppress(OSError), open(path, encoding="utf-8") as fh:
        return fh.read().strip() or "another process"
    return "another process"


def _acquire(path: str) -> int | None:
    """The locked file's descriptor, or None when another process holds it."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        # The holder before us may have removed the file between our open and our lock:
        # then we hold a lock on a file nobody else can see, so take the new one.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def experiment_lock(store: str, name: str) -> Iterator[None]:
    """Hold experiment ``name``'s lock in the block; refuse at once if another process holds it.

    Raises:
        StoreError: the experiment is being run by another process (naming its pid and host).
    """
    if store == ":memory:" or fcntl is None:
        yield
        return
    path = lock_path(store, name)
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)  # the store's folder, created anyway
        fd = _acquire(path)
    except OSError as exc:
        raise StoreError(f"store {store!r}: cannot create the lock file {path!r} ({exc.strerror})") from None
    if fd is None:
        raise StoreError(
            f"experiment {name!r} is being run by {_holder(path)}; wait for it to finish "
            "(or stop it), then run the same command again"
        )
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)
