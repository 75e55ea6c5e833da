"""Unsupervised scores of a representation (Locatello et al. 2019, Sec. 5 and
appendix; disentanglement_lib ``unsupervised_metrics.py``), from the covariance Σ
of the codes (``np.cov``, ddof 1):

* gaussian_total_correlation = ½ (Σ_j log Σ_jj − log det Σ), the total correlation
  of a Gaussian with covariance Σ; +inf when Σ is singular (e.g. a duplicated code);
* gaussian_wasserstein_correlation = 2 tr Σ − 2 tr √(diag(Σ) Σ), the squared
  2-Wasserstein distance between N(0, Σ) and N(0, diag Σ); ``scipy.linalg.sqrtm`` can
  return a complex matrix with tiny imaginary parts: the real part of the trace is kept;
* gaussian_wasserstein_correlation_norm = the above / tr Σ;
* mutual_info_score = mean off-diagonal MI (nats) between histogram-discretised codes.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg

from ._discrete import discrete_mutual_info, histogram_discretize
from ._sampling import DEFAULT_BATCH_SIZE, sample_codes
from ._validate import check_codes

__all__ = ["unsupervised", "gaussian_total_correlation", "gaussian_wasserstein_correlation", "sample_unsupervised"]


def gaussian_total_correlation(cov: np.ndarray) -> float:
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0:
        return float("inf")
    with np.errstate(divide="ignore"):
        return float(0.5 * (np.sum(np.log(np.diag(cov))) - logdet))


def gaussian_wasserstein_correlation(cov: np.ndarray) -> float:
    with warnings.catch_warnings():
        # a singular Σ (duplicated or constant code) is legal; its TC is reported as inf
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root = scipy.linalg.sqrtm(cov * np.diag(cov)[:, None])
    return float(2.0 * np.trace(cov) - 2.0 * np.real(np.trace(root)))


def unsupervised(codes, num_bins=20) -> dict:
    """The four unsupervised scores of ``codes`` (n, d); lower means more factorised.

    Parameters
    ----------
    codes : np.ndarray
        The representation, (n, d).
    num_bins : int, default 20
        Bins of each code's histogram for ``mutual_info_score``.

    Returns
    -------
    dict
        ``gaussian_total_correlation``, ``gaussian_wasserstein_correlation``,
        ``gaussian_wasserstein_correlation_norm`` and ``mutual_info_score`` (see the module doc).

    Raises
    ------
    ValueError
        If ``codes`` is not a finite 2-D array of at least 2 points.
    """
    codes = check_codes(codes)
    d = codes.shape[1]
    cov = np.atleast_2d(np.cov(codes, rowvar=False))
    wasserstein = gaussian_wasserstein_correlation(cov)
    trace = float(np.trace(cov))
    labels = histogram_discretize(codes, num_bins)
    mi = discrete_mutual_info(labels, labels)
    np.fill_diagonal(mi, 0.0)
    return {
        "gaussian_total_correlation": gaussian_total_correlation(cov),
        "gaussian_wasserstein_correlation": wasserstein,
        "gaussian_wasserstein_correlation_norm": wasserstein / trace if trace > 0 else 0.0,
        "mutual_info_score": float(mi.sum() / (d * d - d)) if d > 1 else 0.0,
    }


def sample_unsupervised(
    representation, data, rng, *, batch_size=DEFAULT_BATCH_SIZE, num_train=10_000, num_bins=20
) -> dict:
    """Reference sampler: 10,000 points, 20-bin histogram."""
    codes, _ = sample_codes(representation, data, num_train, rng, batch_size)
    return unsupervised(codes, num_bins=num_bins)
