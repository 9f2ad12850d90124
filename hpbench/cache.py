"""The evaluation cache: one home for its key, its index and what a hit is charged.

An evaluation is identified by (task name and version, the task's fingerprint,
configuration, fidelity level, task seed). The fingerprint is the task's code identity (its
class, and the bytecode of its ``evaluate`` or of a function task's function), its space
and its fidelity: a custom task that reuses a name, or a function edited without a
version bump, gets no other task's values. A continuation from a checkpoint gives the
same result as training straight to its level (the task contract), so where training
started is not part of the key. The key hashes the configuration's stored text
(``encode_config``), which the store writes anyway: the configuration is encoded once per trial.

The SQL lives in the store (``Store.cache_index``, ``Store.cached_trial``); this module
keeps the index in memory, so a miss (the usual case) costs no query.
"""

from __future__ import annotations

import hashlib
import json
import time
import types
from typing import Any

from hpbench.executors.base import TrialOutcome
from hpbench.results.store import Store
from hpbench.tasks.base import Task
from hpbench.trial import Suggestion

__all__ = ["cache_key", "task_fingerprint", "EvaluationCache"]

_FINGERPRINTS: dict[int, tuple[Task, str]] = {}  # id(task) -> (task, fingerprint); the task pins its id


def _code_text(code: types.CodeType) -> str:
    """A code object's identity: its bytecode, names and constants (nested code included)."""
    consts = [_code_text(c) if isinstance(c, types.CodeType) else repr(c) for c in code.co_consts]
    return f"{code.co_code.hex()}|{code.co_names}|{code.co_varnames}|{consts}"


def _callable_text(fn: Any) -> str:
    fn = getattr(fn, "__func__", fn)
    code = getattr(fn, "__code__", None)
    where = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"
    return where if code is None else f"{where}|{_code_text(code)}"


def task_fingerprint(task: Task) -> str:
    """Hash of what makes ``task`` the task it is, beyond its name and version (computed once)."""
    hit = _FINGERPRINTS.get(id(task))
    if hit is not None and hit[0] is task:
        return hit[1]
    kind = type(task)
    parts: list[Any] = [f"{kind.__module__}.{kind.__qualname__}", _callable_text(kind.evaluate)]
    fn = getattr(task, "fn", None)
    if fn is not None:  # a function task: the function is the task
        parts.append(_callable_text(fn))
    parts.append(task.space.to_dict())
    parts.append(None if task.fidelity is None else task.fidelity.to_dict())
    text = json.dumps(parts, sort_keys=True, default=repr)
    digest = hashlib.sha1(text.encode()).hexdigest()[:16]
    _FINGERPRINTS[id(task)] = (task, digest)
    return digest


def cache_key(task: Task, config_json: str, level: float | None, seed: int) -> str:
    """Key of an evaluation of ``task`` at fidelity ``level`` (``config_json`` from ``encode_config``)."""
    ident = f"{task.name!r}\x00{task.version!r}\x00{task_fingerprint(task)}"
    text = f"{ident}\x00{level!r}\x00{seed!r}\x00{config_json}"
    return hashlib.sha1(text.encode()).hexdigest()


class EvaluationCache:
    """Finished ok evaluations of one scope of a store, by key.

    Args:
        store: the results store.
        experiment_id: reuse evaluations of this experiment only; ``None``: of any.
    """

    def __init__(self, store: Store, experiment_id: int | None) -> None:
        self.store = store
        self._index = store.cache_index(experiment_id)

    def remember(self, key: str, row_id: int) -> None:
        """A trial with this key was just stored ok as row ``row_id``."""
        self._index.setdefault(key, row_id)

    def lookup(self, key: str, s: Suggestion, nominal_cost: float) -> TrialOutcome | None:
        """The outcome of a hit for suggestion ``s``, or ``None`` on a miss.

        A hit is charged what its original evaluation was charged when both started the
        same way (from scratch, or as continuations), else ``nominal_cost``, the cost this
        trial would have here; and the seconds of the original, so a time budget runs out
        as fast with the cache as without (its ``started`` is its finish minus those
        seconds). A hit gives no checkpoint: a later continuation from it trains from
        scratch and is charged in full.
        """
        row_id = self._index.get(key)
        if row_id is None:
            return None
        hit = self.store.cached_trial(row_id)
        if hit is None:
            return None
        now = time.time()
        same_start = (s.continue_from is None) == (hit.continue_from is None)
        cost = hit.cost if same_start else nominal_cost
        # Charged the compute time of the evaluation it reuses: it ends now and started
        # that many seconds before, so the ledger and the analysis both read those seconds.
        seconds = max(0.0, hit.finished - hit.started)
        return TrialOutcome(
            "ok",
            hit.objective,
            cost,
            hit.metrics,
            None,
            None,
            now - seconds,
            now,
            "cache",
            seconds=seconds,
            objectives=hit.objectives,
        )
