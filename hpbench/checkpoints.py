"""The checkpoints the driver keeps so that trials can continue: one memory cap over all runs.

Every run of a driver keeps its checkpoints (trial id -> (fidelity level, bytes)) in its
own table, and all of them count against one ``CheckpointMemory``. When the total goes
over the cap, the oldest checkpoints, whichever run holds them, are dropped first. A trial
that would have continued from a dropped checkpoint trains from zero, and is charged so
(``RunBudget.trial_cost`` with no start level): nothing is charged for training it skips.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from hpbench.checks import is_real

__all__ = ["CheckpointMemory", "DEFAULT_CHECKPOINT_MEMORY_MB", "check_checkpoint_memory"]

DEFAULT_CHECKPOINT_MEMORY_MB = 1024.0  # over all runs of one driver


def check_checkpoint_memory(mb: object) -> float:
    """``mb`` as megabytes of checkpoints to keep, or a ``ValueError`` naming the rule."""
    if not is_real(mb) or not 0 <= float(mb) < math.inf:  # type: ignore[arg-type]
        raise ValueError(f"checkpoint_memory_mb: rule 'a number >= 0 and finite (MB)' broken, got {mb!r}")
    return float(mb)  # type: ignore[arg-type]


class CheckpointMemory:
    """Checkpoint bytes held by every run of a driver, at most ``cap`` bytes in total.

    Attributes:
        cap: bytes that may be held at once (0: keep none).
        held: bytes held now.
        dropped: checkpoints dropped so far to stay under the cap.
    """

    def __init__(self, cap: int) -> None:
        self.cap = int(cap)
        self.held = 0
        self.dropped = 0
        self._order: OrderedDict[tuple[int, int], tuple[OrderedDict[int, tuple[float, bytes]], int]] = (
            OrderedDict()
        )

    def keep(
        self, table: OrderedDict[int, tuple[float, bytes]], trial_id: int, level: float, blob: bytes
    ) -> None:
        """Put ``blob`` in a run's ``table``, then drop the oldest checkpoints until under the cap."""
        key = (id(table), trial_id)
        if key in self._order:  # the same trial again (not expected): count it once
            self.held -= self._order.pop(key)[1]
        table[trial_id] = (level, blob)
        self._order[key] = (table, len(blob))
        self.held += len(blob)
        while self.held > self.cap and self._order:
            (_, old_id), (owner, size) = self._order.popitem(last=False)
            owner.pop(old_id, None)
            self.held -= size
            self.dropped += 1

    def forget(self, table: OrderedDict[int, tuple[float, bytes]]) -> None:
        """A run ended: its checkpoints are not needed any more."""
        for trial_id in list(table):
            item = self._order.pop((id(table), trial_id), None)
            if item is not None:
                self.held -= item[1]
        table.clear()
