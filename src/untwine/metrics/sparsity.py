"""Hoyer sparsity of codes (Mathieu et al. 2019, "Disentangling Disentanglement in
Variational Autoencoders", seed 004, Sec. 5.3; Hurley & Rickard 2009).

Each code is divided by its standard deviation over the sample (so that a code
with a large scale does not dominate, and a collapsed code cannot look sparse); per
point the Hoyer measure of the normalised vector z̄ ∈ R^d' is
(√d' − ‖z̄‖₁/‖z̄‖₂)/(√d' − 1), 1 when one entry is non-zero, 0 when all have the same
magnitude; the score is the mean over points.

Constant codes (the same value at every point, std 0) are left out, and d' counts the
others: the authors' division by the std is there so that a collapsed dimension cannot
look sparse, and a constant code, which their code divides by 0 (NaN for the whole
score), carries no information to be sparse about. Counting it as a zero entry, as
untwine did before, made a code with one active dimension and nine constant ones score
a perfect 1. Fewer than two non-constant codes leave nothing to measure: the score is
then NaN. A point whose normalised entries are all 0 counts 0 (the authors' NaN).
"""

from __future__ import annotations

import numpy as np

from ._sampling import DEFAULT_BATCH_SIZE, sample_codes
from ._validate import check_codes

__all__ = ["hoyer_sparsity", "sample_hoyer_sparsity"]


def hoyer_sparsity(codes) -> dict:
    """Hoyer sparsity of ``codes``; higher is sparser.

    Constant codes are left out (``num_codes`` counts the others); with fewer than two others the
    score is NaN.

    Parameters
    ----------
    codes : np.ndarray
        The representation, (n, d) with d ≥ 2.

    Returns
    -------
    dict
        ``{"hoyer_sparsity": float in [0, 1], "num_codes": d'}``.

    Raises
    ------
    ValueError
        If ``codes`` is not a finite 2-D array of at least 2 points and 2 codes.
    """
    codes = check_codes(codes)
    if codes.shape[1] < 2:
        raise ValueError("Hoyer sparsity needs at least 2 codes")
    varying = np.ptp(codes, axis=0) > 0
    d = int(varying.sum())
    if d < 2:
        return {"hoyer_sparsity": float("nan"), "num_codes": d}
    z = codes[:, varying] / codes[:, varying].std(axis=0)
    l1 = np.abs(z).sum(axis=1)
    l2 = np.sqrt((z**2).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        per_point = np.where(l2 > 0, (np.sqrt(d) - l1 / l2) / (np.sqrt(d) - 1.0), 0.0)
    return {"hoyer_sparsity": float(per_point.mean()), "num_codes": d}


def sample_hoyer_sparsity(representation, data, rng, *, batch_size=DEFAULT_BATCH_SIZE, num_train=10_000) -> dict:
    """Hoyer sparsity of ``num_train`` uniformly drawn points."""
    codes, _ = sample_codes(representation, data, num_train, rng, batch_size)
    return hoyer_sparsity(codes)
