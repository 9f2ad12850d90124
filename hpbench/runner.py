"""The ask -> evaluate -> tell loop over many runs at once.

One *run* is (task, searcher with its parameters, seed) under a ``Budget``. The
driver interleaves all runs of an experiment: each free worker slot takes the next
suggestion from the next run that has one, so whole runs and, for searchers that
allow it, several trials of one run are in flight at once. With ``trials_per_run=1``
every run is sequential and its trials depend only on its seed, never on the number
of workers.

Every finished trial is committed to the store (one transaction) *before* the
searcher is told, so a killed driver loses no finished trial and a resumed run
replays exactly what the searcher had seen.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpbench.budget import Budget
from hpbench.executors import (
    Executor,
    ExecutorBroken,
    InProcessExecutor,
    TrialJob,
    TrialOutcome,
    WorkerDied,
    evaluate_trial,
)
from hpbench.incumbent import eligible
from hpbench.objectives import searcher_feedback
from hpbench.results.store import Store, encode_config
from hpbench.searchers.base import Searcher
from hpbench.tasks.base import Task
from hpbench.trial import Suggestion, TrialRecord, TrialStatus

__all__ = ["Budget", "RunState", "run_search", "drive", "split_seed", "cache_key"]

_MAX_CHECKPOINT_BYTES = 512 * 2**20  # per run; older checkpoints are dropped (then retrained)
_MAX_ATTEMPTS = 2  # a trial whose worker dies is retried once, then stored as failed


def split_seed(seed: int) -> tuple[int, int]:
    """Independent (searcher seed, task seed) streams from one run seed."""
    a, b = np.random.SeedSequence(seed).spawn(2)
    return int(a.generate_state(1)[0]), int(b.generate_state(1)[0])


def cache_key(task: Task, config: Any, budget: float | None, seed: int) -> str:
    """Key of an evaluation: (task name and version, config, budget, task seed).

    A continuation from a checkpoint gives the same result as training straight to
    ``budget`` (the task contract), so where training started is not part of the key.
    """
    return _key(task, encode_config(config), budget, seed)


def _key(task: Task, config_json: str, budget: float | None, seed: int) -> str:
    # The stored config text is hashed as it is: the config is encoded once per trial.
    text = f"{task.name!r}\x00{task.version!r}\x00{budget!r}\x00{seed!r}\x00{config_json}"
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass
class _InFlight:
    run: RunState
    suggestion: Suggestion
    job: TrialJob
    nominal_cost: float
    key: str | None = None
    config_json: str | None = None
    attempts: int = 1
    submitted: float = field(default_factory=time.time)


class RunState:
    """Driver-side state of one run: its searcher, budget accounting and checkpoints."""

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
        self.budget = budget
        self.task_seed = task_seed
        self.run_id = run_id
        self.label = label or searcher.name
        self.records: list[TrialRecord] = []
        self.n_started = 0
        self.cost_committed = 0.0
        self.seconds = 0.0
        self.inflight: dict[int, _InFlight] = {}
        self.requeue: list[Suggestion] = []  # asked while replaying, never stored: run them first
        self.budgets: dict[int, float | None] = {}
        self.checkpoints: OrderedDict[int, tuple[float, bytes]] = OrderedDict()
        self._checkpoint_bytes = 0
        self.best = math.inf
        self.finished = False
        self.error: str | None = None  # the searcher raised: the run stops, the others go on

    # ------------------------------------------------------------------ budget
    def nominal_cost(self, s: Suggestion) -> float:
        fid = self.task.fidelity
        if fid is None or s.budget is None:
            return 1.0
        start = 0.0
        if s.continue_from is not None:
            start = self.budgets.get(s.continue_from) or 0.0
        return fid.cost(s.budget, start)

    def budget_left(self) -> bool:
        b = self.budget
        if b.max_evals is not None and self.n_started >= b.max_evals:
            return False
        if b.max_cost is not None and self.cost_committed >= b.max_cost - 1e-12:
            return False
        return not (b.max_seconds is not None and self.seconds >= b.max_seconds)

    # ------------------------------------------------------------------ replay
    def replay(self, stored: Sequence[TrialRecord]) -> None:
        """Tell a rebuilt searcher the stored trials, in trial order, as the original saw them."""
        todo = {r.trial_id: r for r in stored}
        while todo:
            s = self.searcher.ask()
            if s is None:
                break
            rec = todo.pop(s.trial_id, None)
            if rec is None:  # was in flight when the driver stopped: run it again
                self.requeue.append(s)
                self.n_started += 1
                self.cost_committed += self.nominal_cost(s)
                self.budgets[s.trial_id] = s.budget
                continue
            if dict(s.config) != dict(rec.config) or s.budget != rec.budget:
                raise RuntimeError(
                    f"resume: searcher {self.label!r} did not reproduce stored trial {rec.trial_id} "
                    f"(asked {dict(s.config)} at {s.budget}, stored {dict(rec.config)} at {rec.budget}); "
                    "it is not deterministic under its seed, so this run cannot be resumed; use --fresh"
                )
            self._account(s, rec)
            self.searcher.tell(s, self._feedback(rec))
        if todo:
            raise RuntimeError(
                f"resume: searcher {self.label!r} stopped before replaying stored trials {sorted(todo)}; "
                "use --fresh"
            )

    def _account(self, s: Suggestion, rec: TrialRecord) -> None:
        self.n_started += 1
        self.cost_committed += rec.cost
        self.seconds += rec.finished - rec.started
        self.budgets[s.trial_id] = s.budget
        self.records.append(rec)
        if self._counts(rec):
            self.best = min(self.best, rec.objective)  # type: ignore[type-var]

    def _feedback(self, rec: TrialRecord) -> Any:
        """The objective told to the searcher: a loss vector for multi-objective searchers."""
        ok = rec.status is TrialStatus.OK
        if self.searcher.n_objectives <= 1:  # the hot path: no function call
            return rec.objective if ok else None
        return searcher_feedback(
            self.searcher.n_objectives, self.task.objectives, ok, rec.objective, rec.objectives
        )

    def _counts(self, rec: TrialRecord) -> bool:
        high = None if self.task.fidelity is None else self.task.fidelity.high
        return eligible(rec.status, rec.objective, rec.budget, high)

    # --------------------------------------------------------------- proposing
    def _searcher_failed(self, during: str, exc: Exception) -> None:
        self.error = f"searcher {self.label!r} raised in {during}: {type(exc).__name__}: {exc}"[:2000]

    def next_suggestion(self) -> Suggestion | None:
        if self.error is not None:
            return None
        if self.requeue:
            return self.requeue.pop(0)
        if not self.budget_left():
            return None
        t0 = time.perf_counter()
        try:
            s = self.searcher.ask()
        except Exception as exc:  # noqa: BLE001 - a broken searcher stops its own run only
            self._searcher_failed("ask", exc)
            return None
        self.seconds += time.perf_counter() - t0
        if s is None:
            return None
        self.n_started += 1
        self.budgets[s.trial_id] = s.budget
        self.cost_committed += self.nominal_cost(s)
        return s

    def checkpoint_for(self, s: Suggestion) -> bytes | None:
        if s.continue_from is None:
            return None
        item = self.checkpoints.get(s.continue_from)
        return None if item is None else item[1]

    def keep_checkpoint(self, trial_id: int, budget: float | None, blob: bytes | None) -> None:
        if blob is None or budget is None or self.task.fidelity is None:
            return
        if budget >= self.task.fidelity.high:
            return  # nothing continues past the top fidelity
        self.checkpoints[trial_id] = (budget, blob)
        self._checkpoint_bytes += len(blob)
        while self._checkpoint_bytes > _MAX_CHECKPOINT_BYTES and len(self.checkpoints) > 1:
            _, (_, old) = self.checkpoints.popitem(last=False)
            self._checkpoint_bytes -= len(old)

    def complete(self, s: Suggestion, rec: TrialRecord) -> None:
        t0 = time.perf_counter()
        if self.error is None:
            try:
                self.searcher.tell(s, self._feedback(rec))
            except Exception as exc:  # noqa: BLE001 - the trial is stored; the run stops
                self._searcher_failed("tell", exc)
        self.seconds += time.perf_counter() - t0 + (rec.finished - rec.started)
        self.records.append(rec)
        if self._counts(rec):
            self.best = min(self.best, rec.objective)  # type: ignore[type-var]


Progress = Callable[[RunState, TrialRecord], None]
_STATUS = {s.value: s for s in TrialStatus}  # TrialStatus(text) goes through EnumMeta.__call__


def _record(fl: _InFlight, out: TrialOutcome, *, cached: bool = False) -> TrialRecord:
    s = fl.suggestion
    cost = fl.nominal_cost if out.cost is None else float(out.cost)
    return TrialRecord(
        trial_id=s.trial_id,
        config=dict(s.config),
        budget=s.budget,
        status=_STATUS[out.status],
        objective=out.objective,
        cost=cost,
        metrics=dict(out.metrics),
        error=out.error,
        started=out.started,
        finished=out.finished,
        queued=fl.job.queued,
        worker=out.worker,
        cached=cached,
        continue_from=s.continue_from,
        attempts=fl.attempts,
        objectives=out.objectives,
    )


def drive(
    runs: Sequence[RunState],
    executor: Executor,
    *,
    store: Store | None = None,
    trials_per_run: int = 1,
    trial_timeout: float | None = None,
    cache_scope: int | None | bool = False,
    on_trial: Progress | None = None,
) -> None:
    """Run every run to the end of its budget (or of its searcher).

    Args:
        runs: the runs, with searchers already replayed on resume.
        executor: where trials are evaluated.
        store: commit each finished trial here (None: keep in memory only).
        trials_per_run: trials of one run in flight at once (1 = reproducible
            whatever the number of workers).
        trial_timeout: seconds after which a trial is stopped and stored as timeout.
        cache_scope: False = no cache; an experiment id = reuse evaluations of that
            experiment; None = reuse evaluations of any experiment in the store.
        on_trial: called after each finished trial (progress display).
    """
    # One queued trial per worker on top of the running ones hides the driver's own
    # latency (commit, tell, ask) from the workers. Not with a trial timeout: a queued
    # trial's clock would start before it runs.
    inline = isinstance(executor, InProcessExecutor)
    prefetch = 0 if inline or trial_timeout is not None else executor.workers
    slots = max(1, executor.workers) + prefetch
    futures: dict[cf.Future[TrialOutcome], _InFlight] = {}
    active = [r for r in runs if not r.finished]
    cursor = 0
    use_cache = cache_scope is not False and store is not None
    # Keys already in the store: a miss (the usual case) then costs no query.
    known_keys: dict[str, int] = (
        store.cache_index(cache_scope if isinstance(cache_scope, int) else None)
        if use_cache and store is not None
        else {}
    )
    # Trials that take microseconds are evaluated right here (inline), without a future.

    def finish_trial(fl: _InFlight, out: TrialOutcome, cached: bool = False) -> None:
        run = fl.run
        rec = _record(fl, out, cached=cached)
        key = fl.key
        # Charge what was committed at ask time; the task's own cost figure wins when given.
        run.cost_committed += rec.cost - fl.nominal_cost
        if store is not None and run.run_id is not None:
            ok = rec.status is TrialStatus.OK
            row_id = store.add_trial(
                run.run_id, rec, cache_key=key if ok else None, config_json=fl.config_json
            )
            if ok and key is not None and use_cache:
                known_keys.setdefault(key, row_id)
        run.inflight.pop(fl.suggestion.trial_id, None)
        run.keep_checkpoint(
            rec.trial_id, rec.budget, out.checkpoint if rec.status is TrialStatus.OK else None
        )
        run.complete(fl.suggestion, rec)
        if on_trial is not None:
            on_trial(run, rec)

    def submit(fl: _InFlight) -> None:
        fl.submitted = time.time()
        if inline:
            finish_trial(fl, evaluate_trial(fl.job))
            return
        futures[executor.submit(fl.job)] = fl

    def fill() -> None:
        nonlocal cursor, active
        progressed = True
        while len(futures) < slots and progressed and active:
            progressed = False
            for i in range(len(active)):
                if len(futures) >= slots:
                    break
                run = active[(cursor + i) % len(active)]
                if run.finished or len(run.inflight) >= trials_per_run:
                    continue
                s = run.next_suggestion()
                if s is None:
                    if not run.inflight:
                        run.finished = True
                    continue
                job = TrialJob(
                    task=run.task_ref,
                    config=s.config,
                    budget=s.budget,
                    seed=run.task_seed,
                    checkpoint=run.checkpoint_for(s),
                    timeout=trial_timeout,
                )
                fl = _InFlight(run=run, suggestion=s, job=job, nominal_cost=run.nominal_cost(s))
                if store is not None:
                    fl.config_json = encode_config(s.config)
                    fl.key = _key(run.task, fl.config_json, s.budget, run.task_seed)
                run.inflight[s.trial_id] = fl
                progressed = True
                if use_cache and fl.key in known_keys and _from_cache(fl, store):
                    continue
                submit(fl)
            cursor += 1
            active = [r for r in active if not r.finished]

    def _from_cache(fl: _InFlight, store: Store) -> bool:
        s = fl.suggestion
        assert fl.key is not None
        hit = store.cached_trial(known_keys[fl.key])
        if hit is None:
            return False
        now = time.time()
        # Charge what training this trial would have cost: the stored cost when both
        # trained from scratch, else the nominal cost of this suggestion (an increment
        # for a continuation). Cached trials give no checkpoint: a later continuation
        # from one retrains from scratch and is charged the increment.
        same_start = s.continue_from is None and hit.continue_from is None
        out = TrialOutcome(
            "ok",
            hit.objective,
            hit.cost if same_start else None,
            hit.metrics,
            None,
            None,
            now,
            now,
            "cache",
            hit.objectives,
        )
        finish_trial(fl, out, cached=True)
        return True

    try:
        while True:
            fill()
            if not futures:
                active = [r for r in active if not r.finished]
                if not active:
                    break
                if all(not r.inflight for r in active):
                    # Every run declined to ask and nothing is in flight: they are finished.
                    for r in active:
                        if r.next_suggestion() is None:
                            r.finished = True
                continue
            done, _ = cf.wait(list(futures), timeout=0.5, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                fl = futures.pop(fut)
                try:
                    out = fut.result()
                except WorkerDied as exc:
                    if fl.attempts < _MAX_ATTEMPTS:
                        # Retried once, on whichever worker is free (a fresh process in the pool).
                        fl.attempts += 1
                        fl.job = dataclasses.replace(fl.job, queued=time.time())
                        submit(fl)
                        continue
                    reason = f"worker died in each of {fl.attempts} attempts; last: {exc}"
                    out = TrialOutcome(
                        "failed", None, None, {}, None, reason[:2000], fl.submitted, time.time(), "?"
                    )
                except ExecutorBroken:
                    raise
                except (cf.CancelledError, Exception) as exc:  # noqa: BLE001 - executor-level trouble
                    reason = f"executor error: {type(exc).__name__}: {exc}"
                    out = TrialOutcome(
                        "failed", None, None, {}, None, reason[:2000], fl.submitted, time.time(), "?"
                    )
                finish_trial(fl, out)
            if trial_timeout is not None:
                _reap_hung(futures, executor, trial_timeout, finish_trial)
    except BaseException:
        # Ctrl-C, a store that cannot be written...: stop every trial still running.
        executor.shutdown(cancel=True)
        raise


def _reap_hung(
    futures: dict[cf.Future[TrialOutcome], _InFlight],
    executor: Executor,
    timeout: float,
    finish_trial: Callable[[_InFlight, TrialOutcome], None],
) -> None:
    """Backstop for trials stuck in native code, where the worker's own deadline cannot fire."""
    now = time.time()
    grace = timeout + max(2.0, 0.25 * timeout)
    for fut, fl in list(futures.items()):
        since = executor.running_since(fut) or fl.submitted
        if fut.done() or now - since <= grace:
            continue
        futures.pop(fut)
        executor.abandon(fut)
        msg = f"trial exceeded the timeout of {timeout} s (stuck outside Python; its worker was stopped)"
        finish_trial(fl, TrialOutcome("timeout", None, None, {}, None, msg, since, now, "?"))


def run_search(
    task: Task,
    searcher: Searcher,
    *,
    budget: Budget,
    task_seed: int = 0,
    executor: Executor | None = None,
    trials_per_run: int = 1,
    trial_timeout: float | None = None,
) -> list[TrialRecord]:
    """Run one searcher on one task, in memory, and return its trials in completion order.

    Example:
        >>> from hpbench.registry import get_task, make_searcher
        >>> task = get_task("branin")
        >>> s = make_searcher("random", space=task.space, seed=0)
        >>> len(run_search(task, s, budget=Budget(max_evals=5)))
        5
    """
    if searcher.needs_fidelity and task.fidelity is None:
        raise ValueError(f"{searcher.name}: needs a task with a fidelity, got {task.name!r}")
    run = RunState(task=task, searcher=searcher, budget=budget, task_seed=task_seed)
    drive([run], executor or InProcessExecutor(), trials_per_run=trials_per_run, trial_timeout=trial_timeout)
    return run.records
