"""Run a whole benchmark (tasks x searchers x seeds) into a store, resuming if asked.

This is the one call behind both ``hpbench run`` and ``hpbench.benchmark``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import platform
import re
import sqlite3
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from hpbench import registry
from hpbench.budget import Budget
from hpbench.executors import Executor, make_executor
from hpbench.executors.choice import auto_workers
from hpbench.progress import ProgressDisplay, StopExperiment, TrialEvent
from hpbench.registry import (
    get_searcher_class,
    get_task,
    make_searcher,
    register_task,
)
from hpbench.results.lock import experiment_lock
from hpbench.results.store import (
    DEFAULT_STORE,
    Store,
    StoreError,
    check_store_path,
    load_results,
    load_runs,
)
from hpbench.resume import PlannedRun, create_runs, plan_runs
from hpbench.runner import RunState, drive, drive_virtual
from hpbench.spec import (
    BenchmarkSpec,
    RunOptions,
    SearcherSpec,
    check_virtual_workers,
    seeds_from,
    spec_differences,
)
from hpbench.tasks.base import Task
from hpbench.threads import one_thread

__all__ = ["run_experiment", "benchmark", "ExperimentResult", "TrialEvent", "environment_versions"]

_LIBS = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "torch",
    "optuna",
    "scikit-optimize",
    "plotly",
    "distributed",
)


def environment_versions() -> dict[str, str]:
    from hpbench import __version__

    out = {"hpbench": __version__, "python": platform.python_version()}
    for lib in _LIBS:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[lib] = metadata.version(lib)
    return out


def machine_info() -> dict[str, Any]:
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


@dataclass
class ExperimentResult:
    """What ``benchmark`` returns: the experiment's name, its store and its trials."""

    name: str
    store: str
    resumed: bool = False
    messages: list[str] = field(default_factory=list)
    stopped: bool = False  # an on_trial callback stopped it before the budgets were spent

    @property
    def trials(self) -> pd.DataFrame:
        """One row per trial (see ``hpbench.load_results``)."""
        return load_results(self.store, self.name)

    df = trials

    @property
    def runs(self) -> pd.DataFrame:
        return load_runs(self.store, self.name)

    def counts(self) -> tuple[int, int, int]:
        """``(trials, ok trials, failed runs)``, read from the store without pandas."""
        with Store(self.store, readonly=True) as store:
            return store.experiment_counts(self.name)

    def report(self, path: str | os.PathLike[str] = "results/report.html") -> Path:
        """Write the HTML report of this experiment."""
        from hpbench.results.report import baseline_pool, write_report
        from hpbench.results.store import experiment_specs

        specs = experiment_specs(self.store, self.name)
        pool = baseline_pool(self.store, [self.name])  # the store's other random evaluations of these tasks
        return write_report(self.trials, self.runs, path, title=self.name, pool_from=pool, specs=specs)


def _validate(spec: BenchmarkSpec, tasks: Mapping[str, Task]) -> None:
    """Build every (task, searcher) once so bad parameters fail before anything is written."""
    for t in tasks.values():
        for s in spec.searchers:
            cls = get_searcher_class(s.name)
            if cls.needs_fidelity and t.fidelity is None:
                raise ValueError(
                    f"searcher {s.label!r}: needs a task with a fidelity, but task {t.name!r} has none "
                    "(tasks with a fidelity: the -mf variants, gbdt-*, mlp-digits, cnn-digits)"
                )
            make_searcher(
                s.name, space=t.space, fidelity=t.fidelity, seed=0, n_objectives=t.n_objectives, **s.params
            )


_DEFAULT_OPTIONS = RunOptions()


def _check_before_writing(
    spec: BenchmarkSpec,
    options: RunOptions,
    tasks: Mapping[str, Task],
    store: str | os.PathLike[str] | None,
    fresh: bool,
    say: Callable[[str], None],
) -> tuple[str, str, bool, list[str]]:
    """The store's path, the experiment's name, whether it exists, and the messages to show.

    Everything that can refuse the run is checked before the first write: the store
    (read-only) and the experiment's spec here, then the executor (an unreachable scheduler).
    """
    path = str(store if store is not None else options.store or DEFAULT_STORE)
    if not path.strip():
        raise ValueError(f"store: rule 'a non-empty file path' broken, got {path!r}")
    name, existing, messages = _plan(path, spec, fresh)
    _say_synchronous(spec, options, say)
    _say_single_objective(spec, tasks, say)
    _say_max_evals_multi_fidelity(spec, say)
    return path, name, existing, messages


def run_experiment(
    spec: BenchmarkSpec,
    options: RunOptions = _DEFAULT_OPTIONS,
    *,
    store: str | os.PathLike[str] | None = None,
    fresh: bool = False,
    cache: bool = False,
    task_objects: Mapping[str, Task] | None = None,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
    on_trial: Callable[[TrialEvent], Any] | None = None,
    command: str | None = None,
) -> ExperimentResult:
    """Run (or resume) the experiment ``spec`` and store every trial.

    Args:
        spec: tasks, searchers, seeds and budget.
        options: workers, Dask address, trial timeout, trials in flight per run.
        store: path of the SQLite store (default ``options.store`` or results/hpbench.db).
        fresh: when an experiment of that name exists, start a new one named
            ``NAME-2``, ``NAME-3``... instead of resuming it.
        cache: reuse evaluations from other experiments in the store (within the
            experiment they are always reused).
        task_objects: tasks given as objects rather than registry names.
        progress: show a progress bar (default: when stderr is a terminal).
        log: where to print one-line messages (default: stderr).
        on_trial: called with a ``TrialEvent`` after every finished trial, in this process;
            returning ``False`` stops the experiment there (finished trials stay stored;
            the same call resumes it). ``result.stopped`` then says so.
        command: how the experiment was started (the command line, or the library call),
            kept with its spec when the experiment is created; the report shows it.
    """
    say = log or (lambda m: print(m, file=sys.stderr))
    task_objects = dict(task_objects or {})
    tasks = {name: task_objects[name] if name in task_objects else get_task(name) for name in spec.tasks}
    _validate(spec, tasks)
    path, name, existing, messages = _check_before_writing(spec, options, tasks, store, fresh, say)
    executor = make_executor(**_executor_options(options, tasks.values()))
    held = contextlib.ExitStack()  # the experiment's lock, then the store: closed in reverse
    try:
        refs = {t: _task_ref(t, tasks[t], task_objects, executor) for t in tasks}
        held.enter_context(experiment_lock(path, name))  # one process per experiment, to the end
        versions = environment_versions()
        # Every stored run is replayed before the first write: one this build cannot
        # reproduce is refused while the store is untouched. A virtual run is simulated again.
        extends = _extends(path, name, spec)
        replay = not executor.capabilities.virtual_time
        planned = plan_runs(path, name, spec, tasks, refs, extend=extends, versions=versions, replay=replay)
        db = held.enter_context(Store(path))
        try:
            exp_id, extend = _open_experiment(db, name, {**spec.to_dict(), "name": name}, command)
            for m in messages + _failed_before(planned):
                say(m)
            info, machine = {t: _task_info(task) for t, task in tasks.items()}, machine_info()
            create_runs(db, exp_id, planned, spec, info, extend=extend, versions=versions, machine=machine)
            runs, seeds = [p.run for p in planned], {id(p.run): p.seed for p in planned}
            todo = [r for r in runs if not r.finished]
            display = ProgressDisplay(todo, seeds, bar=progress, callback=on_trial)
            _drive_runs(db, runs, executor, options, None if cache else exp_id, display, say)
        except StopExperiment as stop:
            say(f"experiment {name!r} stopped by on_trial ({stop}); the same call resumes it")
            return ExperimentResult(name, path, existing, messages, stopped=True)
        except sqlite3.Error as exc:
            # Disk full, file made read-only...: every trial committed so far is kept.
            n = sum(len(p.run.records) for p in planned)
            raise StoreError(
                f"store {path!r}: cannot write ({exc}); the experiment stopped, the {n} trials finished "
                "before are kept; fix the cause and run the same command again to resume"
            ) from None
        return ExperimentResult(name=name, store=path, resumed=existing, messages=messages)
    except KeyboardInterrupt as exc:
        exc.experiment = name  # type: ignore[attr-defined] # the CLI says how to resume *this* one
        raise
    finally:
        try:
            executor.shutdown()
        finally:
            held.close()


def _executor_options(options: RunOptions, tasks: Any) -> dict[str, Any]:
    """What ``make_executor`` takes of the run options (unset workers: ``auto_workers``)."""
    keys = ("dask", "virtual_workers", "no_workers_timeout")
    out = {k: getattr(options, k) for k in keys}
    out["workers"] = auto_workers(options.workers, tasks, options.trial_timeout)
    return out


def _extends(path: str, name: str, spec: BenchmarkSpec) -> bool:
    """Whether ``spec`` extends the stored experiment ``name`` to a larger budget (read-only)."""
    if path == ":memory:" or not Path(path).is_file() or Path(path).stat().st_size == 0:
        return False
    with Store(path, readonly=True) as ro:
        found = ro.get_experiment(name)
        if found is not None:
            ro.runs_frame(name)  # a damaged JSON field of its runs is named now, before any write
    return found is not None and budget_extension(found[1], {**spec.to_dict(), "name": name})


def _failed_before(planned: Sequence[PlannedRun]) -> list[str]:
    """One line per run that failed in an earlier session: it stays failed."""
    return [
        f"run {p.run.run_id} ({p.task_name}, {p.searcher.label}, seed {p.seed}) failed before and stays "
        f"failed, its trials kept ({p.run.error}); --fresh starts a new experiment"
        for p in planned
        if p.status == "failed"
    ]


def _drive_runs(
    db: Store,
    runs: Sequence[RunState],
    executor: Executor,
    options: RunOptions,
    cache_scope: int | None,
    display: ProgressDisplay,
    say: Callable[[str], None],
) -> None:
    """Drive the unfinished runs to their end; store each one's recommendation and final status."""
    todo = [r for r in runs if not r.finished]
    virtual = executor.capabilities.virtual_time  # each run alone on its own simulated workers
    per_run = options.trials_per_run or (
        1 if len(todo) >= executor.workers else -(-executor.workers // max(1, len(todo)))
    )
    if virtual:
        per_run = options.trials_per_run or executor.workers
    for r in todo:
        db.set_run_status(r.run_id, "running")  # type: ignore[arg-type]
    # The driver's own numerics (GP fits, surrogate predictions) run on one BLAS thread, like
    # a worker's: their matrices are small, so threads only fight over the cores (4-5x slower
    # on a loaded machine), and one seed gives the same floats in the driver and in a worker.
    with one_thread(), display as on_trial:
        (drive_virtual if virtual else drive)(
            todo,
            executor,
            store=db,
            trials_per_run=per_run,
            trial_timeout=options.trial_timeout,
            cache_scope=False if virtual else cache_scope,  # a cached trial would bring real times
            on_trial=on_trial,
            checkpoint_memory=int(options.checkpoint_memory_mb * 2**20),
        )
    for r in todo:
        db.set_recommendation(r.run_id, r.recommendation())  # type: ignore[arg-type]
        if r.error is not None:
            say(f"run {r.run_id} ({r.task.name}, {r.label}) failed, its other trials kept: {r.error}")
        status = "finished" if r.error is None else "failed"
        db.set_run_status(r.run_id, status, error=r.error)  # type: ignore[arg-type]


def _open_experiment(
    db: Store, name: str, spec_dict: dict[str, Any], command: str | None
) -> tuple[int, bool]:
    """The experiment's id (created if new, its budget updated if extended) and whether it is extended."""
    found = db.get_experiment(name)
    if found is None:
        from hpbench import __version__

        return db.create_experiment(name, {**spec_dict, "command": command or ""}, __version__), False
    extend = budget_extension(found[1], spec_dict)
    diffs = spec_differences(found[1], spec_dict)
    if diffs and not extend:  # another process created it meanwhile
        raise ValueError(f"experiment {name!r} exists with another spec ({'; '.join(diffs)})")
    if extend:
        db.update_experiment_spec(found[0], _extended(found[1], spec_dict))
    return found[0], extend


def content_name(tasks: Sequence[str], searchers: Sequence[SearcherSpec], seeds: Sequence[int]) -> str:
    """An experiment name made from what defines it, the budget left out (so it can grow).

    ``branin`` + ``random``, ``gp-ei`` over seeds 0..4 -> ``branin-3f9a2c``; two tasks ->
    ``branin-and-1-more-…``. The same tasks, searchers and seeds give the same name.
    """
    ident = json.dumps(
        {"tasks": list(tasks), "searchers": [s.to_dict() for s in searchers], "seeds": list(seeds)},
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha1(ident.encode("utf-8")).hexdigest()[:6]
    more = f"-and-{len(tasks) - 1}-more" if len(tasks) > 1 else ""
    return f"{re.sub(r'[^A-Za-z0-9_.-]', '-', tasks[0])}{more}-{digest}"


def budget_extension(stored: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True when ``new`` differs from the stored spec only by a larger budget.

    Larger means: the same limits, none smaller, one at least larger. Runs then continue
    from their stored trials up to the new limits.
    """
    diffs = spec_differences(stored, new)
    if not diffs or any(not d.startswith("budget:") for d in diffs):
        return False
    old, now = stored.get("budget") or {}, new.get("budget") or {}
    keys = {k for k, v in old.items() if v is not None}
    if keys != {k for k, v in now.items() if v is not None}:
        return False
    return all(float(now[k]) >= float(old[k]) for k in keys)


def _extended(stored: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The new spec, carrying the history of the budgets it had before."""
    history = [*stored.get("budget_history", []), stored.get("budget")]
    return {**new, "budget_history": history}


def _plan(path: str, spec: BenchmarkSpec, fresh: bool) -> tuple[str, bool, list[str]]:
    """Name of the experiment to write, whether it is resumed, and what to tell the user.

    Opens an existing store read-only, so a refusal (bad file, other spec) writes nothing.
    """
    p = Path(path)
    if path != ":memory:":
        check_store_path(path, readonly=False)
    if path == ":memory:" or not p.exists() or (p.is_file() and p.stat().st_size == 0):
        return spec.name, False, []
    try:
        ro = Store(path, readonly=True)
    except StoreError as exc:
        if "empty file" not in str(exc):
            raise
        return spec.name, False, []  # another process is creating this store right now
    try:
        if not os.access(p, os.W_OK) or not os.access(p.parent, os.W_OK):
            raise StoreError(
                f"store: {path!r} is not writable (the file and its directory must be); not touched"
            )
        name = spec.name
        existing = ro.get_experiment(name)
        if existing is not None and fresh:
            i = 2
            while ro.get_experiment(f"{spec.name}-{i}") is not None:
                i += 1
            name = f"{spec.name}-{i}"
            return name, False, [f"experiment {spec.name!r} exists; --fresh: starting {name!r}"]
        if existing is None:
            return name, False, []
        new = {**spec.to_dict(), "name": name}
        if budget_extension(existing[1], new):
            return (
                name,
                True,
                [
                    f"experiment {name!r} exists with a smaller budget ({existing[1].get('budget')}): "
                    f"extending it to {new['budget']}; its runs continue from their stored trials"
                ],
            )
        diffs = spec_differences(existing[1], new)
        if diffs:
            raise ValueError(
                f"experiment {name!r} exists with another spec ({'; '.join(diffs)}); "
                "use --fresh for a new experiment or --name for another name"
            )
        return name, True, [f"experiment {name!r} exists: resuming it (finished runs are skipped)"]
    finally:
        ro.close()


def objectives_info(task: Task) -> dict[str, Any]:
    """What the store keeps about a multi-objective task (nothing for a single-objective one)."""
    if not task.objectives:
        return {}
    return {"objectives": [o.to_dict() for o in task.objectives], "pareto_front": task.pareto_front}


def _say_single_objective(spec: BenchmarkSpec, tasks: Mapping[str, Task], say: Callable[[str], None]) -> None:
    """Single-objective searchers on a multi-objective task optimise its first objective: say so once."""
    single = [s.label for s in spec.searchers if not get_searcher_class(s.name).multi_objective]
    for t in tasks.values():
        if t.n_objectives > 1 and single:
            names = [o.name for o in t.objectives]
            say(
                f"note: task {t.name!r} has objectives {names}; {', '.join(repr(x) for x in single)} "
                f"optimise(s) only the first ({names[0]!r}); all are stored, and the report compares "
                f"every searcher's Pareto front (--objective NAME picks another objective)"
            )


def _say_max_evals_multi_fidelity(spec: BenchmarkSpec, say: Callable[[str], None]) -> None:
    """Under max_evals a low-fidelity trial counts as a whole evaluation: say so before running."""
    if spec.budget.max_evals is None:
        return
    mf = [s.label for s in spec.searchers if get_searcher_class(s.name).needs_fidelity]
    if mf:
        say(
            f"warning: {', '.join(repr(x) for x in mf)} multi-fidelity under max_evals: each low-fidelity "
            "trial counts as one full evaluation, so the budget is not equal; compare under --max-cost"
        )


def _say_synchronous(spec: BenchmarkSpec, options: RunOptions, say: Callable[[str], None]) -> None:
    """Synchronous searchers wait for each rung: say once that more trials in flight help only within it."""
    k = options.trials_per_run
    if k is None or k <= 1:
        return
    sync = [s.label for s in spec.searchers if get_searcher_class(s.name).synchronous]
    if sync:
        say(
            f"note: {', '.join(repr(x) for x in sync)} synchronous: up to {k} trials of one rung run at "
            "once, then the run waits for the whole rung before promoting"
        )


def _rebuildable_by_name(name: str) -> bool:
    """Built-in and entry-point tasks exist in every worker; ``register_task`` ones only here."""
    name = registry.split_task_name(name)[0]  # TASK@OBJECTIVE is rebuilt from TASK
    extra = registry._extra_tasks.get(name)
    return name in registry._BUILTIN_TASKS if extra is None else isinstance(extra, registry._LazyEntryPoint)


def _task_ref(name: str, task: Task, task_objects: Mapping[str, Task], executor: Executor) -> str | Task:
    """What workers get: a registry name they can rebuild themselves, else the Task object."""
    if name not in task_objects and _rebuildable_by_name(name):
        return name
    if executor.capabilities.pickles_tasks:
        try:
            pickle.dumps(task)
        except Exception as exc:  # noqa: BLE001 - any pickling failure means the same to the user
            raise ValueError(
                f"task {name!r}: cannot be sent to worker processes ({type(exc).__name__}: {exc}); "
                "define its function at module level, or use workers=0 to evaluate in this process"
            ) from None
    return task


def _task_info(task: Task) -> dict[str, Any]:
    """What the store keeps about a run's task; a surrogate adds its recording and quality."""
    info = {
        "optimum": task.optimum,
        "fidelity": None if task.fidelity is None else task.fidelity.to_dict(),
        "space": task.space.to_dict(),
        **objectives_info(task),
    }
    surrogate = task.info().get("surrogate")
    if surrogate is not None:
        info["surrogate"] = surrogate
    return info


def benchmark(
    tasks: str | Task | Sequence[str | Task],
    searchers: Any,
    *,
    seeds: int | Sequence[int] = 3,
    max_evals: int | None = None,
    max_cost: float | None = None,
    max_seconds: float | None = None,
    name: str = "benchmark",
    store: str | os.PathLike[str] = DEFAULT_STORE,
    workers: int = 0,
    dask: str | None = None,
    virtual_workers: int | None = None,
    trial_timeout: float | None = None,
    fresh: bool = False,
    cache: bool = False,
    progress: bool | None = None,
    on_trial: Callable[[TrialEvent], Any] | None = None,
) -> ExperimentResult:
    """Benchmark searchers on tasks in one call and return the results.

    Args:
        tasks: registry names (``"branin"``) or ``Task`` objects (e.g. from ``@hpbench.task``);
            a lone name or task counts as a one-element list (as does a lone searcher).
            A task function's name becomes the task name with ``_`` replaced by ``-``
            (``def my_task`` -> ``"my-task"``); ``@hb.task(name=...)`` sets another.
        searchers: names with parameters (``"hyperband:eta=3"``), tables
            (``{"name": "hyperband", "eta": 3}``), ``Searcher`` subclasses, ``(SearcherClass,
            {"sigma": 0.3})`` / ``("gp-ei", {"n_init": 5})`` pairs, or
            ``functools.partial(SearcherClass, sigma=0.3)``.
        seeds: a number N (seeds 0..N-1) or the list of seeds.
        max_evals: evaluations per run. Give at least one of the three limits; a run
            stops at whichever comes first.
        max_cost: cost per run in full-fidelity evaluations: (b - a + c0) / (R + c0) a trial.
        max_seconds: compute seconds per run (its trials' run times plus the searcher's).
        name: experiment name in the store.
        store: path of the SQLite store.
        workers: worker processes (``0``: evaluate in this process).
        dask: a Dask scheduler address (``tcp://HOST:8786``) or ``local:N``.
        virtual_workers: simulate this many workers on a virtual clock instead (trials run
            in this process; each takes its ``Evaluation.seconds`` of simulated time, so
            a surrogate task's study runs at the speed of lookup; see docs/surrogates.md).
        trial_timeout: seconds after which a trial is stopped and stored as ``timeout``.
        fresh: when an experiment of that name exists, start ``NAME-2`` instead of resuming.
        cache: reuse evaluations from other experiments in the same store.
        progress: show a progress bar on stderr (default: when stderr is a terminal).
        on_trial: called with a ``hb.TrialEvent`` after every finished trial; return
            ``False`` to stop early (finished trials stay stored; the same call resumes).

    Returns:
        An ``ExperimentResult`` (``.trials``, ``.runs``, ``.report(path)``, ``.stopped``).

    Example:
        >>> import hpbench as hb
        >>> res = hb.benchmark(["branin"], ["random", "gp-ei"], seeds=2, max_evals=20,
        ...                    store="results/demo.db")  # doctest: +SKIP
        >>> res.trials.groupby("searcher").objective.min()  # doctest: +SKIP
    """
    from hpbench.api import as_searcher_spec

    names, task_objects = _task_names(as_list(tasks))
    budget = Budget(max_evals=max_evals, max_cost=max_cost, max_seconds=max_seconds)
    searcher_specs = tuple(as_searcher_spec(s) for s in as_list(searchers))
    spec = BenchmarkSpec(name, tuple(names), searcher_specs, seeds_from(seeds), budget)
    check_virtual_workers(virtual_workers, workers)
    options = RunOptions(workers, dask, trial_timeout, virtual_workers=virtual_workers)
    return run_experiment(
        spec,
        options,
        store=store,
        fresh=fresh,
        cache=cache,
        task_objects=task_objects,
        progress=progress,
        on_trial=on_trial,
        command=_call_text(spec),
    )


def as_list(value: Any) -> Any:
    """A lone name, task or searcher table where a list belongs, as a one-element list (never iterated)."""
    return [value] if isinstance(value, (str, Task, Mapping)) else value


def _task_names(tasks: Sequence[str | Task]) -> tuple[list[str], dict[str, Task]]:
    """The names of ``benchmark``'s tasks, and its ``Task`` objects by name (registered on the way)."""
    task_objects: dict[str, Task] = {}
    names = []
    for t in tasks:
        if isinstance(t, Task):
            task_objects[t.name] = t
            register_task(t.name, t)
            names.append(t.name)
        elif isinstance(t, str):
            names.append(t)
        else:
            raise TypeError(f"tasks: each must be a name or a Task, got {t!r}")
    return names, task_objects


def _call_text(spec: BenchmarkSpec) -> str:
    """The library call that made an experiment, as the report's Reproduce section shows it."""
    budget = ", ".join(f"{k}={v!r}" for k, v in spec.budget.to_dict().items() if v is not None)
    labels = [s.label for s in spec.searchers]
    seeds = list(spec.seeds)
    return f"hb.benchmark({list(spec.tasks)!r}, {labels!r}, seeds={seeds!r}, {budget}, name={spec.name!r})"
