"""Multi-objective tasks end to end: declaration, evaluation, store, runner, searchers, CLI."""

from __future__ import annotations

import json
import math
import pickle
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import report_shown_text

import hpbench as hb
from hpbench.objectives import Objective, as_losses, check_objectives
from hpbench.registry import get_searcher_class, get_task, make_searcher, searcher_names
from hpbench.results.store import SCHEMA_VERSION, Store, load_results
from hpbench.runner import Budget, run_search
from hpbench.tasks.base import FunctionTask
from hpbench.trial import Evaluation, TrialRecord, TrialStatus

MO_SEARCHERS = [n for n in searcher_names() if get_searcher_class(n).multi_objective]
# full-fidelity ones here (the halving searchers below); optuna-gp is slow: tested once below
FAST_MO = [
    n for n in MO_SEARCHERS if n not in ("optuna-gp", "optuna") and not get_searcher_class(n).needs_fidelity
]


# ----------------------------------------------------------------------- data model
def test_objective_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match=r"rule 'direction in \['min', 'max'\]' broken, got 'up'"):
        Objective("acc", "up")
    with pytest.raises(ValueError, match="rule 'name is letters, digits and _' broken"):
        Objective("val loss")
    with pytest.raises(ValueError, match="rule 'objective names unique' broken"):
        check_objectives("T", [Objective("a"), {"name": "a"}])
    with pytest.raises(TypeError, match="'objectives' must map names to numbers"):
        Evaluation(objective=1.0, objectives={"a": "x"})
    objs = (Objective("loss"), Objective("acc", "max"))
    assert as_losses(objs, {"loss": 0.5, "acc": 0.9}) == (0.5, -0.9)
    assert as_losses(objs, {"loss": 0.5}) is None and as_losses(objs, {"loss": 0.5, "acc": math.nan}) is None


def test_synthetic_tasks_declare_objectives_and_report_them() -> None:
    for name, k in (("zdt1", 2), ("zdt2", 2), ("dtlz2-2obj", 2), ("dtlz2-3obj", 3)):
        task = get_task(name)
        assert task.n_objectives == k and task.info()["objectives"][0] == {"name": "f1", "direction": "min"}
        ev = task.evaluate(task.space.sample(np.random.default_rng(0)))
        assert (
            list(ev.objectives) == [o.name for o in task.objectives] and ev.objective == ev.objectives["f1"]
        )
    ev = get_task("zdt1").evaluate({f"x{i}": 0.0 if i > 1 else 0.25 for i in range(1, 7)})
    assert ev.objectives == {"f1": 0.25, "f2": pytest.approx(0.5)}  # on the front: 1 - sqrt(0.25)


def test_logreg_mo_is_the_logreg_task_plus_its_sparsity() -> None:
    mo, so = get_task("logreg-digits-mo"), get_task("logreg-digits")
    cfg = {"penalty": "l1", "C": 0.05}
    a, b = mo.evaluate(cfg, seed=3), so.evaluate(cfg, seed=3)
    assert mo.space.to_dict() == so.space.to_dict() and a.objective == b.objective
    assert a.objectives == {"val_loss": b.objective, "nonzero_share": 1.0 - b.metrics["zero_weight_share"]}
    assert 0.0 < a.objectives["nonzero_share"] < 1.0  # strong l1: really sparse


def test_cnn_and_mlp_mo_report_multiply_adds_and_parameters() -> None:
    from hpbench.tasks.torch_models import conv_macs

    cnn = get_task("cnn-digits-mo")
    cfg = {"conv_type": "depthwise_separable", "channels": 8, "bottleneck": 0, "kernel_size": 3}
    cfg |= {"lr": 0.01, "weight_decay": 1e-4}
    ev = cnn.evaluate(cfg, budget=1, seed=0)
    assert ev.objectives["macs"] == conv_macs(cfg) and ev.objectives["val_loss"] == ev.objective
    assert ev.checkpoint is not None and cnn.fidelity == get_task("cnn-digits").fidelity
    mlp = get_task("mlp-digits-mo")
    cfg = {"depth": 2, "width": 16, "lr": 0.01, "weight_decay": 1e-4, "dropout": 0.0, "batch_size": 64}
    cfg |= {"activation": "relu", "init": "xavier"}
    ev = mlp.evaluate(cfg, budget=1, seed=0)
    assert ev.objectives["n_params"] == 64 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10


def test_one_objective_view_and_its_errors() -> None:
    view = get_task("zdt1@f2")
    cfg = {f"x{i}": 0.3 for i in range(1, 7)}
    ev, full = view.evaluate(cfg), get_task("zdt1").evaluate(cfg)
    assert view.name == "zdt1@f2" and view.n_objectives == 1
    assert ev.objective == full.objectives["f2"] and ev.objectives == full.objectives
    with pytest.raises(
        ValueError, match=r"rule 'objective of task 'zdt1' in \['f1', 'f2'\]' broken, got 'f3'"
    ):
        get_task("zdt1@f3")


# --------------------------------------------------------------------- store/runner
def _mo_task() -> FunctionTask:
    """Two objectives, the second maximised; a NaN in it on a marked config."""

    def fn(config, *, budget, seed):  # noqa: ANN001, ANN202
        x = config["x"]
        acc = math.nan if 0.495 < x < 0.505 else 1.0 - x**2
        return Evaluation(objective=(x - 0.2) ** 2, objectives={"loss": (x - 0.2) ** 2, "acc": acc})

    t = FunctionTask(fn, space={"x": hb.Float(0.0, 1.0)}, name="mo-toy")
    t.objectives = (Objective("loss"), Objective("acc", "max"))
    return t


def test_runner_tells_vectors_to_mo_searchers_and_the_first_objective_to_others() -> None:
    task = _mo_task()
    told: dict[str, list] = {}
    for name in ("parego", "gp-ei"):
        s = make_searcher(name, space=task.space, seed=0, n_objectives=task.n_objectives)
        recs = run_search(task, s, budget=Budget(max_evals=6))
        told[name] = [y for _, y in s.history]
        assert [r.objectives for r in recs] == [
            {"loss": (r.config["x"] - 0.2) ** 2, "acc": 1 - r.config["x"] ** 2} for r in recs
        ]
    assert all(isinstance(y, tuple) and len(y) == 2 and y[1] <= 0 for y in told["parego"])  # acc negated
    assert all(isinstance(y, float) for y in told["gp-ei"])
    bad = task.evaluate({"x": 0.5})
    s = make_searcher("random", space=task.space, seed=0, n_objectives=2)
    with pytest.raises(TypeError, match="'objective' must be 2 numbers or None"):
        s.tell(s.ask(), 0.5)
    from hpbench.executors import TrialJob, evaluate_trial

    out = evaluate_trial(TrialJob(task=task, config={"x": 0.5}, budget=None, seed=0))
    assert (
        math.isnan(bad.objectives["acc"]) and out.status == "failed" and "objective 'acc' is nan" in out.error
    )


def test_store_keeps_objectives_and_load_results_has_a_column_each(tmp_path: Path) -> None:
    db = tmp_path / "mo.db"
    res = hb.benchmark(
        ["zdt1", "branin"], ["random"], seeds=2, max_evals=4, store=db, name="mo", progress=False
    )
    df = res.trials
    z = df[df.task == "zdt1"]
    assert {"objective.f1", "objective.f2"} <= set(df.columns)
    assert (z["objective"] == z["objective.f1"]).all() and z["objective.f2"].notna().all()
    assert df[df.task == "branin"]["objective.f1"].isna().all()  # single-objective: no values
    info = json.loads(res.runs[res.runs.task == "zdt1"].task_info.iloc[0])
    assert info["objectives"] == [{"name": "f1", "direction": "min"}, {"name": "f2", "direction": "min"}]
    with Store(db, readonly=True) as s:
        rec = s.run_trials(int(z.run_id.iloc[0]))[0]
    assert rec.objectives == {"f1": z["objective.f1"].iloc[0], "f2": z["objective.f2"].iloc[0]}


def _rec(i: int, objectives: dict | None) -> TrialRecord:
    now = time.time()
    return TrialRecord(
        i, {"x": 0.1}, None, TrialStatus.OK, 1.0, 1.0, {}, None, now, now, objectives=objectives
    )


def test_schema_2_store_upgrades_in_place_keeping_its_trials(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with Store(db) as s:
        exp = s.create_experiment("e", {"name": "e"}, "0.1.0")
        run, _ = s.get_or_create_run(
            exp, task="t", task_version="1", task_info={}, searcher="random", searcher_name="random",
            searcher_params={}, seed=0, budget={}, versions={}, machine={},
        )  # fmt: skip
        s.add_trial(run, _rec(0, None))
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("ALTER TABLE trials DROP COLUMN objectives")
    con.execute("UPDATE hpbench_schema SET version = 2")
    con.close()
    with Store(db, readonly=True) as s:  # read as it is
        assert s.schema_version == 2 and s.run_trials(run)[0].objectives is None
    assert "objective.a" not in load_results(db).columns
    with Store(db) as s:
        assert s.schema_version == SCHEMA_VERSION == 4
        s.add_trial(run, _rec(1, {"a": 2.0, "b": math.inf}))
        assert [r.objectives for r in s.run_trials(run)] == [None, {"a": 2.0, "b": None}]
    df = load_results(db)
    assert df["objective.a"].tolist()[1] == 2.0 and math.isnan(df["objective.a"].tolist()[0])


def test_same_seed_same_trials_in_process_and_in_a_worker_and_on_resume(tmp_path: Path) -> None:
    spec = {"name": "parego", "n_init": 3, "n_candidates": 256, "n_restarts": 1}
    a = hb.benchmark(["dtlz2-3obj"], [spec], seeds=[4], max_evals=6, store=tmp_path / "a.db", progress=False)
    b = hb.benchmark(
        ["dtlz2-3obj"], [spec], seeds=[4], max_evals=6, store=tmp_path / "b.db", workers=1, progress=False
    )
    cols = ["trial", "config", "objective.f1", "objective.f2", "objective.f3"]
    pd.testing.assert_frame_equal(a.trials[cols], b.trials[cols])
    # a resumed run replays the vectors to a rebuilt ParEGO, which then proposes what the original did
    task = get_task("dtlz2-3obj")
    params = {k: v for k, v in spec.items() if k != "name"}
    full = make_searcher("parego", space=task.space, seed=9, n_objectives=3, **params)
    recs = run_search(task, full, budget=Budget(max_evals=7))
    again = make_searcher("parego", space=task.space, seed=9, n_objectives=3, **params)
    for rec in recs[:6]:
        s = again.ask()
        assert dict(s.config) == dict(rec.config)
        again.tell(s, tuple(rec.objectives[f"f{i}"] for i in (1, 2, 3)))
    assert dict(again.ask().config) == dict(recs[6].config)


def test_cached_evaluations_keep_their_objectives(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    hb.benchmark(["zdt2"], ["random"], seeds=1, max_evals=3, store=db, name="one", progress=False)
    res = hb.benchmark(
        ["zdt2"], ["random"], seeds=1, max_evals=3, store=db, name="two", cache=True, progress=False
    )
    df = res.trials
    assert df.cached.all() and df["objective.f2"].notna().all()


# ------------------------------------------------------------------------ searchers
@pytest.mark.parametrize("name", FAST_MO)
def test_mo_searcher_contract_on_two_objectives(name: str) -> None:
    task = get_task("zdt1")

    def drive(s, n):  # noqa: ANN001, ANN202
        out = []
        for i in range(n):
            sug = s.ask()
            out.append(dict(sug.config))
            ev = task.evaluate(sug.config)
            s.tell(sug, None if i == 2 else (ev.objectives["f1"], ev.objectives["f2"]))  # one failure
        return out

    a = make_searcher(name, space=task.space, seed=5, n_objectives=2)
    first = drive(a, 8)
    b = make_searcher(name, space=task.space, seed=5, n_objectives=2)
    assert drive(b, 8) == first  # same seed, same suggestions
    c = pickle.loads(pickle.dumps(b))
    assert dict(c.ask().config) == dict(b.ask().config)
    p1, p2 = b.ask(), b.ask()  # several pending asks
    assert p1.trial_id != p2.trial_id and task.space.validate(p2.config)
    assert all(task.space.validate(cfg) for cfg in first)


def test_optuna_gp_runs_multi_objective_and_cmaes_refuses() -> None:
    task = get_task("zdt1")
    s = make_searcher(
        "optuna-gp", space=task.space, seed=0, n_objectives=2, sampler_params={"n_startup_trials": 3}
    )
    run_search(task, s, budget=Budget(max_evals=4))
    assert len(s._study.directions) == 2 and len(s._study.best_trials) >= 1
    with pytest.raises(ValueError, match="CmaEsSampler optimises one objective"):
        make_searcher("optuna", space=task.space, n_objectives=2, sampler="CmaEsSampler")
    with pytest.raises(ValueError, match="optimises one objective, got n_objectives=2"):
        get_searcher_class("optuna-cmaes")(space=task.space, n_objectives=2)


def test_parego_finds_a_better_front_than_random_on_zdt1() -> None:
    from hpbench.results.hypervolume import hypervolume

    task = get_task("zdt1")
    hv = {}
    for name, params in (("random", {}), ("parego", {"n_candidates": 512})):
        s = make_searcher(name, space=task.space, seed=1, n_objectives=2, **params)
        recs = run_search(task, s, budget=Budget(max_evals=20))
        F = np.array([[r.objectives["f1"], r.objectives["f2"]] for r in recs])
        hv[name] = hypervolume(F, np.array([1.1, 1.1]))
    assert hv["parego"] > hv["random"] + 0.3


# ------------------------------------------------------------------------- CLI/report
def test_cli_objective_note_and_report(tmp_path: Path) -> None:
    db, html = tmp_path / "r.db", tmp_path / "r.html"
    run = [sys.executable, "-m", "hpbench", "run", "--store", str(db), "--no-progress", "--max-evals", "6"]
    tasks = ["--task", "zdt1", "--task", "dtlz2-3obj"]
    cmd = [*run, *tasks, "--searcher", "random", "--searcher", "gp-ei:n_init=3", "--seeds", "3"]
    done = subprocess.run([*cmd, "--report", str(html)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "'gp-ei:n_init=3' optimise(s) only the first ('f1')" in done.stderr
    page = report_shown_text(html)
    for text in (
        "zdt1: several objectives",
        "attainment surfaces",
        "pooled Pareto front",
        "hypervolume regret",
    ):
        assert text in page
    assert "Normalised per objective from the pooled front and known front" in page
    one = [*run, *tasks, "--searcher", "random", "--seeds", "1", "--name", "f2"]
    bad = subprocess.run([*one, "--objective", "f9"], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "rule 'task 'zdt1' has objective 'f9'' broken" in bad.stderr
    ok = subprocess.run([*one, "--objective", "f2"], capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr
    df = load_results(db, "f2")
    assert set(df.task) == {"zdt1@f2", "dtlz2-3obj@f2"} and (df.objective == df["objective.f2"]).all()


def _mf_mo_task() -> FunctionTask:
    def fn(config, *, budget, seed):  # noqa: ANN001, ANN202
        x, y = config["x"], config["y"]
        f = {"f1": x + 0.1 / budget, "f2": (1 - x) ** 2 + y}
        return Evaluation(objective=f["f1"], objectives=f)

    t = FunctionTask(
        fn, space={"x": hb.Float(0.0, 1.0), "y": hb.Float(0.0, 1.0)}, fidelity=hb.Fidelity("b", 1, 9)
    )
    t.objectives = (Objective("f1"), Objective("f2"))
    return t


def _items(recs: list[TrialRecord]) -> list[tuple[int, tuple[float, float]]]:
    return [(r.trial_id, (r.objectives["f1"], r.objectives["f2"])) for r in recs]


def test_halving_searchers_promote_by_non_dominated_sorting() -> None:
    """SH (and Hyperband, the same bracket code) and ASHA rank rungs with ``promotion_order``."""
    from hpbench.searchers.mo_promotion import promotion_order

    task = _mf_mo_task()
    sh = make_searcher("sh", space=task.space, fidelity=task.fidelity, seed=3, n_objectives=2, eta=3)
    recs = run_search(task, sh, budget=Budget(max_evals=26))  # two brackets of 9 @1, 3 @3, 1 @9
    assert all(isinstance(y, tuple) for _, y in sh.history)
    for start in (0, 13):
        rung0, rung1 = recs[start : start + 9], recs[start + 9 : start + 12]
        assert {r.continue_from for r in rung1} == set(promotion_order(_items(rung0))[:3])
        assert recs[start + 12].continue_from == promotion_order(_items(rung1))[0]
    asha = make_searcher("asha", space=task.space, fidelity=task.fidelity, seed=3, n_objectives=2, eta=3)
    recs = run_search(task, asha, budget=Budget(max_evals=30))
    promoted = [r for r in recs if r.budget == 3]
    assert promoted
    for p in promoted:  # the promoted one was in the top third of rung 0 when it was asked
        rung = [r for r in recs if r.budget == 1 and r.trial_id < p.trial_id]
        assert p.continue_from in promotion_order(_items(rung))[: len(rung) // 3]
