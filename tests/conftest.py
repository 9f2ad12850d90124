"""Shared fixtures: a mixed search space with a conditional parameter, a task on it, a scripted searcher."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from hpbench.searchers.base import Searcher
from hpbench.space import Categorical, Fidelity, Float, Int, SearchSpace
from hpbench.tasks.base import FunctionTask
from hpbench.trial import Suggestion


def mixed_space() -> SearchSpace:
    """Float(log) / Int / Int(log) / Categorical and one conditional parameter."""
    return SearchSpace(
        {
            "lr": Float(1e-4, 1e-1, log=True),
            "depth": Int(1, 8),
            "width": Int(8, 512, log=True),
            "opt": Categorical(["sgd", "adam", "rmsprop"]),
            "momentum": Float(0.0, 0.99, active_if={"opt": ["sgd", "rmsprop"]}),
        }
    )


def mixed_objective(config: Mapping[str, Any], *, budget: float | None, seed: int) -> float:
    """A smooth function of every parameter, minimised near lr=1e-2, depth=3, width=64, adam."""
    value = (math.log10(config["lr"]) + 2) ** 2 + 0.1 * (config["depth"] - 3) ** 2
    value += (
        0.1 * (math.log2(config["width"]) - 6) ** 2 + {"sgd": 0.5, "adam": 0.0, "rmsprop": 0.2}[config["opt"]]
    )
    return value + 0.3 * config.get("momentum", 0.0)


def mixed_task() -> FunctionTask:
    return FunctionTask(mixed_objective, space=mixed_space(), name="mixed", optimum=0.0)


def sha256(path: str | Path) -> str | None:
    """Checksum of a file, or None when it does not exist."""
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else None


@pytest.fixture
def space() -> SearchSpace:
    return mixed_space()


class Scripted(Searcher):
    """Proposes a fixed list of (config, budget, continue_from), then is finished."""

    name = "scripted"

    def __init__(
        self,
        *,
        space: SearchSpace,
        fidelity: Fidelity | None = None,
        seed: int = 0,
        script: Sequence[tuple[Mapping[str, Any], float | None, int | None]] = (),
    ) -> None:
        super().__init__(space=space, fidelity=fidelity, seed=seed)
        self.script = list(script)

    def _ask(self, trial_id: int) -> Suggestion | None:
        if trial_id >= len(self.script):
            return None
        config, budget, continue_from = self.script[trial_id]
        return Suggestion(trial_id, config, budget, continue_from)

    def is_finished(self) -> bool:
        return self._next_id >= len(self.script)


def report_block(text: str, block_id: str) -> bytes:
    """A packed payload of a report page, inflated (the page's loader does the same in the browser)."""
    import gzip
    import re

    from hpbench.results.bundle import decode7

    m = re.search(
        rf'<script id="{block_id}" type="application/x-hpbench" data-length="(\d+)">(.*?)</script>',
        text,
        re.S,
    )
    assert m, block_id
    return gzip.decompress(decode7(m.group(2), int(m.group(1))))


def report_shown_text(path: str | Path) -> str:
    """What a reader of a report sees as text: the page and its (packed) figures' JSON."""
    import json

    raw = Path(path).read_text(encoding="utf-8")
    figures = json.loads(report_block(raw, "hpb-figures"))
    return raw + json.dumps(figures, ensure_ascii=False)
