"""``benchmarks/fairness.py`` check 1's arithmetic on synthetic trials with known answers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest


@pytest.fixture(scope="module")
def fairness() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fairness.py"
    spec = importlib.util.spec_from_file_location("fairness_benchmark", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _trial(
    searcher: str, seed: int, config: int, a: float, b: float, cpu: float, cost: float
) -> dict[str, Any]:
    return {
        "task": "t",
        "searcher": searcher,
        "seed": seed,
        "config": str(config),
        "a": a,
        "b": b,
        "cpu": cpu,
        "wall": 2 * cpu,
        "cost": cost,
    }


def _synthetic(rng: np.random.Generator) -> list[dict[str, Any]]:
    # random: full evaluations of price 2 s each but for config noise; sh, hyperband: rungs
    # 0 -> 1 at exactly 1.1 x and 1 -> 3 at exactly 0.6 x random's mean price; asha: 1.0 x.
    price = 2.0
    trials = [_trial("random", 0, k, 0, 9, price * f, 1.0) for k, f in enumerate(rng.uniform(0.5, 1.5, 40))]
    trials[-1]["cpu"] += price * 40 - sum(t["cpu"] for t in trials)  # mean exactly `price`
    trials[-1]["wall"] = 2 * trials[-1]["cpu"]
    for s in ("sh", "hyperband"):
        trials += [_trial(s, 1, k, 0, 1, 1.1 * price * 0.2, 0.2) for k in range(9)]
        trials += [_trial(s, 1, k, 1, 3, 0.6 * price * 0.3, 0.3) for k in range(3)]
    trials += [_trial("asha", 2, k, 0, 1, price * 0.2, 0.2) for k in range(9)]
    return trials


def test_ratios_intervals_and_verdicts_on_known_prices(fairness: ModuleType) -> None:
    trials = _synthetic(np.random.default_rng(0))
    rows = {r["searcher"]: r for r in fairness.summarise_compute(trials, boot=500)}
    sh_ratio = (9 * 1.1 * 0.2 + 3 * 0.6 * 0.3) / (9 * 0.2 + 3 * 0.3)  # 0.933
    assert rows["sh"]["ratio"] == pytest.approx(sh_ratio, rel=1e-12)
    assert rows["asha"]["ratio"] == pytest.approx(1.0, rel=1e-12)
    assert rows["random"]["cpu"] == pytest.approx(2.0, rel=1e-12)
    assert rows["sh"]["wall_ratio"] == pytest.approx(sh_ratio, rel=1e-12)
    assert rows["sh"]["configs"] == 9 and rows["sh"]["trials"] == 12
    for r in rows.values():  # every interval holds its point estimate; random's noise makes it wide
        assert r["lo"] < r["ratio"] < r["hi"]
    assert rows["random"]["hi"] - rows["random"]["lo"] > 0.1
    assert fairness._verdict(1.02, 0.9, 1.1) == "yes"
    assert fairness._verdict(1.05, 0.8, 1.2) == "yes (within noise)"
    assert fairness._verdict(1.3, 1.1, 1.6) == "no (within noise)"
    assert fairness._verdict(1.3, 1.2, 1.4) == "NO" and fairness._verdict(0.7, 0.6, 0.8) == "NO"


def test_decomposition_splits_seconds_and_cost_by_step(fairness: ModuleType) -> None:
    rows = fairness.decompose(_synthetic(np.random.default_rng(1)))
    steps = {(r["searcher"], r["a"], r["b"]): r for r in rows}
    assert list(steps)[:3] == [("random", 0, 9), ("sh", 0, 1), ("sh", 1, 3)]  # searcher order, then step
    assert steps[("sh", 0, 1)]["ratio"] == pytest.approx(1.1, rel=1e-12)
    assert steps[("sh", 1, 3)]["ratio"] == pytest.approx(0.6, rel=1e-12)
    assert steps[("sh", 1, 3)]["trials"] == 3 and steps[("sh", 1, 3)]["cost"] == pytest.approx(0.9)
    assert steps[("asha", 0, 1)]["ratio"] == pytest.approx(1.0, rel=1e-12)
    assert "| t | sh | 1 -> 3 | 3 |" in fairness.format_decomposition(rows)
