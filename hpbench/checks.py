"""Checks of numbers given by users and plug-ins: the one home of each rule.

A *real number* is an ``int``, a ``float`` or a numpy scalar of either, never a ``bool``
(``True`` is an ``int`` to Python, but a flag to a user). Errors follow the house style:
they name the owner, the parameter, the rule and the value.
"""

from __future__ import annotations

import math
import sys
from typing import Any

__all__ = ["is_real", "is_integer", "check_int", "check_float", "check_trial_timeout", "MAX_TRIAL_TIMEOUT"]

# The longest trial timeout every platform timer takes (setitimer's time_t stops near 1e10 s
# on Linux, threading.Timer at TIMEOUT_MAX): about 31 years, no limit in practice.
MAX_TRIAL_TIMEOUT = 1e9

# numpy is not imported here: a value can only be a numpy scalar once numpy is loaded, so
# ``hpbench --help`` and the CLI's other light paths do not pay for importing it.


def _numpy_kinds(*names: str) -> tuple[type, ...]:
    np = sys.modules.get("numpy")
    return () if np is None else tuple(getattr(np, n) for n in names)


def is_real(value: Any) -> bool:
    """True for int, float and numpy integer/floating scalars; False for bool and anything else."""
    kind = type(value)
    if kind is float or kind is int:  # the usual cases first
        return True
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float, *_numpy_kinds("integer", "floating")))


def is_integer(value: Any) -> bool:
    """True for int and numpy integer scalars; False for bool, floats and anything else."""
    if type(value) is int:
        return True
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, *_numpy_kinds("integer")))


def check_int(
    owner: str, name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Validate an integer parameter (optionally ``>= minimum``, ``<= maximum``), naming it and the rule."""
    if not is_integer(value):
        raise TypeError(f"{owner}: '{name}' must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{owner}: rule '{name} >= {minimum}' broken, got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{owner}: rule '{name} <= {maximum}' broken, got {value!r}")
    return int(value)


def check_float(
    owner: str, name: str, value: Any, *, minimum: float | None = None, strict: bool = False
) -> float:
    """Validate a real parameter: finite, optionally ``> minimum`` (``strict``) or ``>= minimum``."""
    if not is_real(value):
        raise TypeError(f"{owner}: '{name}' must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{owner}: '{name}' must be finite, got {value!r}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        op = ">" if strict else ">="
        raise ValueError(f"{owner}: rule '{name} {op} {minimum}' broken, got {value!r}")
    return v


def check_trial_timeout(value: Any) -> float | None:
    """``trial_timeout``: ``None`` (no limit) or seconds in (0, ``MAX_TRIAL_TIMEOUT``]."""
    if value is not None and (not is_real(value) or not 0 < value <= MAX_TRIAL_TIMEOUT):
        rule = f"seconds > 0 and <= {MAX_TRIAL_TIMEOUT:g}"
        raise ValueError(f"trial_timeout: rule '{rule}' broken, got {value!r}")
    return value
