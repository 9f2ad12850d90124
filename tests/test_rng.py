"""Searcher random streams: each depends only on (seed, trial, stream), whatever the call order."""

from __future__ import annotations

import pickle

import numpy as np

import hpbench as hb
from hpbench.searchers.random import RandomSearch

SPACE = hb.SearchSpace({"x": hb.Float(0.0, 1.0), "k": hb.Categorical(["a", "b", "c"])})


def _draws(rng: np.random.Generator) -> list[float]:
    return rng.random(5).tolist()


def test_reused_rng_depends_only_on_seed_trial_and_stream() -> None:
    a = RandomSearch(space=SPACE, seed=7)
    b = RandomSearch(space=SPACE, seed=7)
    first = _draws(a.reused_rng(3))
    _draws(a.reused_rng(4, stream=1))  # other streams and trials in between change nothing
    _draws(a.reused_rng(9))
    assert _draws(a.reused_rng(3)) == first
    assert _draws(b.reused_rng(3)) == first  # a fresh searcher with the same seed
    assert _draws(pickle.loads(pickle.dumps(a)).reused_rng(3)) == first
    others = [
        _draws(a.reused_rng(4)),
        _draws(a.reused_rng(3, stream=1)),
        _draws(RandomSearch(space=SPACE, seed=8).reused_rng(3)),
    ]
    assert all(o != first for o in others)


def test_reused_rng_is_reset_per_call_and_uniform() -> None:
    s = RandomSearch(space=SPACE, seed=1)
    g = s.reused_rng(0)
    assert s.reused_rng(5) is g  # one generator per stream ...
    u = np.array([s.reused_rng(t).random() for t in range(4000)])  # ... first draw of each trial
    # Kolmogorov-Smirnov against U(0, 1): sup |F_n - F| < 1.63 / sqrt(n) at the 1% level.
    u.sort()
    ks = np.max(np.abs(np.arange(1, len(u) + 1) / len(u) - u))
    assert ks < 1.63 / np.sqrt(len(u))
    assert len(np.unique(u)) == len(u)


def test_random_search_trial_depends_only_on_its_number() -> None:
    a = RandomSearch(space=SPACE, seed=2)
    seq = [a.ask() for _ in range(6)]
    b = RandomSearch(space=SPACE, seed=2)
    for _ in range(3):  # told in between, other order: same configs
        s = b.ask()
        assert s is not None
        b.tell(s, 0.0)
    rest = [b.ask() for _ in range(3)]
    assert [s.config for s in seq[3:]] == [s.config for s in rest if s is not None]
    assert len({tuple(sorted(s.config.items())) for s in seq}) == 6


def test_space_sample_draws_one_uniform_per_parameter() -> None:
    space = hb.SearchSpace(
        {
            "lr": hb.Float(1e-4, 1.0, log=True),
            "n": hb.Int(1, 10),
            "kind": hb.Categorical(["a", "b", "c"]),
            "extra": hb.Float(0.0, 1.0, active_if=("kind", "a")),
        }
    )
    for seed in range(50):
        u = np.random.default_rng(seed).random(4)
        cfg = space.sample(np.random.default_rng(seed))
        assert cfg["lr"] == space["lr"].from_uniform(u[0])
        assert cfg["n"] == space["n"].from_uniform(u[1])
        assert cfg["kind"] == ["a", "b", "c"][int(u[2] * 3)]
        assert ("extra" in cfg) == (cfg["kind"] == "a")
        if "extra" in cfg:
            assert cfg["extra"] == u[3]
