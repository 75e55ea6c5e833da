"""β-VAE score (Higgins et al. 2017, "β-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework", Sec. 3), as the reference protocol computes it
(disentanglement_lib ``beta_vae.py``).

A point picks a factor k uniformly, draws two groups of ``group_size`` factor
vectors that agree on k (the second group takes the first one's k-th factor), and
averages |code₁ − code₂| over the group; a ``LogisticRegression`` (default
settings) predicts k from that feature. 10,000 training and 5,000 evaluation
points with groups of 64 (the reference's ``batch_size``).

Same samples, faster: every factor array is drawn first, in the order of the
reference's point-by-point loop (k, group 1, group 2 per point), then all groups
are observed and encoded in large batches.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from ._fit import accuracy, fit_classifier
from ._sampling import DEFAULT_BATCH_SIZE, encode_factors, sample_factors

__all__ = ["beta_vae_score", "beta_vae_features", "sample_beta_vae"]


def draw_beta_vae_factors(data, num_points: int, group_size: int, rng: np.random.Generator):
    """(labels (n,), factors1 (n, g, K), factors2 (n, g, K)) in the reference's draw order."""
    k = len(data.factor_sizes)
    labels = np.empty(num_points, dtype=np.int64)
    first = np.empty((num_points, group_size, k), dtype=np.int64)
    second = np.empty((num_points, group_size, k), dtype=np.int64)
    for p in range(num_points):
        index = int(rng.integers(k))
        a = sample_factors(data, group_size, rng)
        b = sample_factors(data, group_size, rng)
        b[:, index] = a[:, index]
        labels[p], first[p], second[p] = index, a, b
    return labels, first, second


def beta_vae_features(representation, data, first, second, rng, batch_size=DEFAULT_BATCH_SIZE) -> np.ndarray:
    """Mean |code₁ − code₂| per point (n, d), encoding many groups per call."""
    n, g, k = first.shape
    per_chunk = max(1, batch_size // (2 * g))
    features = []
    for start in range(0, n, per_chunk):
        stop = min(n, start + per_chunk)
        m = stop - start
        both = np.concatenate([first[start:stop], second[start:stop]]).reshape(2 * m * g, k)
        codes = encode_factors(representation, data, both, rng, batch_size).reshape(2, m, g, -1)
        features.append(np.mean(np.abs(codes[0] - codes[1]), axis=1))
    return np.concatenate(features)


def beta_vae_score(features_train, labels_train, features_eval, labels_eval, random_state=0) -> dict:
    """Logistic-regression accuracy of predicting the fixed factor from β-VAE features.

    Parameters
    ----------
    features_train : np.ndarray
        Training features (n, d): the mean |code₁ − code₂| of each point's two groups.
    labels_train : np.ndarray
        The fixed factor of each training point, (n,).
    features_eval : np.ndarray
        Evaluation features (m, d).
    labels_eval : np.ndarray
        The fixed factor of each evaluation point, (m,).
    random_state : int, default 0
        Seed of the classifier.

    Returns
    -------
    dict
        ``train_accuracy`` and ``eval_accuracy``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fit_classifier(lambda: LogisticRegression(random_state=random_state), features_train, labels_train)
    return {
        "train_accuracy": accuracy(model, features_train, labels_train),
        "eval_accuracy": accuracy(model, features_eval, labels_eval),
    }


def sample_beta_vae(
    representation, data, rng, *, batch_size=DEFAULT_BATCH_SIZE, num_train=10_000, num_eval=5_000, group_size=64
) -> dict:
    """Reference sampler (``group_size`` is the reference's ``batch_size`` = 64)."""
    labels_train, a, b = draw_beta_vae_factors(data, num_train, group_size, rng)
    train = beta_vae_features(representation, data, a, b, rng, batch_size)
    labels_eval, a, b = draw_beta_vae_factors(data, num_eval, group_size, rng)
    evaluation = beta_vae_features(representation, data, a, b, rng, batch_size)
    return beta_vae_score(train, labels_train, evaluation, labels_eval)
