"""Contract tests for the real-model tasks (scikit-learn and PyTorch) and their datasets."""

from __future__ import annotations

import json
import math
import multiprocessing
import pickle
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import sklearn.datasets
import sklearn.metrics
from sklearn.preprocessing import StandardScaler

from hpbench.registry import get_task
from hpbench.tasks.datasets import (
    DATASETS,
    FRACTIONS,
    accuracy,
    cross_entropy,
    cross_entropy_from_logits,
    load_split,
    strata_for,
    stratified_split,
)
from hpbench.tasks.torch_models import conv_macs

pytestmark = pytest.mark.slow

_GBDT = {"learning_rate": 0.1, "max_leaf_nodes": 4, "min_samples_leaf": 10, "l2_regularization": 1e-3}
# Small configurations keep the suite fast without weakening what each check can catch.
SMALL: dict[str, dict[str, Any]] = {
    "logreg-breast-cancer": {"penalty": "elasticnet", "C": 1.0, "l1_ratio": 0.5},
    "logreg-digits": {"penalty": "l1", "C": 0.1},
    "svm-digits": {"C": 10.0, "gamma": 0.01},
    "gbdt-digits": dict(_GBDT),
    "gbdt-diabetes": dict(_GBDT),
    "mlp-digits": {
        "depth": 2,
        "width": 32,
        "lr": 3e-3,
        "weight_decay": 1e-4,
        "dropout": 0.1,
        "batch_size": 128,
        "activation": "relu",
        "init": "kaiming",
    },
    "cnn-digits": {
        "conv_type": "depthwise_separable",
        "channels": 8,
        "bottleneck": 4,
        "kernel_size": 3,
        "lr": 3e-3,
        "weight_decay": 1e-4,
    },
}
TASKS = list(SMALL)
FIDELITY_TASKS = ["gbdt-digits", "gbdt-diabetes", "mlp-digits", "cnn-digits"]
TORCH_TASKS = ["mlp-digits", "cnn-digits"]
CLASSIFIERS = [t for t in TASKS if t != "gbdt-diabetes"]


def _low(task: Any) -> float | None:
    return None if task.fidelity is None else task.fidelity.low


def _without_time(metrics: Any) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "train_seconds"}


@pytest.fixture(scope="module")
def spawn_pool() -> Iterator[Any]:
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        yield pool


# Datasets ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_split_partitions_rows_without_overlap(name: str) -> None:
    s = load_split(name)
    parts = [s.idx_train, s.idx_val, s.idx_test]
    n = sum(len(p) for p in parts)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(n))
    # No test (or validation) row is ever trained on.
    assert not set(s.idx_test) & set(s.idx_train)
    assert not set(s.idx_val) & set(s.idx_train)
    assert not set(s.idx_val) & set(s.idx_test)
    for part, share in zip(parts, FRACTIONS):
        assert abs(len(part) / n - share) < 0.02
    assert len(s.X_train) == len(s.y_train) == len(s.idx_train)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_split_is_stratified(name: str) -> None:
    s = load_split(name)
    loader, classification = DATASETS[name]
    _, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    strata = strata_for(y, classification)
    overall = np.bincount(strata) / len(strata)
    for idx in (s.idx_train, s.idx_val, s.idx_test):
        share = np.bincount(strata[idx], minlength=len(overall)) / len(idx)
        # Rounding per stratum moves at most one row per stratum.
        assert np.all(np.abs(share - overall) <= (len(overall) + 1) / len(idx))
    if classification:
        assert np.array_equal(s.y_test, y[s.idx_test])


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_split_standardised_with_training_statistics(name: str) -> None:
    s = load_split(name)
    loader, classification = DATASETS[name]
    X, y = getattr(sklearn.datasets, loader)(return_X_y=True)
    scaler = StandardScaler().fit(X[s.idx_train])
    np.testing.assert_allclose(s.X_train, scaler.transform(X[s.idx_train]), atol=1e-10)
    np.testing.assert_allclose(s.X_test, scaler.transform(X[s.idx_test]), atol=1e-10)
    if not classification:
        mean, std = y[s.idx_train].mean(), y[s.idx_train].std()
        np.testing.assert_allclose(s.y_val, (y[s.idx_val] - mean) / std, atol=1e-12)
        assert abs(s.y_train.mean()) < 1e-12 and abs(s.y_train.std() - 1) < 1e-12
    with pytest.raises(ValueError):
        s.X_train[0, 0] = 1.0  # read-only: no evaluation can corrupt the cached split


def test_split_cached_and_fixed_across_processes(spawn_pool: Any) -> None:
    assert load_split("digits") is load_split("digits")
    other = spawn_pool.apply(load_split, ("digits",))
    for part in ("idx_train", "idx_val", "idx_test"):
        assert np.array_equal(getattr(other, part), getattr(load_split("digits"), part))
    np.testing.assert_array_equal(other.X_val, load_split("digits").X_val)


def test_stratified_split_rejects_bad_fractions() -> None:
    with pytest.raises(ValueError, match="fractions"):
        stratified_split(np.zeros(10), (0.5, 0.6), np.random.default_rng(0))
    with pytest.raises(ValueError, match="dataset"):
        load_split("mnist")


def test_scores_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 4)) * 3
    y = rng.integers(0, 4, size=50)
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = sklearn.metrics.log_loss(y, proba, labels=range(4))
    assert cross_entropy(proba, y) == pytest.approx(expected, rel=1e-10)
    assert cross_entropy_from_logits(logits, y) == pytest.approx(expected, rel=1e-10)
    assert accuracy(logits, y) == pytest.approx(sklearn.metrics.accuracy_score(y, logits.argmax(axis=1)))


# Task contract ------------------------------------------------------------------------


@pytest.mark.parametrize("name", TASKS)
def test_task_attributes(name: str) -> None:
    task = get_task(name)
    assert task.name == name
    assert task.optimum is None
    assert task.seconds_per_eval is not None and task.seconds_per_eval > 0
    assert task.description and task.version
    json.dumps(task.info())
    assert pickle.loads(pickle.dumps(task)).space == task.space


@pytest.mark.parametrize("name", TASKS)
def test_low_and_high_fidelity_within_declared_time(name: str) -> None:
    task = get_task(name)
    low = task.evaluate(SMALL[name], budget=_low(task), seed=0)  # also warms up imports
    assert math.isfinite(low.objective)
    config = task.space.sample(np.random.default_rng(1))
    wall, cpu = time.perf_counter(), time.process_time()
    high = task.evaluate(config, seed=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert math.isfinite(high.objective)
    # CPU time is what the declaration measures (one thread); wall time only guards against hangs
    # on a loaded machine.
    assert cpu <= 3 * task.seconds_per_eval + 1.0, (config, cpu)
    assert wall <= 20 * task.seconds_per_eval + 10.0, (config, wall)


@pytest.mark.parametrize("name", TASKS)
def test_metrics_present_and_json_plain(name: str) -> None:
    task = get_task(name)
    ev = task.evaluate(SMALL[name], budget=_low(task), seed=0)
    required = {"test_loss", "train_seconds"}
    if name in CLASSIFIERS:
        required |= {"val_accuracy", "test_accuracy"}
    required |= {
        "logreg-breast-cancer": {"zero_weight_share"},
        "logreg-digits": {"zero_weight_share"},
        "mlp-digits": {"dead_relu_share"},
        "cnn-digits": {"n_params", "macs"},
    }.get(name, set())
    assert required <= set(ev.metrics)
    assert json.loads(json.dumps(dict(ev.metrics))) == dict(ev.metrics)
    for key, value in ev.metrics.items():
        assert type(value) in (int, float), (key, type(value))
        assert math.isfinite(value), key
    assert type(ev.objective) is float and ev.objective >= 0
    assert ev.cost is None
    if name in CLASSIFIERS:
        assert 0.0 <= ev.metrics["val_accuracy"] <= 1.0
        # A trained classifier beats the uniform guess of 10 (or 2) classes.
        assert ev.objective < math.log(load_split(_dataset(name)).n_classes)


def _dataset(name: str) -> str:
    return name.split("-", 1)[1].replace("-", "_")


@pytest.mark.parametrize("name", TASKS)
def test_deterministic_in_process_and_in_spawned_worker(name: str, spawn_pool: Any) -> None:
    task = get_task(name)
    budget = _low(task)
    a = task.evaluate(SMALL[name], budget=budget, seed=7)
    b = task.evaluate(SMALL[name], budget=budget, seed=7)
    assert a.objective == b.objective
    assert _without_time(a.metrics) == _without_time(b.metrics)
    remote = spawn_pool.apply(task.evaluate, (SMALL[name],), {"budget": budget, "seed": 7})
    assert remote.objective == a.objective
    assert _without_time(remote.metrics) == _without_time(a.metrics)


@pytest.mark.parametrize("name", TORCH_TASKS)
def test_torch_seed_matters_and_global_state_untouched(name: str) -> None:
    import torch

    task = get_task(name)
    threads = torch.get_num_threads()
    rng_state = torch.random.get_rng_state()
    deterministic = torch.are_deterministic_algorithms_enabled()
    a = task.evaluate(SMALL[name], budget=1, seed=0)
    b = task.evaluate(SMALL[name], budget=1, seed=1)
    assert a.objective != b.objective
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.random.get_rng_state(), rng_state)


@pytest.mark.parametrize("name", FIDELITY_TASKS)
def test_continuation_equals_training_straight(name: str) -> None:
    task = get_task(name)
    config = SMALL[name]
    # Short runs test the same state handling as long ones: the CNN is the slowest per
    # epoch, boosting the slowest per top-fidelity evaluation.
    mid, top = {"cnn-digits": (3, 9), "mlp-digits": (9, 27)}.get(name, (3, 27))
    first = task.evaluate(config, budget=mid, seed=3)
    resumed = task.evaluate(config, budget=top, seed=3, checkpoint=first.checkpoint)
    straight = task.evaluate(config, budget=top, seed=3)
    if name in TORCH_TASKS:
        assert abs(resumed.objective - straight.objective) <= 1e-6
        assert abs(resumed.metrics["test_loss"] - straight.metrics["test_loss"]) <= 1e-6
    else:
        assert resumed.objective == straight.objective
        split = load_split(_dataset(name))
        m_resumed = pickle.loads(resumed.checkpoint)["model"]
        m_straight = pickle.loads(straight.checkpoint)["model"]
        predict = "predict_proba" if split.classification else "predict"
        assert np.array_equal(
            getattr(m_resumed, predict)(split.X_test), getattr(m_straight, predict)(split.X_test)
        )
        y_hat = getattr(m_straight, predict)(split.X_val)
        if split.classification:
            reference = sklearn.metrics.log_loss(split.y_val, y_hat, labels=range(split.n_classes))
        else:
            reference = sklearn.metrics.mean_squared_error(split.y_val, y_hat)
        assert straight.objective == pytest.approx(reference, rel=1e-9)
    # Continuing to the checkpoint's own budget trains nothing and reproduces it.
    again = task.evaluate(config, budget=mid, seed=3, checkpoint=first.checkpoint)
    assert again.objective == first.objective


@pytest.mark.parametrize("name", FIDELITY_TASKS)
def test_bad_checkpoints_rejected(name: str) -> None:
    task = get_task(name)
    config = SMALL[name]
    ckpt = task.evaluate(config, budget=3, seed=0).checkpoint
    with pytest.raises(ValueError, match="checkpoint.*<= budget"):
        task.evaluate(config, budget=2, seed=0, checkpoint=ckpt)
    with pytest.raises(ValueError, match="same config and seed"):
        task.evaluate(config, budget=3, seed=1, checkpoint=ckpt)
    other = task.space.sample(np.random.default_rng(5))
    with pytest.raises(ValueError, match="same config and seed"):
        task.evaluate(other, budget=3, seed=0, checkpoint=ckpt)
    with pytest.raises(ValueError, match="not a checkpoint"):
        task.evaluate(config, budget=3, seed=0, checkpoint=b"garbage")


@pytest.mark.parametrize("name", TASKS)
def test_invalid_configs_and_budgets_rejected(name: str) -> None:
    task = get_task(name)
    config = SMALL[name]
    first = next(iter(task.space))
    with pytest.raises(ValueError, match=first):
        task.evaluate({k: v for k, v in config.items() if k != first})
    with pytest.raises(ValueError, match="unknown parameter 'bogus'"):
        task.evaluate({**config, "bogus": 1})
    numeric = next(k for k, p in task.space.items() if p.kind in ("float", "int") and k in config)
    with pytest.raises(ValueError, match=numeric):
        task.evaluate({**config, numeric: task.space[numeric].high * 10})
    with pytest.raises(TypeError, match="seed"):
        task.evaluate(config, budget=_low(task), seed=-1)
    if task.fidelity is None:
        with pytest.raises(ValueError, match="budget"):
            task.evaluate(config, budget=3)
        with pytest.raises(ValueError, match="checkpoint"):
            task.evaluate(config, checkpoint=b"x")
    else:
        with pytest.raises(ValueError, match="budget"):
            task.evaluate(config, budget=task.fidelity.high + 1)
        with pytest.raises(ValueError, match="budget"):
            task.evaluate(config, budget=1.5)


# Task-specific behaviour ---------------------------------------------------------------


def test_logreg_conditional_l1_ratio_and_sparsity() -> None:
    task = get_task("logreg-digits")
    with pytest.raises(ValueError, match="l1_ratio"):
        task.evaluate({"penalty": "elasticnet", "C": 0.1})
    l1 = task.evaluate({"penalty": "l1", "C": 0.05})
    # l1 is the elastic net's end point l1_ratio = 1: the same model.
    en = task.evaluate({"penalty": "elasticnet", "C": 0.05, "l1_ratio": 1.0})
    l2 = task.evaluate({"penalty": "l2", "C": 0.05})
    assert en.objective == l1.objective
    assert l1.metrics["zero_weight_share"] > l2.metrics["zero_weight_share"] + 0.2
    # An inactive l1_ratio is ignored, not an error.
    assert task.evaluate({"penalty": "l2", "C": 0.05, "l1_ratio": 0.3}).objective == l2.objective


def test_mlp_dead_units_from_zero_init_and_alive_with_kaiming() -> None:
    task = get_task("mlp-digits")
    alive = task.evaluate(SMALL["mlp-digits"], budget=1)
    dead = task.evaluate({**SMALL["mlp-digits"], "init": "zeros"}, budget=1)
    assert dead.metrics["dead_relu_share"] == 1.0
    assert alive.metrics["dead_relu_share"] < 0.5
    assert dead.objective > alive.objective


@pytest.mark.parametrize(
    "config",
    [
        {"conv_type": "standard", "channels": 6, "bottleneck": 0, "kernel_size": 5},
        {"conv_type": "depthwise_separable", "channels": 12, "bottleneck": 4, "kernel_size": 3},
    ],
)
def test_cnn_macs_and_params_match_a_hook_count(config: dict[str, Any]) -> None:
    import torch

    from hpbench.tasks.torch_models import _cnn_module

    model = _cnn_module(config, torch.Generator().manual_seed(0))
    counted = []

    def hook(module: Any, inputs: Any, output: Any) -> None:
        if isinstance(module, torch.nn.Conv2d):
            per_out = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            counted.append(output[0].numel() * per_out)
        elif isinstance(module, torch.nn.Linear):
            counted.append(module.in_features * module.out_features)

    for m in model.modules():
        m.register_forward_hook(hook)
    model(torch.zeros(1, 1, 8, 8))
    assert conv_macs(config) == sum(counted)
    ev = get_task("cnn-digits").evaluate({**config, "lr": 1e-3, "weight_decay": 1e-4}, budget=1)
    assert ev.metrics["macs"] == sum(counted)
    assert ev.metrics["n_params"] == sum(p.numel() for p in model.parameters())


def test_listing_tasks_does_not_import_torch_pandas_or_pyarrow() -> None:
    # `hpbench list tasks` stays light: the surrogates describe themselves from the
    # recordings' side files, not from their rows.
    code = (
        "import sys, hpbench.registry as r, hpbench.tasks.torch_models;"
        "[r.get_task(n).info() for n in r.task_names()];"
        "print(sorted(m for m in ('torch', 'pandas', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
