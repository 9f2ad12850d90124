"""Benchmark specifications: from CLI flags or a TOML file to validated objects.

A spec file::

    name = "demo"
    tasks = ["branin", "hartmann6"]
    seeds = 5                      # or an explicit list [0, 1, 2]
    searchers = ["random", "gp-ei", "hyperband:eta=3"]   # or [[searchers]] tables

    [budget]                       # any of max_evals, max_cost, max_seconds
    max_evals = 50

    [run]                          # how to execute; not part of the experiment's identity
    workers = 2                    # or virtual_workers = 4: a virtual clock, trials in this process
    trial_timeout = 60

``[[searchers]]`` tables take ``name``, an optional ``label`` and the searcher's
parameters as other keys (or under ``params``).
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpbench.budget import Budget
from hpbench.checkpoints import DEFAULT_CHECKPOINT_MEMORY_MB, check_checkpoint_memory
from hpbench.checks import check_trial_timeout, is_integer, is_real

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "SearcherSpec",
    "BenchmarkSpec",
    "RunOptions",
    "load_spec",
    "parse_searcher",
    "spec_differences",
    "check_virtual_workers",
]

MAX_SEEDS = 100_000  # a count beyond this is a typo, and would fill memory with runs
_NAME_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _parse_value(text: str) -> Any:
    """``3`` -> 3, ``0.5`` -> 0.5, ``true`` -> True, ``[1,2]`` / ``"x"`` via TOML, else the string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


@dataclass(frozen=True)
class SearcherSpec:
    """A searcher name, its parameters and the label it appears under in results."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"searcher: 'name' must be a non-empty string, got {self.name!r}")
        if not isinstance(self.params, Mapping):
            raise TypeError(f"searcher {self.name!r}: 'params' must be a table, got {self.params!r}")
        if not isinstance(self.label, str):
            raise TypeError(f"searcher {self.name!r}: 'label' must be a string, got {self.label!r}")
        if not self.label:
            suffix = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
            object.__setattr__(self, "label", f"{self.name}:{suffix}" if suffix else self.name)
        object.__setattr__(self, "params", dict(self.params))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params), "label": self.label}


def parse_searcher(item: Any) -> SearcherSpec:
    """``"hyperband:eta=3,proposer=gp-ei"``, a table ``{name=..., eta=3}``, or a SearcherSpec."""
    if isinstance(item, SearcherSpec):
        return item
    if isinstance(item, str):
        name, _, rest = item.partition(":")
        params: dict[str, Any] = {}
        if rest:
            for part in _split_params(rest):
                key, eq, value = part.partition("=")
                if not eq or not key.strip():
                    raise ValueError(f"--searcher: rule 'name:key=value,...' broken, got {item!r}")
                if key.strip() in params:
                    twice = f"got {key.strip()!r} twice in {item!r}"
                    raise ValueError(f"--searcher: rule 'each parameter once' broken, {twice}")
                params[key.strip()] = _parse_value(value.strip())
        return SearcherSpec(name.strip(), params)
    if isinstance(item, Mapping):
        if "name" not in item:
            raise ValueError(f"searchers: a table needs 'name', got {dict(item)!r}")
        rest = {k: v for k, v in item.items() if k not in ("name", "label", "params")}
        nested = item.get("params", {})
        if not isinstance(nested, Mapping):
            raise TypeError(f"searchers: 'params' must be a table, got {nested!r}")
        both = sorted(set(rest) & set(nested))
        if both:
            raise ValueError(
                f"searchers: rule 'each parameter once' broken, got {both[0]!r} both beside 'name' and "
                f"in 'params' of {dict(item)!r}"
            )
        params = {**nested, **rest}
        return SearcherSpec(item["name"], params, item.get("label", ""))
    raise TypeError(f"searchers: each entry must be a string or a table, got {item!r}")


def _split_params(text: str) -> list[str]:
    """Split on commas outside brackets and quotes, so ``k=[1,2]`` stays whole."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return [p for p in parts if p.strip()]


@dataclass(frozen=True)
class BenchmarkSpec:
    """What defines an experiment: tasks x searchers x seeds under one budget."""

    name: str
    tasks: tuple[str, ...]
    searchers: tuple[SearcherSpec, ...]
    seeds: tuple[int, ...]
    budget: Budget

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ValueError(f"name: rule 'letters, digits, - _ . only' broken, got {self.name!r}")
        if not self.tasks:
            raise ValueError("tasks: rule 'at least one task' broken, got none")
        if not self.searchers:
            raise ValueError("searchers: rule 'at least one searcher' broken, got none")
        if not self.seeds:
            raise ValueError("seeds: rule 'at least one seed' broken, got none")
        for s in self.seeds:
            if not is_integer(s) or not 0 <= s < 2**63:
                raise ValueError(f"seeds: rule 'integers in [0, 2**63)' broken, got {s!r}")
        for label, what in (
            ([t for t in self.tasks], "tasks"),
            ([s.label for s in self.searchers], "searchers"),
        ):
            dup = {x for x in label if label.count(x) > 1}
            if dup:
                raise ValueError(f"{what}: rule 'no duplicates' broken, got {sorted(dup)}")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: rule 'no duplicates' broken, got {list(self.seeds)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tasks": list(self.tasks),
            "searchers": [s.to_dict() for s in self.searchers],
            "seeds": list(self.seeds),
            "budget": self.budget.to_dict(),
        }


@dataclass(frozen=True)
class RunOptions:
    """How to execute; may change between a run and its resume."""

    # None: one process per core, or this process when every task is instant (executors.choice)
    workers: int | None = None
    dask: str | None = None
    trial_timeout: float | None = None
    trials_per_run: int | None = None
    store: str | None = None
    virtual_workers: int | None = None  # simulated workers on a virtual clock, trials in the driver
    checkpoint_memory_mb: float = DEFAULT_CHECKPOINT_MEMORY_MB  # over all runs; the oldest dropped first
    no_workers_timeout: float = 60.0  # Dask: seconds with no worker at all before the run stops

    def __post_init__(self) -> None:
        v = self.virtual_workers
        if v is not None:
            if not is_integer(v) or v < 1:
                raise ValueError(f"virtual_workers: rule 'integer >= 1' broken, got {v!r}")
            if self.dask is not None:
                raise ValueError(
                    f"virtual_workers: rule 'not with dask (simulated workers run in this process)' "
                    f"broken, got dask={self.dask!r}"
                )
        w = self.workers
        if w is not None and (not is_integer(w) or w < 0):
            raise ValueError(f"workers: rule 'integer >= 0 (0 = in-process)' broken, got {w!r}")
        check_trial_timeout(self.trial_timeout)
        k = self.trials_per_run
        if k is not None and (not is_integer(k) or k < 1):
            raise ValueError(f"trials_per_run: rule 'integer >= 1' broken, got {k!r}")
        if self.dask is not None and not isinstance(self.dask, str):
            raise TypeError(f"dask: must be an address string, got {self.dask!r}")
        if self.dask is not None and not self.dask.strip():
            raise ValueError(f"dask: rule 'tcp://HOST:PORT or local:N' broken, got {self.dask!r}")
        check_checkpoint_memory(self.checkpoint_memory_mb)
        t = self.no_workers_timeout
        if not is_real(t) or not 0 < float(t) < math.inf:
            raise ValueError(f"no_workers_timeout: rule 'seconds > 0 and finite' broken, got {t!r}")
        st = self.store
        if st is not None and (not isinstance(st, (str, os.PathLike)) or not str(st).strip()):
            raise TypeError(f"store: rule 'a non-empty file path' broken, got {st!r}")


def check_virtual_workers(virtual_workers: Any, workers: Any) -> None:
    """Simulated workers run in this process: refuse worker processes asked for beside them."""
    if virtual_workers is not None and is_integer(workers) and workers > 0:
        raise ValueError(
            "virtual_workers: rule 'not with worker processes (trials run in this process; "
            f"workers = 0 or unset)' broken, got workers={workers!r}"
        )


def seeds_from(value: Any) -> tuple[int, ...]:
    """``5`` -> (0..4); a list -> itself."""
    if isinstance(value, bool):
        raise TypeError(f"seeds: must be a count or a list of integers, got {value!r}")
    if isinstance(value, int):
        if not 1 <= value <= MAX_SEEDS:
            raise ValueError(f"seeds: rule 'count in [1, {MAX_SEEDS}]' broken, got {value!r}")
        return tuple(range(value))
    if isinstance(value, Sequence) and not isinstance(value, str):
        return tuple(value)
    raise TypeError(f"seeds: must be a count or a list of integers, got {value!r}")


def _budget_from(data: Any) -> Budget:
    if not isinstance(data, Mapping):
        raise TypeError(f"budget: must be a table, got {data!r}")
    return Budget.from_dict(data)


_TOP_KEYS = {"name", "tasks", "searchers", "seeds", "budget", "run"}
_RUN_KEYS = {"workers", "dask", "trial_timeout", "trials_per_run", "store", "virtual_workers"}
_RUN_KEYS |= {"checkpoint_memory_mb", "no_workers_timeout"}


def load_spec(path: str | Path) -> tuple[BenchmarkSpec, RunOptions]:
    """Read and validate a TOML spec file."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"spec: no such file {str(p)!r}")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"spec {str(p)!r}: not valid TOML ({exc})") from None
    return spec_from_dict(data, default_name=p.stem)


def spec_from_dict(
    data: Mapping[str, Any], *, default_name: str = "experiment"
) -> tuple[BenchmarkSpec, RunOptions]:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ValueError(f"spec: unknown key {sorted(unknown)[0]!r} (known: {sorted(_TOP_KEYS)})")
    for key in ("tasks", "searchers", "budget"):
        if key not in data:
            raise ValueError(f"spec: missing required key {key!r}")
    tasks = data["tasks"]
    if isinstance(tasks, str):
        tasks = [tasks]
    if not isinstance(tasks, Sequence) or not all(isinstance(t, str) for t in tasks):
        raise TypeError(f"tasks: must be a list of task names, got {tasks!r}")
    searchers = data["searchers"]
    if isinstance(searchers, (str, Mapping)):
        searchers = [searchers]
    if not isinstance(searchers, Sequence):
        raise TypeError(f"searchers: must be a list, got {searchers!r}")
    run = data.get("run", {})
    if not isinstance(run, Mapping):
        raise TypeError(f"run: must be a table, got {run!r}")
    bad = set(run) - _RUN_KEYS
    if bad:
        raise ValueError(f"run: unknown key {sorted(bad)[0]!r} (known: {sorted(_RUN_KEYS)})")
    check_virtual_workers(run.get("virtual_workers"), run.get("workers"))
    spec = BenchmarkSpec(
        name=data.get("name", default_name),
        tasks=tuple(tasks),
        searchers=tuple(parse_searcher(s) for s in searchers),
        seeds=seeds_from(data.get("seeds", 1)),
        budget=_budget_from(data["budget"]),
    )
    return spec, RunOptions(**dict(run))


def spec_differences(stored: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Human-readable differences between two ``BenchmarkSpec.to_dict()`` outputs."""
    out = []
    for key in ("tasks", "searchers", "seeds", "budget"):
        a, b = stored.get(key), new.get(key)
        if key == "searchers":  # a searcher is its name and parameters, whatever its label
            a = {s["label"]: {"name": s.get("name"), "params": s["params"]} for s in a or []}
            b = {s["label"]: {"name": s.get("name"), "params": s["params"]} for s in b or []}
        if _norm(a) != _norm(b):
            out.append(f"{key}: stored {a!r}, now {b!r}")
    return out


def _norm(x: Any) -> Any:
    if isinstance(x, float) and math.isfinite(x) and x.is_integer():
        return int(x)
    if isinstance(x, Mapping):
        return {k: _norm(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_norm(v) for v in x]
    return x
