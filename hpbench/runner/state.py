"""Driver-side state of one run: its searcher, its ledger (``RunBudget``), its checkpoints."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hpbench.budget import Budget, RunBudget
from hpbench.checkpoints import DEFAULT_CHECKPOINT_MEMORY_MB, CheckpointMemory
from hpbench.checks import is_integer
from hpbench.incumbent import eligible
from hpbench.objectives import searcher_feedback
from hpbench.searchers.base import Searcher
from hpbench.tasks.base import Task
from hpbench.trial import Suggestion, TrialRecord, TrialStatus

if TYPE_CHECKING:
    from hpbench.runner.driver import InFlight

__all__ = ["RunState", "ResumeError"]


class ResumeError(ValueError):
    """A rebuilt searcher does not reproduce its run's stored trials: the run cannot be resumed."""


class RunState:
    """One run (task, searcher, seed) as the driver sees it.

    Attributes:
        limits: the run's ``Budget``; ``ledger`` (a ``RunBudget``) is its accounting.
        levels: fidelity level of every trial started, by trial id.
        checkpoints: trial id -> (fidelity level, checkpoint bytes), oldest first; they count
            against ``memory``, a cap shared by all runs of a driver (oldest dropped first).
        inflight: trials submitted and not finished, by trial id.
        error: set when the searcher raised: the run stops, the others go on.
    """

    def __init__(
        self,
        *,
        task: Task,
        searcher: Searcher,
        budget: Budget,
        task_seed: int,
        run_id: int | None = None,
        task_ref: str | Task | None = None,
        label: str = "",
    ) -> None:
        self.task = task
        self.task_ref = task_ref if task_ref is not None else task
        self.searcher = searcher
        self.limits = budget
        self.ledger = RunBudget(budget, task.fidelity, task.overhead, _declared_cost_factor(task))
        self.task_seed = task_seed
        self.run_id = run_id
        self.label = label or searcher.name
        self.records: list[TrialRecord] = []
        self.inflight: dict[int, InFlight] = {}
        self.requeue: list[Suggestion] = []  # asked while replaying, never stored: run them first
        self.levels: dict[int, float | None] = {}
        self.checkpoints: OrderedDict[int, tuple[float, bytes]] = OrderedDict()
        # the driver gives every run one shared cap (Driver(checkpoint_memory=...)); alone, its own
        self.memory = CheckpointMemory(int(DEFAULT_CHECKPOINT_MEMORY_MB * 2**20))
        self.best = math.inf
        self.finished = False
        self.error: str | None = None
        self.count_searcher_time = True  # off under a virtual clock: only simulated time counts
        self._top = None if task.fidelity is None else task.fidelity.high

    # ------------------------------------------------------------------ replay
    def replay(self, stored: Sequence[TrialRecord]) -> None:
        """Tell a rebuilt searcher the stored trials, in trial order, as the original saw them."""
        todo = {r.trial_id: r for r in stored}
        try:
            self._replay(todo)
        except ResumeError:
            raise
        except Exception as exc:  # noqa: BLE001 - the searcher raised again: its run fails, not the others
            self._searcher_failed("replay", exc)
            return
        if todo:
            raise ResumeError(
                f"resume: searcher {self.label!r} stopped before replaying stored trials {sorted(todo)}"
            )

    def _replay(self, todo: dict[int, TrialRecord]) -> None:
        while todo:
            s = self.searcher.ask()
            if s is None:
                break
            rec = todo.pop(s.trial_id, None)
            if rec is None:  # was in flight when the driver stopped: run it again (budget permitting)
                self.requeue.append(s)
                continue
            if dict(s.config) != dict(rec.config) or s.budget != rec.budget:
                raise ResumeError(
                    f"resume: searcher {self.label!r} did not reproduce stored trial {rec.trial_id} "
                    f"(asked {dict(s.config)} at {s.budget}, stored {dict(rec.config)} at {rec.budget}): "
                    "another build, or a searcher not deterministic under its seed"
                )
            self.ledger.charge(cost=rec.cost, seconds=rec.finished - rec.started, started=1)
            self.levels[s.trial_id] = s.budget
            self._keep(rec)
            self.searcher.tell(s, self._feedback(rec))

    def _feedback(self, rec: TrialRecord) -> Any:
        """The objective told to the searcher: a loss vector for multi-objective searchers."""
        ok = rec.status is TrialStatus.OK
        if self.searcher.n_objectives <= 1:  # the hot path: no function call
            return rec.objective if ok else None
        return searcher_feedback(
            self.searcher.n_objectives, self.task.objectives, ok, rec.objective, rec.objectives
        )

    def _keep(self, rec: TrialRecord) -> None:
        self.records.append(rec)
        if eligible(rec.status, rec.objective, rec.budget, self._top):
            self.best = min(self.best, rec.objective)  # type: ignore[type-var]

    # --------------------------------------------------------------- proposing
    def _searcher_failed(self, during: str, exc: Exception) -> None:
        self.error = f"searcher {self.label!r} raised in {during}: {type(exc).__name__}: {exc}"[:2000]

    def next_suggestion(self) -> Suggestion | None:
        """The searcher's next trial, or ``None`` (it waits, it is done, or the budget is)."""
        if self.error is not None or self.ledger.exhausted():
            return None
        if self.requeue:
            return self.requeue.pop(0)
        t0 = time.perf_counter()
        try:
            s = self.searcher.ask()
        except Exception as exc:  # noqa: BLE001 - a broken searcher stops its own run only
            self._searcher_failed("ask", exc)
            return None
        self._searcher_time(time.perf_counter() - t0)
        return s

    def _searcher_time(self, seconds: float) -> None:
        if self.count_searcher_time:
            self.ledger.charge(seconds=seconds)

    def start_of(self, s: Suggestion) -> tuple[float | None, bytes | None]:
        """(level, checkpoint) that ``s`` continues from, or ``(None, None)``: it trains from zero."""
        if s.continue_from is None:
            return None, None
        item = self.checkpoints.get(s.continue_from)
        return (None, None) if item is None else item

    def keep_checkpoint(self, trial_id: int, level: float | None, blob: bytes | None) -> None:
        if blob is None or level is None or self._top is None or level >= self._top:
            return  # nothing continues past the top fidelity
        self.memory.keep(self.checkpoints, trial_id, level, blob)

    def complete(self, s: Suggestion, rec: TrialRecord) -> None:
        """Tell the searcher (unless it already failed) and count the trial's time."""
        t0 = time.perf_counter()
        if self.error is None:
            try:
                self.searcher.tell(s, self._feedback(rec))
            except Exception as exc:  # noqa: BLE001 - the trial is stored; the run stops
                self._searcher_failed("tell", exc)
        self._searcher_time(time.perf_counter() - t0)
        self.ledger.charge(seconds=rec.finished - rec.started)
        self._keep(rec)

    # ----------------------------------------------------------- the recommendation
    def recommendation(self) -> int | None:
        """The trial the searcher recommends at the end of the run (``Searcher.recommend``).

        ``None``: the default, its best observed top-fidelity trial. A searcher that raises,
        or names a trial that is not one of this run's ok top-fidelity trials, fails the run
        (its trials are kept) with an error naming the rule.
        """
        if self.error is not None:
            return None
        try:
            trial = self.searcher.recommend()
        except Exception as exc:  # noqa: BLE001 - a broken searcher fails its own run only
            self._searcher_failed("recommend", exc)
            return None
        if trial is None:
            return None
        allowed = {r.trial_id for r in self.records if eligible(r.status, r.objective, r.budget, self._top)}
        if not is_integer(trial) or int(trial) not in allowed:
            rule = "None or the id of an ok top-fidelity trial of the run"
            self.error = f"searcher {self.label!r}: recommend(): rule '{rule}' broken, got {trial!r}"[:2000]
            return None
        return int(trial)


def _declared_cost_factor(task: Any) -> Any:
    """The task's ``cost_factor``, or None when it keeps the default 1 (no call per trial then)."""
    factor = getattr(task, "cost_factor", None)
    return None if getattr(factor, "__func__", None) is Task.cost_factor else factor
