"""Fitting independent per-factor (or per-pair) models in parallel processes.

Values never depend on ``n_jobs``: every fit gets the same data and the same
``random_state`` whichever worker runs it. The fast preset's models themselves live
in ``_boosting.py`` (boosted trees) and ``_logistic.py`` (logistic regression); their
compiled kernels are loaded by ``_native.py``.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from joblib import Parallel, delayed


def parallel_map(
    function: Callable, items: Sequence, n_jobs: int | None = None, costs: Sequence[float] | None = None
) -> list:
    """``[function(item) for item in items]``, with joblib when ``n_jobs`` is not 1/None.

    ``costs`` (an estimate per item) hands the items to the workers longest first,
    which balances unequal jobs (a 40-class factor against a 3-class one) far
    better than the given order; results come back in the given order either way.
    """
    if n_jobs in (None, 1) or len(items) <= 1:
        return [function(item) for item in items]
    order = list(range(len(items))) if costs is None else sorted(range(len(items)), key=lambda i: -costs[i])
    done = Parallel(n_jobs=n_jobs)(delayed(function)(items[i]) for i in order)
    out = [None] * len(items)
    for i, result in zip(order, done):
        out[i] = result
    return out


def classes_cost(factors: np.ndarray) -> list[int]:
    """Cost estimate of one classifier per factor column: its number of classes."""
    return [len(np.unique(factors[:, k])) for k in range(factors.shape[1])]


class ConstantClassifier:
    """Predicts the one class seen in training (the reference would crash instead)."""

    def __init__(self, label):
        self.classes_ = np.array([label])
        self.feature_importances_ = None

    def predict(self, x):
        return np.full(len(x), self.classes_[0])

    def predict_proba(self, x):
        return np.ones((len(x), 1))


def fit_classifier(make_model: Callable, x: np.ndarray, y: np.ndarray):
    """Fit ``make_model()`` on (x, y), or a constant classifier when y has a single class."""
    classes = np.unique(y)
    if len(classes) < 2:
        return ConstantClassifier(classes[0])
    return make_model().fit(x, y)


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(x) == y))
