"""The ask/tell searcher contract.

Subclasses implement ``_ask`` and ``_tell``; the public ``ask``/``tell`` do the
bookkeeping (trial ids, the pending set, validation) so that every searcher behaves
the same way towards the runner.

Randomness: use ``self.rng_for(trial_id)`` (a generator derived from the run seed and
the trial number; ``reused_rng`` is a cheaper one for hot paths) rather than one
long-lived stream, so a searcher rebuilt on resume by replaying its history proposes
exactly what the original would have.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from hpbench.checks import check_float, check_int, is_real
from hpbench.space import Fidelity, SearchSpace
from hpbench.trial import Suggestion

__all__ = ["Searcher", "check_int", "check_float", "check_choice", "clip_objective"]


PEER_OBJECTIVE_LIMIT = 1e100
# Constructor arguments the runner passes; every other keyword-only one is a searcher parameter.
_RUNNER_ARGS = ("space", "fidelity", "seed", "n_objectives")


def clip_objective(value: float) -> float:
    """An objective as told to another library's sampler: within +-1e100.

    Their models standardise objectives without overflow protection (the variance of
    values near 1e308 is inf, then NaN); any loss beyond 1e100 has diverged anyway.
    The searcher's own history keeps the true value.
    """
    return min(max(value, -PEER_OBJECTIVE_LIMIT), PEER_OBJECTIVE_LIMIT)


def check_choice(owner: str, name: str, value: Any, choices: tuple[Any, ...]) -> Any:
    if value not in choices:
        raise ValueError(f"{owner}: rule '{name} in {list(choices)}' broken, got {value!r}")
    return value


class Searcher(ABC):
    """Base class of all searchers.

    Constructors are keyword-only: ``space``, ``fidelity`` and ``seed`` come from the
    runner; every other argument is a searcher parameter, stored under the same name
    and returned by ``get_params()`` so a run can be rebuilt from the store.

    Class attributes:
        name: registry name, e.g. ``"random"``.
        needs_fidelity: the searcher refuses tasks without a fidelity.
        synchronous: ``ask`` may return ``None`` while trials are pending, i.e. the
            searcher waits for results before it proposes again (a rung of Successive
            Halving completes before its best are promoted); the runner then waits for a
            result instead of stopping. Asynchronous searchers (the default) always
            propose while not ``is_finished()``.
        multi_objective: the searcher takes ``n_objectives`` (from the task) and, when it
            is above 1, is told a tuple of that many losses per trial instead of one
            number (``None`` for a failed trial); single-objective searchers are told the
            task's first objective.
    """

    name: ClassVar[str] = "searcher"
    needs_fidelity: ClassVar[bool] = False
    synchronous: ClassVar[bool] = False
    multi_objective: ClassVar[bool] = False

    def __init__(
        self, *, space: SearchSpace, fidelity: Fidelity | None = None, seed: int = 0, n_objectives: int = 1
    ) -> None:
        if not isinstance(space, SearchSpace):
            raise TypeError(f"{self.name}: 'space' must be a SearchSpace, got {space!r}")
        if fidelity is not None and not isinstance(fidelity, Fidelity):
            raise TypeError(f"{self.name}: 'fidelity' must be a Fidelity or None, got {fidelity!r}")
        if self.needs_fidelity and fidelity is None:
            raise ValueError(
                f"{self.name}: needs a task with a fidelity (epochs, boosting rounds), "
                "got a task without one; use a full-fidelity searcher such as 'random' or 'gp-ei'"
            )
        self.space = space
        self.fidelity = fidelity
        self.seed = check_int(self.name, "seed", seed, minimum=0)
        self.n_objectives = check_int(self.name, "n_objectives", n_objectives, minimum=1)
        if self.n_objectives > 1 and not self.multi_objective:
            raise ValueError(f"{self.name}: optimises one objective, got n_objectives={n_objectives!r}")
        self._next_id = 0
        self._pending: dict[int, Suggestion] = {}
        self.history: list[tuple[Suggestion, Any]] = []  # objective: float, tuple (MO) or None
        self._reused: dict[int, tuple[np.random.Philox, np.random.Generator, dict[str, Any], np.ndarray]] = {}

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _init_parameters(cls) -> dict[str, inspect.Parameter]:
        """Keyword-only constructor parameters, the runner's (space, fidelity, seed) left out.

        A constructor that takes ``**params`` passes them on to its parent's, so the
        parent's parameters count too (after its own), up to the first constructor
        without ``**params``; a subclass adds parameters without repeating its parent's.
        """
        found: dict[str, inspect.Parameter] = {}
        for klass in cls.__mro__:
            init = klass.__dict__.get("__init__")
            if init is None:
                continue
            params = inspect.signature(init).parameters.values()
            for p in params:
                if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in _RUNNER_ARGS:
                    found.setdefault(p.name, p)
            if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
                break
        return found

    @classmethod
    def param_names(cls) -> list[str]:
        return list(cls._init_parameters())

    @classmethod
    def param_defaults(cls) -> dict[str, Any]:
        return {n: p.default for n, p in cls._init_parameters().items()}

    def get_params(self) -> dict[str, Any]:
        """Searcher parameters (not space/fidelity/seed), JSON-friendly."""
        return {n: getattr(self, n) for n in self.param_names()}

    # ---------------------------------------------------------------------- RNG
    def rng_for(self, trial_id: int, stream: int = 0) -> np.random.Generator:
        """A new generator that depends only on (seed, trial_id, stream)."""
        return np.random.default_rng(np.random.SeedSequence([self.seed, trial_id, stream]))

    def reused_rng(self, trial_id: int, stream: int = 0) -> np.random.Generator:
        """Like ``rng_for`` (other numbers), but one generator per stream, reset per call.

        Counter-based (Philox): the key comes from ``(seed, stream)``, the counter from
        ``trial_id``, so trials draw from disjoint blocks and nothing is hashed per trial:
        five times cheaper than ``rng_for``. For hot paths that use the generator at once
        (the next call for the same stream resets it); it has no ``SeedSequence`` to spawn.
        """
        cached = self._reused.get(stream)
        if cached is None:
            bits = np.random.Philox()
            counter = np.zeros(4, dtype=np.uint64)
            state = {
                "bit_generator": "Philox",
                "state": {"counter": counter, "key": self._stream_key(stream)},
                "buffer": np.zeros(4, dtype=np.uint64),
                "buffer_pos": 4,
                "has_uint32": 0,
                "uinteger": 0,
            }
            cached = self._reused[stream] = (bits, np.random.Generator(bits), state, counter)
        bits, gen, state, counter = cached
        counter[2] = trial_id  # the state setter copies: the template can be reused
        bits.state = state
        return gen

    def _stream_key(self, stream: int) -> np.ndarray:
        return np.random.SeedSequence([self.seed, stream]).generate_state(2, dtype=np.uint64)

    # ------------------------------------------------------------------ public API
    @property
    def pending(self) -> list[Suggestion]:
        return list(self._pending.values())

    @property
    def n_told(self) -> int:
        return len(self.history)

    def ask(self) -> Suggestion | None:
        """Next suggestion, or ``None`` when nothing can start now (or the searcher is done)."""
        if self.is_finished():
            return None
        s = self._ask(self._next_id)
        if s is None:
            return None
        self._check_proposal(s)
        config = self.space.validate(s.config)
        budget = s.budget
        if self.fidelity is not None:
            budget = self.fidelity.validate(self.fidelity.high if budget is None else budget)
        s = Suggestion(trial_id=s.trial_id, config=config, budget=budget, continue_from=s.continue_from)
        self._next_id += 1
        self._pending[s.trial_id] = s
        return s

    def _check_proposal(self, s: Any) -> None:
        """What ``_ask`` returned keeps the contract (a plug-in's mistake gets a clear error)."""
        owner = f"{type(self).__name__}._ask"
        if not isinstance(s, Suggestion):
            raise TypeError(f"{owner}: must return a Suggestion or None, got {s!r}")
        if s.trial_id != self._next_id:
            raise ValueError(
                f"{owner}: rule 'trial_id == the id passed to _ask' broken, got {s.trial_id!r} "
                f"(expected {self._next_id})"
            )
        if self.fidelity is None and s.budget is not None:
            raise ValueError(
                f"{owner}: rule 'budget is None for a task without a fidelity' broken, got {s.budget!r}"
            )

    def tell(self, suggestion: Suggestion, objective: Any) -> None:
        """Report the objective of a suggestion; ``None`` (or NaN/inf) means it failed.

        With ``n_objectives > 1``: a tuple of that many losses (any non-finite: failed).
        """
        if not isinstance(suggestion, Suggestion):
            raise TypeError(f"{self.name}.tell: 'suggestion' must be a Suggestion, got {suggestion!r}")
        if suggestion.trial_id not in self._pending:
            raise ValueError(
                f"{self.name}.tell: rule 'suggestion is pending' broken, got trial {suggestion.trial_id} "
                f"(pending: {sorted(self._pending)})"
            )
        if objective is not None:
            objective = self._check_told(objective)
        del self._pending[suggestion.trial_id]
        self.history.append((suggestion, objective))
        self._tell(suggestion, objective)

    def _check_told(self, objective: Any) -> float | tuple[float, ...] | None:
        """A told number (or, with several objectives, tuple of numbers); non-finite -> ``None``."""
        if self.n_objectives > 1:
            if not isinstance(objective, (tuple, list, np.ndarray)) or len(objective) != self.n_objectives:
                n = self.n_objectives
                raise TypeError(
                    f"{self.name}.tell: 'objective' must be {n} numbers or None, got {objective!r}"
                )
            values = tuple(self._check_number(v) for v in objective)
            return None if any(v is None for v in values) else values  # type: ignore[return-value]
        return self._check_number(objective)

    def _check_number(self, value: Any) -> float | None:
        if type(value) is float:  # the usual case: no conversion
            return value if math.isfinite(value) else None
        if not is_real(value):
            raise TypeError(f"{self.name}.tell: 'objective' must be a number or None, got {value!r}")
        value = float(value)
        return value if math.isfinite(value) else None

    def is_finished(self) -> bool:
        """True when the searcher will never propose again (e.g. a finished schedule)."""
        return False

    def recommend(self) -> int | None:
        """The trial this searcher recommends once the run ends: a trial id from ``self.history``.

        The runner asks once, at the end of the run, stores the answer with the run, and the
        analysis compares that trial's value (its noiseless or held-out value where the task
        reports one). ``None`` (the default) means the best observed top-fidelity trial. A
        searcher with a model may know better on a noisy objective; ``gp-ei`` names the
        evaluated point with the lowest posterior mean. The id must be one of the run's ok
        trials at the top fidelity, else the run fails with an error saying so. It must
        not change what the searcher proposes next.
        """
        return None

    # --------------------------------------------------------------------- hooks
    @abstractmethod
    def _ask(self, trial_id: int) -> Suggestion | None:
        """Propose the next trial, or ``None`` when nothing can start now.

        Args:
            trial_id: the number to give the suggestion (0, 1, 2, ... within the run).

        Returns:
            ``Suggestion(trial_id, config)`` runs ``config`` at the task's top fidelity.
            ``Suggestion(trial_id, config, budget=b)`` asks for fidelity ``b`` (epochs,
            rounds; within ``self.fidelity.low..high``), and ``continue_from=k`` continues
            the checkpoint of the earlier trial ``k`` of the same configuration, charged
            only the increment. ``None`` means "wait": the runner asks again after the
            next trial finishes (a synchronous rung), and ends the run when nothing is
            in flight; ``is_finished()`` returning True ends it too.
        """

    def _tell(self, suggestion: Suggestion, objective: float | None) -> None:  # noqa: B027
        """Learn from a finished trial.

        Args:
            suggestion: the suggestion as ``ask`` returned it.
            objective: its objective, or ``None`` when the trial failed or timed out.
                The base class keeps the history (``self.history``) itself.
        """

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"
