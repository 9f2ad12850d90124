"""Progress of a running experiment: the ``on_trial`` events, and the CLI's progress display.

A run's progress is the share of its budget spent, in the budget's own unit: evaluations
for ``max_evals``, cost (full-fidelity evaluations) for ``max_cost``, seconds for
``max_seconds``; with several limits, the one nearest to stopping the run. The display
shows that share over all runs, the budget used per unit, trials and runs done, an
estimated time left, and per task each searcher's best objective so far, leader first.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["TrialEvent", "StopExperiment", "budget_used", "budget_fraction", "ProgressDisplay"]


class StopExperiment(Exception):
    """Raised inside the driver when an ``on_trial`` callback returned ``False``."""


@dataclass(frozen=True)
class TrialEvent:
    """One finished trial, as an ``on_trial`` callback sees it.

    Attributes:
        task, searcher, seed: the run the trial belongs to (``searcher`` is its label).
        trial: the trial's number within its run.
        status: ``"ok"``, ``"failed"`` or ``"timeout"``.
        objective: the value (None unless ok).
        budget: the fidelity it ran at (None for tasks without one).
        cost: what it was charged, in full-fidelity evaluations.
        run_trials: trials of this run finished so far (stored ones included on resume).
        run_best: the run's incumbent (best top-fidelity objective), None before the first.
        run_fraction: share of the run's budget spent, 0..1 (see the module doc).
        trials_done: trials finished in this call, over all runs.
        runs_total: runs this call works on.
    """

    task: str
    searcher: str
    seed: int
    trial: int
    status: str
    objective: float | None
    budget: float | None
    cost: float
    run_trials: int
    run_best: float | None
    run_fraction: float
    trials_done: int
    runs_total: int


def budget_used(run: Any) -> dict[str, tuple[float, float]]:
    """unit -> (used, limit) for each limit of the run's budget (``evals``, ``cost``, ``s``)."""
    b, ledger = run.limits, run.ledger
    out = {}
    if b.max_evals is not None:
        out["evals"] = (float(len(run.records)), float(b.max_evals))
    if b.max_cost is not None:
        out["cost"] = (float(ledger.spent), float(b.max_cost))
    if b.max_seconds is not None:
        out["s"] = (float(ledger.seconds), float(b.max_seconds))
    return out


def budget_fraction(run: Any) -> float:
    """Share of the run's budget spent: the limit nearest to stopping it; 1 once finished."""
    if run.finished:
        return 1.0
    used = budget_used(run)
    return min(1.0, max((u / lim for u, lim in used.values() if lim > 0), default=0.0))


def _best(run: Any) -> float | None:
    return run.best if math.isfinite(run.best) else None


class ProgressDisplay:
    """The per-trial hook: builds :class:`TrialEvent`, calls the user's callback, draws the bar.

    Args:
        runs: the runs about to be driven.
        seeds: the seed of each run (by ``id(run)``).
        bar: draw a rich progress display on stderr (``None``: when stderr is a terminal).
        callback: the user's ``on_trial``; returning ``False`` stops the experiment.
    """

    def __init__(
        self,
        runs: Sequence[Any],
        seeds: dict[int, int],
        *,
        bar: bool | None,
        callback: Callable[[TrialEvent], Any] | None = None,
    ) -> None:
        self.runs = list(runs)
        self.seeds = seeds
        self.callback = callback
        self.enabled = (sys.stderr.isatty() if bar is None else bar) and bool(self.runs)
        self.trials_done = 0
        self.live: Any = None

    def __enter__(self) -> Callable[[Any, Any], None] | None:
        if self.enabled:
            self._start()
        return self.on_trial if (self.enabled or self.callback is not None) else None

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self._refresh()
            self.live.stop()

    def on_trial(self, run: Any, rec: Any) -> None:
        self.trials_done += 1
        if self.live is not None:
            self._refresh()
        if self.callback is not None:
            event = TrialEvent(
                task=str(run.task.name),
                searcher=str(run.label),
                seed=int(self.seeds.get(id(run), -1)),
                trial=int(rec.trial_id),
                status=str(getattr(rec.status, "value", rec.status)),
                objective=rec.objective,
                budget=rec.budget,
                cost=float(rec.cost),
                run_trials=len(run.records),
                run_best=_best(run),
                run_fraction=budget_fraction(run),
                trials_done=self.trials_done,
                runs_total=len(self.runs),
            )
            if self.callback(event) is False:
                raise StopExperiment(f"on_trial returned False after trial {rec.trial_id} of {event.task}")

    # ------------------------------------------------------------------ display
    def _start(self) -> None:
        from rich.console import Console, Group
        from rich.live import Live
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        from rich.text import Text

        console = Console(stderr=True)
        self.bar = Progress(
            TextColumn("[bold]budget"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[used]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.tid = self.bar.add_task("budget", total=float(len(self.runs)), used="")
        self.leaders = Text("")
        self.live = Live(Group(self.bar, self.leaders), console=console, refresh_per_second=4)
        self.live.start()
        self._refresh()

    def summary(self) -> tuple[str, str]:
        """The two lines of the display: budget used per unit with trials and runs; leaders per task."""
        totals: dict[str, list[float]] = {}
        for r in self.runs:
            for unit, (used, lim) in budget_used(r).items():
                t = totals.setdefault(unit, [0.0, 0.0])
                t[0] += min(used, lim)
                t[1] += lim
        used = " · ".join(f"{u} {a:.4g}/{b:.4g}" for u, (a, b) in totals.items())
        done = sum(budget_fraction(r) >= 1.0 for r in self.runs)
        n_trials = sum(len(r.records) for r in self.runs)
        line = f"{used} · {n_trials} trials · {done}/{len(self.runs)} runs done"
        best: dict[str, dict[str, float]] = {}
        for r in self.runs:
            b = _best(r)
            if b is not None:
                per = best.setdefault(str(r.task.name), {})
                per[str(r.label)] = min(per.get(str(r.label), math.inf), b)
        parts = []
        for task, per in best.items():
            ranked = sorted(per.items(), key=lambda kv: kv[1])
            parts.append(f"{task}: " + ", ".join(f"{s} {v:.4g}" for s, v in ranked))
        return line, "best so far  " + (" | ".join(parts) if parts else "-")

    def _refresh(self) -> None:
        line, leaders = self.summary()
        completed = sum(budget_fraction(r) for r in self.runs)
        self.bar.update(self.tid, completed=completed, used=line)
        self.leaders.plain = leaders
