"""Searchers: the ask/tell ABC and the built-in strategies."""

from hpbench.searchers.base import Searcher

__all__ = ["Searcher"]
