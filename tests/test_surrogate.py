"""Record -> replay: the design, the recording experiments, the Parquet file, the surrogate task.

Everything runs on a tiny synthetic task with a fidelity, seed-to-seed noise, a metric
and a region that fails, so the whole file takes a few seconds; the shipped recordings
of the real tasks are checked in test_surrogate_builtin.py.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.neighbors import KNeighborsRegressor

import hpbench as hb
from hpbench.cli import main
from hpbench.results.store import encode_config, load_results
from hpbench.runner import split_seed
from hpbench.surrogate.design import DesignSearcher, design_configs, fidelity_levels
from hpbench.surrogate.fit import SurrogateFit
from hpbench.surrogate.quality import choose_model, measure_quality
from hpbench.surrogate.record import RecordingTask, configs_in_store, export_recording, record
from hpbench.surrogate.recording import Recording
from hpbench.surrogate.task import SurrogateTask
from hpbench.trial import Suggestion

FID = hb.Fidelity("steps", 1, 9)
SPACE = hb.SearchSpace(
    {"x": hb.Float(0.0, 1.0), "y": hb.Float(1e-3, 1.0, log=True), "kind": hb.Categorical(["a", "b"])}
)


def curve_value(config: dict[str, Any], *, budget: float, seed: int) -> dict[str, float]:
    """A learning curve: quality of (x, y, kind), 1/budget left to learn, seed noise; x > 0.9 diverges."""
    if config["x"] > 0.9 and budget >= 3:
        raise FloatingPointError("diverged")
    tag = zlib.crc32(f"{seed}/{encode_config(config)}".encode())
    noise = 0.05 * np.random.default_rng(tag).standard_normal()
    base = (
        (config["x"] - 0.3) ** 2
        + (math.log10(config["y"]) + 1) ** 2 / 4
        + (0.2 if config["kind"] == "b" else 0)
    )
    value = (base + 0.05) * math.exp(noise) + 1.0 / budget
    return {"objective": value, "score": 1.0 / (1.0 + value)}


class Curve(hb.Task):
    """``curve_value`` as a task that continues from a checkpoint (the budget reached)."""

    def __init__(self, fn: Any = curve_value) -> None:
        self.fn, self.name, self.space, self.fidelity = fn, "curve", SPACE, FID

    def evaluate(
        self, config: Any, *, budget: float | None = None, seed: int = 0, checkpoint: bytes | None = None
    ) -> hb.Evaluation:
        config, budget, seed = self.check_inputs(config, budget, seed, checkpoint)
        if checkpoint is not None and float(checkpoint.decode()) > budget:  # type: ignore[operator]
            raise ValueError("checkpoint: beyond the budget")
        out = self.fn(config, budget=budget, seed=seed)
        return hb.Evaluation(
            out["objective"], metrics={"score": out["score"]}, checkpoint=str(budget).encode()
        )


curve = Curve()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], Recording]:
    d = tmp_path_factory.mktemp("rec")
    store = str(d / "rec.db")
    names = record([curve], configs=60, seeds=3, seeded=20, store=store, workers=0, progress=False)
    rec = export_recording(store, names, curve, d / "curve.parquet")
    return d / "curve.parquet", names, rec


# ------------------------------------------------------------------------------ design
def test_fidelity_levels_follow_the_eta_grid_and_end_at_the_top() -> None:
    assert fidelity_levels(hb.Fidelity("epochs", 1, 27)) == [1, 3, 9, 27]
    assert fidelity_levels(hb.Fidelity("rounds", 1, 81)) == [1, 3, 9, 27, 81]
    assert fidelity_levels(hb.Fidelity("epochs", 2, 20)) == [2, 6, 18, 20]
    assert fidelity_levels(None) == [None]


def test_design_is_a_prefix_and_covers_the_space() -> None:
    a, b = design_configs(SPACE, 16), design_configs(SPACE, 64)
    assert a == b[:16]
    xs = np.array([c["x"] for c in b])
    # a Sobol design puts exactly one point in each of 64 equal bins of every dimension
    assert np.array_equal(np.sort(np.floor(xs * 64).astype(int)), np.arange(64))
    assert {c["kind"] for c in b} == {"a", "b"}


def _drain(s: DesignSearcher, fails: set[str] = frozenset()) -> list[Suggestion]:  # type: ignore[assignment]
    out = []
    while (sug := s.ask()) is not None:
        out.append(sug)
        s.tell(sug, None if encode_config(sug.config) in fails else 1.0)
    return out


def test_design_chains_continue_level_by_level_and_a_failure_ends_its_chain() -> None:
    s = DesignSearcher(space=SPACE, fidelity=FID, n_configs=3, chains=2)
    first = _drain(s)
    assert [x.budget for x in first] == [1, 1, 3, 3, 9, 9, 1, 3, 9]
    for sug in first:
        if sug.continue_from is not None:
            prev = first[sug.continue_from]
            assert prev.config == sug.config and prev.budget < sug.budget
    bad = encode_config(first[0].config)
    s2 = DesignSearcher(space=SPACE, fidelity=FID, n_configs=3, chains=2)
    second = _drain(s2, fails={bad})
    assert len(second) == 7 and sum(encode_config(x.config) == bad for x in second) == 1


def test_design_waits_for_the_previous_step_of_a_chain() -> None:
    s = DesignSearcher(space=SPACE, fidelity=FID, n_configs=2, chains=2)
    a, b = s.ask(), s.ask()
    assert s.ask() is None  # level 3 of the first chain needs level 1's result
    s.tell(b, 1.0)
    assert s.ask() is None  # the schedule is fixed: the first chain comes first
    s.tell(a, 1.0)
    nxt = s.ask()
    assert nxt is not None and nxt.continue_from == a.trial_id and nxt.budget == 3


def test_configurations_from_a_store_are_recorded_after_the_design(tmp_path: Path) -> None:
    store = str(tmp_path / "seen.db")
    hb.benchmark(["branin-mf"], ["random"], seeds=1, max_evals=3, store=store, progress=False)
    seen = configs_in_store(store, "branin-mf")
    assert len(seen) == 3
    names = record(
        ["branin-mf"], configs=2, include=seen, store=str(tmp_path / "r.db"), workers=0, progress=False
    )
    rows = export_recording(str(tmp_path / "r.db"), names, "branin-mf", tmp_path / "b.parquet").rows
    assert sorted(rows["design_index"].unique()) == [0, 1, 2, 3, 4]
    assert [json.loads(c) for c in rows.drop_duplicates("design_index")["config"][2:]] == seen
    assert len(rows) == 5 * 5


def test_design_refuses_bad_parameters() -> None:
    with pytest.raises(ValueError, match="n_configs"):
        DesignSearcher(space=SPACE, fidelity=FID, n_configs=0)
    with pytest.raises(ValueError, match="levels"):
        DesignSearcher(space=SPACE, fidelity=FID, levels=[3, 1])


# ---------------------------------------------------------------------------- recording
def test_recording_task_adds_cpu_seconds_and_continues_bitwise() -> None:
    task = RecordingTask(curve)
    config = {"x": 0.5, "y": 0.1, "kind": "a"}
    first = task.evaluate(config, budget=3, seed=1)
    cont = task.evaluate(config, budget=9, seed=1, checkpoint=first.checkpoint)
    straight = task.evaluate(config, budget=9, seed=1)
    assert cont.objective == straight.objective
    assert first.metrics["record_start"] == 0.0 and cont.metrics["record_start"] == 3.0
    assert cont.metrics["record_cpu_seconds"] >= 0.0


def test_recording_holds_every_level_of_every_configuration(recorded: Any) -> None:
    path, names, rec = recorded
    rows = rec.rows
    assert names == ["record-curve", "record-curve-seeds"]
    assert rec.levels == [1, 3, 9]
    assert rows["design_index"].nunique() == 60 and rec.info["seeded_configs"] == 20
    assert sorted(rows["replica"].unique()) == [0, 1, 2]
    assert set(rows["seed"]) == {split_seed(r)[1] for r in (0, 1, 2)}
    # the design order: design index i is configuration i of the Sobol design
    design = design_configs(SPACE, 60)
    for i, c in zip(rows["design_index"], rows["config"]):
        assert json.loads(c) == design[i]
    ok = rows[rows["status"] == "ok"]
    per = ok.groupby(["design_index", "replica"])["budget"].apply(tuple)
    diverging = {i for i, c in enumerate(design) if c["x"] > 0.9}
    for (i, _), budgets in per.items():
        assert budgets == ((1.0,) if i in diverging else (1.0, 3.0, 9.0))
    assert (rows["status"] == "failed").sum() == len(diverging) + 2 * len(diverging & set(range(20)))
    # continued steps start at the previous level
    assert set(zip(ok["start"], ok["budget"])) == {(0.0, 1.0), (1.0, 3.0), (3.0, 9.0)}
    assert (ok["cpu_seconds"] > 0).all() and ok["metric.score"].notna().all()
    again = Recording.load(path)
    assert again.rows.equals(rows) and again.task == rec.task and again.levels == rec.levels


def test_interrupted_recording_resumes_to_the_same_rows(recorded: Any, tmp_path: Path) -> None:
    _, _, full = recorded
    calls = {"n": 0}

    def stop_after(config: dict[str, Any], *, budget: float, seed: int) -> Any:
        calls["n"] += 1
        if calls["n"] == 70:
            raise KeyboardInterrupt
        return curve_value(config, budget=budget, seed=seed)

    flaky = Curve(stop_after)
    store = str(tmp_path / "r.db")
    with pytest.raises(KeyboardInterrupt):
        record([flaky], configs=60, seeds=3, seeded=20, store=store, workers=0, progress=False)
    assert len(load_results(store)) == 69  # the 70th evaluation was running: not stored
    names = record([curve], configs=60, seeds=3, seeded=20, store=store, workers=0, progress=False)
    again = export_recording(store, names, curve, tmp_path / "again.parquet").rows
    cols = ["config", "design_index", "replica", "seed", "budget", "status", "objective", "metric.score"]
    assert again[cols].equals(full.rows[cols])


def test_recording_on_the_process_pool_matches_in_process(tmp_path: Path) -> None:
    store = str(tmp_path / "pool.db")
    names = record(["branin-mf"], configs=4, seeds=1, store=store, workers=1, progress=False)
    pool = export_recording(store, names, "branin-mf", tmp_path / "b.parquet")
    here = record(["branin-mf"], configs=4, store=str(tmp_path / "here.db"), workers=0, progress=False)
    inproc = export_recording(str(tmp_path / "here.db"), here, "branin-mf", tmp_path / "c.parquet")
    cols = ["config", "budget", "start", "status", "objective"]
    assert pool.rows[cols].equals(inproc.rows[cols]) and len(pool.rows) == 4 * 5
    assert pool.machine["cpus"] >= 1 and pool.info["time_model"].startswith("cpu_seconds")


# ------------------------------------------------------------------------------ replay
@pytest.fixture(scope="module")
def surrogate(recorded: Any) -> SurrogateTask:
    return SurrogateTask.from_recording(recorded[0])


def test_exact_lookup_of_every_recorded_point(recorded: Any, surrogate: SurrogateTask) -> None:
    _, _, rec = recorded
    for r in rec.rows.to_dict("records"):
        config = json.loads(r["config"])
        if r["status"] == "ok":
            ev = surrogate.evaluate(config, budget=r["budget"], seed=int(r["seed"]))
            assert ev.objective == r["objective"] and ev.metrics["score"] == r["metric.score"]
        else:
            with pytest.raises(RuntimeError, match="diverged"):
                surrogate.evaluate(config, budget=r["budget"], seed=int(r["seed"]))


def test_continuation_equals_going_straight_and_is_charged_the_recorded_step(
    recorded: Any, surrogate: SurrogateTask
) -> None:
    _, _, rec = recorded
    row = rec.rows[(rec.rows.status == "ok") & (rec.rows.budget == 9)].iloc[0]
    config, seed = json.loads(row.config), int(row.seed)
    low = surrogate.evaluate(config, budget=3, seed=seed)
    cont = surrogate.evaluate(config, budget=9, seed=seed, checkpoint=low.checkpoint)
    straight = surrogate.evaluate(config, budget=9, seed=seed)
    assert cont.objective == straight.objective == row.objective
    assert cont.seconds == row.cpu_seconds  # the recorded 3 -> 9 step
    assert straight.seconds > cont.seconds  # 0 -> 9 costs more than 3 -> 9
    assert len(low.checkpoint) < 40
    with pytest.raises(ValueError, match="same config and seed"):
        surrogate.evaluate(config, budget=9, seed=seed + 1, checkpoint=low.checkpoint)
    with pytest.raises(ValueError, match="checkpoint"):
        surrogate.evaluate(config, budget=1, seed=seed, checkpoint=low.checkpoint)


def test_same_seed_same_result_and_other_seeds_differ_by_recorded_spreads(
    recorded: Any, surrogate: SurrogateTask
) -> None:
    _, _, rec = recorded
    config = {"x": 0.41, "y": 0.05, "kind": "a"}  # not in the design
    seed0 = split_seed(0)[1]
    a = [surrogate.evaluate(config, budget=b, seed=12345).objective for b in (1, 2, 3, 9)]
    fresh = SurrogateTask.from_recording(recorded[0])
    assert a == [fresh.evaluate(config, budget=b, seed=12345).objective for b in (1, 2, 3, 9)]
    others = {surrogate.evaluate(config, budget=9, seed=s).objective for s in range(40)}
    assert len(others) > 10  # seeds move the value
    # every seed's shift is one recorded seed's deviation from its configuration's mean
    # over the recorded seeds, times sqrt(n / (n - 1)) (log scale, objective)
    base = surrogate.evaluate(config, budget=9, seed=seed0).objective
    for v in others:
        shift = math.log(v) - math.log(base)
        assert np.isclose(_recorded_deviations(rec, 9), shift, rtol=0, atol=1e-9).any()


def _recorded_deviations(rec: Any, budget: float) -> np.ndarray:
    rows = rec.rows[(rec.rows.status == "ok") & (rec.rows.budget == budget)]
    logs = np.log(rows.pivot_table(index="design_index", columns="replica", values="objective").dropna())
    n = logs.shape[1]
    return (logs.to_numpy() - logs.to_numpy().mean(axis=1, keepdims=True)) * math.sqrt(n / (n - 1))


def test_replayed_seed_spread_equals_the_recorded_one(recorded: Any, surrogate: SurrogateTask) -> None:
    # The variance of one new seed around a configuration equals the recorded within-
    # configuration variance (pooled over the seeded configurations, unbiased), not twice
    # it, as a difference of two seeds would give.
    rows = surrogate.recording.rows
    logs = np.log(
        rows[(rows.status == "ok") & (rows.budget == 9)]
        .pivot_table(index="design_index", columns="replica", values="objective")
        .dropna()
    )
    recorded_var = float(logs.var(axis=1, ddof=1).mean())
    configs = [{"x": 0.1 + 0.2 * i, "y": 0.3, "kind": "ab"[i % 2]} for i in range(4)]
    shifts = []
    for c in configs:
        v = np.log([surrogate.evaluate(c, budget=9, seed=s).objective for s in range(300)])
        shifts.append(v - v.mean())
    replay_var = float(np.var(np.concatenate(shifts), ddof=len(configs)))
    assert 0.6 < replay_var / recorded_var < 1.5, (replay_var, recorded_var)


def _evaluate_in_child(path: str, config: dict[str, Any], seed: int) -> tuple[float, float]:
    ev = SurrogateTask.from_recording(path).evaluate(config, budget=5, seed=seed)
    return ev.objective, ev.seconds


def test_same_result_in_a_spawned_process(recorded: Any, surrogate: SurrogateTask) -> None:
    config = {"x": 0.2, "y": 0.5, "kind": "b"}
    here = surrogate.evaluate(config, budget=5, seed=7)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        there = pool.submit(_evaluate_in_child, str(recorded[0]), config, 7).result(timeout=300)
    assert there == (here.objective, here.seconds)


def test_interpolates_between_levels_and_predicts_unrecorded_configs(surrogate: SurrogateTask) -> None:
    config = {"x": 0.3, "y": 0.1, "kind": "a"}  # the optimum of the base function
    seed0 = split_seed(0)[1]
    values = [surrogate.evaluate(config, budget=b, seed=seed0).objective for b in range(1, 10)]
    truth = [curve_value(config, budget=b, seed=seed0)["objective"] for b in range(1, 10)]
    assert values[0] > values[-1]  # learning curves go down with the fidelity
    assert np.corrcoef(values, truth)[0, 1] > 0.9
    worse = surrogate.evaluate({"x": 0.8, "y": 0.9, "kind": "b"}, budget=9, seed=seed0).objective
    assert worse > values[-1]


def test_surrogate_keeps_the_recorded_task_s_contract(surrogate: SurrogateTask, recorded: Any) -> None:
    assert surrogate.name == "curve-surrogate"
    assert surrogate.space == SPACE and surrogate.fidelity == FID
    assert surrogate.overhead == curve.overhead
    info = surrogate.info()
    json.dumps(info)
    assert info["surrogate"]["of"] == "curve" and info["surrogate"]["configs"] == 60
    with pytest.raises(ValueError, match="'x'"):
        surrogate.evaluate({"x": 2.0, "y": 0.5, "kind": "a"}, budget=1, seed=0)
    with pytest.raises(ValueError, match="budget"):
        surrogate.evaluate({"x": 0.2, "y": 0.5, "kind": "a"}, budget=10, seed=0)
    with pytest.raises(ValueError, match="model"):
        SurrogateTask(recorded[2], model="svm")


def test_a_benchmark_runs_on_the_surrogate(surrogate: SurrogateTask, tmp_path: Path) -> None:
    res = hb.benchmark(
        [surrogate],
        ["random", "hyperband"],
        seeds=2,
        max_cost=6,
        store=str(tmp_path / "s.db"),
        progress=False,
    )
    df = res.trials
    assert len(df) > 20 and set(df.searcher) == {"random", "hyperband"}
    info = json.loads(res.runs.iloc[0]["task_info"])
    assert info["surrogate"]["of"] == "curve" and info["surrogate"]["configs"] == 60


# ----------------------------------------------------------------------------- quality
def test_held_out_spearman_matches_an_independent_computation(recorded: Any) -> None:
    _, _, rec = recorded
    q = measure_quality(rec, model="knn", params={"k": 1}, folds=5, seed=3)
    # The same folds, predicted by scikit-learn's 1-nearest-neighbour on the encoded cube.
    fit = SurrogateFit(rec, model="knn", params={"k": 1}, exclude=rec.rows["design_index"].unique())
    order = np.random.default_rng(3).permutation(len(fit.index))
    truth = fit.base[:, :, 0]
    for j, level in enumerate(rec.levels):
        pred = np.full(len(order), np.nan)
        for k in range(5):
            held = order[k::5]
            train = np.setdiff1d(np.arange(len(order)), held)
            train = train[np.isfinite(truth[train, j])]
            model = KNeighborsRegressor(n_neighbors=1).fit(fit.X[train], np.log(truth[train, j]))
            pred[held] = model.predict(fit.X[held])
        ok = np.isfinite(truth[:, j])
        expect = spearmanr(pred[ok], truth[ok, j]).statistic
        assert q["spearman"][str(level)] == pytest.approx(expect, abs=1e-12)
        assert q["n"][str(level)] == ok.sum()
    assert q["top"] == q["spearman"]["9"] and q["lowest"] == q["spearman"]["1"]


def test_quality_is_shipped_in_the_file_and_printed(recorded: Any, tmp_path: Path) -> None:
    _, _, rec = recorded
    q = measure_quality(rec, model="knn", params={"k": 3}, folds=4)
    assert q["top"] > 0.5 and q["model"] == "knn"  # a smooth function: even 3-NN ranks it
    joint = measure_quality(rec, model="rf", params={"n_trees": 20, "joint": True}, folds=4)
    assert joint["top"] > 0.5 and joint["params"]["joint"] is True
    path = rec.with_quality(q).save(tmp_path / "q.parquet")
    task = SurrogateTask.from_recording(path)
    assert task.quality == q and q["summary"] in task.description


def test_choose_model_ships_the_candidate_best_at_the_top(recorded: Any, tmp_path: Path) -> None:
    _, _, rec = recorded
    candidates = {"knn-1": ("knn", {"k": 1}), "knn-8": ("knn", {"k": 8}), "rf": ("rf", {"n_trees": 20})}
    alone = {k: measure_quality(rec, model=m, params=p, folds=4) for k, (m, p) in candidates.items()}
    best = max(alone, key=lambda k: alone[k]["top"])
    assert len({q["top"] for q in alone.values()}) == 3  # the choice is not a tie
    q = choose_model(rec, candidates, folds=4)
    chosen = alone[best]
    assert (q["model"], q["params"], q["top"]) == (chosen["model"], chosen["params"], chosen["top"])
    assert q["candidates"] == {k: v["summary"] for k, v in alone.items()}
    assert q["summary"].endswith(f"({best}, best of knn-1, knn-8, rf)")
    task = SurrogateTask.from_recording(rec.with_quality(q).save(tmp_path / "c.parquet"))
    assert (task.model, task.params) == (chosen["model"], chosen["params"])  # replayed with it
    with pytest.raises(ValueError, match="candidates: rule 'at least one model'"):
        choose_model(rec, {})


# --------------------------------------------------------------------------------- CLI
def test_cli_records_and_exports_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["record", "branin", "--configs", "8", "--workers", "0", "--no-progress", "-o", "b.parquet"]
    assert main([*args, "--store", "r.db"]) == 0
    out = capsys.readouterr().out
    assert "held-out Spearman" in out and "b.parquet" in out
    rec = Recording.load(tmp_path / "b.parquet")
    assert rec.info["configs"] == 8 and rec.quality is not None and len(rec.rows) == 8
    assert rec.quality["n"] == {"full": 8}


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["brannin-mf", "--configs", "4"], "did you mean"),
        (["branin-mf", "--configs", "4", "--seeds", "2", "--seeded", "9"], "seeded"),
        (["branin-mf", "branin", "--configs", "4", "-o", "x.parquet"], "directory"),
    ],
)
def test_cli_record_mistakes_exit_2_and_write_nothing(
    args: list[str],
    fragment: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["record", *args, "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert fragment in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_recording_file_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        Recording.load(tmp_path / "nope.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(ValueError, match="not a Parquet file"):
        SurrogateTask.from_recording(tmp_path / "bad.parquet")


def test_side_file_describes_the_recording_and_is_trusted_only_while_it_matches(
    recorded: Any, tmp_path: Path
) -> None:
    path, _, rec = recorded
    side = path.with_name(path.name + ".meta.json")
    assert side.is_file()
    meta, rows = Recording.peek(path)
    assert rows == len(rec.rows) and meta == json.loads(json.dumps(rec.meta()))
    eager = SurrogateTask(Recording.load(path))
    lazy = SurrogateTask.from_recording(path)
    assert lazy.version == eager.version and lazy.description == eager.description
    assert lazy.info() == eager.info()
    row = rec.rows[rec.rows["status"] == "ok"].iloc[0]
    config, b, seed = json.loads(row["config"]), row["budget"], int(row["seed"])
    assert lazy.evaluate(config, budget=b, seed=seed).objective == row["objective"]
    assert eager.evaluate(config, budget=b, seed=seed).objective == row["objective"]
    # a side file that does not match its file (copied from another recording) is ignored
    other = tmp_path / "other.parquet"
    rec.with_quality({"summary": "edited"}).save(other)
    (tmp_path / "other.parquet.meta.json").write_text(side.read_text())
    assert Recording.peek(other)[0]["quality"] == {"summary": "edited"}
    (tmp_path / "other.parquet.meta.json").write_text("{not json")
    assert Recording.peek(other)[0]["quality"] == {"summary": "edited"}


def test_linear_seconds_equals_scipy_nnls_on_every_face() -> None:
    """The closed-form two-variable NNLS against scipy's active-set solver (independent)."""
    from scipy.optimize import nnls

    from hpbench.surrogate.fit import linear_seconds

    rng = np.random.default_rng(7)
    faces = set()
    for case in range(400):
        n = int(rng.integers(2, 8))
        d = rng.choice([0.0, 1.0, 2.0, 6.0, 18.0], size=n)
        if np.ptp(d) == 0:
            d[0] += 1.0
        s0, r = rng.normal(0.0, 1.0), rng.normal(0.0, 0.1)  # negative truths force the faces
        s = s0 + r * d + rng.normal(0.0, 0.3, size=n)
        want, _ = nnls(np.c_[np.ones(n), d], s)
        got = linear_seconds(d, s)
        assert np.allclose(got, want, atol=1e-9), (case, d, s, got, want)
        faces.add((got[0] == 0.0, got[1] == 0.0))
    assert len(faces) >= 3  # interior, s0 = 0 and r = 0 all met
    assert linear_seconds(np.array([3.0, 3.0]), np.array([1.0, 2.0])) == (1.5, 0.0)
    assert all(math.isnan(v) for v in linear_seconds(np.array([]), np.array([])))
