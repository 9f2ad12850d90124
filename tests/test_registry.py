"""Registry: names with did-you-mean errors, registration, and plug-ins through entry points."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import hpbench as hb
from hpbench import registry
from hpbench.listing import searcher_table, task_table
from hpbench.searchers.random import RandomSearch
from hpbench.space import Float, SearchSpace


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fresh plug-in state, restored after the test."""
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(registry, "_extra_tasks", {})
    monkeypatch.setattr(registry, "_extra_searchers", {})


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: registry.get_task("branni"), "did you mean 'branin'"),
        (lambda: registry.get_task("hartman6"), "did you mean 'hartmann6'"),
        (lambda: registry.get_searcher_class("radnom"), "did you mean 'random'"),
        (lambda: registry.get_searcher_class("hyperbnad"), "did you mean 'hyperband'"),
        (lambda: registry.get_task("zzzzzzzz"), "known: "),
    ],
)
def test_unknown_names_suggest_the_closest(call: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        call()  # type: ignore[operator]


def test_unknown_name_message_names_the_kind_and_the_value() -> None:
    with pytest.raises(ValueError) as info:
        registry.get_task("branni")
    assert str(info.value).startswith("task: unknown name 'branni'")


def test_unknown_searcher_parameter_suggests_the_closest() -> None:
    space = SearchSpace({"x": Float(0, 1)})
    with pytest.raises(ValueError, match="did you mean 'n_init'"):
        registry.make_searcher("gp-ei", space=space, n_int=3)
    with pytest.raises(ValueError, match="'random'.*'foo'.*takes: none"):
        registry.make_searcher("random", space=space, foo=1)


def test_names_are_sorted_and_include_the_built_ins() -> None:
    assert registry.task_names() == sorted(registry.task_names())
    assert {"branin", "branin-mf", "hartmann3", "hartmann6", "hartmann6-mf", "branin-noisy"} <= set(
        registry.task_names()
    )
    assert {"random", "gp-ei", "sh", "hyperband", "asha"} <= set(registry.searcher_names())


def test_get_task_sets_the_registry_name() -> None:
    assert registry.get_task("hartmann6-mf").name == "hartmann6-mf"


def test_register_task_and_searcher(clean_registry: None) -> None:
    task = hb.FunctionTask(lambda c, *, budget, seed: c["x"], space={"x": hb.Float(0, 1)}, name="mine")
    registry.register_task("mine", task)
    assert registry.get_task("mine") is task
    registry.register_task("mine-factory", lambda: task)
    assert registry.get_task("mine-factory") is task

    class Mine(RandomSearch):
        name = "mine"

    registry.register_searcher("mine", Mine)
    assert registry.get_searcher_class("mine") is Mine
    assert "mine" in registry.searcher_names() and "mine" in registry.task_names()
    with pytest.raises(TypeError, match="Searcher subclass"):
        registry.register_searcher("bad", object)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="name"):
        registry.register_task("", task)
    registry.register_task("not-a-task", lambda: 42)  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="not a Task"):
        registry.get_task("not-a-task")


# ----------------------------------------------------------------------- plug-ins
PLUGIN = '''
"""A tiny third-party package that adds one task and one searcher to hpbench."""
import hpbench as hb
from hpbench.searchers.base import Searcher
from hpbench.trial import Suggestion


def _quad(config, *, budget, seed):
    return (config["x"] - 0.25) ** 2


def make_task():
    return hb.FunctionTask(_quad, space={"x": hb.Float(0.0, 1.0)}, name="demo-quad", optimum=0.0)


class GridSearcher(Searcher):
    """Walks a regular grid of the first parameter."""

    name = "demo-grid"

    def __init__(self, *, space, fidelity=None, seed=0, points=5):
        super().__init__(space=space, fidelity=fidelity, seed=seed)
        self.points = points

    def _ask(self, trial_id):
        name = next(iter(self.space))
        p = self.space[name]
        frac = (trial_id % self.points) / (self.points - 1)
        return Suggestion(trial_id, {name: p.low + frac * (p.high - p.low)})
'''

ENTRY_POINTS = """
[hpbench.tasks]
demo-quad = hpb_demo_plugin:make_task
demo-broken = hpb_no_such_module:make_task

[hpbench.searchers]
demo-grid = hpb_demo_plugin:GridSearcher
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_registry: None) -> Path:
    """Install the plug-in 'by hand': a module and its dist-info folder on sys.path."""
    (tmp_path / "hpb_demo_plugin.py").write_text(textwrap.dedent(PLUGIN))
    info = tmp_path / "hpb_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hpb-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_plugin_task_and_searcher_found_by_name(plugin: Path) -> None:
    assert "demo-quad" in registry.task_names()
    assert "demo-grid" in registry.searcher_names()
    task = registry.get_task("demo-quad")
    assert task.name == "demo-quad" and task.evaluate({"x": 0.25}).objective == 0.0
    cls = registry.get_searcher_class("demo-grid")
    assert cls.__name__ == "GridSearcher" and cls.param_names() == ["points"]
    s = registry.make_searcher("demo-grid", space=task.space, points=3)
    assert [s.ask().config["x"] for _ in range(3)] == [0.0, 0.5, 1.0]
    with pytest.raises(ValueError, match="did you mean 'points'"):
        registry.make_searcher("demo-grid", space=task.space, pionts=3)


def test_plugin_runs_in_a_benchmark(plugin: Path, tmp_path: Path) -> None:
    res = hb.benchmark(
        ["demo-quad"],
        ["demo-grid:points=5", "random"],
        seeds=1,
        max_evals=5,
        store=tmp_path / "p.db",
        workers=0,
        progress=False,
    )
    df = res.trials
    assert len(df) == 10
    grid = df[df.searcher == "demo-grid:points=5"].sort_values("trial")
    assert grid["param.x"].tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert grid.objective.min() == 0.0


def test_broken_plugin_fails_clearly_and_does_not_hide_the_others(plugin: Path) -> None:
    with pytest.raises(ModuleNotFoundError, match="hpb_no_such_module"):
        registry.get_task("demo-broken")
    rows = {r["name"]: r for r in task_table()}
    assert "cannot load" in rows["demo-broken"]["description"]
    assert rows["demo-quad"]["params"] == ["x"] and rows["branin"]["optimum"] == pytest.approx(0.397887)
    assert "demo-grid" in {r["name"] for r in searcher_table()}
