"""The contract every registered task keeps, checked over ``registry.task_names()``.

Real-model tasks are evaluated at their cheapest configuration (every parameter at the
low end of its range: fewest channels, shallowest net, fewest leaves), which keeps the
whole file fast. Their in-depth checks live in tests/test_tasks_real.py.
"""

from __future__ import annotations

import functools
import json
import math
import multiprocessing
import re
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pytest

from hpbench.registry import get_task, task_names
from hpbench.space import Categorical, Float, Int
from hpbench.tasks.base import Task
from hpbench.trial import Evaluation

NAMES = task_names()
SEED = 7


@functools.cache
def _task(name: str) -> Task:
    return get_task(name)


def cheap_config(task: Task) -> dict[str, Any]:
    """Every parameter at the bottom of its range (first choice for categoricals)."""
    return task.space.decode(np.zeros(task.space.width))


def _budgets(task: Task) -> list[float | None]:
    return [None] if task.fidelity is None else [task.fidelity.low, task.fidelity.high]


def evaluate_cheap(name: str, budget: float | None) -> float:
    """Module level so a spawned process can run it."""
    task = get_task(name)
    return task.evaluate(cheap_config(task), budget=budget, seed=SEED).objective


@pytest.fixture(scope="module")
def spawned() -> Iterator[ProcessPoolExecutor]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("name", NAMES)
def test_task_describes_itself(name: str) -> None:
    task = _task(name)
    assert isinstance(task, Task) and task.name == name
    info = task.info()
    json.dumps(info)  # `hpbench list tasks --json` and the store keep it
    if task.optimum is not None:
        assert math.isfinite(task.optimum)


@pytest.mark.parametrize("name", NAMES)
def test_description_states_the_fidelity_range_the_task_has(name: str) -> None:
    task = _task(name)
    stated = re.findall(r"fidelity \w+ (\d+)\.\.(\d+)", task.description)
    for low, high in stated:
        assert task.fidelity is not None, task.description
        assert (float(low), float(high)) == (task.fidelity.low, task.fidelity.high), task.description


@pytest.mark.parametrize("name", NAMES)
def test_evaluate_at_lowest_and_highest_fidelity(name: str) -> None:
    task = _task(name)
    config = cheap_config(task)
    for budget in _budgets(task):
        ev = task.evaluate(config, budget=budget, seed=SEED)
        assert isinstance(ev, Evaluation)
        assert isinstance(ev.objective, float) and math.isfinite(ev.objective)
        if task.optimum is not None:
            # no evaluation beats the known minimum (noisy variants by at most 5 noise sd)
            assert ev.objective >= task.optimum - 1e-4 - 5 * getattr(task, "noise", 0.0)
        json.dumps(dict(ev.metrics))  # plain JSON types
        if ev.cost is not None:
            assert ev.cost >= 0
        if ev.checkpoint is not None:
            assert isinstance(ev.checkpoint, bytes)


# Random configurations of the slow tasks (the CNN at 32 channels) would dominate the file.
@pytest.mark.parametrize("name", [n for n in NAMES if (_task(n).seconds_per_eval or 0.0) <= 0.5])
def test_random_configs_evaluate_to_finite_objectives(name: str) -> None:
    task = _task(name)
    rng = np.random.default_rng(0)
    budget = None if task.fidelity is None else task.fidelity.low
    for _ in range(3):
        assert math.isfinite(task.evaluate(task.space.sample(rng), budget=budget, seed=SEED).objective)


@pytest.mark.parametrize("name", NAMES)
def test_same_config_budget_seed_same_objective(name: str) -> None:
    task = _task(name)
    config = cheap_config(task)
    budget = None if task.fidelity is None else task.fidelity.low
    a = task.evaluate(config, budget=budget, seed=SEED)
    b = task.evaluate(dict(config), budget=budget, seed=SEED)
    assert a.objective == b.objective


@pytest.mark.parametrize("name", ["branin-noisy", "hartmann6-noisy", "gbdt-diabetes", "logreg-breast-cancer"])
def test_same_objective_in_a_spawned_process(name: str, spawned: ProcessPoolExecutor) -> None:
    task = _task(name)
    budget = None if task.fidelity is None else task.fidelity.low
    here = evaluate_cheap(name, budget)
    assert spawned.submit(evaluate_cheap, name, budget).result(timeout=300) == here


def _break(p: Any) -> Any:
    if isinstance(p, Categorical):
        return "__not_a_choice__"
    if isinstance(p, Int):
        return p.high + 1
    assert isinstance(p, Float)
    return p.high + abs(p.high) + 1.0


@pytest.mark.parametrize("name", NAMES)
def test_invalid_configs_name_the_parameter(name: str) -> None:
    task = _task(name)
    config = cheap_config(task)
    budget = None if task.fidelity is None else task.fidelity.low
    for pname in config:
        bad = {**config, pname: _break(task.space[pname])}
        with pytest.raises((ValueError, TypeError), match=f"'{pname}'"):
            task.evaluate(bad, budget=budget, seed=SEED)
        with pytest.raises((ValueError, TypeError), match=f"'{pname}'"):
            task.evaluate({**config, pname: [1, 2]}, budget=budget, seed=SEED)
    first = next(iter(config))
    with pytest.raises(ValueError, match=f"'{first}'"):
        task.evaluate({k: v for k, v in config.items() if k != first}, budget=budget, seed=SEED)
    with pytest.raises(ValueError, match="'no_such_param'"):
        task.evaluate({**config, "no_such_param": 1}, budget=budget, seed=SEED)


@pytest.mark.parametrize("name", NAMES)
def test_invalid_budget_is_refused(name: str) -> None:
    task = _task(name)
    config = cheap_config(task)
    if task.fidelity is None:
        with pytest.raises(ValueError, match="budget"):
            task.evaluate(config, budget=3, seed=SEED)
    else:
        with pytest.raises(ValueError, match="budget"):
            task.evaluate(config, budget=task.fidelity.high * 2, seed=SEED)
        with pytest.raises(ValueError, match="budget"):
            task.evaluate(config, budget=task.fidelity.low - 1, seed=SEED)


@pytest.mark.parametrize("name", [n for n in NAMES if _task(n).fidelity is not None])
def test_checkpoint_continuation_equals_training_straight(name: str) -> None:
    task = _task(name)
    fid = task.fidelity
    assert fid is not None
    config = cheap_config(task)
    a = fid.low
    b = min(a * 3, fid.high)
    first = task.evaluate(config, budget=a, seed=SEED)
    if first.checkpoint is None:
        pytest.skip(f"{name} does not return checkpoints")
    continued = task.evaluate(config, budget=b, seed=SEED, checkpoint=first.checkpoint)
    straight = task.evaluate(config, budget=b, seed=SEED)
    assert continued.objective == straight.objective
    # the objective moved: the checkpoint was not simply returned as is
    assert first.objective != straight.objective
    if continued.cost is not None and straight.cost is not None:
        assert continued.cost <= straight.cost
