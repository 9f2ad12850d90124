"""Gaussian-process Bayesian optimisation with Expected Improvement."""
