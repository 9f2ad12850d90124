"""Measure a task's fixed per-trial overhead c0 (what ``hpbench calibrate TASK`` does).

The cost model charges continuing from fidelity level a to b (b - a + c0) / (R + c0)
full-fidelity equivalents, where c0 is the task's fixed per-trial overhead in fidelity
units (start-up, data loading, checkpoint restore, scoring the validation set). To
measure it, a few random configurations are each trained from scratch at several
levels b, after one unmeasured warm-up evaluation (imports, data caches). The seconds
are fitted by least squares as t = t0 + t1 * b and c0 = t0 / t1: the overhead expressed
as the fidelity units that cost as much.

Seconds of one evaluation: the task's own ``Evaluation.seconds`` when it reports one
(a surrogate's predicted compute time), else the process's CPU time (``clock="cpu"``;
the built-in tasks train on one thread, so this is single-core time even on a busy
machine) or the elapsed time (``clock="wall"``).

The fit is of the per-level means: a budget adds up the seconds of many configurations,
so c0 must match their mean, not one typical configuration. It minimises the *relative*
residuals (weights 1 / t^2, ``fit_relative``): the cost model charges shares of a
top-fidelity trial, so a 20% error costs as much at the lowest level as at the top.
Each configuration is also fitted alone, to show how much c0 varies.

Shapes: ``seconds`` is (configs, levels).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpbench.space import Fidelity
    from hpbench.tasks.base import Task

__all__ = [
    "AffineFit",
    "Calibration",
    "fit_affine",
    "fit_relative",
    "time_levels",
    "calibrate",
    "calibrate_command",
]

CLOCKS = ("cpu", "wall")


@dataclass(frozen=True)
class AffineFit:
    """Least-squares fit ``t = t0 + t1 * b`` of seconds ``t`` against fidelity level ``b``.

    Attributes:
        t0: fixed seconds per trial (intercept).
        t1: seconds per fidelity unit (slope).
        r2: coefficient of determination (NaN when every ``t`` is equal).
        residuals: ``t - (t0 + t1 * b)`` at each level, in seconds.
    """

    t0: float
    t1: float
    r2: float
    residuals: tuple[float, ...]

    @property
    def c0(self) -> float:
        """The overhead in fidelity units, ``t0 / t1`` (NaN unless the slope is positive)."""
        return self.t0 / self.t1 if self.t1 > 0 else math.nan


def fit_affine(
    levels: Sequence[float], seconds: Sequence[float], weights: Sequence[float] | None = None
) -> AffineFit:
    """Fit ``seconds = t0 + t1 * levels`` by (weighted) least squares, closed form.

    Minimises ``sum(w * (t - t0 - t1 * b) ** 2)``; ``weights=None`` is ordinary least squares.
    ``r2`` is the weighted coefficient of determination; ``residuals`` are in seconds.

    Raises:
        ValueError: fewer than two distinct levels, lengths that differ, a value that is
            not finite, or a weight that is not positive.
    """
    b = [float(x) for x in levels]
    t = [float(x) for x in seconds]
    w = [1.0] * len(b) if weights is None else [float(x) for x in weights]
    if not len(b) == len(t) == len(w):
        raise ValueError(f"seconds: rule 'one value per level' broken, got {len(t)} for {len(b)} levels")
    if len(set(b)) < 2:
        raise ValueError(f"levels: rule 'at least two distinct levels' broken, got {b}")
    if not all(math.isfinite(x) for x in b + t):
        raise ValueError(f"seconds: rule 'finite levels and seconds' broken, got {b} and {t}")
    if not all(math.isfinite(x) and x > 0 for x in w):
        raise ValueError(f"weights: rule 'finite and > 0' broken, got {w}")
    sw = math.fsum(w)
    mb = math.fsum(wi * x for wi, x in zip(w, b)) / sw
    mt = math.fsum(wi * y for wi, y in zip(w, t)) / sw
    sbb = math.fsum(wi * (x - mb) ** 2 for wi, x in zip(w, b))
    t1 = math.fsum(wi * (x - mb) * (y - mt) for wi, x, y in zip(w, b, t)) / sbb
    t0 = mt - t1 * mb
    residuals = tuple(y - (t0 + t1 * x) for x, y in zip(b, t))
    ss_tot = math.fsum(wi * (y - mt) ** 2 for wi, y in zip(w, t))
    ss_res = math.fsum(wi * r * r for wi, r in zip(w, residuals))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan
    return AffineFit(t0=t0, t1=t1, r2=r2, residuals=residuals)


def fit_relative(levels: Sequence[float], seconds: Sequence[float]) -> AffineFit:
    """The fit ``calibrate`` uses: least squares on *relative* residuals (weights ``1 / t**2``).

    The cost model charges a trial its share ``(b + c0) / (R + c0)`` of a top-fidelity
    trial, so what matters is the relative error at every level; an ordinary fit of the
    seconds is dominated by the top level (the largest seconds), whose share is 1 anyway.
    """
    if not all(math.isfinite(x) and x > 0 for x in seconds):
        raise ValueError(f"seconds: rule 'finite and > 0 at every level' broken, got {list(seconds)}")
    return fit_affine(levels, seconds, [1.0 / (x * x) for x in seconds])


@dataclass(frozen=True)
class Calibration:
    """What ``calibrate`` measured on one task.

    Attributes:
        task: the task's name; ``unit`` its fidelity's name.
        levels: the fidelity levels timed.
        seconds: seconds of each evaluation, one row per configuration (configs, levels).
        clock: "cpu", "wall", or "reported" (the task's ``Evaluation.seconds``).
        fit: the fit of the per-level means; ``per_config`` one fit per configuration.
        failed: the configurations left out because an evaluation raised, with the error.
    """

    task: str
    unit: str
    levels: tuple[float, ...]
    seconds: tuple[tuple[float, ...], ...]
    clock: str
    fit: AffineFit
    per_config: tuple[AffineFit, ...]
    failed: tuple[str, ...] = ()

    @property
    def medians(self) -> tuple[float, ...]:
        """Median seconds at each level over the configurations."""
        return tuple(statistics.median(col) for col in zip(*self.seconds))

    @property
    def means(self) -> tuple[float, ...]:
        """Mean seconds at each level over the configurations."""
        return tuple(statistics.fmean(col) for col in zip(*self.seconds))

    @property
    def c0(self) -> float:
        return self.fit.c0


def _check_task(task: Task) -> Fidelity:
    if task.fidelity is None:
        raise ValueError(
            f"task: rule 'has a fidelity (c0 is a fixed cost in fidelity units)' broken, got {task.name!r}"
        )
    return task.fidelity


def _levels(fidelity: Fidelity, levels: Sequence[float] | None) -> list[float]:
    if levels is None:  # the recording grid: low, 3 low, 9 low, ..., high
        from hpbench.surrogate.design import fidelity_levels

        return [float(b) for b in fidelity_levels(fidelity) if b is not None]
    out = sorted({float(fidelity.validate(b)) for b in levels})
    if len(out) < 2:
        raise ValueError(f"levels: rule 'at least two distinct levels' broken, got {list(levels)}")
    return out


def _time_config(
    task: Task, config: Mapping[str, Any], levels: Sequence[float], seed: int, read: Callable[[], float]
) -> tuple[list[float], bool]:
    """Seconds of one configuration trained from scratch at every level, and whether they
    are all the task's reported ``Evaluation.seconds``."""
    row, reported = [], True
    for b in levels:
        start = read()
        ev = task.evaluate(config, budget=b, seed=seed)
        took = read() - start
        reported = reported and ev.seconds is not None
        row.append(took if ev.seconds is None else float(ev.seconds))
    return row, reported


def time_levels(
    task: Task, levels: Sequence[float], configs: int, *, seed: int = 0, clock: str = "cpu"
) -> tuple[list[list[float]], bool, list[str]]:
    """Seconds of ``configs`` random configurations, each trained from scratch at every level.

    A configuration whose evaluation raises (a diverging learning rate, say) is left out
    and another is drawn, up to ``2 * configs + 3`` failures.

    Returns the (configs, levels) seconds, whether they are the task's reported
    ``Evaluation.seconds`` (True when every evaluation reported one), and one line per
    configuration left out (``"{config}: {error}"``).
    """
    import numpy as np

    if clock not in CLOCKS:
        raise ValueError(f"clock: rule 'one of {list(CLOCKS)}' broken, got {clock!r}")
    read = time.process_time if clock == "cpu" else time.perf_counter
    task.prepare()
    warm = task.space.sample(np.random.default_rng([seed, 1]))
    with contextlib.suppress(Exception):  # imports and data caches, not measured
        task.evaluate(warm, budget=levels[0], seed=seed)
    rng = np.random.default_rng([seed, 0])
    rows, reported, failed = [], True, []
    while len(rows) < configs:
        config = task.space.sample(rng)
        try:
            row, rep = _time_config(task, config, levels, seed, read)
        except Exception as exc:  # noqa: BLE001 - any failing configuration is left out alike
            failed.append(f"{dict(config)}: {type(exc).__name__}: {exc}")
            if len(failed) > 2 * configs + 2:
                msg = f"{len(failed)} configurations of task {task.name!r} failed; last: {failed[-1]}"
                raise RuntimeError(f"calibrate: {msg}") from exc
            continue
        rows.append(row)
        reported = reported and rep
    return rows, reported, failed


def calibrate(
    task: Task, *, configs: int = 3, levels: Sequence[float] | None = None, seed: int = 0, clock: str = "cpu"
) -> Calibration:
    """Measure ``task``'s overhead c0 (see the module docstring).

    Args:
        task: a task with a fidelity.
        configs: random configurations timed (each at every level).
        levels: fidelity levels to time (default ``low, 3 low, 9 low, ..., high``).
        seed: seed of the configurations and of every evaluation.
        clock: "cpu" (process CPU time) or "wall" (elapsed time), unless the task
            reports its own seconds.
    """
    fidelity = _check_task(task)
    if isinstance(configs, bool) or not isinstance(configs, int) or configs < 1:
        raise ValueError(f"configs: rule 'integer >= 1' broken, got {configs!r}")
    grid = _levels(fidelity, levels)
    rows, reported, failed = time_levels(task, grid, configs, seed=seed, clock=clock)
    means = [statistics.fmean(col) for col in zip(*rows)]
    return Calibration(
        task=task.name,
        unit=fidelity.name,
        levels=tuple(grid),
        seconds=tuple(tuple(r) for r in rows),
        clock="reported" if reported else clock,
        fit=fit_relative(grid, means),
        per_config=tuple(fit_relative(grid, r) for r in rows),
        failed=tuple(failed),
    )


def format_calibration(cal: Calibration, declared: float | None = None) -> str:
    """The calibration as text: c0 with its fit quality, then one line per level."""
    f = cal.fit
    head = (
        f"{cal.task}: c0 = {f.c0:.3g} {cal.unit}  (t = {f.t0:.4g} s + {f.t1:.4g} s x {cal.unit}, "
        f"R^2 = {f.r2:.4f}, {cal.clock} seconds of {len(cal.seconds)} configs x {len(cal.levels)} levels)"
    )
    lines = [head]
    if declared is not None:
        lines.append(f"  declared overhead of the task: {declared:g} {cal.unit}")
    per = ", ".join(f"{p.c0:.3g}" for p in cal.per_config)
    lines.append(f"  c0 of each configuration alone: {per}")
    if cal.failed:
        lines.append(f"  left out {len(cal.failed)} configuration(s) that failed, e.g. {cal.failed[0]}")
    if f.t1 <= 0:
        lines.append("  warning: the seconds do not grow with the level; c0 is undefined (declare 0)")
    elif f.t0 < 0:
        lines.append("  warning: negative intercept: the overhead is below what the fit resolves (declare 0)")
    lines.append(f"  {cal.unit:>10}  {'median s':>10}  {'mean s':>10}  {'fitted s':>10}  {'fitted/mean':>11}")
    for b, med, mean, r in zip(cal.levels, cal.medians, cal.means, f.residuals):
        lines.append(
            f"  {b:>10g}  {med:>10.4g}  {mean:>10.4g}  {mean - r:>10.4g}  {(mean - r) / mean:>11.3f}"
        )
    return "\n".join(lines)


def calibrate_command(a: argparse.Namespace) -> int:
    """``hpbench calibrate TASK``: print the calibration of one task."""
    from hpbench.registry import get_task

    task = get_task(a.task)
    _check_task(task)  # before any evaluation
    levels = None if a.levels is None else _parse_levels(a.levels)
    cal = calibrate(task, configs=a.configs, levels=levels, seed=a.seed, clock=a.clock)
    print(format_calibration(cal, declared=task.overhead))
    return 0


def _parse_levels(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"--levels: rule 'comma-separated numbers' broken, got {text!r}") from None
