"""SAP score, Separated Attribute Predictability (Kumar et al. 2018, "Variational
Inference of Disentangled Latent Concepts from Unlabeled Observations", Sec. 3),
as the reference protocol computes it (disentanglement_lib ``sap_score.py``).

Discrete factors: score(code j, factor k) = test accuracy of a linear SVM
(``LinearSVC(C=0.01, class_weight="balanced")``) trained on that single code.
Continuous factors: the squared correlation (R² of a linear fit) of code and factor
on the training points, 0 for a constant code. Per factor, top score minus second;
mean over factors.
"""

from __future__ import annotations

import numpy as np
from sklearn.svm import LinearSVC

from ._fit import accuracy, fit_classifier, parallel_map
from ._sampling import DEFAULT_BATCH_SIZE, sample_codes
from ._validate import check_train_test

__all__ = ["sap", "sap_score_matrix", "sample_sap"]


def _svm_score(args):
    x_train, y_train, x_test, y_test = args
    model = fit_classifier(lambda: LinearSVC(C=0.01, class_weight="balanced"), x_train[:, None], y_train)
    return accuracy(model, x_test[:, None], y_test)


def sap_score_matrix(
    codes_train, factors_train, codes_test, factors_test, continuous_factors=False, n_jobs=None
) -> np.ndarray:
    """Score matrix (d codes, K factors) of the SAP definition."""
    ct, ft, cs, fs = check_train_test(codes_train, factors_train, codes_test, factors_test)
    d, k = ct.shape[1], ft.shape[1]
    if continuous_factors:
        scores = np.zeros((d, k))
        for j in range(k):
            y = ft[:, j].astype(np.float64)
            for i in range(d):
                cov = np.cov(ct[:, i], y, ddof=1)
                if cov[0, 0] > 1e-12 and cov[1, 1] > 0:
                    scores[i, j] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
        return scores
    jobs = [(ct[:, i], ft[:, j], cs[:, i], fs[:, j]) for i in range(d) for j in range(k)]
    return np.array(parallel_map(_svm_score, jobs, n_jobs)).reshape(d, k)


def sap(codes_train, factors_train, codes_test, factors_test, continuous_factors=False, n_jobs=None) -> dict:
    """SAP score: mean over factors of (best − second-best single-code score).

    A perfect code with many-valued factors scores low (≈ 0.19 on dSprites): one linear
    threshold cannot separate 40 classes (docs/reference.md).

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
    continuous_factors : bool, default False
        Score a code against a factor by the squared correlation on the training points instead
        of the test accuracy of a linear SVM.
    n_jobs : int, optional
        Joblib workers (values do not depend on it).

    Returns
    -------
    dict
        ``{"SAP_score": float}`` in [0, 1].

    Raises
    ------
    ValueError
        If the codes and factors are not finite 2-D arrays of matching sizes, or train and test
        disagree on the number of codes or factors.
    """
    scores = sap_score_matrix(codes_train, factors_train, codes_test, factors_test, continuous_factors, n_jobs)
    if scores.shape[0] < 2:
        return {"SAP_score": float(np.mean(scores[0]))}
    top = np.sort(scores, axis=0)
    return {"SAP_score": float(np.mean(top[-1] - top[-2]))}


def sample_sap(
    representation,
    data,
    rng,
    *,
    batch_size=DEFAULT_BATCH_SIZE,
    num_train=10_000,
    num_test=5_000,
    continuous_factors=False,
    n_jobs=-1,
) -> dict:
    """Reference sampler: 10,000 train and 5,000 test points, discrete factors."""
    ct, ft = sample_codes(representation, data, num_train, rng, batch_size)
    cs, fs = sample_codes(representation, data, num_test, rng, batch_size)
    return sap(ct, ft, cs, fs, continuous_factors=continuous_factors, n_jobs=n_jobs)
