"""``hpbench calibrate``: the affine fit against numpy, a task with known timings, the CLI's mistakes."""

from __future__ import annotations

import math
import pickle
import statistics
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpbench as hb
from hpbench import registry
from hpbench.calibrate import calibrate, fit_affine, fit_relative
from hpbench.cli import main
from hpbench.space import Fidelity, Float, SearchSpace
from hpbench.tasks.base import Task
from hpbench.trial import Evaluation

T0, T1 = 0.5, 0.1  # seconds = T0 + T1 * level, so c0 = T0 / T1 = 5 levels


class KnownTimings(Task):
    """Reports ``Evaluation.seconds`` = T0 + T1 * level, and counts its calls."""

    def __init__(self) -> None:
        self.name = "known-timings"
        self.space = SearchSpace({"x": Float(0.0, 1.0)})
        self.fidelity = Fidelity("steps", 1, 27)
        self.prepared = 0
        self.calls: list[float] = []

    def prepare(self) -> None:
        self.prepared += 1

    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        config, budget, seed = self.check_inputs(config, budget, seed, checkpoint)
        assert budget is not None
        self.calls.append(float(budget))
        return Evaluation(objective=config["x"], seconds=T0 + T1 * budget)


@pytest.fixture
def known(monkeypatch: pytest.MonkeyPatch) -> KnownTimings:
    task = KnownTimings()
    monkeypatch.setattr(registry, "_extra_tasks", {"known-timings": lambda: task})
    return task


def test_fit_matches_numpy_polyfit_and_r2_is_the_squared_correlation() -> None:
    rng = np.random.default_rng(3)
    b = np.array([1.0, 3.0, 9.0, 27.0, 81.0])
    t = 0.2 + 0.03 * b + rng.normal(0.0, 0.05, b.size)
    fit = fit_affine(b.tolist(), t.tolist())
    slope, intercept = np.polyfit(b, t, 1)
    assert fit.t1 == pytest.approx(slope, rel=1e-12)
    assert fit.t0 == pytest.approx(intercept, rel=1e-12)
    assert fit.c0 == pytest.approx(intercept / slope, rel=1e-12)
    assert fit.r2 == pytest.approx(np.corrcoef(b, t)[0, 1] ** 2, rel=1e-12)
    np.testing.assert_allclose(fit.residuals, t - np.polyval([slope, intercept], b), atol=1e-12)


def test_weighted_and_relative_fits_match_numpy_polyfit_with_weights() -> None:
    rng = np.random.default_rng(4)
    b = np.array([1.0, 3.0, 9.0, 27.0, 81.0])
    t = (0.05 + 0.02 * b) * rng.lognormal(0.0, 0.1, b.size)
    w = rng.uniform(0.5, 2.0, b.size)
    slope, intercept = np.polyfit(b, t, 1, w=np.sqrt(w))  # polyfit weights multiply residuals
    fit = fit_affine(b.tolist(), t.tolist(), w.tolist())
    assert (fit.t1, fit.t0) == (pytest.approx(slope, rel=1e-10), pytest.approx(intercept, rel=1e-10))
    slope, intercept = np.polyfit(b, t, 1, w=1.0 / t)  # relative residuals
    rel = fit_relative(b.tolist(), t.tolist())
    assert (rel.t1, rel.t0) == (pytest.approx(slope, rel=1e-10), pytest.approx(intercept, rel=1e-10))
    with pytest.raises(ValueError, match="weights: rule 'finite and > 0' broken"):
        fit_affine([1, 3], [1.0, 2.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="seconds: rule 'finite and > 0 at every level' broken"):
        fit_relative([1, 3], [0.0, 2.0])


def test_fit_recovers_an_exact_affine_timing() -> None:
    fit = fit_affine([1, 3, 9, 27], [T0 + T1 * b for b in (1, 3, 9, 27)])
    assert fit.c0 == pytest.approx(T0 / T1, rel=1e-12) and fit.r2 == pytest.approx(1.0)
    assert max(abs(r) for r in fit.residuals) < 1e-12


def test_fit_refuses_one_level_and_flat_slope_has_no_c0() -> None:
    with pytest.raises(ValueError, match="levels: rule 'at least two distinct levels'"):
        fit_affine([3, 3], [1.0, 2.0])
    with pytest.raises(ValueError, match="one value per level"):
        fit_affine([1, 3], [1.0])
    assert math.isnan(fit_affine([1, 3, 9], [2.0, 2.0, 2.0]).c0)


def test_calibrate_uses_reported_seconds_and_recovers_c0(known: KnownTimings) -> None:
    cal = calibrate(registry.get_task("known-timings"), configs=4, seed=1)
    assert cal.clock == "reported" and cal.levels == (1, 3, 9, 27)
    assert cal.c0 == pytest.approx(T0 / T1, rel=1e-9)
    assert all(p.c0 == pytest.approx(T0 / T1, rel=1e-9) for p in cal.per_config)
    assert known.prepared == 1
    assert known.calls == [1.0] + [1.0, 3.0, 9.0, 27.0] * 4  # one unmeasured warm-up first


class ConfigTimings(Task):
    """Reports ``Evaluation.seconds = seconds(x, level)`` for config ``x``; raises above ``fail_above``."""

    def __init__(self, seconds: Callable[[float, float], float], fail_above: float = math.inf) -> None:
        self.name = "config-timings"
        self.space = SearchSpace({"x": Float(0.0, 1.0)})
        self.fidelity = Fidelity("steps", 1, 27)
        self.seconds, self.fail_above = seconds, fail_above
        self.timed: dict[float, list[float]] = {}  # x -> levels evaluated

    def evaluate(
        self,
        config: Mapping[str, Any],
        *,
        budget: float | None = None,
        seed: int = 0,
        checkpoint: bytes | None = None,
    ) -> Evaluation:
        config, budget, seed = self.check_inputs(config, budget, seed, checkpoint)
        assert budget is not None
        x = float(config["x"])
        self.timed.setdefault(x, []).append(float(budget))
        if x > self.fail_above:
            raise FloatingPointError(f"diverged at x={x}")
        return Evaluation(objective=x, seconds=self.seconds(x, budget))


def test_pooled_c0_is_exact_when_configs_differ_only_by_a_scale_factor() -> None:
    # t = s(x) * (T0 + T1 * b): every config has c0 = T0 / T1, so must the pooled fit.
    task = ConfigTimings(lambda x, b: (0.3 + 4.0 * x) * (T0 + T1 * b))
    cal = calibrate(task, configs=5, seed=2)
    assert len(task.timed) == 6  # the warm-up and five configurations
    assert abs(cal.c0 - T0 / T1) < 1e-9
    assert cal.fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert all(abs(p.c0 - T0 / T1) < 1e-9 for p in cal.per_config)


def test_pooled_c0_is_the_relative_least_squares_fit_of_the_level_means() -> None:
    # Two configurations with their own c0 (t0(x) / t1(x)) and a deterministic ripple: the pooled
    # c0 must be the relative least-squares line through the mean seconds at each level, solved
    # here independently as min ||A [t0, t1] - 1|| with rows (1 / m_b, b / m_b).
    def seconds(x: float, b: float) -> float:
        return ((0.2 + 2.0 * x) + (0.05 + 0.1 * (1.0 - x)) * b) * (1.0 + 0.05 * math.sin(3.0 * b + x))

    task = ConfigTimings(seconds)
    cal = calibrate(task, configs=2, seed=10)
    xs = list(task.timed)[1:]  # after the warm-up
    assert len(xs) == 2 and abs(xs[0] - xs[1]) > 0.5
    b = np.array(cal.levels)
    t = np.array([[seconds(x, level) for level in b] for x in xs])
    np.testing.assert_allclose(np.array(cal.seconds), t, rtol=1e-15)
    m = t.mean(axis=0)
    (t0, t1), *_ = np.linalg.lstsq(np.column_stack([1.0 / m, b / m]), np.ones_like(b), rcond=None)
    assert abs(cal.c0 - t0 / t1) < 1e-9 * (t0 / t1)
    own = sorted(p.c0 for p in cal.per_config)
    assert own[1] - own[0] > 1.0 and abs(cal.c0 - statistics.fmean(own)) > 0.1  # not a trivial answer


def test_configurations_that_fail_are_left_out_and_reported() -> None:
    task = ConfigTimings(lambda x, b: T0 + T1 * b, fail_above=0.5)
    cal = calibrate(task, configs=3, seed=0)
    assert len(cal.seconds) == 3 and cal.c0 == pytest.approx(T0 / T1, rel=1e-9)
    failing = [x for x in list(task.timed)[1:] if x > 0.5]  # after the warm-up
    assert len(cal.failed) == len(failing) >= 1
    assert all("FloatingPointError: diverged" in f for f in cal.failed)
    with pytest.raises(RuntimeError, match="calibrate: 9 configurations of task 'config-timings' failed"):
        calibrate(ConfigTimings(lambda x, b: 1.0, fail_above=-1.0), configs=3)


def test_cli_prints_c0_fit_quality_and_each_level(known: KnownTimings, capsys: pytest.CaptureFixture) -> None:
    assert main(["calibrate", "known-timings", "--configs", "2", "--levels", "2,6,18"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("known-timings: c0 = 5 steps") and "R^2 = 1.0000" in out[0]
    assert "reported seconds of 2 configs x 3 levels" in out[0]
    rows = [line.split() for line in out if line.strip() and line.split()[0] in ("2", "6", "18")]
    assert [(float(r[0]), float(r[1])) for r in rows] == [(b, pytest.approx(T0 + T1 * b)) for b in (2, 6, 18)]
    assert known.calls[1:] == [2.0, 6.0, 18.0] * 2


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "hpbench.cli", "calibrate", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("nosuch",), "task: unknown name 'nosuch'"),
        (("branin",), "task: rule 'has a fidelity"),
        (("branin-mf", "--configs", "0"), "configs: rule 'integer >= 1' broken, got 0"),
        (("branin-mf", "--levels", "9"), "levels: rule 'at least two distinct levels'"),
        (("branin-mf", "--levels", "1,500"), "budget: rule 'integer level in [1, 81]' broken, got 500"),
        (("branin-mf", "--levels", "1,x"), "--levels: rule 'comma-separated numbers'"),
    ],
)
def test_cli_mistakes_print_one_line_and_exit_2(tmp_path: Path, args: tuple[str, ...], fragment: str) -> None:
    p = _cli(*args, cwd=tmp_path)
    assert p.returncode == 2 and p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1 and fragment in p.stderr, p.stderr
    assert list(tmp_path.iterdir()) == []


def test_cli_on_a_real_synthetic_task_prints_every_level(tmp_path: Path) -> None:
    p = _cli("hartmann6-mf", "--configs", "2", "--clock", "wall", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("hartmann6-mf: c0 = ") and "wall seconds of 2 configs x 5 levels" in lines[0]
    assert [line.split()[0] for line in lines[-5:]] == ["1", "3", "9", "27", "81"]


def plain(config: Mapping[str, Any], *, budget: float, seed: int) -> float:
    return float(config["x"])


def test_a_function_task_declares_c0_and_its_trials_are_charged_by_it() -> None:
    from conftest import Scripted

    from hpbench.budget import Budget
    from hpbench.runner import run_search
    from hpbench.tasks.base import FunctionTask

    fid = Fidelity("epochs", 1, 9)
    task = hb.task(space={"x": Float(0.0, 1.0)}, fidelity=fid, overhead=3.0)(plain)
    script = [({"x": 0.5}, 1, None), ({"x": 0.5}, 9, None)]
    s = Scripted(space=task.space, fidelity=fid, script=script)
    recs = run_search(task, s, budget=Budget(max_evals=2))
    assert [r.cost for r in recs] == [pytest.approx((1 + 3) / (9 + 3)), pytest.approx(1.0)]
    again = pickle.loads(pickle.dumps(FunctionTask(plain, space=task.space, fidelity=fid, overhead=3.0)))
    assert again.overhead == 3.0
    with pytest.raises(ValueError, match="overhead: rule 'overhead >= 0 and finite' broken, got -1"):
        hb.task(space={"x": Float(0.0, 1.0)}, fidelity=fid, overhead=-1)(plain)
    with pytest.raises(ValueError, match="overhead: rule 'overhead = 0 without a fidelity' broken, got 2"):
        hb.task(space={"x": Float(0.0, 1.0)}, overhead=2)(plain)


def test_built_in_real_tasks_with_a_fidelity_ship_a_measured_c0() -> None:
    for name in ("gbdt-digits", "gbdt-diabetes", "mlp-digits", "cnn-digits", "cbow-pydocs"):
        assert registry.get_task(name).overhead > 0, name
    for name in ("gan-ring", "ner-hironsan"):  # measured below what the fit resolves (README)
        assert registry.get_task(name).overhead == 0, name
    for name in ("mlp-digits", "cnn-digits", "gbdt-digits"):  # a surrogate is charged as its task
        assert registry.get_task(f"{name}-surrogate").overhead == registry.get_task(name).overhead
