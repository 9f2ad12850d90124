"""Search spaces: typed parameters, conditional activity and the unit-cube encoding.

Model-based searchers only ever see the unit cube. Every parameter owns one or more
columns of the encoded vector:

- ``Float`` / ``Int``: one column; ``log=True`` maps log(value) linearly onto [0, 1].
  An ``Int`` with ``n = high - low + 1`` values owns ``n`` equal bins of [0, 1], and
  encodes to the centre of its bin, so decoding (floor) is exact.
- ``Categorical``: one column per choice (one-hot); decoding takes the argmax.

Shape glossary: ``d`` = number of parameters, ``D`` = encoded width (>= d),
``n`` = number of configurations.

Example:
    >>> space = SearchSpace({"lr": Float(1e-4, 1e-1, log=True), "depth": Int(1, 4)})
    >>> cfg = space.sample(np.random.default_rng(0))
    >>> space.decode(space.encode(cfg)) == cfg
    True
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from hpbench.checks import check_float, is_real

__all__ = ["Float", "Int", "Categorical", "Param", "SearchSpace", "Fidelity"]

_Scalar = Union[bool, int, float, str]


def _normalise_condition(owner: str, active_if: Any) -> tuple[str, tuple[_Scalar, ...]] | None:
    if active_if is None:
        return None
    if isinstance(active_if, Mapping):
        if len(active_if) != 1:
            raise ValueError(f"{owner}: 'active_if' takes one parent parameter, got {dict(active_if)!r}")
        ((parent, values),) = active_if.items()
    elif isinstance(active_if, Sequence) and not isinstance(active_if, str) and len(active_if) == 2:
        parent, values = active_if
    else:
        raise TypeError(
            f"{owner}: 'active_if' must be (parent, [values]) or {{parent: [values]}}, got {active_if!r}"
        )
    if not isinstance(parent, str):
        raise TypeError(f"{owner}: 'active_if' parent must be a parameter name, got {parent!r}")
    if isinstance(values, (str, bool, int, float)):
        values = (values,)
    values = tuple(values)
    if not values:
        raise ValueError(f"{owner}: 'active_if' needs at least one parent value, got {active_if!r}")
    return parent, values


@dataclass(frozen=True)
class _Numeric:
    low: float
    high: float
    log: bool = False
    active_if: Any = field(default=None, kw_only=True)

    kind = "numeric"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        low = check_float(owner, "low", self.low)
        high = check_float(owner, "high", self.high)
        if not isinstance(self.log, bool):
            raise TypeError(f"{owner}: 'log' must be True or False, got {self.log!r}")
        if not low < high:
            raise ValueError(f"{owner}: rule 'low < high' broken, got low={self.low!r}, high={self.high!r}")
        if self.log and not low > 0:
            raise ValueError(f"{owner}: rule 'log=True needs low > 0' broken, got low={self.low!r}")
        object.__setattr__(self, "active_if", _normalise_condition(owner, self.active_if))
        # The unit-cube map u -> lo + u * span (then exp when log), set once (hot path).
        lo, hi = self._edges()
        object.__setattr__(self, "_lo", lo)
        object.__setattr__(self, "_span", hi - lo)
        object.__setattr__(self, "_low", float(low))
        object.__setattr__(self, "_high", float(high))

    def _edges(self) -> tuple[float, float]:
        if self.log:
            return math.log(self.low), math.log(self.high)
        return float(self.low), float(self.high)

    @property
    def width(self) -> int:
        return 1

    def sample(self, rng: np.random.Generator) -> Any:
        return self.from_uniform(rng.random())

    def from_uniform(self, u: float) -> Any:
        """The value at quantile ``u`` of the prior; ``u`` outside [0, 1] is clipped."""
        raise NotImplementedError

    def _to_unit(self, value: float) -> float:
        return ((math.log(value) if self.log else value) - self._lo) / self._span

    def _from_unit(self, u: float) -> float:
        x = self._lo + min(max(float(u), 0.0), 1.0) * self._span
        return math.exp(x) if self.log else x


@dataclass(frozen=True)
class Float(_Numeric):
    """A real parameter in ``[low, high]``, uniform or (``log=True``) log-uniform."""

    kind = "float"

    def validate(self, name: str, value: Any) -> float:
        v = value
        if type(value) is not float:  # a float (the usual case) needs no conversion
            if not is_real(value):
                raise TypeError(f"parameter '{name}': must be a number, got {value!r}")
            v = float(value)
        if not (self.low <= v <= self.high):
            raise ValueError(
                f"parameter '{name}': rule '{self.low} <= value <= {self.high}' broken, got {value!r}"
            )
        return v

    def encode_unit(self, value: Any) -> np.ndarray:
        return np.array([self._to_unit(float(value))])

    def decode_unit(self, u: np.ndarray) -> float:
        return self.from_uniform(u[0])

    def from_uniform(self, u: float) -> float:
        """The value at quantile ``u`` of the prior (uniform, or log-uniform)."""
        v = self._from_unit(u)
        return min(max(v, self._low), self._high)


@dataclass(frozen=True)
class Int(_Numeric):
    """An integer parameter in ``[low, high]`` (both included), optionally log-spaced."""

    kind = "int"

    def __post_init__(self) -> None:
        for pname in ("low", "high"):
            value = getattr(self, pname)
            integral = isinstance(value, (int, np.integer)) or (
                isinstance(value, float) and value.is_integer()
            )
            if isinstance(value, bool) or not integral:
                raise TypeError(f"Int: '{pname}' must be an integer, got {value!r}")
            object.__setattr__(self, pname, int(value))
        super().__post_init__()

    def _edges(self) -> tuple[float, float]:
        # Bins of equal width in (log-)space; the half-integer edges make every value
        # own the same share of [0, 1] on a linear scale.
        low, high = int(self.low), int(self.high)
        if self.log:
            return math.log(low - 0.5 if low > 0.5 else low), math.log(high + 0.5)
        return low - 0.5, high + 0.5

    def validate(self, name: str, value: Any) -> int:
        if not is_real(value):
            raise TypeError(f"parameter '{name}': must be an integer, got {value!r}")
        if isinstance(value, (float, np.floating)) and not float(value).is_integer():
            raise TypeError(f"parameter '{name}': must be an integer, got {value!r}")
        v = int(value)
        if not (self.low <= v <= self.high):
            raise ValueError(
                f"parameter '{name}': rule '{self.low} <= value <= {self.high}' broken, got {value!r}"
            )
        return v

    def encode_unit(self, value: Any) -> np.ndarray:
        v = math.log(int(value)) if self.log else float(value)
        return np.array([(v - self._lo) / self._span])

    def decode_unit(self, u: np.ndarray) -> int:
        return self.from_uniform(u[0])

    def from_uniform(self, u: float) -> int:
        """The value at quantile ``u`` of the prior (equal-width bins, linear or log)."""
        return int(min(max(round(self._from_unit(u)), self.low), self.high))


@dataclass(frozen=True)
class Categorical:
    """A choice among ``choices`` (str, int, float or bool), one-hot encoded."""

    choices: tuple[_Scalar, ...]
    active_if: Any = field(default=None, kw_only=True)

    kind = "categorical"

    def __post_init__(self) -> None:
        choices = self.choices
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
            raise TypeError(f"Categorical: 'choices' must be a list, got {choices!r}")
        choices = tuple(choices)
        if len(choices) < 1:
            raise ValueError(f"Categorical: rule 'at least one choice' broken, got {self.choices!r}")
        for c in choices:
            if not isinstance(c, (str, int, float, bool)) or (isinstance(c, float) and not math.isfinite(c)):
                raise TypeError(f"Categorical: choices must be str, int, float or bool, got {c!r}")
        if len(set(map(repr, choices))) != len(choices):
            raise ValueError(f"Categorical: rule 'choices are distinct' broken, got {list(choices)!r}")
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "active_if", _normalise_condition("Categorical", self.active_if))
        object.__setattr__(self, "_exact", {(type(c), c): i for i, c in enumerate(choices)})

    @property
    def width(self) -> int:
        return len(self.choices)

    def index(self, value: Any) -> int:
        try:  # exact (type, value) match: one dict lookup
            return self._exact[(type(value), value)]
        except (KeyError, TypeError):  # not a choice, or unhashable
            pass
        for i, c in enumerate(self.choices):  # lenient: 1 == 1.0, numpy scalars
            if not isinstance(value, (str, bool)) and not isinstance(c, (str, bool)) and c == value:
                return i
        raise KeyError(value)

    def sample(self, rng: np.random.Generator) -> _Scalar:
        return self.from_uniform(rng.random())

    def from_uniform(self, u: float) -> _Scalar:
        """Choice ``floor(u * n)``: one uniform draw, like the numeric parameters."""
        n = len(self.choices)
        return self.choices[min(int(u * n), n - 1)]

    def validate(self, name: str, value: Any) -> _Scalar:
        try:
            return self.choices[self.index(value)]
        except KeyError:
            raise ValueError(
                f"parameter '{name}': rule 'one of {list(self.choices)!r}' broken, got {value!r}"
            ) from None

    def encode_unit(self, value: Any) -> np.ndarray:
        out = np.zeros(len(self.choices))
        out[self.index(value)] = 1.0
        return out

    def decode_unit(self, u: np.ndarray) -> _Scalar:
        return self.choices[int(np.argmax(u))]


Param = Union[Float, Int, Categorical]
_KINDS: dict[str, type] = {"float": Float, "int": Int, "categorical": Categorical}


def _param_to_dict(p: Param) -> dict[str, Any]:
    d: dict[str, Any] = {"type": p.kind}
    if isinstance(p, Categorical):
        d["choices"] = list(p.choices)
    else:
        d.update(low=p.low, high=p.high, log=p.log)
    if p.active_if is not None:
        d["active_if"] = [p.active_if[0], list(p.active_if[1])]
    return d


def _param_from_dict(name: str, d: Any) -> Param:
    if not isinstance(d, Mapping) or d.get("type") not in _KINDS:
        raise ValueError(f"parameter '{name}': needs 'type' in {sorted(_KINDS)}, got {d!r}")
    kw = {k: v for k, v in d.items() if k != "type"}
    cls = _KINDS[d["type"]]
    try:
        return cls(**kw)
    except TypeError as exc:
        raise TypeError(f"parameter '{name}': {exc}") from None


@dataclass(frozen=True)
class Fidelity:
    """A fidelity axis (epochs, boosting rounds) from ``low`` to ``high``; see ``cost``.

    A value on it is a *fidelity level* (the ``budget`` a task trains to)."""

    name: str
    low: float
    high: float
    integer: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise TypeError(f"Fidelity: 'name' must be a non-empty string, got {self.name!r}")
        low = check_float("Fidelity", "low", self.low)
        high = check_float("Fidelity", "high", self.high)
        if not low > 0:
            raise ValueError(f"Fidelity: rule 'low > 0' broken, got low={self.low!r}")
        if not low < high:
            raise ValueError(f"Fidelity: rule 'low < high' broken, got low={self.low!r}, high={self.high!r}")
        if self.integer:
            if not (float(low).is_integer() and float(high).is_integer()):
                got = f"{self.low!r}..{self.high!r}"
                raise ValueError(f"Fidelity: rule 'integer fidelity has integer bounds' broken, got {got}")
            object.__setattr__(self, "low", int(low))
            object.__setattr__(self, "high", int(high))

    def validate(self, budget: Any) -> float:
        if not is_real(budget):
            raise TypeError(f"budget: must be a number of {self.name}, got {budget!r}")
        b = float(budget)
        if not (self.low <= b <= self.high) or (self.integer and not b.is_integer()):
            kind = "integer " if self.integer else ""
            raise ValueError(
                f"budget: rule '{kind}{self.name} in [{self.low}, {self.high}]' broken, got {budget!r}"
            )
        return int(b) if self.integer else b

    def cost(self, budget: float, start: float = 0.0, overhead: float = 0.0) -> float:
        """Full-fidelity equivalents of training from level ``start`` to ``budget``: the cost model.

        Affine: a fixed overhead ``c0`` (``Task.overhead``, fidelity units) per trial, so going
        from ``a`` to ``b`` costs ``(b - a + c0) / (high + c0)``; ``high`` from scratch costs 1.
        """
        c0 = float(overhead)
        return (float(budget) - float(start) + c0) / (float(self.high) + c0)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "low": self.low, "high": self.high, "integer": self.integer}


class SearchSpace(Mapping[str, Param]):
    """An ordered mapping of parameter names to parameters.

    Conditional parameters carry ``active_if=(parent, values)``: they exist in a
    configuration only when the parent parameter takes one of ``values``. Inactive
    parameters are absent from configurations and encode to a neutral 0.5 (zeros for
    one-hot columns), so model-based searchers see a fixed width.
    """

    def __init__(self, params: Mapping[str, Param]):
        if not isinstance(params, Mapping):
            raise TypeError(f"SearchSpace: 'params' must be a mapping of name -> parameter, got {params!r}")
        if not params:
            raise ValueError("SearchSpace: rule 'at least one parameter' broken, got {}")
        items: dict[str, Param] = {}
        for name, p in params.items():
            if not isinstance(name, str) or not name:
                raise TypeError(f"SearchSpace: parameter names must be non-empty strings, got {name!r}")
            if not isinstance(p, (Float, Int, Categorical)):
                raise TypeError(f"parameter '{name}': must be Float, Int or Categorical, got {p!r}")
            items[name] = p
        for name, p in items.items():
            if p.active_if is not None:
                parent, values = p.active_if
                if parent not in items or parent == name:
                    raise ValueError(f"parameter '{name}': 'active_if' names unknown parent {parent!r}")
                if list(items).index(parent) > list(items).index(name):
                    raise ValueError(f"parameter '{name}': rule 'parent {parent!r} comes first' broken")
                pp = items[parent]
                if not isinstance(pp, Categorical):
                    raise ValueError(f"parameter '{name}': 'active_if' parent {parent!r} must be Categorical")
                for v in values:
                    pp.validate(parent, v)
        self._params = items
        self._slices: dict[str, slice] = {}
        start = 0
        for name, p in items.items():
            self._slices[name] = slice(start, start + p.width)
            start += p.width
        self._width = start
        self._conditional = any(p.active_if is not None for p in items.values())
        self._draws = tuple((name, p.from_uniform) for name, p in items.items())  # the hot path

    # Mapping protocol -------------------------------------------------------------
    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self._params == other._params

    def __hash__(self) -> int:
        return hash(tuple(self._params.items()))

    def __repr__(self) -> str:
        return f"SearchSpace({self._params!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (SearchSpace, (self._params,))

    # Structure --------------------------------------------------------------------
    @property
    def width(self) -> int:
        """Encoded width ``D`` (one column per numeric parameter, one per choice)."""
        return self._width

    def columns(self, name: str) -> slice:
        return self._slices[name]

    def is_active(self, name: str, config: Mapping[str, Any]) -> bool:
        p = self._params[name]
        if p.active_if is None:
            return True
        parent, values = p.active_if
        if not self.is_active(parent, config) or parent not in config:
            return False
        return (
            any(type(v) is type(config[parent]) and v == config[parent] for v in values)
            or config[parent] in values
        )

    @property
    def is_conditional(self) -> bool:
        return self._conditional

    # Sampling, validation, encoding ---------------------------------------------
    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """One configuration drawn from the prior (uniform / log-uniform / uniform choice).

        One uniform draw per parameter, in order, active or not, so the stream does not
        depend on which conditional parameters are active.
        """
        return self.from_uniform(rng.random(len(self._params)).tolist())

    def from_uniform(self, draws: Sequence[float]) -> dict[str, Any]:
        """The configuration at quantiles ``draws`` (one per parameter, in order) of the prior.

        Maps a point of ``[0, 1]^d`` (e.g. one of a Sobol design) the way ``sample`` maps its
        uniform draws; inactive conditional parameters ignore their draw.
        """
        if len(draws) != len(self._params):
            raise ValueError(
                f"draws: rule 'one per parameter ({len(self._params)})' broken, got {len(draws)}"
            )
        if not self._conditional:
            return {name: draw(u) for (name, draw), u in zip(self._draws, draws)}
        config: dict[str, Any] = {}
        for (name, p), u in zip(self._params.items(), draws):
            if self.is_active(name, config):
                config[name] = p.from_uniform(u)
        return config

    def validate(self, config: Any) -> dict[str, Any]:
        """Return a clean copy of ``config`` or raise naming the parameter and the rule."""
        if type(config) is not dict and not isinstance(config, Mapping):
            raise TypeError(f"config: must be a mapping of parameter -> value, got {config!r}")
        if not self._conditional and config.keys() == self._params.keys():  # the usual case, fast
            return {name: p.validate(name, config[name]) for name, p in self._params.items()}
        unknown = [k for k in config if k not in self._params]
        if unknown:
            raise ValueError(f"config: unknown parameter {unknown[0]!r} (known: {list(self._params)})")
        out: dict[str, Any] = {}
        for name, p in self._params.items():
            active = self.is_active(name, out)
            if active and name not in config:
                raise ValueError(f"parameter '{name}': missing from config {dict(config)!r}")
            if active:
                out[name] = p.validate(name, config[name])
        return out

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """Encode one configuration to a vector of shape ``(D,)`` in [0, 1]."""
        out = np.empty(self._width)
        for name, p in self._params.items():
            sl = self._slices[name]
            if name in config and self.is_active(name, config):
                out[sl] = p.encode_unit(config[name])
            else:
                out[sl] = 0.0 if isinstance(p, Categorical) else 0.5
        return out

    def encode_many(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Shape ``(n, D)``."""
        if not configs:
            return np.empty((0, self._width))
        return np.stack([self.encode(c) for c in configs])

    def decode(self, u: np.ndarray) -> dict[str, Any]:
        """Decode a vector of shape ``(D,)`` (values outside [0, 1] are clipped)."""
        u = np.asarray(u, dtype=float)
        if u.shape != (self._width,):
            raise ValueError(f"u: rule 'shape == ({self._width},)' broken, got shape {u.shape}")
        config: dict[str, Any] = {}
        for name, p in self._params.items():
            if self.is_active(name, config):
                config[name] = p.decode_unit(u[self._slices[name]])
        return config

    def project(self, u: np.ndarray) -> np.ndarray:
        """Snap encoded points ``(n, D)`` to the nearest valid encoding (rounded ints, one-hot)."""
        u = np.atleast_2d(u)
        return np.stack([self.encode(self.decode(row)) for row in u])

    # Serialisation ----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {name: _param_to_dict(p) for name, p in self._params.items()}

    @classmethod
    def from_dict(cls, data: Any) -> SearchSpace:
        if not isinstance(data, Mapping):
            raise TypeError(f"SearchSpace: expected a mapping of name -> parameter, got {data!r}")
        return cls({name: _param_from_dict(name, d) for name, d in data.items()})

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> SearchSpace:
        return cls.from_dict(json.loads(text))
