"""Searchers: the ask/tell ABC and the built-in strategies.

The built-in classes are importable from here (``from hpbench.searchers import Hyperband``);
each loads on first use, so importing this package does not import Optuna or scikit-optimize.
"""

from __future__ import annotations

import importlib
from typing import Any

from hpbench.searchers.base import Searcher

# The built-in classes (the registry's list of built-ins says where each lives; a test keeps
# the two in step).
__all__ = [
    "Searcher", "RandomSearch", "GPEISearcher", "SuccessiveHalving", "Hyperband", "ASHA",
    "OptunaSearcher", "OptunaTPE", "OptunaGP", "OptunaCMAES", "OptunaQMC", "OptunaRandom",
    "OptunaNSGAII", "ParEGO", "SkoptSearcher", "SkoptGP", "SkoptRF", "SkoptET", "SmacBB",
    "SmacHPO",
]  # fmt: skip


def __getattr__(name: str) -> Any:
    from hpbench.registry import _BUILTIN_SEARCHERS

    modules = {t.partition(":")[2]: t.partition(":")[0] for t in _BUILTIN_SEARCHERS.values()}
    if name in modules:
        value = getattr(importlib.import_module(modules[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hpbench.searchers' has no attribute {name!r}")
