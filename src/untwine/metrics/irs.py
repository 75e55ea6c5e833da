"""Interventional Robustness Score (Suter et al. 2019, "Robustly Disentangled Causal
Mechanisms", Sec. 4 and Alg. 1), as the reference protocol computes it
(disentanglement_lib ``irs.py``).

The reference first discretises the *factors* with the 20-bin histogram
discretiser and drops constant codes. For factor k and each of its (binned)
values v, the ``diff_quantile`` quantile of |z − E[z | v_k = v]| per code, averaged
over values, is the code's deviation under interventions on the other factors;
normalised by the code's maximal deviation |z − E z|, IRS(code, factor) = 1 − that.
A code's score is its max over factors; IRS is the mean weighted by the maximal
deviations.

``num_active_dims`` is the *number* of non-constant codes. The reference reports
``np.sum`` of the active codes' values instead (a bug), so that key is not
comparable with reference outputs; IRS itself is.
"""

from __future__ import annotations

import numpy as np

from ._discrete import histogram_discretize
from ._sampling import DEFAULT_BATCH_SIZE, sample_codes
from ._validate import check_codes_factors

__all__ = ["irs", "irs_matrix", "sample_irs"]


def irs_matrix(codes: np.ndarray, factors: np.ndarray, diff_quantile: float = 0.99):
    """(IRS matrix (d, K), maximal deviations (d,)) for already discretised factors."""
    max_dev = np.max(np.abs(codes - codes.mean(axis=0)), axis=0)
    d, k = codes.shape[1], factors.shape[1]
    cum = np.zeros((d, k))
    for j in range(k):
        values, inverse = np.unique(factors[:, j], return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(len(values) + 1))
        for v in range(len(values)):
            group = codes[order[bounds[v] : bounds[v + 1]]]
            cum[:, j] += np.percentile(np.abs(group - group.mean(axis=0)), diff_quantile * 100, axis=0)
        cum[:, j] /= len(values)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1.0 - cum / max_dev[:, None], max_dev


def irs(codes, factors, diff_quantile=0.99, num_bins=20) -> dict:
    """Interventional Robustness Score of ``codes`` against ``factors``.

    Parameters
    ----------
    codes : np.ndarray
        The representation, (n, d).
    factors : np.ndarray
        Integer factor indices, (n, K); discretised with a ``num_bins``-bin histogram first.
    diff_quantile : float, default 0.99
        The quantile of each code's deviation under interventions on the other factors.
    num_bins : int, default 20
        Bins of each factor's histogram.

    Returns
    -------
    dict
        ``{"IRS": float in [0, 1], "num_active_dims": int}``: the number of non-constant codes
        (the reference reports another count; see the module doc).

    Raises
    ------
    ValueError
        If ``codes`` is not a finite 2-D array of at least 2 points, or ``factors`` is not an
        integer array (n, K) with as many points.
    """
    codes, factors = check_codes_factors(codes, factors)
    binned = histogram_discretize(factors, num_bins)
    active = codes.var(axis=0) > 0.0
    if not active.any():
        return {"IRS": 0.0, "num_active_dims": 0}
    matrix, max_dev = irs_matrix(codes[:, active], binned, diff_quantile)
    per_code = matrix.max(axis=1)
    score = np.average(per_code, weights=max_dev) if max_dev.sum() > 0 else np.mean(per_code)
    return {"IRS": float(score), "num_active_dims": int(active.sum())}


def sample_irs(
    representation, data, rng, *, batch_size=DEFAULT_BATCH_SIZE, num_train=10_000, diff_quantile=0.99, num_bins=20
) -> dict:
    """Reference sampler: 10,000 points, quantile 0.99."""
    codes, factors = sample_codes(representation, data, num_train, rng, batch_size)
    return irs(codes, factors, diff_quantile=diff_quantile, num_bins=num_bins)
