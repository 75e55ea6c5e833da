"""Log-densities, total-correlation estimators and the ELBO decomposition.

Chen et al. 2018 (seed 000, "Isolating Sources of Disentanglement in VAEs", Eq. 2)
split the average KL term of the ELBO into three parts. With n the index of a data
point (uniform over the N points of the dataset) and q(z) = 1/N Σ_n q(z|n) the
aggregate posterior::

    E_n KL(q(z|n) ‖ p(z)) = I_q(z; n)                         index-code MI
                          + KL(q(z) ‖ Π_k q(z_k))              total correlation (TC)
                          + Σ_k KL(q(z_k) ‖ p(z_k))             dimension-wise KL

Every term needs log q(z), a mixture over the whole dataset. On a minibatch of B
points n_1..n_B with samples z_i ~ q(z|n_i) it is estimated as

    log q(z_i) ≈ log Σ_j w_ij q(z_i | n_j),     Σ_j w_ij = 1 for every row i,

and likewise each marginal log q(z_ik) with the same weights on one dimension.

* **MWS** (minibatch weighted sampling, Chen et al. §4.1): every batch element has
  weight 1/B. Chen et al. write the weight as 1/(N·B), which shifts every log q
  estimate by −log N and the TC estimate by (d − 1)·log N; the shift does not change a
  gradient, and without it the estimate converges to the true value as B grows, so
  untwine leaves it out. (The reference library leaves out both constants, which
  shifts its TC by −(d − 1)·log B; again only the value, not the gradient, differs.)
* **MSS** (minibatch stratified sampling, Chen et al. Appendix C): the point's own
  posterior gets weight 1/N (its exact share of the mixture); of the B − 1 others,
  B − 2 get weight 1/(B − 1) and one gets the remainder (N − B + 1)/(N·(B − 1)), so
  that each row sums to one. This needs B ≤ N; for B > N (a batch drawn with
  replacement from a tiny dataset) the B − 1 others share (N − 1)/N equally. N is the
  number of distinct observations of the dataset (``data.num_observations``: 48,600
  for SmallNORB, whose 10 instances per factor point are distinct images), which the
  trainer hands to the objective through ``configure``.

  MSS is unbiased for q(z) (not for log q(z)) when the batch holds distinct points,
  drawn without replacement. A batch drawn with replacement, as the trainer draws
  them, can hold the same point twice; the copy then weighs ≈ 1/(B − 1) where the
  point's own posterior weighs 1/N, which for well-separated posteriors multiplies the
  estimate of q(z_i) by about 1 + N/(B − 1): an O(1) relative error, not O(1/N), in the
  fraction ≈ (B − 1)/N of the rows that hold a duplicate. The expected shift of log q(z)
  is then about (B − 1)/N · log(1 + N/(B − 1)) nats: ≈ 8·10⁻⁴ for dSprites (N = 737,280,
  B = 64), but not small for small datasets: with N = 500 posteriors (std 0.05, means
  N(0, I) in 2-D) and B = 64, the TC estimate is biased by +0.163 ± 0.003 nats with
  replacement against +0.014 ± 0.003 without (3,000 batches each). The weight
  matrix of Chen et al.'s released code (copied by several libraries) writes
  its entries with a stride of B instead of B + 1, so its rows do not sum to one;
  ``importance_weights`` is tested for that.

Shapes: ``z``, ``mean`` and ``logvar`` are (B, d); log-variances, not variances,
parameterise the diagonal Gaussian posteriors.
"""

from __future__ import annotations

import math

import numpy as np
import torch

LOG_2PI = math.log(2.0 * math.pi)


class DeterministicCodeError(ValueError):
    """A posterior asked of a model whose code is deterministic (``untwine.models.VAE.deterministic``: ``ae``,
    ``qlae``): it has no posterior variance, so nothing that reads one (a KL, active units, an exact MIG) is
    defined for it. Raised by ``VAE.posterior()`` and by a code cache of such a model; every consumer in untwine
    asks ``deterministic`` first (docs/objectives.md, "Deterministic and quantized representations")."""


ESTIMATORS = ("mws", "mss")


def gaussian_log_density(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(x; μ, exp(logvar)) (broadcasting), in nats.

    Parameters
    ----------
    x : torch.Tensor
        Points.
    mean : torch.Tensor
        Means μ, broadcast against ``x``.
    logvar : torch.Tensor
        Log-variances, broadcast against ``x``.

    Returns
    -------
    torch.Tensor
        The log-density of each entry, of the broadcast shape.
    """
    return -0.5 * (LOG_2PI + logvar + (x - mean).pow(2) * torch.exp(-logvar))


def standard_normal_log_density(x: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(x; 0, 1), in nats.

    Parameters
    ----------
    x : torch.Tensor
        Points.

    Returns
    -------
    torch.Tensor
        The log-density of each entry, the shape of ``x``.
    """
    return -0.5 * (LOG_2PI + x.pow(2))


def gaussian_kl(mean, logvar, prior_variance: float | None = None, *, variance=None):
    """KL(N(μ, σ²) ‖ N(0, s²)) per latent, elementwise, in nats, with log σ² = ``logvar``.

    The one place the formula is written; it takes torch tensors or numpy arrays:
    ½(μ² + σ² − log σ² − 1) for the standard normal prior (``prior_variance`` None) and
    ½((σ² + μ²)/s² − 1 − log σ² + log s²) for ``prior_variance`` s².

    Parameters
    ----------
    mean : torch.Tensor or np.ndarray
        Posterior means μ.
    logvar : torch.Tensor or np.ndarray
        Posterior log-variances log σ².
    prior_variance : float, optional
        The prior's variance s²; None for the standard normal prior.
    variance : torch.Tensor or np.ndarray, optional
        σ², for callers that hold the variances already (exp(logvar) is then not recomputed).

    Returns
    -------
    torch.Tensor or np.ndarray
        The KL of each entry, the shape of ``mean``.
    """
    if variance is None:
        variance = torch.exp(logvar) if torch.is_tensor(logvar) else np.exp(logvar)
    if prior_variance is None:
        return 0.5 * (mean**2 + variance - logvar - 1.0)
    return 0.5 * ((variance + mean**2) / prior_variance - 1.0 - logvar + math.log(prior_variance))


def check_estimator(estimator: str) -> str:
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; valid: {', '.join(ESTIMATORS)}")
    return estimator


def importance_weights(batch_size: int, dataset_size: int | None = None, estimator: str = "mss") -> np.ndarray:
    """The (B, B) weight matrix w_ij of the estimator (rows sum to one), float64.

    Row i weighs the posteriors of the batch when estimating q(z_i) for z_i drawn
    from the posterior of point i (see the module docstring).

    Parameters
    ----------
    batch_size : int
        The batch size B.
    dataset_size : int, optional
        The dataset size N; needed by MSS only.
    estimator : {"mws", "mss"}, default "mss"
        Minibatch weighted or stratified sampling.

    Returns
    -------
    np.ndarray
        The weights (B, B), float64.

    Raises
    ------
    ValueError
        If ``estimator`` is unknown, ``batch_size`` < 1, or MSS is asked for without a positive
        ``dataset_size``.
    """
    check_estimator(estimator)
    size = int(batch_size)
    if size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if estimator == "mws":
        return np.full((size, size), 1.0 / size)
    if dataset_size is None or int(dataset_size) < 1:
        raise ValueError(
            "the MSS estimator needs the dataset size N (the number of points of the finite factor space); "
            f"got {dataset_size!r}"
        )
    n = int(dataset_size)
    if size == 1:
        return np.ones((1, 1))
    others = size - 1
    if n >= size:
        weights = np.full((size, size), 1.0 / others)
        rows = np.arange(size)
        weights[rows, (rows + 1) % size] = (n - size + 1) / (n * others)
    else:
        weights = np.full((size, size), (n - 1) / (n * others))
    np.fill_diagonal(weights, 1.0 / n)
    return weights


def log_importance_weights(
    batch_size: int, dataset_size: int | None = None, estimator: str = "mss", *, dtype=torch.float32, device=None
) -> torch.Tensor:
    """The log of ``importance_weights`` as a tensor (zero weights become −inf).

    Parameters
    ----------
    batch_size : int
        The batch size B.
    dataset_size : int, optional
        The dataset size N; needed by MSS only.
    estimator : {"mws", "mss"}, default "mss"
        Minibatch weighted or stratified sampling.
    dtype : torch.dtype, default torch.float32
        The tensor's dtype.
    device : torch.device or str, optional
        The tensor's device.

    Returns
    -------
    torch.Tensor
        The log-weights (B, B).

    Raises
    ------
    ValueError
        As ``importance_weights``.
    """
    with np.errstate(divide="ignore"):
        logw = np.log(importance_weights(batch_size, dataset_size, estimator))
    return torch.as_tensor(logw, dtype=dtype, device=device)


def log_aggregate_densities(
    z: torch.Tensor,
    mean: torch.Tensor,
    logvar: torch.Tensor,
    *,
    estimator: str = "mws",
    dataset_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch estimates of log q(z_i) (B,) and of each marginal log q(z_ik) (B, d).

    Parameters
    ----------
    z : torch.Tensor
        Samples (B, d), ``z[i]`` drawn from the posterior N(mean[i], exp(logvar[i])).
    mean : torch.Tensor
        Posterior means (B, d) of the batch.
    logvar : torch.Tensor
        Posterior log-variances (B, d) of the batch.
    estimator : {"mws", "mss"}, default "mws"
        Minibatch weighted or stratified sampling (see the module doc).
    dataset_size : int, optional
        The dataset size N; needed by MSS only.

    Returns
    -------
    tuple of torch.Tensor
        (log q(z_i) (B,), log q(z_ik) (B, d)).

    Raises
    ------
    ValueError
        If ``z``, ``mean`` and ``logvar`` are not all (B, d), ``estimator`` is unknown, or MSS is
        asked for without a positive ``dataset_size``.
    """
    if z.dim() != 2 or z.shape != mean.shape or z.shape != logvar.shape:
        raise ValueError(
            f"z, mean and logvar must all have shape (B, d); got {tuple(z.shape)}, "
            f"{tuple(mean.shape)}, {tuple(logvar.shape)}"
        )
    # [i, j, k] = log q(z_ik | n_j)
    log_q_pairs = gaussian_log_density(z[:, None, :], mean[None, :, :], logvar[None, :, :])
    logw = log_importance_weights(z.shape[0], dataset_size, estimator, dtype=z.dtype, device=z.device)
    log_qz = torch.logsumexp(logw + log_q_pairs.sum(2), dim=1)
    log_qz_marginals = torch.logsumexp(logw[:, :, None] + log_q_pairs, dim=1)
    return log_qz, log_qz_marginals


def decompose_kl(
    z: torch.Tensor,
    mean: torch.Tensor,
    logvar: torch.Tensor,
    *,
    estimator: str = "mws",
    dataset_size: int | None = None,
) -> dict[str, torch.Tensor]:
    """Minibatch estimates of the three KL parts of Chen et al. 2018, Eq. 2 (batch means).

    Parameters
    ----------
    z : torch.Tensor
        Samples (B, d), ``z[i]`` drawn from the posterior N(mean[i], exp(logvar[i])).
    mean : torch.Tensor
        Posterior means (B, d) of the batch.
    logvar : torch.Tensor
        Posterior log-variances (B, d) of the batch.
    estimator : {"mws", "mss"}, default "mws"
        Minibatch weighted or stratified sampling (see the module doc).
    dataset_size : int, optional
        The dataset size N; needed by MSS only.

    Returns
    -------
    dict
        ``index_code_mi``, ``total_correlation`` and ``dimension_wise_kl`` (to the prior N(0, I)), each
        a scalar tensor that carries gradients.

    Raises
    ------
    ValueError
        If ``z``, ``mean`` and ``logvar`` are not all (B, d), ``estimator`` is unknown, or MSS is
        asked for without a positive ``dataset_size``.
    """
    log_qz, log_qz_marginals = log_aggregate_densities(z, mean, logvar, estimator=estimator, dataset_size=dataset_size)
    log_qz_given_x = gaussian_log_density(z, mean, logvar).sum(1)
    log_pz = standard_normal_log_density(z)
    return {
        "index_code_mi": (log_qz_given_x - log_qz).mean(),
        "total_correlation": (log_qz - log_qz_marginals.sum(1)).mean(),
        "dimension_wise_kl": (log_qz_marginals - log_pz).sum(1).mean(),
    }


def total_correlation(z, mean, logvar, *, estimator: str = "mws", dataset_size: int | None = None) -> torch.Tensor:
    """TC = E_q(z)[log q(z) − Σ_k log q(z_k)] estimated on a minibatch (Chen et al. 2018, §4.1).

    Parameters
    ----------
    z : torch.Tensor
        Samples (B, d), ``z[i]`` drawn from the posterior N(mean[i], exp(logvar[i])).
    mean : torch.Tensor
        Posterior means (B, d) of the batch.
    logvar : torch.Tensor
        Posterior log-variances (B, d) of the batch.
    estimator : {"mws", "mss"}, default "mws"
        Minibatch weighted or stratified sampling (see the module doc).
    dataset_size : int, optional
        The dataset size N; needed by MSS only.

    Returns
    -------
    torch.Tensor
        The estimate, a scalar that carries gradients.

    Raises
    ------
    ValueError
        If ``z``, ``mean`` and ``logvar`` are not all (B, d), ``estimator`` is unknown, or MSS is
        asked for without a positive ``dataset_size``.
    """
    log_qz, log_qz_marginals = log_aggregate_densities(z, mean, logvar, estimator=estimator, dataset_size=dataset_size)
    return (log_qz - log_qz_marginals.sum(1)).mean()


def dimension_wise_kl(z, mean, logvar, *, estimator: str = "mws", dataset_size: int | None = None) -> torch.Tensor:
    """Σ_k KL(q(z_k) ‖ N(0, 1)) estimated on a minibatch.

    Parameters
    ----------
    z : torch.Tensor
        Samples (B, d), ``z[i]`` drawn from the posterior N(mean[i], exp(logvar[i])).
    mean : torch.Tensor
        Posterior means (B, d) of the batch.
    logvar : torch.Tensor
        Posterior log-variances (B, d) of the batch.
    estimator : {"mws", "mss"}, default "mws"
        Minibatch weighted or stratified sampling (see the module doc).
    dataset_size : int, optional
        The dataset size N; needed by MSS only.

    Returns
    -------
    torch.Tensor
        The estimate, a scalar that carries gradients.

    Raises
    ------
    ValueError
        If ``z``, ``mean`` and ``logvar`` are not all (B, d), ``estimator`` is unknown, or MSS is
        asked for without a positive ``dataset_size``.
    """
    return decompose_kl(z, mean, logvar, estimator=estimator, dataset_size=dataset_size)["dimension_wise_kl"]


def index_code_mutual_information(
    z, mean, logvar, *, estimator: str = "mws", dataset_size: int | None = None
) -> torch.Tensor:
    """I_q(z; n) = E[log q(z|n) − log q(z)] estimated on a minibatch.

    Parameters
    ----------
    z : torch.Tensor
        Samples (B, d), ``z[i]`` drawn from the posterior N(mean[i], exp(logvar[i])).
    mean : torch.Tensor
        Posterior means (B, d) of the batch.
    logvar : torch.Tensor
        Posterior log-variances (B, d) of the batch.
    estimator : {"mws", "mss"}, default "mws"
        Minibatch weighted or stratified sampling (see the module doc).
    dataset_size : int, optional
        The dataset size N; needed by MSS only.

    Returns
    -------
    torch.Tensor
        The estimate, a scalar that carries gradients.

    Raises
    ------
    ValueError
        If ``z``, ``mean`` and ``logvar`` are not all (B, d), ``estimator`` is unknown, or MSS is
        asked for without a positive ``dataset_size``.
    """
    return decompose_kl(z, mean, logvar, estimator=estimator, dataset_size=dataset_size)["index_code_mi"]


def gaussian_total_correlation(covariance) -> float:
    """TC of a Gaussian with this covariance: −½ log det(correlation matrix).

    Parameters
    ----------
    covariance : array_like
        A covariance matrix (d, d).

    Returns
    -------
    float
        The total correlation, in nats.
    """
    covariance = np.asarray(covariance, dtype=np.float64)
    std = np.sqrt(np.diag(covariance))
    _, logdet = np.linalg.slogdet(covariance / np.outer(std, std))
    return float(-0.5 * logdet)


# -- maximum mean discrepancy -------------------------------------------------------

KERNELS = ("imq", "gaussian")


def kernel_matrix(x: torch.Tensor, y: torch.Tensor, kernel: str = "imq", bandwidth: float = 1.0) -> torch.Tensor:
    """k(x_i, y_j) for all pairs, (n, m).

    ``imq`` (inverse multiquadratic): k = C / (C + ‖x − y‖²) with C = ``bandwidth``;
    ``gaussian``: k = exp(−‖x − y‖² / (2 h²)) with h = ``bandwidth``.

    Parameters
    ----------
    x : torch.Tensor
        Samples (n, d).
    y : torch.Tensor
        Samples (m, d).
    kernel : {"imq", "gaussian"}, default "imq"
        The kernel.
    bandwidth : float, default 1.0
        C for the IMQ kernel, h for the Gaussian.

    Returns
    -------
    torch.Tensor
        The kernel matrix (n, m).

    Raises
    ------
    ValueError
        If ``kernel`` is unknown.
    """
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; valid: {', '.join(KERNELS)}")
    distances = (x[:, None, :] - y[None, :, :]).pow(2).sum(2)
    if kernel == "imq":
        return bandwidth / (bandwidth + distances)
    return torch.exp(-distances / (2.0 * bandwidth**2))


def default_bandwidth(kernel: str, latent_dim: int, prior_variance: float = 1.0) -> float:
    """The bandwidth rule of Tolstikhin et al. 2018 (WAE): C = 2·d·σ² for IMQ, h² = d·σ² for the Gaussian.

    σ² is the prior's per-latent variance; both make the kernel's scale the typical
    distance between two prior samples.

    Parameters
    ----------
    kernel : {"imq", "gaussian"}
        The kernel.
    latent_dim : int
        The number of latents d.
    prior_variance : float, default 1.0
        The prior's per-latent variance σ².

    Returns
    -------
    float
        C for the IMQ kernel, h (not h²) for the Gaussian, as ``kernel_matrix`` takes them.
    """
    if kernel == "imq":
        return 2.0 * latent_dim * prior_variance
    return math.sqrt(latent_dim * prior_variance)


def mmd(
    x: torch.Tensor, y: torch.Tensor, kernel: str = "imq", bandwidth: float | None = None, *, unbiased: bool = False
) -> torch.Tensor:
    """Squared maximum mean discrepancy between the samples x (n, d) and y (m, d).

    Default: the biased V-statistic mean k(x, x') + mean k(y, y') − 2·mean k(x, y), the
    squared MMD between the two empirical distributions: ≥ 0 and exactly 0 for
    identical samples.

    Parameters
    ----------
    x : torch.Tensor
        Samples (n, d).
    y : torch.Tensor
        Samples (m, d).
    kernel : {"imq", "gaussian"}, default "imq"
        The kernel (see ``kernel_matrix``).
    bandwidth : float, optional
        The kernel's bandwidth; None uses ``default_bandwidth`` for a unit-variance prior.
    unbiased : bool, default False
        The U-statistic (diagonal terms left out) instead: unbiased but possibly negative.

    Returns
    -------
    torch.Tensor
        The squared MMD, a scalar.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` are not (n, d) and (m, d), ``kernel`` is unknown, or the unbiased
        estimate is asked for with fewer than two samples on a side.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be (n, d) and (m, d) samples; got {tuple(x.shape)} and {tuple(y.shape)}")
    if bandwidth is None:
        bandwidth = default_bandwidth(kernel, x.shape[1])
    kxx, kyy, kxy = (kernel_matrix(a, b, kernel, bandwidth) for a, b in ((x, x), (y, y), (x, y)))
    if unbiased:
        n, m = len(x), len(y)
        if n < 2 or m < 2:
            raise ValueError("the unbiased MMD needs at least two samples on each side")
        xx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        yy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
        return xx + yy - 2.0 * kxy.mean()
    return kxx.mean() + kyy.mean() - 2.0 * kxy.mean()


#: The kernel scales s of Mathieu et al.'s released code (IMQ constant C = 2·s, per latent).
PER_DIMENSION_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def mmd_per_dimension(x: torch.Tensor, y: torch.Tensor, scales=PER_DIMENSION_SCALES) -> torch.Tensor:
    """The discrepancy of Mathieu et al.'s released code (seed 004): a sum of one-dimensional MMD²s.

    Σ over latents k and scales s of the squared MMD between the one-dimensional samples
    x[:, k] (n of them) and y[:, k] (m) with the IMQ kernel k(a, b) = C / (C + (a − b)²),
    C = 2·s: the within-sample means leave the diagonal out (U-statistics, divided by
    n(n − 1) and m(m − 1)), the cross mean keeps every pair (divided by n·m). It adds
    6·d one-dimensional discrepancies (six default scales, d latents), so it is not on the
    scale of the one joint MMD² of ``mmd``: a weight α tuned for one is not tuned for
    the other. Being one-dimensional, it compares only the marginals q(z_k) with p(z_k).

    Parameters
    ----------
    x : torch.Tensor
        Samples (n, d).
    y : torch.Tensor
        Samples (m, d).
    scales : sequence of float, default PER_DIMENSION_SCALES
        The scales s (IMQ constant C = 2·s).

    Returns
    -------
    torch.Tensor
        The sum, a scalar.

    Raises
    ------
    ValueError
        If ``x`` and ``y`` are not (n, d) and (m, d), or either has fewer than two samples.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be (n, d) and (m, d) samples; got {tuple(x.shape)} and {tuple(y.shape)}")
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError("the per-dimension MMD needs at least two samples on each side")
    dxx = (x[:, None, :] - x[None, :, :]).pow(2)
    dyy = (y[:, None, :] - y[None, :, :]).pow(2)
    dxy = (x[:, None, :] - y[None, :, :]).pow(2)
    latents = x.shape[1]
    total = x.new_zeros(())
    for scale in scales:
        c = 2.0 * scale
        # k(a, a) = 1: each diagonal holds one 1 per point and latent
        within_x = ((c / (c + dxx)).sum() - n * latents) / (n * (n - 1))
        within_y = ((c / (c + dyy)).sum() - m * latents) / (m * (m - 1))
        total = total + within_x + within_y - 2.0 * (c / (c + dxy)).sum() / (n * m)
    return total


def mean_latent_kl(means, variances):
    """The mean over points of KL(N(μ, σ²) ‖ N(0, 1)) of each latent: how much each latent is used.

    The one place it is computed (the run report, UDR). A variance below 1e-12 enters the
    logarithm as 1e-12, so that a posterior collapsed to a point gives a large finite KL rather
    than infinity.

    Parameters
    ----------
    means : np.ndarray
        Posterior means (n, d).
    variances : np.ndarray
        Posterior variances (n, d).

    Returns
    -------
    np.ndarray
        The mean KL of each latent, (d,).
    """
    means, variances = np.asarray(means), np.asarray(variances)
    return np.mean(gaussian_kl(means, np.log(np.maximum(variances, 1e-12)), variance=variances), axis=0)


__all__ = [
    "ESTIMATORS",
    "DeterministicCodeError",
    "gaussian_log_density",
    "standard_normal_log_density",
    "importance_weights",
    "log_importance_weights",
    "log_aggregate_densities",
    "decompose_kl",
    "total_correlation",
    "dimension_wise_kl",
    "index_code_mutual_information",
    "gaussian_total_correlation",
    "gaussian_kl",
    "mean_latent_kl",
    "KERNELS",
    "kernel_matrix",
    "default_bandwidth",
    "mmd",
    "PER_DIMENSION_SCALES",
    "mmd_per_dimension",
]
