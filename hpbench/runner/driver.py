"""The driver: ask -> evaluate -> tell over many runs at once, in named steps.

Each free worker slot takes the next job from the next run that has one (``next_job``),
which is served from the cache or submitted (``start``, ``submit``); finished trials come
back through ``collect`` (with the retry policy for dead workers) and are finished by
``finish``: record, commit, checkpoint, tell, progress. Every rule of the budget lives in
the run's ``RunBudget``; the driver only asks it.

Every finished trial is committed to the store (one transaction) *before* the searcher
is told, so a killed driver loses no finished trial and a resumed run replays exactly
what the searcher had seen.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hpbench.cache import EvaluationCache, cache_key
from hpbench.checkpoints import DEFAULT_CHECKPOINT_MEMORY_MB, CheckpointMemory
from hpbench.executors.base import Executor, ExecutorBroken, TrialJob, TrialOutcome, WorkerDied
from hpbench.results.store import Store, encode_config
from hpbench.runner.state import RunState
from hpbench.trial import Suggestion, TrialRecord, TrialStatus

__all__ = ["Driver", "InFlight", "Progress", "drive", "MAX_ATTEMPTS"]

MAX_ATTEMPTS = 2  # a trial whose worker dies is retried once, then stored as failed
_STATUS = {s.value: s for s in TrialStatus}  # TrialStatus(text) goes through EnumMeta.__call__

Progress = Callable[[RunState, TrialRecord], None]


@dataclass
class InFlight:
    """A trial between ``next_job`` and ``finish``."""

    run: RunState
    suggestion: Suggestion
    job: TrialJob
    nominal_cost: float
    key: str | None = None
    config_json: str | None = None
    hit: TrialOutcome | None = None  # the cache's outcome, when it had one
    attempts: int = 1
    submitted: float = field(default_factory=time.time)


def _failed(fl: InFlight, reason: str, status: str = "failed", since: float | None = None) -> TrialOutcome:
    started = fl.submitted if since is None else since
    return TrialOutcome(status, None, None, {}, None, reason[:2000], started, time.time(), "?")


def _record(fl: InFlight, out: TrialOutcome, cost: float, cached: bool, virtual: bool) -> TrialRecord:
    s = fl.suggestion
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
        queued=out.started if virtual else fl.job.queued,  # a simulated trial starts when submitted
        worker=out.worker,
        cached=cached,
        continue_from=s.continue_from,
        attempts=fl.attempts,
        objectives=out.objectives,
    )


class Driver:
    """Runs every run to the end of its budget (or of its searcher).

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
        checkpoint_memory: bytes of checkpoints kept over all runs at once (default
            ``DEFAULT_CHECKPOINT_MEMORY_MB``); the oldest are dropped first, and a trial that
            would have continued from one trains from zero, charged in full.
    """

    def __init__(
        self,
        runs: Sequence[RunState],
        executor: Executor,
        *,
        store: Store | None = None,
        trials_per_run: int = 1,
        trial_timeout: float | None = None,
        cache_scope: int | None | bool = False,
        on_trial: Progress | None = None,
        checkpoint_memory: int | None = None,
    ) -> None:
        caps = executor.capabilities
        self.executor, self.store, self.on_trial = executor, store, on_trial
        self.trials_per_run, self.trial_timeout = trials_per_run, trial_timeout
        self.in_driver, self.virtual = caps.in_driver, caps.virtual_time
        # A queued trial per worker hides the driver's latency; not with a trial timeout
        # (a queued trial's clock would start before it runs).
        prefetch = executor.workers if caps.prefetch and trial_timeout is None else 0
        self.slots = max(1, executor.workers) + prefetch
        self.futures: dict[cf.Future[TrialOutcome], InFlight] = {}
        self.active = [r for r in runs if not r.finished]
        cap = DEFAULT_CHECKPOINT_MEMORY_MB * 2**20 if checkpoint_memory is None else checkpoint_memory
        self.memory = CheckpointMemory(int(cap))  # one cap over every run
        for r in self.active:
            r.count_searcher_time = not caps.virtual_time
            r.memory = self.memory
        self.cursor = 0
        self.cache: EvaluationCache | None = None
        if cache_scope is not False and store is not None:
            self.cache = EvaluationCache(store, cache_scope if isinstance(cache_scope, int) else None)

    # ---------------------------------------------------------------- the loop
    def run(self) -> None:
        """Drive until every run is finished; on any error stop every trial still running."""
        try:
            while self.step():
                pass
        except BaseException:
            # Ctrl-C, a store that cannot be written...: stop every trial still running.
            self.executor.shutdown(cancel=True)
            raise

    def step(self) -> bool:
        """Fill the free slots, then finish what came back; False when every run is done."""
        self.fill()
        if not self.futures:
            for r in self.active:  # nothing in flight and nothing asked: these runs are done
                if not r.inflight:
                    r.finished = True
            self._drop_finished()
            return bool(self.active)
        for fl, out in self.collect(timeout=0.5):
            self.finish(fl, out)
        if self.trial_timeout is not None:
            self.reap_hung()
        return True

    def fill(self) -> None:
        """Round-robin over the runs until the slots are full or no run has a job."""
        progressed = True
        while len(self.futures) < self.slots and progressed and self.active:
            progressed = False
            n = len(self.active)
            for i in range(n):
                if len(self.futures) >= self.slots:
                    break
                fl = self.next_job(self.active[(self.cursor + i) % n])
                if fl is not None:
                    progressed = True
                    self.start(fl)
            self.cursor += 1
            self._drop_finished()

    def _drop_finished(self) -> None:
        """Runs that ended leave the round-robin, and their checkpoints the memory."""
        for r in self.active:
            if r.finished:
                self.memory.forget(r.checkpoints)
        self.active = [r for r in self.active if not r.finished]

    # --------------------------------------------------------------- the steps
    def next_job(self, run: RunState) -> InFlight | None:
        """The run's next trial, reserved in its budget, or None (it waits, or it is done)."""
        if run.finished or len(run.inflight) >= self.trials_per_run:
            return None
        s = run.next_suggestion()
        if s is None:
            if not run.inflight:
                run.finished = True
            return None
        level, checkpoint = run.start_of(s)
        nominal = run.ledger.trial_cost(s.budget, level, s.config)
        job = TrialJob(run.task_ref, s.config, s.budget, run.task_seed, checkpoint, self.trial_timeout)
        fl = InFlight(run=run, suggestion=s, job=job, nominal_cost=nominal)
        if self.store is not None:
            fl.config_json = encode_config(s.config)
            fl.key = cache_key(run.task, fl.config_json, s.budget, run.task_seed)
            if self.cache is not None:
                fl.hit = self.cache.lookup(fl.key, s, nominal)
        cost = nominal if fl.hit is None or fl.hit.cost is None else fl.hit.cost
        if not run.ledger.reserve(s.trial_id, cost):  # it would overrun the budget: the run ends
            if not run.inflight:
                run.finished = True
            return None
        run.levels[s.trial_id] = s.budget
        run.inflight[s.trial_id] = fl
        return fl

    def start(self, fl: InFlight) -> None:
        """Serve the job from the cache, or submit it."""
        if fl.hit is not None:
            self.finish(fl, fl.hit, cached=True)
        else:
            self.submit(fl)

    def submit(self, fl: InFlight) -> None:
        """Hand the job to the executor (evaluated at once when it runs in the driver)."""
        fl.submitted = time.time()
        if self.in_driver:
            self.finish(fl, self.executor.evaluate(fl.job))
        else:
            self.futures[self.executor.submit(fl.job)] = fl

    def collect(self, timeout: float) -> list[tuple[InFlight, TrialOutcome]]:
        """The trials that came back within ``timeout`` s; dead workers' trials are retried once."""
        finished = []
        for fut in self.executor.wait(self.futures, timeout):
            fl = self.futures.pop(fut)
            try:
                out = fut.result()
            except WorkerDied as exc:
                retried = self._retry(fl, exc)
                if retried is None:
                    continue
                out = retried
            except ExecutorBroken:
                raise
            except (cf.CancelledError, Exception) as exc:  # noqa: BLE001 - executor-level trouble
                out = _failed(fl, f"executor error: {type(exc).__name__}: {exc}")
            finished.append((fl, out))
        return finished

    def _retry(self, fl: InFlight, exc: WorkerDied) -> TrialOutcome | None:
        """Resubmit (on whichever worker is free, a fresh process in the pool), or the failure."""
        if fl.attempts < MAX_ATTEMPTS:
            fl.attempts += 1
            fl.job = dataclasses.replace(fl.job, queued=time.time())
            self.submit(fl)
            return None
        return _failed(fl, f"worker died in each of {fl.attempts} attempts; last: {exc}")

    def finish(self, fl: InFlight, out: TrialOutcome, cached: bool = False) -> None:
        """Record, commit, keep the checkpoint, tell the searcher, show progress."""
        run, s = fl.run, fl.suggestion
        rec = _record(fl, out, run.ledger.settle(s.trial_id, out.cost), cached, self.virtual)
        ok = rec.status is TrialStatus.OK
        if self.store is not None and run.run_id is not None:
            key = fl.key if ok else None
            row_id = self.store.add_trial(run.run_id, rec, cache_key=key, config_json=fl.config_json)
            if key is not None and self.cache is not None:
                self.cache.remember(key, row_id)
        del run.inflight[s.trial_id]
        run.keep_checkpoint(rec.trial_id, rec.budget, out.checkpoint if ok else None)
        run.complete(s, rec)
        if self.on_trial is not None:
            self.on_trial(run, rec)

    def reap_hung(self) -> None:
        """Backstop for trials stuck in native code, where the worker's own deadline cannot fire."""
        timeout = self.trial_timeout
        assert timeout is not None
        now = time.time()
        grace = timeout + max(2.0, 0.25 * timeout)
        for fut, fl in list(self.futures.items()):
            since = self.executor.running_since(fut) or fl.submitted
            if fut.done() or now - since <= grace:
                continue
            self.futures.pop(fut)
            self.executor.abandon(fut)
            msg = f"trial exceeded the timeout of {timeout} s (stuck outside Python; its worker was stopped)"
            self.finish(fl, _failed(fl, msg, status="timeout", since=since))


def drive(runs: Sequence[RunState], executor: Executor, **options: Any) -> None:
    """Run every run to the end of its budget (or of its searcher); ``options`` as for ``Driver``."""
    Driver(runs, executor, **options).run()
