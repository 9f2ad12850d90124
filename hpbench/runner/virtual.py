"""Driving runs on a virtual clock: each run alone on its own N simulated workers.

A run simulated on N workers must not share them with the other runs of an experiment
(its times would then depend on how many runs there are and in which order they were
driven), so the runs are driven one after the other, each on a clock restarted at
``EPOCH``. Everything runs in the driver, so nothing is lost by not interleaving them.

**Resume.** With several trials in flight, a searcher was told its trials in simulated
end order, interleaved with its asks; replaying the stored trials in trial order would
tell it another story. A resumed virtual run is therefore *simulated again* from the
start (surrogate trials take microseconds): the trials already stored are checked
against the new simulation (same configuration and level, else the run stops as not
reproducible) and not stored twice; the others are committed as usual.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hpbench.executors.base import Executor
from hpbench.executors.virtual import VirtualClockExecutor
from hpbench.results.store import Store
from hpbench.runner.driver import drive
from hpbench.runner.state import RunState
from hpbench.trial import TrialRecord

__all__ = ["drive_virtual"]


class _SkipStored:
    """A store that does not commit a run's trials again, checking they are the same trials."""

    def __init__(self, store: Store, stored: Sequence[TrialRecord]) -> None:
        self.store = store
        self.stored = {r.trial_id: r for r in stored}

    def add_trial(self, run_id: int, rec: TrialRecord, **kw: Any) -> int:
        old = self.stored.pop(rec.trial_id, None)
        if old is None:
            return self.store.add_trial(run_id, rec, **kw)
        if dict(old.config) != dict(rec.config) or old.budget != rec.budget:
            raise RuntimeError(
                f"resume: run {run_id} simulated again did not reproduce stored trial {rec.trial_id} "
                f"(now {dict(rec.config)} at {rec.budget}, stored {dict(old.config)} at {old.budget}); "
                "its searcher or task is not deterministic under its seed; use --fresh"
            )
        return -1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def drive_virtual(runs: Sequence[RunState], clock: Executor, **options: Any) -> None:
    """Drive each run to its end on ``clock``, a ``VirtualClockExecutor``; ``options`` as for ``Driver``.

    A run with trials in ``options["store"]`` (a resumed one) is simulated again from the
    start, its stored trials checked and not stored twice (see the module docstring).
    """
    if not isinstance(clock, VirtualClockExecutor):
        raise TypeError(f"clock: must be a VirtualClockExecutor, got {type(clock).__name__}")
    store = options.pop("store", None)
    for run in runs:
        if run.finished:
            continue
        clock.restart()
        stored = store.run_trials(run.run_id) if store is not None and run.run_id is not None else []
        drive([run], clock, store=_SkipStored(store, stored) if stored else store, **options)
