"""The ELBO decomposition of Chen et al. 2018 (seed 000, Eq. 2) evaluated for a trained model over a
dataset: index-code MI, total correlation and dimension-wise KL.

It lives with the metrics because it scores a trained encoder on a dataset; the minibatch
estimators the objectives train with are in :mod:`untwine.estimators`.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..data import all_factors
from ..estimators import gaussian_kl, gaussian_log_density, standard_normal_log_density

__all__ = ["elbo_decomposition"]


def _encode(posterior, observations: np.ndarray, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    means, variances = [], []
    for start in range(0, len(observations), batch_size):
        mean, variance = posterior(observations[start:start + batch_size])
        means.append(np.asarray(mean))
        variances.append(np.asarray(variance))
    return np.concatenate(means), np.concatenate(variances)


def _observations(data, num_points: int, rng: np.random.Generator, batch_size: int) -> tuple[np.ndarray, int, bool]:
    """(observations, dataset size N, exact) where exact means every point of the dataset once."""
    if hasattr(data, "factor_sizes") and hasattr(data, "observe"):
        sizes = tuple(int(s) for s in data.factor_sizes)
        total = int(np.prod(sizes, dtype=np.int64))
        if total <= num_points:
            # Small factor space: every point once, as Chen et al. evaluate (the whole dataset).
            factors = all_factors(sizes)
            exact = True
        else:
            factors = data.sample_factors(num_points, rng)
            exact = False
        parts = [data.observe(factors[i:i + batch_size], rng) for i in range(0, len(factors), batch_size)]
        return np.concatenate(parts).astype(np.float32, copy=False), total, exact
    if hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        total = len(data)
        if total <= num_points:
            index, exact = np.arange(total), True
        else:
            index, exact = np.sort(rng.choice(total, size=num_points, replace=False)), False

        def item(i):
            value = data[int(i)]
            value = value[0] if isinstance(value, (tuple, list)) else value
            return value.numpy() if torch.is_tensor(value) else np.asarray(value)

        return np.stack([item(i) for i in index]).astype(np.float32, copy=False), total, exact
    raise TypeError("data must follow the ground-truth data contract (factor_sizes, sample_factors, observe) "
                    f"or be a torch Dataset; got {type(data).__name__}")


def elbo_decomposition(posterior: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], data, *,
                       num_points: int = 10_000, seed: int = 0, batch_size: int = 256,
                       samples_per_point: int = 1, chunk_size: int = 64,
                       dataset_size: int | None = None) -> dict[str, float]:
    """Index-code MI, total correlation and dimension-wise KL of a trained model.

    As Chen et al. 2018 (seed 000, §3 and their evaluation) evaluate them: encode the
    data, draw ``samples_per_point`` samples z ~ q(z|n_i) per point, and estimate log q(z_i) and the marginals
    log q(z_ik) from the posteriors of all M encoded points, in chunks of
    ``chunk_size`` rows (never an M×M×d array at once), in float64.

    When the dataset has at most ``num_points`` points (``prod(factor_sizes)`` or
    ``len(data)``), every point is encoded once and the estimate of q(z) is the exact
    mixture (weights 1/N). Otherwise M = ``num_points`` points are drawn uniformly with
    ``np.random.default_rng(seed)`` and the stratified weights are used: 1/N for the
    point's own posterior and (N − 1)/(N·(M − 1)) for each other point, N being the
    dataset size (``dataset_size`` overrides it).

    ``posterior`` maps numpy observations to (posterior means, posterior variances), each
    (n, d) — for a trained VAE, ``model.posterior()``. Returns floats in nats:
    ``index_code_mi``, ``total_correlation``, ``dimension_wise_kl``, their sum
    ``estimated_kl`` and ``kl`` (the average analytic KL(q(z|x) ‖ N(0, I)), which the sum
    estimates), plus ``num_points`` and ``dataset_size``.
    """
    if num_points < 2:
        raise ValueError(f"num_points must be at least 2, got {num_points}")
    rng = np.random.default_rng(seed)
    observations, total, exact = _observations(data, int(num_points), rng, batch_size)
    if dataset_size is not None:
        total, exact = int(dataset_size), exact and int(dataset_size) == len(observations)
    if not callable(posterior):
        raise TypeError(f"posterior must be a callable observations -> (means, variances), e.g. model.posterior(); "
                        f"got {type(posterior).__name__}")
    means, variances = _encode(posterior, observations, batch_size)
    mean = torch.from_numpy(np.asarray(means, dtype=np.float64))
    logvar = torch.from_numpy(np.log(np.maximum(np.asarray(variances, dtype=np.float64), 1e-300)))
    if samples_per_point < 1:
        raise ValueError(f"samples_per_point must be a positive integer, got {samples_per_point}")
    generator = torch.Generator().manual_seed(int(seed))
    m = len(mean)
    owner = torch.arange(m).repeat(int(samples_per_point))  # the point each sample was drawn from
    z = mean[owner] + torch.exp(0.5 * logvar[owner]) * torch.randn((len(owner), mean.shape[1]),
                                                                   generator=generator, dtype=torch.float64)
    if exact:
        log_self = log_other = -math.log(m)
    else:
        log_self = -math.log(total)
        log_other = math.log(max(total - 1, 1e-300)) - math.log(total) - math.log(m - 1)
    rows_total = len(z)
    log_qz = torch.empty(rows_total, dtype=torch.float64)
    log_marginals = torch.empty(rows_total, z.shape[1], dtype=torch.float64)
    for start in range(0, rows_total, chunk_size):
        rows = slice(start, min(start + chunk_size, rows_total))
        pairs = gaussian_log_density(z[rows, None, :], mean[None], logvar[None])  # (c, M, d)
        logw = torch.full((pairs.shape[0], m), log_other, dtype=torch.float64)
        logw[torch.arange(pairs.shape[0]), owner[rows]] = log_self
        log_qz[rows] = torch.logsumexp(logw + pairs.sum(2), dim=1)
        log_marginals[rows] = torch.logsumexp(logw[:, :, None] + pairs, dim=1)
    log_qz_given_x = gaussian_log_density(z, mean[owner], logvar[owner]).sum(1)
    mi = float((log_qz_given_x - log_qz).mean())
    tc = float((log_qz - log_marginals.sum(1)).mean())
    dwkl = float((log_marginals - standard_normal_log_density(z)).sum(1).mean())
    kl = float(gaussian_kl(mean, logvar).sum(1).mean())
    return {"index_code_mi": mi, "total_correlation": tc, "dimension_wise_kl": dwkl,
            "estimated_kl": mi + tc + dwkl, "kl": kl, "num_points": m, "dataset_size": total}
