"""DCI: Disentanglement, Completeness, Informativeness (Eastwood & Williams 2018,
"A Framework for the Quantitative Evaluation of Disentangled Representations"),
as the reference protocol computes it (disentanglement_lib ``dci.py``).

Per factor k a gradient-boosted classifier (scikit-learn defaults) is fit on the
codes; the importance matrix R (d codes × K factors) holds |feature_importances_|.

* disentanglement = Σ_j ρ_j (1 − H_K(R_j·/Σ R_j·)), ρ_j = Σ_k R_jk / Σ R (entropy base K);
* completeness    = Σ_k ρ_k (1 − H_d(R_·k/Σ R_·k)), ρ_k = Σ_j R_jk / Σ R (entropy base d);
  scikit-learn importances sum to 1 per factor, so ρ_k = 1/K: the plain mean;
* informativeness_train/test = mean classification accuracy over factors.

``fast=True`` runs the reference's boosting algorithm itself (same stages, depth,
learning rate, least-squares trees on the residuals, Newton leaf values, the
reference's thresholds, the same importance definition) with an exact split search
compiled in C (``_boosting.ExactGradientBoostingClassifier``, ``_split_search.c``); the
measured deviation from the reference values is in docs/metrics.md.
"""

from __future__ import annotations

import numpy as np
import scipy.stats
from sklearn.ensemble import GradientBoostingClassifier

from ._boosting import ExactGradientBoostingClassifier
from ._fit import ConstantClassifier, accuracy, classes_cost, fit_classifier, parallel_map
from ._sampling import DEFAULT_BATCH_SIZE, sample_codes
from ._validate import check_train_test

__all__ = ["dci", "disentanglement", "completeness", "importance_matrix", "sample_dci"]


def make_gbt(random_state=None):
    """The reference predictor: ``GradientBoostingClassifier()`` with default settings."""
    return GradientBoostingClassifier(random_state=random_state)


def make_fast_gbt(random_state=None):
    """The fast preset: the reference's boosting algorithm with the exact split search in C
    (``_split_search.c``); where that was not built, exact up to 255 training points and on
    255 quantile bins per code beyond."""
    return ExactGradientBoostingClassifier(
        n_estimators=100,
        learning_rate=0.1,
        max_depth=3,
        max_bins=255,
        replicas=1,
        exact_max=255,
        native=True,
        random_state=random_state,
    )


def _fit_one(args):
    x_train, y_train, x_test, y_test, fast, random_state = args
    factory = (lambda: make_fast_gbt(random_state)) if fast else (lambda: make_gbt(random_state))
    model = fit_classifier(factory, x_train, y_train)
    if isinstance(model, ConstantClassifier):
        importance = np.zeros(x_train.shape[1])
    else:
        importance = np.abs(model.feature_importances_)
    return importance, accuracy(model, x_train, y_train), accuracy(model, x_test, y_test)


def importance_matrix(codes_train, factors_train, codes_test, factors_test, fast=False, random_state=0, n_jobs=None):
    """(importance (d, K), train accuracies (K,), test accuracies (K,))."""
    ct, ft, cs, fs = check_train_test(codes_train, factors_train, codes_test, factors_test)
    jobs = [(ct, ft[:, k], cs, fs[:, k], fast, random_state) for k in range(ft.shape[1])]
    out = parallel_map(_fit_one, jobs, n_jobs, costs=classes_cost(ft))
    importance = np.stack([o[0] for o in out], axis=1)
    return importance, np.array([o[1] for o in out]), np.array([o[2] for o in out])


def disentanglement(importance: np.ndarray) -> float:
    """Importance-weighted mean over codes of 1 − entropy (base K) of each code's row."""
    k = importance.shape[1]
    per_code = 1.0 - scipy.stats.entropy(importance.T + 1e-11, base=k) if k > 1 else np.ones(importance.shape[0])
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    weight = importance.sum(axis=1) / importance.sum()
    return float(np.sum(per_code * weight))


def completeness(importance: np.ndarray) -> float:
    """Importance-weighted mean over factors of 1 − entropy (base d) of each factor's column."""
    d = importance.shape[0]
    per_factor = 1.0 - scipy.stats.entropy(importance + 1e-11, base=d) if d > 1 else np.ones(importance.shape[1])
    if importance.sum() == 0.0:
        importance = np.ones_like(importance)
    weight = importance.sum(axis=0) / importance.sum()
    return float(np.sum(per_factor * weight))


def dci(codes_train, factors_train, codes_test, factors_test, fast=False, random_state=0, n_jobs=None) -> dict:
    """DCI scores with the reference keys.

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
    fast : bool, default False
        Run the reference's boosting algorithm with an exact split search in C (the fast preset;
        its deviation is in docs/metrics.md) instead of scikit-learn's.
    random_state : int, default 0
        Seed of the classifiers.
    n_jobs : int, optional
        Joblib workers, one factor each (values do not depend on it).

    Returns
    -------
    dict
        ``{"informativeness_train", "informativeness_test", "disentanglement",
        "completeness"}``, all in [0, 1].

    Raises
    ------
    ValueError
        If the codes and factors are not finite 2-D arrays of matching sizes, or train and test
        disagree on the number of codes or factors.
    """
    imp, train_acc, test_acc = importance_matrix(
        codes_train, factors_train, codes_test, factors_test, fast=fast, random_state=random_state, n_jobs=n_jobs
    )
    return {
        "informativeness_train": float(np.mean(train_acc)),
        "informativeness_test": float(np.mean(test_acc)),
        "disentanglement": disentanglement(imp),
        "completeness": completeness(imp),
    }


def sample_dci(
    representation, data, rng, *, batch_size=DEFAULT_BATCH_SIZE, num_train=10_000, num_test=5_000, fast=False, n_jobs=-1
) -> dict:
    """Reference sampler: 10,000 train / 5,000 test points.

    The boosted trees get a ``random_state`` drawn from the metric's rng (the
    reference leaves it unset), so that the same seed gives the same numbers.
    """
    ct, ft = sample_codes(representation, data, num_train, rng, batch_size)
    cs, fs = sample_codes(representation, data, num_test, rng, batch_size)
    random_state = int(rng.integers(2**31 - 1))
    return dci(ct, ft, cs, fs, fast=fast, random_state=random_state, n_jobs=n_jobs)
