"""Modularity and explicitness (Ridgeway & Mozer 2018, "Learning Deep Disentangled
Embeddings with the F-Statistic Loss", Sec. 3), as the reference protocol computes
them (disentanglement_lib ``modularity_explicitness.py``).

* modularity: m = MI(code j, factor k) of histogram-discretised codes (20 bins);
  per code 1 − (Σ_k m² − max m²) / (max m² · (K − 1)), 0 where max m is 0; mean.
* explicitness: codes standardised with the *training* mean and std (also applied
  to the test codes); per factor a ``LogisticRegression()`` (default settings);
  one-vs-rest ROC-AUC of its probabilities, macro-averaged over classes; mean over
  factors, on train and on test.

Departure from the reference, only where it would crash: the reference binarises
test labels on the classes *present in the test sample* and fails when these differ
from the training classes. Here labels are binarised on the classifier's classes
and the macro average runs over the classes that occur (and not all) in each
sample; when the classes agree, the value is the reference's. A constant code
(std 0) is left unscaled instead of becoming NaN.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from ._discrete import discrete_mutual_info, histogram_discretize
from ._fit import fit_classifier, parallel_map
from ._sampling import DEFAULT_BATCH_SIZE, sample_codes
from ._validate import check_train_test

__all__ = ["modularity", "modularity_explicitness", "explicitness_per_factor", "sample_modularity_explicitness"]


def modularity(mutual_information: np.ndarray) -> float:
    """Mean modularity over codes of an MI matrix (d codes, K factors)."""
    sq = np.square(mutual_information)
    k = sq.shape[1]
    best = sq.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (sq.sum(axis=1) - best) / (best * (k - 1.0)) if k > 1 else np.zeros_like(best)
    score = np.where(best == 0.0, 0.0, 1.0 - delta)
    return float(np.mean(score))


def _macro_auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    scores = []
    for c_index, c in enumerate(classes):
        truth = y == c
        if truth.all() or not truth.any():
            continue
        scores.append(roc_auc_score(truth, proba[:, c_index]))
    return float(np.mean(scores)) if scores else 0.5


def explicitness_per_factor(x_train, y_train, x_test, y_test) -> tuple[float, float]:
    """(train, test) one-vs-rest macro ROC-AUC of a default logistic regression."""
    model = fit_classifier(LogisticRegression, x_train, y_train)
    classes = model.classes_
    return (
        _macro_auc(y_train, model.predict_proba(x_train), classes),
        _macro_auc(y_test, model.predict_proba(x_test), classes),
    )


def _explicitness_job(args):
    return explicitness_per_factor(*args)


def modularity_explicitness(codes_train, factors_train, codes_test, factors_test, num_bins=20, n_jobs=None) -> dict:
    """Modularity and explicitness of codes against factors (Ridgeway & Mozer 2018).

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
    num_bins : int, default 20
        Bins of each code's histogram for the mutual information of modularity.
    n_jobs : int, optional
        Joblib workers, one factor each (values do not depend on it).

    Returns
    -------
    dict
        Keys ``modularity_score``, ``explicitness_score_train``, ``explicitness_score_test`` (all
        in [0, 1]).

    Raises
    ------
    ValueError
        If the codes and factors are not finite 2-D arrays of matching sizes, or train and test
        disagree on the number of codes or factors.
    """
    ct, ft, cs, fs = check_train_test(codes_train, factors_train, codes_test, factors_test)
    mi = discrete_mutual_info(histogram_discretize(ct, num_bins), ft)
    mean, std = ct.mean(axis=0), ct.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    xt, xs = (ct - mean) / std, (cs - mean) / std
    out = parallel_map(_explicitness_job, [(xt, ft[:, k], xs, fs[:, k]) for k in range(ft.shape[1])], n_jobs)
    return {
        "modularity_score": modularity(mi),
        "explicitness_score_train": float(np.mean([o[0] for o in out])),
        "explicitness_score_test": float(np.mean([o[1] for o in out])),
    }


def sample_modularity_explicitness(
    representation,
    data,
    rng,
    *,
    batch_size=DEFAULT_BATCH_SIZE,
    num_train=10_000,
    num_test=5_000,
    num_bins=20,
    n_jobs=-1,
) -> dict:
    """Reference sampler: 10,000 train / 5,000 test points, 20-bin histogram."""
    ct, ft = sample_codes(representation, data, num_train, rng, batch_size)
    cs, fs = sample_codes(representation, data, num_test, rng, batch_size)
    return modularity_explicitness(ct, ft, cs, fs, num_bins=num_bins, n_jobs=n_jobs)
