"""Mutual Information Gap (Chen et al. 2018, "Isolating Sources of Disentanglement
in VAEs", seed 000, Sec. 5), as the reference protocol computes it
(docs/reference.md; disentanglement_lib ``evaluation/metrics/mig.py``).

Codes are discretised with a 20-bin histogram each; MI(code_j; factor_k) is the
plug-in discrete estimate in nats; for each factor the gap between its largest
and second-largest MI with any code is divided by the factor's entropy; the score
is the mean over factors.
"""

from __future__ import annotations

import numpy as np

from ._discrete import discrete_entropy, discrete_mutual_info, histogram_discretize
from ._sampling import DEFAULT_BATCH_SIZE, sample_codes
from ._validate import check_codes_factors

__all__ = ["mig", "sample_mig", "normalized_gaps"]


def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict:
    """Discrete MIG of ``codes`` (n, d) against integer ``factors`` (n, K).

    With a single code the gap is the largest MI itself (the second-largest is taken as 0). A
    factor with one value (entropy 0) contributes 0 instead of the reference's NaN.

    Parameters
    ----------
    codes : np.ndarray
        The representation, (n, d).
    factors : np.ndarray
        Integer factor indices, (n, K).
    num_bins : int, default 20
        Bins of each code's histogram.

    Returns
    -------
    dict
        ``{"discrete_mig": float}`` in [0, 1].

    Raises
    ------
    ValueError
        If ``codes`` is not a finite 2-D array of at least 2 points, or ``factors`` is not an
        integer array (n, K) with as many points.
    """
    codes, factors = check_codes_factors(codes, factors)
    mi = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)  # (d, K)
    return {"discrete_mig": float(np.mean(normalized_gaps(mi, discrete_entropy(factors))))}


def normalized_gaps(mutual_info: np.ndarray, factor_entropy: np.ndarray) -> np.ndarray:
    """Per factor k, (largest − second-largest MI(z_j; v_k) over latents j) / H(v_k), (K,).

    ``mutual_info`` is (d, K). With a single latent the second-largest is taken as 0; a factor
    with entropy 0 gets 0 (the reference's NaN).
    """
    top = np.sort(mutual_info, axis=0)[::-1]
    second = top[1] if top.shape[0] > 1 else np.zeros(top.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(factor_entropy > 0, (top[0] - second) / factor_entropy, 0.0)


def sample_mig(
    representation,
    data,
    rng: np.random.Generator,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    num_train: int = 10_000,
    num_bins: int = 20,
) -> dict:
    """Reference sampler: ``num_train`` uniform points, 20-bin histogram."""
    codes, factors = sample_codes(representation, data, num_train, rng, batch_size)
    return mig(codes, factors, num_bins=num_bins)
