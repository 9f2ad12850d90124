"""Fixed train / validation / test splits of the datasets bundled with scikit-learn.

Every real task trains on ``X_train``, reports the validation loss as its objective and
the test loss as a metric. The split is drawn once from a constant seed, never from the
run seed, so every searcher optimises the same function. Splits are stratified by class
(by target quintile for regression), features are standardised with training statistics
only, and the regression target is standardised too so its MSE is of order 1.

Shape glossary: ``n`` = samples in a part, ``f`` = features, ``k`` = classes.

Example:
    >>> split = load_split("iris")
    >>> split.X_train.shape[1], split.n_classes
    (4, 3)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DATASETS",
    "FRACTIONS",
    "Split",
    "load_split",
    "stratified_split",
    "strata_for",
    "cross_entropy",
    "cross_entropy_from_logits",
    "accuracy",
    "check_resume",
]

# The split never moves with the run seed: one constant for all runs and all tasks.
_SPLIT_SEED = 20_240_917
FRACTIONS: tuple[float, float, float] = (0.6, 0.2, 0.2)
_REGRESSION_STRATA = 5
# sklearn.datasets loader name and whether the target is a class label.
DATASETS: dict[str, tuple[str, bool]] = {
    "digits": ("load_digits", True),
    "breast_cancer": ("load_breast_cancer", True),
    "wine": ("load_wine", True),
    "iris": ("load_iris", True),
    "diabetes": ("load_diabetes", False),
}


@dataclass(frozen=True, eq=False)
class Split:
    """One dataset cut into three disjoint, standardised parts (arrays are read-only).

    Attributes:
        name: dataset name (a key of ``DATASETS``).
        classification: True for class labels ``0..k-1``, False for a real target.
        n_classes: ``k`` for classification, 0 for regression.
        X_train, X_val, X_test: features, shape ``(n, f)``, float64.
        y_train, y_val, y_test: labels ``(n,)`` int64, or standardised targets ``(n,)`` float64.
        idx_train, idx_val, idx_test: row numbers in the original dataset, shape ``(n,)``.
    """

    name: str
    classification: bool
    n_classes: int
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    idx_train: np.ndarray
    idx_val: np.ndarray
    idx_test: np.ndarray


def strata_for(y: np.ndarray, classification: bool, n_bins: int = _REGRESSION_STRATA) -> np.ndarray:
    """Stratum of each sample: the class, or the quantile bin of a real target. Shape ``(n,)``."""
    y = np.asarray(y)
    if classification:
        return y.astype(np.int64)
    edges = np.quantile(y, np.linspace(0, 1, n_bins + 1)[1:-1])
    return np.searchsorted(edges, y, side="right").astype(np.int64)


def stratified_split(
    strata: np.ndarray, fractions: tuple[float, ...], rng: np.random.Generator
) -> tuple[np.ndarray, ...]:
    """Cut row numbers ``0..n-1`` into parts holding ``fractions`` of every stratum.

    Within each stratum the rows are shuffled and cut at the rounded cumulative
    fractions, so each part's stratum proportions match the whole up to one row per stratum.

    Args:
        strata: stratum label per row, shape ``(n,)``.
        fractions: positive shares summing to 1, one per part.
        rng: the only source of randomness.

    Returns:
        One sorted index array per part; together they partition ``0..n-1``.
    """
    fr = np.asarray(fractions, dtype=float)
    if fr.ndim != 1 or len(fr) < 2 or np.any(fr <= 0) or not np.isclose(fr.sum(), 1.0):
        rule = "two or more positive shares summing to 1"
        raise ValueError(f"fractions: rule '{rule}' broken, got {fractions!r}")
    strata = np.asarray(strata)
    parts: list[list[np.ndarray]] = [[] for _ in fr]
    for value in np.unique(strata):
        rows = rng.permutation(np.flatnonzero(strata == value))
        cuts = np.rint(np.cumsum(fr)[:-1] * len(rows)).astype(int)
        for part, chunk in zip(parts, np.split(rows, cuts)):
            part.append(chunk)
    return tuple(np.sort(np.concatenate(p)) for p in parts)


def _standardise(train: np.ndarray, *others: np.ndarray) -> tuple[np.ndarray, ...]:
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    # Constant columns (blank border pixels of digits) would divide by zero: leave them centred.
    std = np.where(std > 0, std, 1.0)
    return tuple((a - mean) / std for a in (train, *others))


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@functools.cache
def load_split(name: str) -> Split:
    """The fixed split of dataset ``name``, loaded and standardised once per process.

    Args:
        name: one of ``DATASETS`` (digits, breast_cancer, wine, iris, diabetes).

    Raises:
        ValueError: for an unknown name.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset: rule 'one of {sorted(DATASETS)}' broken, got {name!r}")
    import sklearn.datasets

    loader_name, classification = DATASETS[name]
    loader: Callable[..., Any] = getattr(sklearn.datasets, loader_name)
    X, y = loader(return_X_y=True)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64 if classification else np.float64)
    parts = stratified_split(strata_for(y, classification), FRACTIONS, np.random.default_rng(_SPLIT_SEED))
    i_tr, i_va, i_te = parts
    X_tr, X_va, X_te = _standardise(X[i_tr], X[i_va], X[i_te])
    if classification:
        y_tr, y_va, y_te = y[i_tr], y[i_va], y[i_te]
    else:
        y_tr, y_va, y_te = (v.ravel() for v in _standardise(y[i_tr, None], y[i_va, None], y[i_te, None]))
    return Split(
        name=name,
        classification=classification,
        n_classes=int(y.max()) + 1 if classification else 0,
        X_train=_readonly(X_tr),
        y_train=_readonly(y_tr),
        X_val=_readonly(X_va),
        y_val=_readonly(y_va),
        X_test=_readonly(X_te),
        y_test=_readonly(y_te),
        idx_train=_readonly(i_tr),
        idx_val=_readonly(i_va),
        idx_test=_readonly(i_te),
    )


# Scoring shared by all real tasks ---------------------------------------------------

_EPS = 1e-15


def cross_entropy(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of labels ``y (n,)`` under probabilities ``proba (n, k)``.

    Probabilities are clipped at 1e-15 so one confident mistake costs at most ~34.5.
    """
    p = np.asarray(proba, dtype=np.float64)
    p = p / p.sum(axis=1, keepdims=True)
    picked = np.clip(p[np.arange(len(y)), np.asarray(y)], _EPS, 1.0)
    return float(-np.mean(np.log(picked)))


def cross_entropy_from_logits(logits: np.ndarray, y: np.ndarray) -> float:
    """Softmax cross-entropy of labels ``y (n,)`` given unnormalised scores ``logits (n, k)``."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    picked = np.maximum(log_p[np.arange(len(y)), np.asarray(y)], np.log(_EPS))
    return float(-np.mean(picked))


def accuracy(scores: np.ndarray, y: np.ndarray) -> float:
    """Share of rows whose highest score ``scores (n, k)`` is the label ``y (n,)``."""
    return float(np.mean(np.argmax(scores, axis=1) == np.asarray(y)))


def check_resume(task: str, fidelity: str, saved: float, budget: float) -> None:
    """Refuse to continue from a checkpoint trained beyond the requested budget."""
    if saved > budget:
        raise ValueError(
            f"checkpoint: task '{task}': rule 'checkpoint {fidelity} <= budget' broken, "
            f"got checkpoint at {saved} {fidelity} for budget {budget}"
        )
