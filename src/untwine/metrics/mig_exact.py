"""MIG from the encoder's own posterior (Chen et al. 2018, seed 000, Sec. 5 and
Appendix "Mutual information estimation"): the mutual information between latent
z_j and factor v_k under q(z, v) = Σ_x p(v) p(x|v) q(z|x),

    I(z_j; v_k) = H(z_j) − H(z_j | v_k) = E[log q(z_j | v_k) − log q(z_j)],
    q(z_j)       = 1/N Σ_n q(z_j | x_n),
    q(z_j | v)   = 1/N_v Σ_{n: v_k(n) = v} q(z_j | x_n),

estimated by Monte Carlo with one pool of samples, as Chen et al.'s released evaluation
(``disentanglement_metrics.py``) does: z ~ q(z|x_n) spread evenly over the points (each
point in turn, in a random order). Every sample is scored against the posteriors of all
points (log q(z_j)) and against those of the points that share its value of v_k
(log q(z_j | v_k)), so the MI is a mean of pointwise log-ratios over the same samples.
(Chen et al. draw one sample per point and score, for H(z_j), a random 10,000 of them
and, for each H(z_j | v_k = v), a random 10,000 of the samples of the points with that
value: the same pool and the same expectation; pairing each sample's two log-densities
only lowers the variance of the difference.) The gap of each factor is normalised by
log(number of values of the factor), its entropy under the uniform factor distribution,
as in the paper. This is *not* the histogram MIG of the reference protocol: report both,
under their own names.

Two scores: ``mig_exact``, the mean gap over all factors, and ``mig_exact_chen``, Chen et
al.'s dSprites number, which leaves shape out (their evaluation averages over scale,
orientation, pos x and pos y only; it also leaves out the identity factor of their 3D
faces, which untwine does not have). On any dataset whose factors are not dSprites' the
two are equal.

Finite factor spaces of at most ``max_points`` elements are enumerated
completely; larger spaces (e.g. dSprites' 737,280 images) use a uniform random
subset of ``max_points`` distinct elements (documented deviation; the estimate
of q(z_j) is then over that subset).
"""

from __future__ import annotations

import numpy as np
import torch

from ..data import index_to_factors
from ._sampling import DEFAULT_BATCH_SIZE, posterior_factors
from ._validate import check_factors
from .elbo import mixture_log_density
from .mig import normalized_gaps

__all__ = ["mig_exact", "sample_mig_exact", "chen_factors", "CHEN_LEFT_OUT"]

#: The factors Chen et al.'s exact MIG leaves out, by the factor names of the dataset:
#: dSprites' shape (``mutual_info_metric_shapes`` averages over the other four).
CHEN_LEFT_OUT: dict[tuple[str, ...], tuple[str, ...]] = {
    ("shape", "scale", "orientation", "pos_x", "pos_y"): ("shape",),
}


def chen_factors(factor_names) -> list[int]:
    """Indices of the factors that Chen et al.'s number averages over for a dataset with these factor names."""
    names = tuple(factor_names)
    left_out = CHEN_LEFT_OUT.get(names, ())
    return [k for k, name in enumerate(names) if name not in left_out]


def _log_marginals(z: np.ndarray, means: np.ndarray, log_variances: np.ndarray) -> np.ndarray:
    """log q(z_ij) (S, d): each latent's one-dimensional mixture over the given points."""
    z = torch.from_numpy(z)
    return np.stack(
        [
            mixture_log_density(z[:, j : j + 1], means[:, j : j + 1], log_variances[:, j : j + 1]).numpy()
            for j in range(means.shape[1])
        ],
        axis=1,
    )


def mig_exact(means, variances, factors, factor_sizes=None, num_samples=10_000, rng=None, chen=None) -> dict:
    """Exact-posterior MIG of posterior ``means``/``variances`` (n, d) at ``factors`` (n, K).

    Parameters
    ----------
    means : np.ndarray
        Posterior means (n, d).
    variances : np.ndarray
        Posterior variances (n, d), positive (not log-variances).
    factors : np.ndarray
        Integer factor indices (n, K).
    factor_sizes : sequence of int, optional
        The number of values of each factor, whose log normalises its gap; defaults to the number
        of distinct values seen per factor.
    num_samples : int, default 10000
        Monte-Carlo samples z ~ q(z|x), spread evenly over the points.
    rng : np.random.Generator, optional
        Source of the samples; ``np.random.default_rng(0)`` when None.
    chen : sequence of int, optional
        The factor indices ``mig_exact_chen`` averages over (None: all, so that it equals
        ``mig_exact``).

    Returns
    -------
    dict
        ``{"mig_exact": float, "mig_exact_chen": float, "mutual_info": (d, K) nested list,
        "factor_entropy": (K,) list, "chen_factors": [k, ...]}``.

    Raises
    ------
    ValueError
        If ``means`` and ``variances`` are not both (n, d), a variance is not positive,
        ``factors`` is not an integer array (n, K), ``num_samples`` is not a positive integer, or
        ``chen`` names no factor or one out of range.
    """
    means = np.asarray(means, dtype=np.float64)
    variances = np.asarray(variances, dtype=np.float64)
    if means.ndim != 2 or means.shape != variances.shape:
        raise ValueError(f"means and variances must both be (n, d), got {means.shape} and {variances.shape}")
    if np.any(variances <= 0):
        raise ValueError("posterior variances must be positive (pass variances, not log-variances)")
    factors = check_factors(factors, means.shape[0])
    rng = np.random.default_rng(0) if rng is None else rng
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive integer, got {num_samples!r}")
    n, k = factors.shape
    sizes = [len(np.unique(factors[:, j])) for j in range(k)] if factor_sizes is None else list(factor_sizes)
    chen = list(range(k)) if chen is None else [int(j) for j in chen]
    if not chen or any(not 0 <= j < k for j in chen):
        raise ValueError(f"chen must name factor indices in [0, {k}), got {chen}")
    log_variances = np.log(variances)
    owner = np.resize(rng.permutation(n), int(num_samples))  # the point each sample is drawn from
    z = means[owner] + np.sqrt(variances[owner]) * rng.standard_normal((len(owner), means.shape[1]))
    log_q = _log_marginals(z, means, log_variances)  # (S, d)
    mi = np.zeros((means.shape[1], k))
    for factor in range(k):
        log_q_given = np.empty_like(log_q)
        sample_values = factors[owner, factor]
        for value in np.unique(factors[:, factor]):
            points = factors[:, factor] == value
            samples = sample_values == value
            if samples.any():
                log_q_given[samples] = _log_marginals(z[samples], means[points], log_variances[points])
        mi[:, factor] = np.maximum((log_q_given - log_q).mean(axis=0), 0.0)
    norm = np.log(np.asarray(sizes, dtype=np.float64))
    gaps = normalized_gaps(mi, norm)
    return {
        "mig_exact": float(np.mean(gaps)),
        "mig_exact_chen": float(np.mean(gaps[chen])),
        "mutual_info": mi.tolist(),
        "factor_entropy": norm.tolist(),
        "chen_factors": chen,
    }


def sample_mig_exact(
    representation, data, rng, *, posterior, batch_size=DEFAULT_BATCH_SIZE, max_points=50_000, num_samples=10_000
) -> dict:
    """Over the whole factor space when it has at most ``max_points`` elements, else a uniform subset.

    ``posterior(observations) -> (mean, variance)`` is required; ``representation`` is not used.
    ``mig_exact_chen`` leaves out the factors of ``CHEN_LEFT_OUT`` (dSprites' shape).
    """
    sizes = tuple(int(s) for s in data.factor_sizes)
    total = int(np.prod(sizes, dtype=np.int64))
    if total <= max_points:
        indices = np.arange(total)
    else:
        indices = np.sort(rng.choice(total, size=max_points, replace=False))
    factors = index_to_factors(indices, sizes)
    means, variances = posterior_factors(posterior, data, factors, rng, batch_size)
    names = getattr(data, "factor_names", None)
    chen = chen_factors(names) if names is not None else None
    out = mig_exact(means, variances, factors, factor_sizes=sizes, num_samples=num_samples, rng=rng, chen=chen)
    out["num_points"] = int(len(indices))
    return out
