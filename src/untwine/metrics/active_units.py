"""Active units and information level per latent (Zietlow, Rolinek & Martius 2021,
"Demystifying Inductive Biases for β-VAE Based Architectures", seed 002, Sec. 5).

A latent j is active when its mean posterior variance E_x[σ²_j(x)] < 0.8 (a
collapsed latent keeps the prior's variance 1); its information level is
1 − E_x[σ²_j(x)], the lack of noise in it (higher: more important for
reconstruction, the order of the non-linear principal components).

Needs the encoder's posterior: ``posterior(observations) -> (mean, variance)``,
numpy arrays (n, d) each (variance, not log-variance).
"""

from __future__ import annotations

import numpy as np

from ._sampling import DEFAULT_BATCH_SIZE, posterior_factors, sample_factors

__all__ = ["active_units", "sample_active_units"]


def active_units(variances, threshold: float = 0.8) -> dict:
    """Active units and information level per latent, from posterior variances.

    Parameters
    ----------
    variances : np.ndarray
        Posterior variances (n, d) (not log-variances).
    threshold : float, default 0.8
        A latent is active when its mean posterior variance is below it.

    Returns
    -------
    dict
        ``num_active_units``, ``active_units`` (bool per latent), ``information_level``
        (1 − E σ² per latent), ``mean_variance`` (E σ² per latent).

    Raises
    ------
    ValueError
        If ``variances`` is not a non-empty 2-D array, or holds a negative value.
    """
    variances = np.asarray(variances, dtype=np.float64)
    if variances.ndim != 2 or variances.shape[0] == 0:
        raise ValueError(f"variances must be a 2-D array (n, d) of posterior variances, got shape {variances.shape}")
    if np.any(variances < 0):
        raise ValueError("variances must be non-negative (pass variances, not log-variances)")
    mean = variances.mean(axis=0)
    active = mean < threshold
    return {
        "num_active_units": int(active.sum()),
        "active_units": active.tolist(),
        "information_level": (1.0 - mean).tolist(),
        "mean_variance": mean.tolist(),
    }


def sample_active_units(
    representation, data, rng, *, posterior, batch_size=DEFAULT_BATCH_SIZE, num_train=10_000, threshold=0.8
) -> dict:
    """Active units over ``num_train`` uniformly drawn points (``posterior`` is required)."""
    factors = sample_factors(data, num_train, rng)
    _, variances = posterior_factors(posterior, data, factors, rng, batch_size)
    return active_units(variances, threshold)
