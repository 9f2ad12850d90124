"""Successive Halving, Hyperband and ASHA: schedules, promotion rules, continuation, contracts."""

from __future__ import annotations

import importlib.util
import pickle
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from hpbench.registry import make_searcher, register_searcher
from hpbench.searchers.asha import ASHA
from hpbench.searchers.base import Searcher
from hpbench.searchers.hyperband import Hyperband, hyperband_schedule
from hpbench.searchers.random import RandomSearch
from hpbench.searchers.successive_halving import SuccessiveHalving
from hpbench.space import Fidelity, Float, SearchSpace
from hpbench.tasks.synthetic import Hartmann
from hpbench.trial import Suggestion

SPACE = SearchSpace({"x": Float(0.0, 1.0)})
CLASSES = [SuccessiveHalving, Hyperband, ASHA]
HAS_GP = importlib.util.find_spec("hpbench.searchers.gp.optimizer") is not None


@pytest.fixture(autouse=True)
def _one_blas_thread() -> Iterator[None]:
    # The GP's matrices are tiny: BLAS threads only fight over the cores (5x slower under load).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def _hartmann_objective() -> Callable[[Suggestion], float]:
    task = Hartmann(dim=6, multi_fidelity=True)
    return lambda s: task.evaluate(s.config, budget=s.budget).objective


def drive(searcher: Searcher, objective: Callable[[Suggestion], float | None], n: int) -> list[Suggestion]:
    """Sequential ask/tell for up to ``n`` trials (stops early when the searcher waits or ends)."""
    out = []
    for _ in range(n):
        s = searcher.ask()
        if s is None:
            break
        searcher.tell(s, objective(s))
        out.append(s)
    return out


# --------------------------------------------------------------------------- schedules
def test_hyperband_schedule_equals_table_1_of_the_paper() -> None:
    # Li et al., JMLR 2018, Table 1: R = 81, eta = 3; rungs (n_i, r_i) per bracket s = 4..0.
    table = [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]
    assert hyperband_schedule(Fidelity("epochs", 1, 81), eta=3) == table


def test_hyperband_schedule_other_ranges_follow_the_formulas() -> None:
    # Worked by hand from n = ceil((s_max+1)/(s+1) eta^s), n_i = floor(n eta^-i), r_i = R eta^(i-s).
    assert hyperband_schedule(Fidelity("epochs", 1, 27), eta=3) == [
        [(27, 1), (9, 3), (3, 9), (1, 27)],
        [(12, 3), (4, 9), (1, 27)],
        [(6, 9), (2, 27)],
        [(4, 27)],
    ]
    assert hyperband_schedule(Fidelity("epochs", 1, 8), eta=2) == [
        [(8, 1), (4, 2), (2, 4), (1, 8)],
        [(6, 2), (3, 4), (1, 8)],
        [(4, 4), (2, 8)],
        [(4, 8)],
    ]
    # min_budget shrinks s_max: R / r_min = 9 -> brackets s = 2..0.
    assert hyperband_schedule(Fidelity("epochs", 1, 81), eta=3, min_budget=9) == [
        [(9, 9), (3, 27), (1, 81)],
        [(5, 27), (1, 81)],
        [(3, 81)],
    ]


def test_schedule_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="eta >= 2"):
        hyperband_schedule(Fidelity("epochs", 1, 81), eta=1)
    with pytest.raises(ValueError, match="min_budget \\* eta"):
        hyperband_schedule(Fidelity("epochs", 1, 81), eta=3, min_budget=50)


def test_budgets_stay_on_the_fidelity_grid() -> None:
    # R / r_min = 100 is no power of 3: budgets are rounded to integers, the top is R itself.
    int_sched = hyperband_schedule(Fidelity("epochs", 1, 100), eta=3)
    assert [r for _, r in int_sched[0]] == [1, 4, 11, 33, 100]
    assert all(isinstance(r, int) for b in int_sched for _, r in b)
    float_sched = hyperband_schedule(Fidelity("fraction", 0.1, 1.0, integer=False), eta=3)
    assert [r for _, r in float_sched[0]] == pytest.approx([1 / 9, 1 / 3, 1.0])
    assert all(0.1 <= r <= 1.0 for b in float_sched for _, r in b)


def test_hyperband_run_follows_the_schedule_then_finishes() -> None:
    fid = Fidelity("epochs", 1, 27)
    hb = Hyperband(space=SPACE, fidelity=fid, eta=3, max_iterations=1)
    trials = drive(hb, lambda s: (s.config["x"] - 0.3) ** 2 / s.budget, 10_000)
    expected = Counter()
    for bracket in hyperband_schedule(fid, eta=3):
        for n_i, r_i in bracket:
            expected[r_i] += n_i
    assert Counter(s.budget for s in trials) == expected
    assert hb.is_finished() and hb.ask() is None
    # Brackets run in the order s = s_max..0: the first 27 trials are bracket 3's bottom rung.
    assert [s.budget for s in trials[:27]] == [1] * 27 and trials[27].budget == 3


# ------------------------------------------------------------------ Successive Halving
def test_sh_promotes_exactly_the_top_third_and_ranks_failures_last() -> None:
    fid = Fidelity("epochs", 1, 9)
    sh = SuccessiveHalving(space=SPACE, fidelity=fid, eta=3, max_iterations=1)
    assert sh.rungs == [(9, 1), (3, 3), (1, 9)]
    rung0 = [sh.ask() for _ in range(9)]
    assert sh.ask() is None  # rung 0 handed out; waiting for its results
    # Hand-made objectives: trial 4 would be best but fails; the next three best are 7, 1, 5.
    values = {0: 0.9, 1: 0.2, 2: 0.8, 3: 0.7, 4: None, 5: 0.3, 6: 0.6, 7: 0.1, 8: 0.5}
    for s in rung0[:-1]:
        sh.tell(s, values[s.trial_id])
        assert sh.ask() is None  # rung incomplete
    sh.tell(rung0[-1], values[8])
    rung1 = [sh.ask() for _ in range(3)]
    assert sh.ask() is None
    assert [s.continue_from for s in rung1] == [7, 1, 5]
    assert [s.config for s in rung1] == [rung0[i].config for i in (7, 1, 5)]
    assert all(s.budget == 3 for s in rung1)
    # At budget 3 the order changes: the survivor is picked on rung-1 results.
    for s, y in zip(rung1, [0.5, 0.05, 0.4]):
        sh.tell(s, y)
    (top,) = [sh.ask()]
    assert top.budget == 9 and top.continue_from == rung1[1].trial_id and top.config == rung0[1].config
    sh.tell(top, 0.01)
    assert sh.is_finished() and sh.ask() is None


def test_sh_rung_with_only_failures_ends_the_bracket() -> None:
    sh = SuccessiveHalving(space=SPACE, fidelity=Fidelity("epochs", 1, 9), max_iterations=2)
    trials = drive(sh, lambda s: None, 100)
    # Two brackets of 9 failures each, no promotions.
    assert len(trials) == 18 and all(s.budget == 1 for s in trials)
    assert sh.is_finished()


def test_sh_n_configs_sets_bracket_size() -> None:
    sh = SuccessiveHalving(space=SPACE, fidelity=Fidelity("epochs", 1, 81), n_configs=30)
    assert sh.rungs == [(30, 1), (10, 3), (3, 9), (1, 27), (1, 81)]


@pytest.mark.parametrize("cls", [SuccessiveHalving, Hyperband])
def test_synchronous_searchers_hand_out_a_whole_rung_before_waiting(cls: type[Searcher]) -> None:
    searcher = cls(space=SPACE, fidelity=Fidelity("epochs", 1, 81))
    assert cls.synchronous
    batch = []
    while (s := searcher.ask()) is not None:
        batch.append(s)
    assert len(batch) == 81 and len({s.trial_id for s in batch}) == 81
    for s in batch[::-1]:  # any completion order
        searcher.tell(s, s.config["x"])
    promoted = searcher.ask()
    assert promoted is not None and promoted.budget == 3
    best = min(batch, key=lambda s: s.config["x"])
    assert promoted.continue_from == best.trial_id


# ------------------------------------------------------------------------------ ASHA
def test_asha_promotion_rule_on_a_hand_made_sequence() -> None:
    asha = ASHA(space=SPACE, fidelity=Fidelity("epochs", 1, 9), eta=3)
    assert asha.rung_budgets == [1, 3, 9]
    t0, t1, t2 = (asha.ask() for _ in range(3))
    assert [t.budget for t in (t0, t1, t2)] == [1, 1, 1]  # nothing finished: start new ones
    asha.tell(t0, 0.5)
    asha.tell(t1, 0.3)
    t3 = asha.ask()  # 2 finished in rung 0: floor(2/3) = 0, no promotion yet
    assert t3.budget == 1 and t3.continue_from is None
    asha.tell(t2, 0.4)
    t4 = asha.ask()  # 3 finished: the top 1 (trial 1) goes up
    assert (t4.budget, t4.continue_from, t4.config) == (3, 1, t1.config)
    t5 = asha.ask()  # trial 1 already promoted, top 1 of 3 exhausted: new
    assert t5.budget == 1
    asha.tell(t3, 0.1)  # 4 finished, top 1 = trial 3
    asha.tell(t5, 0.05)  # 5 finished, top 1 = trial 5
    t6 = asha.ask()
    assert (t6.budget, t6.continue_from) == (3, 5)
    asha.tell(t4, 0.2)
    asha.tell(t6, 0.02)
    t7 = asha.ask()  # rung 0 = 5 finished, its top 1 (trial 5) is promoted; rung 1 too small
    assert t7.budget == 1
    asha.tell(t7, 0.9)  # 6 finished: top 2 = trials 5, 3 -> trial 3 goes up
    t8 = asha.ask()
    assert (t8.budget, t8.continue_from, t8.config) == (3, 3, t3.config)
    t9 = asha.ask()
    assert t9.budget == 1
    asha.tell(t9, 0.001)  # rung 0: top 2 = trials 9, 5 -> trial 9 promotable
    asha.tell(t8, 0.01)  # rung 1 = {4: 0.2, 6: 0.02, 8: 0.01}: top 1 = trial 8 promotable
    t10 = asha.ask()  # the higher rung is served first
    assert (t10.budget, t10.continue_from, t10.config) == (9, 8, t3.config)
    t11 = asha.ask()
    assert (t11.budget, t11.continue_from, t11.config) == (3, 9, t9.config)


def test_asha_never_waits_and_ranks_failures_last() -> None:
    asha = ASHA(space=SPACE, fidelity=Fidelity("epochs", 1, 9))
    batch = [asha.ask() for _ in range(6)]
    assert all(s is not None and s.budget == 1 for s in batch)
    for s in batch[:3]:
        asha.tell(s, None)  # failures count in the rung but are never promoted
    s = asha.ask()
    assert s.budget == 1
    for s2, y in zip(batch[3:], [0.3, 0.2, 0.1]):
        asha.tell(s2, y)
    promoted = asha.ask()  # 6 finished -> top 2 = trials 5, 4
    assert (promoted.budget, promoted.continue_from) == (3, 5)


# ------------------------------------------------------- continuation, contracts
@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("continuation", [True, False])
def test_promotions_continue_from_the_previous_rung(cls: type[Searcher], continuation: bool) -> None:
    searcher = cls(space=SPACE, fidelity=Fidelity("epochs", 1, 27), seed=3, continuation=continuation)
    trials = drive(searcher, lambda s: (s.config["x"] - 0.4) ** 2 + 1 / s.budget, 120)
    last_trial_of: dict[float, Suggestion] = {}  # config -> its latest trial so far
    n_promotions = 0
    for s in trials:
        previous = last_trial_of.get(s.config["x"])
        if previous is None:
            assert s.continue_from is None
        else:
            n_promotions += 1
            assert s.budget > previous.budget
            assert s.continue_from == (previous.trial_id if continuation else None)
        last_trial_of[s.config["x"]] = s
    assert n_promotions >= 10
    assert all(isinstance(s.budget, int) and 1 <= s.budget <= 27 for s in trials)


@pytest.mark.parametrize("cls", CLASSES)
def test_same_seed_same_sequence_and_pickle_mid_run(cls: type[Searcher]) -> None:
    f = _hartmann_objective()
    a, b = (cls(space=Hartmann(dim=6).space, fidelity=Fidelity("level", 1, 81), seed=7) for _ in range(2))
    first = drive(a, f, 60)
    assert first == drive(b, f, 60)
    # A few asks pending when pickled: both copies must go on identically.
    pending = [s for s in (a.ask() for _ in range(3)) if s is not None]
    c = pickle.loads(pickle.dumps(a))
    for searcher in (a, c):
        for s in pending:
            searcher.tell(s, f(s))
    assert drive(a, f, 60) == drive(c, f, 60)
    other = cls(space=Hartmann(dim=6).space, fidelity=Fidelity("level", 1, 81), seed=8)
    assert drive(other, f, 10) != first[:10]


@pytest.mark.parametrize("name", ["sh", "hyperband", "asha"])
def test_task_without_fidelity_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="needs a task with a fidelity"):
        make_searcher(name, space=SPACE, fidelity=None)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"eta": 1}, ValueError, "eta >= 2"),
        ({"eta": 2.5}, TypeError, "'eta' must be an integer"),
        ({"proposer": "tpe"}, ValueError, "proposer in"),
        ({"min_budget": 0}, ValueError, "min_budget > 0"),
        ({"min_budget": 81}, ValueError, "min_budget < fidelity.high"),
        ({"min_budget": 30}, ValueError, "min_budget \\* eta <= fidelity.high"),
        ({"continuation": "yes"}, TypeError, "continuation"),
    ],
)
def test_bad_parameters_are_rejected(cls: type[Searcher], params: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        cls(space=SPACE, fidelity=Fidelity("epochs", 1, 81), **params)


@pytest.mark.parametrize(
    ("cls", "params", "match"),
    [
        (SuccessiveHalving, {"n_configs": 0}, "n_configs >= 1"),
        (Hyperband, {"max_iterations": 0}, "max_iterations >= 1"),
        (SuccessiveHalving, {"eta": 3}, "min_budget \\* eta"),  # fidelity 1..2: no room to promote
    ],
)
def test_more_bad_parameters(cls: type[Searcher], params: dict, match: str) -> None:
    fid = Fidelity("epochs", 1, 2) if params == {"eta": 3} else Fidelity("epochs", 1, 81)
    with pytest.raises(ValueError, match=match):
        cls(space=SPACE, fidelity=fid, **params)


@pytest.mark.parametrize("name", ["sh", "hyperband", "asha"])
def test_registry_builds_them_and_params_round_trip(name: str) -> None:
    fid = Fidelity("epochs", 1, 27)
    s = make_searcher(name, space=SPACE, fidelity=fid, seed=1, eta=3, continuation=False)
    params = s.get_params()
    assert params["eta"] == 3 and params["continuation"] is False and params["proposer"] == "random"
    rebuilt = make_searcher(name, space=SPACE, fidelity=fid, seed=1, **params)
    assert drive(rebuilt, lambda t: t.config["x"], 30) == drive(s, lambda t: t.config["x"], 30)


class _Recorder(RandomSearch):
    """A plug-in proposer: random search that records what it is told."""

    name = "recorder"

    def _tell(self, suggestion: Suggestion, objective: float | None) -> None:
        self.told = [*getattr(self, "told", []), (dict(suggestion.config), objective)]


def test_a_plug_in_proposer_is_asked_for_new_configs_and_told_only_their_first_rung() -> None:
    register_searcher("recorder", _Recorder)
    fid = Fidelity("epochs", 1, 27)
    hb = Hyperband(space=SPACE, fidelity=fid, seed=3, proposer="recorder", max_iterations=1)
    runs = drive(hb, lambda s: s.config["x"] + 1.0 / s.budget, 200)
    assert hb.is_finished() and len(runs) == sum(n for b in hyperband_schedule(fid) for n, _ in b)
    instances = hb._proposals._by_budget
    assert sorted(instances) == [1.0, 3.0, 9.0, 27.0]  # one proposer per starting budget
    for start, proposer in instances.items():
        new = [s for s in runs if s.continue_from is None and s.budget == start]
        # told each configuration it proposed, once, with its objective at the starting budget
        assert proposer.told == [(dict(s.config), s.config["x"] + 1.0 / start) for s in new]
        assert all(isinstance(p, _Recorder) for p in instances.values())


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"proposer": "hyperband"}, ValueError, "full-fidelity searcher"),
        ({"proposer": "optuna_tpe"}, ValueError, "did you mean 'optuna-tpe'"),
        ({"proposer": 3}, TypeError, "'proposer' must be"),
        ({"proposer": "gp-ei", "proposer_params": {"n_int": 3}}, ValueError, "did you mean 'n_init'"),
        ({"proposer": "gp-ei", "proposer_params": {"n_init": 0}}, ValueError, "n_init >= 1"),
        ({"proposer_params": [1]}, TypeError, "'proposer_params' must be a dict"),
    ],
)
def test_bad_proposers_are_rejected_when_the_policy_is_built(params: dict, error: type, match: str) -> None:
    for cls in CLASSES:
        with pytest.raises(error, match=match):
            cls(space=SPACE, fidelity=Fidelity("epochs", 1, 81), **params)


@pytest.mark.skipif(not HAS_GP, reason="GP searcher not available yet")
@pytest.mark.parametrize("cls", [Hyperband, ASHA])
@pytest.mark.parametrize("proposer", ["gp-ei", "optuna-tpe"])
def test_model_based_proposer_runs_and_is_deterministic(cls: type[Searcher], proposer: str) -> None:
    f = _hartmann_objective()
    space = Hartmann(dim=6).space
    runs = [
        drive(cls(space=space, fidelity=Fidelity("level", 1, 27), seed=2, proposer=proposer), f, 45)
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    assert all(space.validate(s.config) == s.config for s in runs[0])
    new_configs = [tuple(s.config.values()) for s in runs[0] if s.continue_from is None]
    assert len(set(new_configs)) == len(new_configs)  # fantasies keep a rung's proposals apart


@pytest.mark.skipif(not HAS_GP, reason="GP not available yet")
def test_gp_proposer_finds_the_minimum_of_a_quadratic_faster_than_the_prior() -> None:
    space = SearchSpace({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
    asha = ASHA(space=space, fidelity=Fidelity("epochs", 1, 9), seed=0, proposer="gp-ei")
    runs = drive(asha, lambda s: (s.config["x"] - 0.2) ** 2 + (s.config["y"] - 0.7) ** 2, 30)
    new = [(s.config["x"] - 0.2) ** 2 + (s.config["y"] - 0.7) ** 2 for s in runs if s.continue_from is None]
    # 14 prior samples get below 1e-4 with probability 14 * pi * 1e-4 = 0.4%; the GP gets there.
    assert len(new) >= 12 and min(new) < 1e-4
    clone = pickle.loads(pickle.dumps(asha))
    assert clone.ask() == asha.ask()


HAS_RUNNER = importlib.util.find_spec("hpbench.runner") is not None


@pytest.mark.skipif(not HAS_RUNNER, reason="runner not available yet")
@pytest.mark.parametrize("continuation", [True, False])
def test_runner_charges_promotions_by_the_increment(continuation: bool) -> None:
    from hpbench.runner import Budget, run_search

    task = Hartmann(dim=6, multi_fidelity=True)
    hb = Hyperband(space=task.space, fidelity=task.fidelity, max_iterations=1, continuation=continuation)
    records = run_search(task, hb, budget=Budget(max_cost=1000.0))
    schedule = hyperband_schedule(task.fidelity, eta=3)
    assert len(records) == sum(n for b in schedule for n, _ in b)
    # Closed form: continuing pays n_i (r_i - r_{i-1}) / R per rung, retraining n_i r_i / R.
    expected = sum(
        n * (r - (b[i - 1][1] if i and continuation else 0)) for b in schedule for i, (n, r) in enumerate(b)
    )
    assert sum(r.cost for r in records) == pytest.approx(expected / 81)
    assert all(r.status.value == "ok" for r in records)
