"""WAL checkpoints in a thread of their own, so the writer never waits for ``fsync``.

In WAL mode with ``synchronous=NORMAL`` a commit only appends to the WAL; the two
``fsync`` happen when a checkpoint copies the WAL into the file. SQLite's automatic
checkpoint runs inside the commit that crosses the threshold, so the driver stalls for
them: about 0.5 s of a 20,000-trial ``branin`` run's 4.5 s. A ``PASSIVE`` checkpoint
on a second connection runs beside the writer (WAL mode lets it append meanwhile, and
Python's ``sqlite3`` releases the GIL while SQLite works), so the stall moves off the
driver's path. Durability is unchanged: a commit survives a killed process as before,
and a power cut can take at most what was written since the last checkpoint.

The writer keeps its automatic checkpoint as a fallback with a larger threshold, so the
WAL stays bounded even when this thread falls behind (very large trials).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading

__all__ = ["WalCheckpointer"]


class WalCheckpointer:
    """Checkpoint ``path``'s WAL in a daemon thread each time ``wake`` is called.

    Args:
        path: the store file (already in WAL mode).
    """

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._wake = threading.Event()
        self._stop = False
        self._done = threading.Condition()
        self.checkpoints = 0  # checkpoint calls finished
        self._thread = threading.Thread(target=self._loop, name="hpbench-wal-checkpoint", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Ask for a checkpoint; returns at once."""
        self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            # Busy (another checkpoint, a reader on an old snapshot): the next wake retries.
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            with self._done:
                self.checkpoints += 1
                self._done.notify_all()

    def wait_for(self, n: int) -> None:
        """Block until ``n`` checkpoint calls have finished (tests synchronise on this)."""
        with self._done:
            self._done.wait_for(lambda: self.checkpoints >= n)

    def close(self) -> None:
        """Stop the thread (after a checkpoint in progress) and close its connection."""
        self._stop = True
        self._wake.set()
        self._thread.join()
        self._conn.close()
