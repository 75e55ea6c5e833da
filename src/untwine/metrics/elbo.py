"""The ELBO decomposition of Chen et al. 2018 (seed 000, Eq. 2) evaluated for a trained model over a
dataset: index-code MI, total correlation and dimension-wise KL.

With n uniform over the N observations of the dataset and q(z) = 1/N Σ_n q(z|n)::

    E_n KL(q(z|n) ‖ p(z)) = I_q(z; n) + KL(q(z) ‖ Π_k q(z_k)) + Σ_k KL(q(z_k) ‖ p(z_k)).

Every term is an expectation over z ~ q(z) of log-densities of the mixture q(z) and of its
marginals q(z_k). As Chen et al. evaluate them (their released ``elbo_decomposition.py``):
encode *all* N observations, draw ``num_samples`` samples z ~ q(z|n) from points n taken
uniformly, and score each sample against all N posteriors with weights 1/N. The number of
samples and the number of mixture components are separate: the mixture is never
subsampled, because log of a subsampled mixture is biased for log q(z) however the weights
are chosen (on the full dSprites grid with one latent per factor, whose true TC is 0, a
mixture of 10,000 subsampled posteriors gave TC −1.34 for posterior std 0.05).

It lives with the metrics because it scores a trained encoder on a dataset; the minibatch
estimators the objectives train with are in ``untwine.estimators``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from ..data import index_to_factors
from ..estimators import LOG_2PI, gaussian_kl

__all__ = ["elbo_decomposition", "mixture_log_density", "encode_dataset"]


def _dataset_size(data) -> int:
    if hasattr(data, "factor_sizes") and hasattr(data, "observe"):
        size = getattr(data, "num_observations", None)
        if size is None:
            size = np.prod([int(s) for s in data.factor_sizes], dtype=np.int64)
        return int(size)
    if hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        return len(data)
    raise TypeError(
        "data must follow the ground-truth data contract (factor_sizes, sample_factors, observe) "
        f"or be a torch Dataset; got {type(data).__name__}"
    )


def _observations(data, index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The observations with flat observation indices ``index`` (see ``GroundTruthDataset.observations_at``)."""
    if hasattr(data, "factor_sizes") and hasattr(data, "observe"):
        if hasattr(data, "observations_at"):
            return data.observations_at(index, rng)[1]
        return data.observe(index_to_factors(index, data.factor_sizes), rng)

    def item(i):
        value = data[int(i)]
        value = value[0] if isinstance(value, (tuple, list)) else value
        return value.numpy() if torch.is_tensor(value) else np.asarray(value)

    return np.stack([item(i) for i in index])


def encode_dataset(posterior: Callable, data, *, batch_size: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and log-variances (N, d) float64 of every one of the N observations of ``data``.

    N is ``data.num_observations`` (else ``prod(factor_sizes)``, or ``len(data)`` for a torch
    Dataset); observation i is ``data.observations_at(i)``. A dataset that draws nuisance
    noise in ``observe`` draws it from ``np.random.default_rng(seed)``: one draw per point.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    total = _dataset_size(data)
    rng = np.random.default_rng(seed)
    means, variances = [], []
    for start in range(0, total, batch_size):
        observations = _observations(data, np.arange(start, min(start + batch_size, total)), rng)
        mean, variance = posterior(np.asarray(observations, dtype=np.float32))
        means.append(np.asarray(mean, dtype=np.float64))
        variances.append(np.asarray(variance, dtype=np.float64))
    if not means:
        raise ValueError("the dataset has no observations")
    means, variances = np.concatenate(means), np.concatenate(variances)
    if means.ndim != 2 or means.shape != variances.shape or len(means) != total:
        raise ValueError(
            f"posterior must return means and variances of shape (n, d) for n observations; got "
            f"{means.shape} and {variances.shape} for {total} observations"
        )
    if not (np.isfinite(means).all() and np.isfinite(variances).all() and (variances > 0).all()):
        raise ValueError(
            "posterior returned non-finite means or variances that are not positive (it must return "
            "variances, not log-variances)"
        )
    return means, np.log(variances)


def _components(mean: np.ndarray, logvar: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct components of the equal-weight mixture of N(mean_n, exp(logvar_n)) with their log
    weights log(count / N): the same mixture, with every repeated posterior scored once."""
    d = mean.shape[1]
    rows = np.ascontiguousarray(np.concatenate([mean, logvar], axis=1), dtype=np.float64)
    # one opaque item per row: np.unique then compares rows bytewise (faster than axis=0)
    keys = rows.view(np.dtype((np.void, rows.itemsize * rows.shape[1]))).ravel()
    keys, counts = np.unique(keys, return_counts=True)
    rows = keys.view(np.float64).reshape(len(keys), 2 * d)
    return rows[:, :d], rows[:, d:], np.log(counts) - math.log(len(mean))


def mixture_log_density(
    z: torch.Tensor, mean: np.ndarray, logvar: np.ndarray, *, chunk_cells: int = 2**22, device=None
) -> torch.Tensor:
    """log (1/N Σ_n N(z_i; mean_n, diag exp(logvar_n))) for every row z_i of ``z`` (S, d), float64.

    Every one of the N components is scored for every sample, ``chunk_cells``
    sample-component pairs at a time; repeated components are scored once with their
    multiplicity.
    """
    means, logvars, log_weights = _components(mean, logvar)
    means, logvars, log_weights = (
        torch.as_tensor(a, dtype=torch.float64, device=device) for a in (means, logvars, log_weights)
    )
    precision = torch.exp(-logvars)
    # log w + Σ_k log N(z_k; μ_k, σ_k²) = c + Σ_k z_k² (−½ p_k) + Σ_k z_k (μ_k p_k), p = 1/σ²:
    # one product of [z², z, 1] (S, 2d + 1) with a (2d + 1, N) matrix
    offset = log_weights - 0.5 * (LOG_2PI + logvars + means.pow(2) * precision).sum(1)
    weights = torch.cat([-0.5 * precision.T, (means * precision).T, offset[None]])
    z = z.to(device=device, dtype=torch.float64)
    features = torch.cat([z.pow(2), z, torch.ones((len(z), 1), dtype=torch.float64, device=device)], dim=1)
    out = torch.empty(len(z), dtype=torch.float64, device=device)
    rows = max(1, chunk_cells // max(1, len(means)))
    for start in range(0, len(z), rows):
        out[start : start + rows] = torch.logsumexp(features[start : start + rows] @ weights, dim=1)
    return out


def elbo_decomposition(
    posterior: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
    data,
    *,
    num_samples: int = 10_000,
    seed: int = 0,
    batch_size: int = 256,
    chunk_cells: int = 2**22,
    device=None,
) -> dict:
    """Index-code MI, total correlation and dimension-wise KL of a trained model, in nats.

    As Chen et al. 2018 evaluate them (seed 000, §3; their ``elbo_decomposition.py``): every
    one of the N observations of ``data`` is encoded (N = ``data.num_observations``: 737,280
    for dSprites, 48,600 for SmallNORB; ``len(data)`` for a torch Dataset), then
    ``num_samples`` samples z ~ q(z|n) are drawn, spread evenly over the points in a random
    order (each point ⌊S/N⌋ or ⌈S/N⌉ times; with S < N a uniform random subset of points,
    one sample each), and log q(z) and each log q(z_k) are the log-densities of the whole
    mixture 1/N Σ_n q(z|n) and of its marginals. Nothing is subsampled but the samples, so
    each term is an unbiased average (Monte-Carlo error ~ 1/√S); the cost is S·N·(d + 1)
    Gaussian log-densities (S = 10,000 on dSprites: a few minutes on a CPU; pass
    ``device="cuda"`` when there is a GPU).

    Parameters
    ----------
    posterior : callable
        Maps numpy observations to (posterior means, posterior variances), each (n, d) — for a
        trained VAE, ``model.posterior()``.
    data : object
        A dataset whose every observation is encoded: a ground-truth dataset, or a torch Dataset.
    num_samples : int, default 10000
        Samples S of z ~ q(z|n).
    seed : int, default 0
        Randomness comes from ``np.random.default_rng(seed)``.
    batch_size : int, default 256
        Observations encoded per call of ``posterior``.
    chunk_cells : int, default 2**22
        Bound on the (sample, point) log-densities held at once; the values do not depend on it.
    device : str or torch.device, optional
        Where the mixture log-densities are computed (the CPU when None).

    Returns
    -------
    dict
        ``index_code_mi``, ``total_correlation``, ``dimension_wise_kl`` (to N(0, I)), their sum
        ``estimated_kl``, ``kl`` (the average analytic KL(q(z|n) ‖ N(0, I)) over all N points,
        which the sum estimates), and ``num_samples`` and ``dataset_size`` (N).

    Raises
    ------
    TypeError
        If ``posterior`` is not callable.
    ValueError
        If ``num_samples`` is not a positive integer.
    """
    if not callable(posterior):
        raise TypeError(
            f"posterior must be a callable observations -> (means, variances), e.g. model.posterior(); "
            f"got {type(posterior).__name__}"
        )
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    mean, logvar = encode_dataset(posterior, data, batch_size=batch_size, seed=seed)
    total, latents = mean.shape
    rng = np.random.default_rng([seed, 1])
    owner = np.resize(rng.permutation(total), int(num_samples))  # the point each sample is drawn from
    z = mean[owner] + np.exp(0.5 * logvar[owner]) * rng.standard_normal((len(owner), latents))
    z_tensor = torch.from_numpy(z)
    log_qz = mixture_log_density(z_tensor, mean, logvar, chunk_cells=chunk_cells, device=device).cpu().numpy()
    log_marginals = np.stack(
        [
            mixture_log_density(
                z_tensor[:, k : k + 1], mean[:, k : k + 1], logvar[:, k : k + 1], chunk_cells=chunk_cells, device=device
            )
            .cpu()
            .numpy()
            for k in range(latents)
        ],
        axis=1,
    )
    log_qz_given_n = (-0.5 * (LOG_2PI + logvar[owner] + (z - mean[owner]) ** 2 * np.exp(-logvar[owner]))).sum(1)
    log_pz = -0.5 * (LOG_2PI + z**2)
    mi = float(np.mean(log_qz_given_n - log_qz))
    tc = float(np.mean(log_qz - log_marginals.sum(1)))
    dwkl = float(np.mean((log_marginals - log_pz).sum(1)))
    kl = float(gaussian_kl(mean, logvar).sum(1).mean())
    return {
        "index_code_mi": mi,
        "total_correlation": tc,
        "dimension_wise_kl": dwkl,
        "estimated_kl": mi + tc + dwkl,
        "kl": kl,
        "num_samples": int(num_samples),
        "dataset_size": int(total),
    }
