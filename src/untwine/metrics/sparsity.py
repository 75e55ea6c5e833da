"""Hoyer sparsity of codes (Mathieu et al. 2019, "Disentangling Disentanglement in
Variational Autoencoders", seed 004, Sec. 5.3; Hurley & Rickard 2009).

Each code is divided by its standard deviation over the sample (so that a code
with a large scale does not dominate); per point the Hoyer measure of the
normalised vector z̄ ∈ R^d is (√d − ‖z̄‖₁/‖z̄‖₂)/(√d − 1), 1 when one entry is
non-zero, 0 when all have the same magnitude; the score is the mean over points.
A constant code (std 0) counts as zero in every point; an all-zero point counts 0.
"""

from __future__ import annotations

import numpy as np

from ._sampling import DEFAULT_BATCH_SIZE, sample_codes
from ._validate import check_codes

__all__ = ["hoyer_sparsity", "sample_hoyer_sparsity"]


def hoyer_sparsity(codes) -> dict:
    """``{"hoyer_sparsity": float in [0, 1]}``; higher is sparser."""
    codes = check_codes(codes)
    d = codes.shape[1]
    if d < 2:
        raise ValueError("Hoyer sparsity needs at least 2 codes")
    std = codes.std(axis=0)
    z = np.where(std > 0, codes / np.where(std > 0, std, 1.0), 0.0)
    l1 = np.abs(z).sum(axis=1)
    l2 = np.sqrt((z**2).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        per_point = np.where(l2 > 0, (np.sqrt(d) - l1 / l2) / (np.sqrt(d) - 1.0), 0.0)
    return {"hoyer_sparsity": float(per_point.mean())}


def sample_hoyer_sparsity(representation, data, rng, *, batch_size=DEFAULT_BATCH_SIZE, num_train=10_000) -> dict:
    """Hoyer sparsity of ``num_train`` uniformly drawn points."""
    codes, _ = sample_codes(representation, data, num_train, rng, batch_size)
    return hoyer_sparsity(codes)
