"""Tests of hpbench.results.plots: figures built from analysis outputs, SVG only, light."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hpbench.results import analysis as an
from hpbench.results import plots

NAN = float("nan")


def synthetic(n_runs_per: int = 3, n: int = 30, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts, run_id = [], 0
    for task, opt in (("a", 0.0), ("b", NAN)):
        for s in ("random", "gp", "hb"):
            for k in range(n_runs_per):
                run_id += 1
                fin = np.cumsum(rng.uniform(0.5, 1.5, n))
                parts.append(
                    pd.DataFrame(
                        {
                            "run_id": run_id,
                            "task": task,
                            "searcher": s,
                            "seed": k,
                            "trial": np.arange(n),
                            "objective": rng.uniform(0.0, 1.0, n) + (0.5 if s == "random" else 0.0),
                            "budget": np.where(np.arange(n) % 3 == 0, 9.0, 3.0) if s == "hb" else 9.0,
                            "fidelity_high": 9.0,
                            "cost": np.where(np.arange(n) % 3 == 0, 1.0, 1 / 3) if s == "hb" else 1.0,
                            "status": "ok",
                            "started": fin - 0.4,
                            "finished": fin,
                            "worker": f"w{k % 2}",
                            "optimum": opt,
                            "param.C": 10 ** rng.uniform(-3, 3, n),
                            "param.gamma": 10 ** rng.uniform(-4, 0, n),
                        }
                    )  # fmt: skip
                )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def data() -> dict:
    tr = synthetic()
    refs = an.regret_references(tr)
    curves = {ax: an.aggregate(an.add_regret(an.trajectories(tr, axis=ax), refs)) for ax in an.AXES}
    return {"trials": tr, "refs": refs, "curves": curves, "final": an.final_runs(tr, refs)}


def no_webgl(fig) -> bool:
    return all(t.type in ("scatter", "bar", "box") for t in fig.data)


def test_regret_curves_switch_axes_with_buttons(data):
    curves = {ax: c[c["task"] == "a"] for ax, c in data["curves"].items()}
    fig = plots.regret_curves(curves, title="a")
    assert fig.layout.yaxis.type == "log" and no_webgl(fig)
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["cost", "evaluations", "time"]
    masks = [b.args[0]["visible"] for b in buttons]
    # each button shows a disjoint, non-empty set of traces that together cover all of them
    assert all(any(m) for m in masks)
    assert np.array(masks).sum(axis=0).tolist() == [1] * len(fig.data)
    assert [t.visible for t in fig.data] == masks[0]
    assert buttons[1].args[1]["xaxis.title.text"] == plots.AXIS_TITLES["evaluations"]


def test_regret_curves_put_zero_regret_on_the_log_axis(data):
    c = data["curves"]["evaluations"]
    c = c[c["task"] == "b"].copy()  # reference = best found: the best run reaches 0
    c.loc[c.index[-1], ["median", "median_lo"]] = 0.0
    fig = plots.regret_curves({"evaluations": c}, title="b")
    ys = np.concatenate([np.asarray(t.y, float) for t in fig.data])
    assert (ys[np.isfinite(ys)] > 0).all()
    assert not fig.layout.updatemenus  # one axis: no buttons


def test_rank_and_score_curves(data):
    traj = an.trajectories(data["trials"], axis="cost")
    fig = plots.rank_curves(an.average_rank(traj), title="r")
    assert len(fig.data) == 3 and fig.layout.yaxis.autorange == "reversed"
    scored = an.add_scores(
        traj, an.random_pools(data["trials"], data["trials"]["objective"]), data["refs"], axis="cost"
    )
    fig = plots.score_curves(an.task_mean_of_medians(scored), title="s")
    assert {t.name for t in fig.data} == {"random", "gp", "hb"}


def test_final_distribution_one_box_per_searcher_with_all_points(data):
    fr = data["final"][data["final"]["task"] == "a"]
    fig = plots.final_distribution(fr, title="f")
    assert [t.type for t in fig.data] == ["box"] * 3
    assert all(t.boxpoints == "all" and len(t.y) == 3 for t in fig.data)


def test_cd_diagram_shapes(data):
    res = an.friedman_ranks(data["final"][data["final"]["task"] == "a"])  # blocks: the seeds of one task
    fig = plots.cd_diagram(res)
    k = len(res.searchers)
    widths = [s.line.width for s in fig.layout.shapes]
    assert widths.count(5) == len(res.cliques)  # one thick bar per clique
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "CD = " in texts and all(s in texts for s in res.searchers)
    assert len(fig.data) == 1 and len(fig.data[0].x) == k


def test_budget_allocation_bars(data):
    al = an.budget_allocation(data["trials"])
    fig = plots.budget_allocation(al[al["task"] == "a"], title="b")
    hb = next(t for t in fig.data if t.name == "hb")
    assert list(hb.x) == ["3", "9"]
    assert np.isclose(sum(hb.y), 100.0)


def test_configurations_two_params_scatter_with_log_axes(data):
    tr = data["trials"][data["trials"]["task"] == "a"]
    params = an.param_columns(tr)
    conf = an.configurations(tr, max_per_searcher=20)
    fig = plots.configurations(conf, params=params, scales=an.param_scales(tr, params), title="c")
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert sum(len(t.x) for t in fig.data) == len(conf) <= 60


def test_configurations_parallel_coordinates_in_svg():
    rng = np.random.default_rng(1)
    n = 40
    act = rng.choice(["relu", "tanh"], n)
    conf = pd.DataFrame(
        {
            "searcher": "gp", "objective": rng.random(n), "top": np.arange(n) < 4,
            "param.lr": 10 ** rng.uniform(-4, -1, n), "param.act": act,
            "param.drop": np.where(act == "relu", rng.random(n), NAN),
        }
    )  # fmt: skip
    params = ["param.lr", "param.act", "param.drop"]
    fig = plots.configurations(conf, params=params, scales=an.param_scales(conf, params), title="p")
    assert no_webgl(fig)
    ys = np.concatenate([np.asarray(t.y, float) for t in fig.data])
    assert np.isnan(ys).sum() == n + 1  # one separator per configuration; the best one drawn twice
    finite = ys[np.isfinite(ys)]
    assert finite.min() == pytest.approx(-0.1) and finite.max() <= 1.0  # inactive level below the axis
    assert "inactive" in " ".join(a.text for a in fig.layout.annotations)


def test_worker_timeline(data):
    util = an.worker_utilisation(data["trials"])
    fig = plots.worker_timeline(an.busy_intervals(data["trials"]), util, title="w")
    assert {t.orientation for t in fig.data} == {"h"}
    assert len(fig.data) == len(util)


def test_searcher_colors_stable_and_random_grey():
    c = plots.searcher_colors(["b", "random", "a"])
    assert c["random"] == "#7f7f7f" and c["a"] != c["b"]
    assert c == plots.searcher_colors(["a", "b", "random"])
