"""Gaussian-process Bayesian optimisation with Expected Improvement.

The modules here import scipy inside the functions that use it, never at module level:
``hpbench list searchers`` imports every searcher class (for its description and
parameters) and must not pay for scipy (``tests/test_startup.py``).
"""
