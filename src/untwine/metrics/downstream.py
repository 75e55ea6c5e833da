"""Downstream prediction of the factors from the codes (Locatello et al. 2019,
Sec. 6 "Are disentangled representations useful for downstream tasks?"),
as the reference protocol computes it (disentanglement_lib ``downstream_task.py``).

For each training size in (10, 100, 1,000, 10,000), fresh train points and 5,000
fresh test points; per factor a classifier on the codes; keys per size s:
``"s:mean_train_accuracy"``, ``"s:mean_test_accuracy"``, ``"s:min_train_accuracy"``,
``"s:min_test_accuracy"`` and per factor i ``"s:train_accuracy_factor_i"``,
``"s:test_accuracy_factor_i"``.

* ``downstream_lr``: ``LogisticRegressionCV(Cs=10, cv=KFold(n_splits=5))``; ``fast=True``
  runs the same algorithm (same Cs, folds, warm-started L-BFGS-B path, selection and
  refit) with the objective evaluated in C (``_logistic.LogisticRegressionCVReplica``).
* ``downstream_gbt``: ``GradientBoostingClassifier()``; ``fast=True`` uses the
  DCI fast preset (the reference's boosting algorithm with an exact split search
  in C). Its deviations are in docs/metrics.md.

A training sample with one class only (possible at size 10) gets a constant
predictor; the reference would fail. Folds of 2 points may lack classes; scikit-learn
handles those (with warnings, silenced here).
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import KFold

from ._fit import accuracy, classes_cost, fit_classifier, parallel_map
from ._logistic import LogisticRegressionCVReplica
from ._sampling import DEFAULT_BATCH_SIZE, sample_codes
from ._validate import check_train_test
from .dci import make_fast_gbt, make_gbt

__all__ = ["downstream", "sample_downstream_lr", "sample_downstream_gbt"]


def make_lr():
    """The reference predictor."""
    return LogisticRegressionCV(Cs=10, cv=KFold(n_splits=5))


def make_fast_lr():
    """The fast preset: the reference's algorithm with a compiled objective."""
    return LogisticRegressionCVReplica(Cs=10, n_splits=5)


def _predictor(kind: str, fast: bool, random_state: int):
    if kind == "lr":
        return make_fast_lr if fast else make_lr
    if kind == "gbt":
        return (lambda: make_fast_gbt(random_state)) if fast else (lambda: make_gbt(random_state))
    raise ValueError(f"unknown predictor {kind!r}; expected 'lr' or 'gbt'")


def _fit_one(args):
    factory, x_train, y_train, x_test, y_test = args
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = fit_classifier(factory, x_train, y_train)
    return accuracy(model, x_train, y_train), accuracy(model, x_test, y_test)


def _jobs(ct, ft, cs, fs, predictor, fast, random_state, size_cost=1.0):
    """One (fit, cost) per factor; the cost (classes x training points) orders dispatch."""
    factory = _predictor(predictor, fast, random_state)
    jobs = [(factory, ct, ft[:, k], cs, fs[:, k]) for k in range(ft.shape[1])]
    return jobs, [c * size_cost for c in classes_cost(ft)]


def _scores(out, prefix) -> dict:
    train = np.array([o[0] for o in out])
    test = np.array([o[1] for o in out])
    scores = {
        f"{prefix}mean_train_accuracy": float(train.mean()),
        f"{prefix}mean_test_accuracy": float(test.mean()),
        f"{prefix}min_train_accuracy": float(train.min()),
        f"{prefix}min_test_accuracy": float(test.min()),
    }
    for i in range(len(train)):
        scores[f"{prefix}train_accuracy_factor_{i}"] = float(train[i])
        scores[f"{prefix}test_accuracy_factor_{i}"] = float(test[i])
    return scores


def downstream(
    codes_train,
    factors_train,
    codes_test,
    factors_test,
    predictor="lr",
    fast=False,
    random_state=0,
    n_jobs=None,
    prefix="",
) -> dict:
    """Per-factor accuracies of a classifier that predicts each factor from the codes.

    Parameters
    ----------
    codes_train : np.ndarray
        Training codes (n, d).
    factors_train : np.ndarray
        Integer factor indices (n, K) of the training points.
    codes_test : np.ndarray
        Test codes (m, d).
    factors_test : np.ndarray
        Integer factor indices (m, K) of the test points.
    predictor : {"lr", "gbt"}, default "lr"
        Cross-validated logistic regression or gradient-boosted trees.
    fast : bool, default False
        The fast preset of ``predictor`` (the same algorithm with its inner loop in C).
    random_state : int, default 0
        Seed of the classifiers.
    n_jobs : int, optional
        Joblib workers (values do not depend on it).
    prefix : str, default ""
        Prepended to every key (the samplers key each training size this way, e.g. ``"100:"``).

    Returns
    -------
    dict
        ``mean_train_accuracy``, ``mean_test_accuracy``, ``min_train_accuracy``,
        ``min_test_accuracy`` and, per factor i, ``train_accuracy_factor_i`` and
        ``test_accuracy_factor_i``, each prefixed with ``prefix``.

    Raises
    ------
    ValueError
        If the codes and factors are not finite 2-D arrays of matching sizes, train and test
        disagree on the number of codes or factors, or ``predictor`` is unknown.
    """
    ct, ft, cs, fs = check_train_test(codes_train, factors_train, codes_test, factors_test)
    jobs, costs = _jobs(ct, ft, cs, fs, predictor, fast, random_state)
    return _scores(parallel_map(_fit_one, jobs, n_jobs, costs=costs), prefix)


def _sample(representation, data, rng, predictor, batch_size, num_train, num_test, fast, n_jobs):
    """Every size's samples drawn first, in the reference's order; then the fits of all
    sizes and factors dispatched together, longest first, so that the small sizes fill
    the workers' idle time at the end of the large ones (values do not change)."""
    jobs, costs, counts = [], [], []
    for size in num_train:
        ct, ft = sample_codes(representation, data, int(size), rng, batch_size)
        cs, fs = sample_codes(representation, data, num_test, rng, batch_size)
        random_state = int(rng.integers(2**31 - 1))
        ct, ft, cs, fs = check_train_test(ct, ft, cs, fs)
        size_jobs, size_costs = _jobs(ct, ft, cs, fs, predictor, fast, random_state, size_cost=float(size))
        jobs += size_jobs
        costs += size_costs
        counts.append(len(size_jobs))
    out = parallel_map(_fit_one, jobs, n_jobs, costs=costs)
    scores, start = {}, 0
    for size, count in zip(num_train, counts):
        scores.update(_scores(out[start : start + count], f"{int(size)}:"))
        start += count
    return scores


def sample_downstream_lr(
    representation,
    data,
    rng,
    *,
    batch_size=DEFAULT_BATCH_SIZE,
    num_train=(10, 100, 1000, 10000),
    num_test=5_000,
    fast=False,
    n_jobs=-1,
) -> dict:
    """Reference sampler, logistic regression with 5-fold CV over 10 Cs (``fast``: the
    same algorithm with the objective in C)."""
    return _sample(representation, data, rng, "lr", batch_size, tuple(num_train), num_test, fast, n_jobs)


def sample_downstream_gbt(
    representation,
    data,
    rng,
    *,
    batch_size=DEFAULT_BATCH_SIZE,
    num_train=(10, 100, 1000, 10000),
    num_test=5_000,
    fast=False,
    n_jobs=-1,
) -> dict:
    """Reference sampler, gradient-boosted trees (``fast``: the DCI fast preset)."""
    return _sample(representation, data, rng, "gbt", batch_size, tuple(num_train), num_test, fast, n_jobs)
