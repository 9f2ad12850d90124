"""The ``hpbench`` command: run, list, status, export, report, record, calibrate.

User mistakes print one line to stderr and exit with code 2, before anything is
written to the store.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from hpbench.results.store import DEFAULT_STORE, StoreError

if TYPE_CHECKING:
    from hpbench.spec import BenchmarkSpec, RunOptions

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"hpbench: error: {message} (see 'hpbench --help')", file=sys.stderr)
        raise SystemExit(2)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"rule '>= 0' broken, got {text!r}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"rule '> 0 and finite' broken, got {text!r}")
    return v


def _add_reading_commands(sub: Any) -> None:
    """``list``, ``status``, ``export`` and ``report``: the commands that read, not run."""
    ls = sub.add_parser("list", help="list tasks (with their spaces) or searchers (with their parameters)")
    ls.add_argument("what", choices=["tasks", "searchers"], help="what to list")
    ls.add_argument("--json", action="store_true", help="machine-readable output")

    store_help = f"SQLite store (default: {DEFAULT_STORE})"
    exp_help = "experiment name (default: every experiment in the store)"
    st = sub.add_parser("status", help="experiments and runs in a store, with progress")
    st.add_argument("--store", default=DEFAULT_STORE, help=store_help)
    st.add_argument("--experiment", help=exp_help)

    ex = sub.add_parser("export", help="export trials to CSV or Parquet")
    ex.add_argument("--format", choices=["csv", "parquet"], default="csv", help="file format (default: csv)")
    ex.add_argument("-o", "--output", required=True, help="file to write (missing folders are created)")
    ex.add_argument("--store", default=DEFAULT_STORE, help=store_help)
    ex.add_argument("--experiment", help=exp_help)

    rep = sub.add_parser("report", help="write the self-contained HTML report, or every figure as files")
    rep.add_argument("--store", default=DEFAULT_STORE, help=store_help)
    which = rep.add_mutually_exclusive_group()
    which.add_argument(
        "--experiment", action="append", help="experiment to report (repeatable; default: the latest)"
    )
    which.add_argument("--all", action="store_true", help="every experiment of the store")
    rep.add_argument(
        "-o", "--output", default="results/report.html", help="HTML file (default: results/report.html)"
    )
    rep.add_argument(
        "--figures",
        metavar="DIR",
        help="instead of the HTML page, write every figure of the report into DIR, "
        "with a CSV of the data each plots (needs Chrome or Chromium)",
    )
    rep.add_argument(
        "--format",
        choices=["svg", "pdf", "png"],
        default="pdf",
        help="file format of --figures (default: pdf; png at 300 dpi)",
    )


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="hpbench", description="Benchmark hyperparameter searchers fairly.")
    from hpbench import __version__

    p.add_argument("--version", action="version", version=f"hpbench {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    r = sub.add_parser("run", help="run (or resume) a benchmark from flags or a TOML spec file")
    r.add_argument("spec", nargs="?", help="TOML spec file (flags below override its [run] table)")
    r.add_argument("--task", action="append", default=[], help="task name (repeatable)")
    r.add_argument(
        "--searcher",
        action="append",
        default=[],
        help="searcher name with optional parameters, e.g. hyperband:eta=3 (repeatable)",
    )
    r.add_argument("--seeds", type=_positive_int, help="number of seeds, 0..N-1 (default 3)")
    r.add_argument(
        "--max-cost",
        type=_positive_float,
        help="cost per run in full-fidelity evaluations (no trial overruns it)",
    )
    r.add_argument(
        "--budget", dest="budget_alias", type=_positive_float, help="deprecated alias of --max-cost"
    )
    r.add_argument("--max-evals", type=_positive_int, help="evaluations per run")
    r.add_argument("--max-seconds", type=_positive_float, help="seconds of compute per run")
    r.add_argument(
        "--workers",
        type=_positive_int,
        help="local worker processes (default: one per core, or 0 when every task is instant and no "
        "--trial-timeout is set; 0 = evaluate in this process)",
    )
    r.add_argument("--dask", help="Dask scheduler address tcp://HOST:8786, or local:N for a LocalCluster")
    r.add_argument(
        "--virtual-workers",
        type=_positive_int,
        metavar="N",
        help="simulate N workers on a virtual clock: trials run in this process and each takes its "
        "predicted seconds (surrogate tasks) of simulated time; --max-seconds counts those",
    )
    _add_run_resources(r)
    r.add_argument(
        "--trials-per-run",
        type=_positive_int,
        help="trials of one run in flight at once (default: 1 when runs fill the workers)",
    )
    r.add_argument(
        "--objective",
        metavar="NAME",
        help="benchmark multi-objective tasks on this one objective (stored as TASK@NAME)",
    )
    r.add_argument("--store", help=f"SQLite store (default {DEFAULT_STORE})")
    r.add_argument(
        "--name",
        help="experiment name (default: the spec's name; for flags, one made from the tasks, searchers "
        "and seeds, so the same flags resume the same experiment and a larger budget extends it)",
    )
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue the experiment of that name (default)")
    mode.add_argument("--fresh", action="store_true", help="start a new experiment even if the name exists")
    r.add_argument(
        "--cache", action="store_true", help="reuse evaluations from other experiments in the store"
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("--report", metavar="FILE", help="write the HTML report here when done")

    _add_reading_commands(sub)
    _add_record_parser(sub)
    _add_calibrate_parser(sub)
    return p


def _add_run_resources(r: Any) -> None:
    """``run``'s limits on a trial, on the checkpoints kept, on waiting for Dask workers."""
    r.add_argument(
        "--trial-timeout",
        type=_positive_float,
        help="seconds before a trial is stopped (with --workers 0 a task that catches the timeout "
        "exception cannot be stopped: use --workers 1 or more)",
    )
    r.add_argument(
        "--checkpoint-memory",
        dest="checkpoint_memory_mb",
        type=_positive_float,
        metavar="MB",
        help="checkpoints the driver keeps over all runs (default 1024 MB); the oldest are dropped "
        "first, and the trials that would continue from them retrain, charged in full",
    )
    r.add_argument(
        "--no-workers-timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="--dask: stop the run after this long with no worker at all (default 60)",
    )


# ------------------------------------------------------------------ record (issue 15)
def _add_record_parser(sub: Any) -> None:
    rc = sub.add_parser(
        "record",
        help="record tasks along their fidelity grid (a Sobol design, resumable) and export Parquet files",
    )
    rc.add_argument("task", nargs="+", help="task name(s) to record")
    rc.add_argument("--configs", type=_positive_int, required=True, help="configurations of the Sobol design")
    rc.add_argument("--seeds", type=_positive_int, default=1, help="seeds of the seeded subset (default 1)")
    rc.add_argument(
        "--seeded", type=_positive_int, help="configurations recorded under every seed (default min(100, N))"
    )
    rc.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1; 0 = here)")
    rc.add_argument("--dask", help="Dask scheduler address tcp://HOST:8786, or local:N")
    rc.add_argument("--store", default="results/recordings.db", help="SQLite store of the recording")
    rc.add_argument("--name", help="experiment name (default record-TASK...)")
    rc.add_argument("--design-seed", type=_positive_int, default=0, help="which scrambled Sobol design")
    rc.add_argument(
        "--include-store", metavar="PATH", help="also record the task's configurations already in this store"
    )
    rc.add_argument(
        "-o",
        "--output",
        help="Parquet file (one task) or directory (several; default recordings/)",
    )
    rc.add_argument("--export-only", action="store_true", help="export what the store holds, record nothing")
    rc.add_argument(
        "--no-quality", action="store_true", help="skip measuring the surrogate's held-out quality"
    )
    rc.add_argument("--no-progress", action="store_true", help="no progress bar")


def _cmd_record(a: argparse.Namespace) -> int:
    from hpbench.surrogate.cli import record_command

    return record_command(a)


# ------------------------------------------------------------------ calibrate (issue 12)
def _add_calibrate_parser(sub: Any) -> None:
    cal = sub.add_parser(
        "calibrate",
        help="measure a task's fixed per-trial overhead c0 (fidelity units) for the cost model",
    )
    cal.add_argument("task", help="task name (must have a fidelity)")
    cal.add_argument("--configs", type=_positive_int, default=3, help="random configurations (default 3)")
    cal.add_argument(
        "--levels", help="comma-separated fidelity levels (default: low, 3 low, 9 low, ..., high)"
    )
    cal.add_argument("--seed", type=_positive_int, default=0, help="seed of configurations and evaluations")
    cal.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="seconds measured: process CPU time (default) or elapsed time; "
        "a task that reports its own seconds is timed by those",
    )


def _cmd_calibrate(a: argparse.Namespace) -> int:
    from hpbench.calibrate import calibrate_command

    return calibrate_command(a)


def _cmd_run(a: argparse.Namespace) -> int:
    from hpbench.experiment import run_experiment

    spec, options = _run_spec(a)
    if a.objective is not None:
        from hpbench.registry import single_objective_names
        from hpbench.spec import BenchmarkSpec

        tasks = single_objective_names(spec.tasks, a.objective)
        spec = BenchmarkSpec(spec.name, tasks, spec.searchers, spec.seeds, spec.budget)
    options = _run_options(a, options)
    if a.report:
        from hpbench.results.output import check_output

        check_output("--report", a.report)  # now, not after the whole run
    command = "hpbench " + shlex.join(getattr(a, "argv", []))
    result = run_experiment(
        spec,
        options,
        fresh=a.fresh,
        cache=a.cache,
        progress=False if a.no_progress else None,
        command=command,
    )
    n, n_ok, failed = result.counts()
    print(f"experiment {result.name!r}: {n} trials stored ({n_ok} ok) in {result.store}")
    if a.report:
        path = result.report(a.report)
        print(f"report written to {path}")
    if failed:
        print(
            f"hpbench: {failed} run(s) failed (their searcher raised); see `hpbench status`", file=sys.stderr
        )
        return 1
    return 0


def _run_spec(a: argparse.Namespace) -> tuple[BenchmarkSpec, RunOptions]:
    """The experiment ``run`` was asked for: from the spec file, or from the flags."""
    from hpbench.budget import Budget
    from hpbench.experiment import content_name
    from hpbench.registry import get_searcher_class, task_names
    from hpbench.spec import BenchmarkSpec, RunOptions, load_spec, parse_searcher, seeds_from

    for t in a.task:
        if t not in task_names():
            from hpbench.registry import get_task

            get_task(t)  # raises with a did-you-mean
    for s in a.searcher:
        get_searcher_class(parse_searcher(s).name)
    max_cost = _max_cost(a)
    if a.spec:
        if a.task or a.searcher or a.seeds is not None or max_cost or a.max_evals or a.max_seconds:
            raise ValueError(
                "run: give either a spec file or --task/--searcher/--seeds/budget flags, not both"
            )
        spec, options = load_spec(a.spec)
        if a.name is not None:
            spec = BenchmarkSpec(a.name, spec.tasks, spec.searchers, spec.seeds, spec.budget)
    else:
        if not a.task:
            raise ValueError("run: rule 'at least one --task (or a spec file)' broken, got none")
        if not a.searcher:
            raise ValueError("run: rule 'at least one --searcher' broken, got none")
        if a.max_evals is None and max_cost is None and a.max_seconds is None:
            raise ValueError(
                "run: rule 'at least one of --max-evals, --max-cost, --max-seconds' broken, got none"
            )
        budget = Budget(max_evals=a.max_evals, max_cost=max_cost, max_seconds=a.max_seconds)
        searchers = tuple(parse_searcher(s) for s in a.searcher)
        seeds = seeds_from(3 if a.seeds is None else a.seeds)
        name = a.name if a.name is not None else content_name(tuple(a.task), searchers, seeds)
        if a.name is None:
            print(f"experiment {name!r} (named from its tasks, searchers and seeds; --name NAME to choose)")
        spec = BenchmarkSpec(name=name, tasks=tuple(a.task), searchers=searchers, seeds=seeds, budget=budget)
        options = RunOptions()
    return spec, options


def _run_options(a: argparse.Namespace, options: RunOptions) -> RunOptions:
    """The spec's ``RunOptions`` with the flags given on the command line over them."""
    from hpbench.spec import RunOptions, check_virtual_workers

    flags = ("workers", "dask", "trial_timeout", "trials_per_run", "store", "virtual_workers")
    flags += ("checkpoint_memory_mb", "no_workers_timeout")
    overrides = {k: getattr(a, k) for k in flags if getattr(a, k) is not None}
    check_virtual_workers(overrides.get("virtual_workers", options.virtual_workers), a.workers)
    return RunOptions(**{**options.__dict__, **overrides})


def _max_cost(a: argparse.Namespace) -> float | None:
    """``--max-cost``, or its deprecated alias ``--budget`` (with a note saying so)."""
    if a.budget_alias is None:
        return a.max_cost
    if a.max_cost is not None and a.max_cost != a.budget_alias:
        raise ValueError(
            f"run: give --max-cost or its deprecated alias --budget, not both (got {a.max_cost:g} "
            f"and {a.budget_alias:g})"
        )
    print("hpbench: note: --budget is deprecated; use --max-cost (same meaning)", file=sys.stderr)
    return a.budget_alias


def _cmd_list(a: argparse.Namespace) -> int:
    from hpbench.listing import searcher_table, task_table

    rows = task_table(versions=a.json) if a.what == "tasks" else searcher_table()
    if a.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for row in rows:
        if a.what == "tasks":
            fid = row["fidelity"]
            fid_text = f"{fid['name']} {fid['low']}..{fid['high']}" if fid else "none"
            secs = row["seconds_per_eval"]
            print(f"{row['name']:<22} {row['description']}")
            objs = row.get("objectives") or []
            objs_text = f"; objectives: {', '.join(o['name'] for o in objs)}" if objs else ""
            print(
                f"{'':<22} fidelity: {fid_text}; optimum: {row['optimum']}; "
                f"s/eval: {secs if secs is not None else '?'}{objs_text}"
            )
            for pname, pdef in (row.get("space") or {}).items():
                print(f"{'':<24} {pname}: {_describe_param(pdef)}")
        else:
            params = ", ".join(f"{k}={v!r}" for k, v in row["params"].items()) or "-"
            print(f"{row['name']:<15} {row['description']}")
            print(f"{'':<15} params: {params}" + (f"  [{row['note']}]" if row.get("note") else ""))
    return 0


def _describe_param(d: dict[str, Any]) -> str:
    """One parameter of ``SearchSpace.to_dict()`` as ``float [0.01, 1] log``, ``one of a, b``."""
    if d.get("type") == "categorical":
        text = "one of " + ", ".join(str(c) for c in d.get("choices", []))
    else:
        text = f"{d.get('type')} [{d.get('low'):g}, {d.get('high'):g}]" + (" log" if d.get("log") else "")
    cond = d.get("active_if")
    if cond:
        parent, values = cond
        text += f" (only when {parent} is {' or '.join(str(v) for v in values)})"
    return text


def _cmd_status(a: argparse.Namespace) -> int:
    from hpbench.incumbent import eligible
    from hpbench.results.store import Store, loads_field

    with Store(a.store, readonly=True) as store:
        if a.experiment and store.get_experiment(a.experiment) is None:
            raise ValueError(f"--experiment: no experiment {a.experiment!r} in {a.store!r}")
        runs = store.runs_frame(a.experiment)
        rows = store.level_summaries()

    # Best = incumbent at the top fidelity (what the report calls the incumbent); cost over all.
    def field(r: Any, column: str) -> Any:
        return loads_field(
            getattr(r, column), f"store {a.store!r}: table runs, run {r.run_id}, column {column}"
        )

    top = {r.run_id: (field(r, "task_info").get("fidelity") or {}).get("high") for r in runs.itertuples()}
    best_by_run: dict[int, tuple[float | None, float]] = {}
    for run_id, budget, low, cost in rows:
        b, c = best_by_run.get(run_id, (None, 0.0))
        if eligible("ok", low, budget, top.get(run_id)):
            b = low if b is None else min(b, low)
        best_by_run[run_id] = (b, c + cost)
    if runs.empty:
        print(f"{a.store}: no runs")
        return 0
    for exp, grp in runs.groupby("experiment", sort=False):
        done = int((grp.status == "finished").sum())
        print(f"experiment {exp}: {done}/{len(grp)} runs finished, {int(grp.n_trials.sum())} trials")
        for _, r in grp.iterrows():
            budget = field(r, "budget")
            target = budget.get("max_evals")
            prog = f"{r.n_trials}/{target}" if target else f"{r.n_trials}"
            b, cost = best_by_run.get(r.run_id, (None, None))
            best_s = f"{b:.6g}" if b is not None else "-"
            cost_s = f"{cost:.3g}" if cost is not None else "0"
            print(
                f"  {r.task:<20} {r.searcher:<24} seed {r.seed:<4} {r.status:<9} trials {prog:<9} "
                f"cost {cost_s:<7} best {best_s}"
            )
            if r.status == "failed" and isinstance(r.error, str):
                print(f"    error: {r.error[:300]}")
    return 0


def _cmd_export(a: argparse.Namespace) -> int:
    from hpbench.results.output import atomic_write, check_output
    from hpbench.results.store import load_results

    out = check_output("--output", a.output)
    df = load_results(a.store, a.experiment)
    with atomic_write(out) as tmp:  # a failed write leaves the previous file whole
        if a.format == "csv":
            df.to_csv(tmp, index=False)
        else:
            _to_parquet(df, tmp)
    print(f"{len(df)} trials written to {out}")
    return 0


def _kind(v: Any) -> str:
    """What Parquet sees of a value: numbers are one kind, whatever their Python type."""
    return "number" if isinstance(v, (int, float)) and not isinstance(v, bool) else type(v).__name__


def _to_parquet(df: Any, path: Any) -> None:
    """Parquet wants one type per column: a metric whose type varies between trials is written as text."""
    mixed = [c for c in df.columns if df[c].dtype == object and len(set(map(_kind, df[c].dropna()))) > 1]
    if mixed:
        df = df.copy()
        for c in mixed:
            df[c] = [v if v is None or isinstance(v, str) or v != v else json.dumps(v) for v in df[c]]
        print(
            f"hpbench: note: column(s) {', '.join(mixed)} mix types; written as text (JSON)", file=sys.stderr
        )
    df.to_parquet(path, index=False)


def _cmd_report(a: argparse.Namespace) -> int:
    from hpbench.results.report import others_of, report_figures, write_report
    from hpbench.results.store import Store, experiment_specs, load_results, load_runs

    if a.figures:
        from hpbench.results.figures import check_export

        check_export(a.format)  # no browser: one line now, before the analysis runs
    else:
        from hpbench.results.output import check_output

        check_output("--output", a.output)  # a path that cannot be written: one line, now

    with Store(a.store, readonly=True) as store:
        have = store.experiment_names()
    names = have if a.all else (a.experiment or have[-1:])
    unknown = [n for n in names if n not in have]
    if unknown:
        raise ValueError(f"--experiment: no experiment {unknown[0]!r} in {a.store!r} (have: {have})")
    if not a.experiment and not a.all and len(have) > 1:
        print(
            f"hpbench: {len(have)} experiments in {a.store}; reporting the latest, {names[0]!r} "
            "(--experiment NAME, repeatable, or --all for more)",
            file=sys.stderr,
        )
    everything, all_runs = load_results(a.store), load_runs(a.store)
    mine = everything["experiment"].isin(names)
    trials = everything[mine]
    if trials.empty:
        raise ValueError(
            f"--store: no trials in {a.store!r} for {', '.join(map(repr, names)) or 'any experiment'}"
        )
    # the other experiments' random-search evaluations of the same task versions feed the score's baseline
    pool = others_of(everything, all_runs, names)
    runs = all_runs[all_runs["experiment"].isin(names)]
    title = ", ".join(names)
    if a.figures:
        from hpbench.results.figures import export_figures

        figures = report_figures(trials, runs, title=title, pool_from=pool)
        paths = export_figures(figures, a.figures, fmt=a.format)
        print(f"{len(paths)} figures ({a.format}, each with a .csv of its data) written to {a.figures}")
        return 0
    specs = {n: sp for n, sp in experiment_specs(a.store).items() if n in names}
    path = write_report(trials, runs, a.output, title=title, pool_from=pool, specs=specs)
    print(f"report written to {path}")
    return 0


_COMMANDS = {
    "run": _cmd_run,
    "list": _cmd_list,
    "status": _cmd_status,
    "export": _cmd_export,
    "report": _cmd_report,
    "record": _cmd_record,
    "calibrate": _cmd_calibrate,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        with _ctrl_c_once(restore=argv is not None):
            return _COMMANDS[args.command](args)
    except (ValueError, TypeError, StoreError) as exc:
        msg = " ".join(str(exc).split())
        print(f"hpbench: error: {msg}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `hpbench list tasks | head`
        sys.stderr.close()
        return 0
    except OSError as exc:  # disk full, read-only file system... while writing a report or an export
        where = f" {exc.filename!r}" if exc.filename else ""
        print(
            f"hpbench: error: cannot write{where}: {exc.strerror or exc}; nothing was changed",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as exc:
        print(f"hpbench: interrupted; {_resume_advice(args, exc)}", file=sys.stderr)
        return 130


@contextlib.contextmanager
def _ctrl_c_once(*, restore: bool) -> Iterator[None]:
    """The first Ctrl-C raises ``KeyboardInterrupt``; later ones are ignored while it cleans up.

    So a second Ctrl-C cannot break the clean-up (or the message) and the exit code stays 130.
    ``restore``: put the previous handler back at the end (``main`` called in-process).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def first(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        if restore or signal.getsignal(signal.SIGINT) is first:
            signal.signal(signal.SIGINT, old)


def _resume_advice(args: argparse.Namespace, exc: BaseException) -> str:
    """How to resume what was interrupted: the same command, unless --fresh made a new experiment."""
    name = getattr(exc, "experiment", None)
    if getattr(args, "fresh", False) and name is not None:
        return (
            f"finished trials are stored in experiment {name!r}; to resume it, run the same command "
            f"with --name {name} instead of --fresh"
        )
    return "finished trials are stored, run the same command again to resume"


if __name__ == "__main__":
    raise SystemExit(main())
