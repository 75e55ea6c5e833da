"""Unsupervised Disentanglement Ranking (Duan et al. 2020, "Unsupervised Model
Selection for Variational Disentangled Representation Learning"), as the reference
library computes it (disentanglement_lib ``evaluation/udr/metrics/udr.py``).

For models trained alike (same settings, different seeds, same number of
latents), the same observations are encoded by every model. Each model's codes
are standardised; latents whose mean KL to the prior is <= 0.01 are zeroed and,
when ``filter_low_kl``, left out of the scoring. For each ordered pair (i, j) a
similarity matrix R between the latents of i and of j: |Lasso coefficients|
(α = 0.1) regressing j's codes on i's, or |Spearman correlation|. Relative
strength: per column and per row of R, max² / sum, averaged over each, then the
two averages averaged. A model's score is the median of the pairwise scores
(j, i) over the other models j. Lasso shrinkage caps an exact permuted copy at
≈ 0.9.

**Undefined Spearman correlations: where untwine differs from the reference.** A
latent that is constant over the sample (a zeroed low-KL latent, or an encoder mean
that does not move) has no Spearman correlation with anything: NaN. untwine sets
those entries of R to 0 before scoring, so a NaN costs only its own entry. The
reference library keeps them, and its ``np.ndarray.max`` of a row or column that holds
a NaN is NaN, which its ``nan_to_num`` turns into a score of 0 for that whole row or
column: one constant latent of model i puts a NaN in *every* column, so every column
scores 0 and the pair scores at most half of what its rows give (a constant latent of
model j zeroes every row likewise). With ``filter_low_kl`` (the default) and
``kl_threshold`` 0.01 the zeroed latents are filtered out before scoring and both agree;
they differ when ``filter_low_kl=False``, when ``kl_threshold`` < 0.01, or when a latent
with KL above the threshold has a constant mean (a posterior whose variance alone
differs from the prior's). The Lasso similarity has no undefined entries.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import scipy.stats
from sklearn.linear_model import Lasso

from ..estimators import mean_latent_kl  # re-exported: the KL per latent UDR filters on
from ._sampling import DEFAULT_BATCH_SIZE, check_batch_size, sample_factors

__all__ = ["udr", "sample_udr", "relative_strength", "mean_latent_kl"]


def relative_strength(matrix: np.ndarray) -> float:
    """(mean over columns of max²/sum + mean over rows of max²/sum) / 2; NaN terms count 0."""
    if matrix.size == 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        cols = np.nan_to_num(matrix.max(axis=0) ** 2 / matrix.sum(axis=0))
        rows = np.nan_to_num(matrix.max(axis=1) ** 2 / matrix.sum(axis=1))
    return float((np.mean(cols) + np.mean(rows)) / 2)


def lasso_similarity(a: np.ndarray, b: np.ndarray, alpha: float = 0.1) -> np.ndarray:
    model = Lasso(alpha=alpha).fit(a, b)
    return np.abs(np.atleast_2d(model.coef_)).T


def spearman_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|Spearman correlation| between each latent of ``a`` (rows) and of ``b`` (columns); undefined
    correlations (a constant latent) are 0, where the reference library's NaN zeroes the whole row and
    column in ``relative_strength`` (see the module docstring)."""
    d = a.shape[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = scipy.stats.spearmanr(a, b)[0]
    corr = np.atleast_2d(corr)
    return np.nan_to_num(np.abs(corr[:d, d:]))


def udr(
    codes: Sequence[np.ndarray],
    kl: Sequence[np.ndarray] | None = None,
    correlation: str = "lasso",
    kl_threshold: float = 0.01,
    filter_low_kl: bool = True,
    alpha: float = 0.1,
) -> dict:
    """UDR from the codes (n, d) of several models on the same points.

    Parameters
    ----------
    codes : sequence of np.ndarray
        The codes (n, d) of each model, all of the same shape, on the same points.
    kl : sequence of np.ndarray, optional
        Per model the mean KL per latent (d,); None treats every latent as active.
    correlation : {"lasso", "spearman"}, default "lasso"
        The similarity between the latents of two models.
    kl_threshold : float, default 0.01
        Latents whose mean KL is at most this are left out of the scoring when
        ``filter_low_kl``.
    filter_low_kl : bool, default True
        Leave out the low-KL latents.
    alpha : float, default 0.1
        The Lasso's regularisation weight.

    Returns
    -------
    dict
        ``{"model_scores": [...], "pairwise_disentanglement_scores": (M, M) list}``; the diagonal
        of the pairwise matrix is 0 (unused).

    Raises
    ------
    ValueError
        If ``correlation`` is unknown, fewer than 2 models are given, or their codes differ in
        shape.
    """
    if correlation not in ("lasso", "spearman"):
        raise ValueError(f"correlation must be 'lasso' or 'spearman', got {correlation!r}")
    reps = [np.asarray(c, dtype=np.float64) for c in codes]
    if len(reps) < 2:
        raise ValueError("UDR needs the codes of at least 2 models")
    if any(r.ndim != 2 or r.shape != reps[0].shape for r in reps):
        raise ValueError(f"every model's codes must be (n, d) of the same shape, got {[r.shape for r in reps]}")
    kls = [
        np.full(reps[0].shape[1], np.inf) if kl is None else np.asarray(v, dtype=np.float64)
        for v in (kl if kl is not None else [None] * len(reps))
    ]
    masks, scaled = [], []
    for r, k in zip(reps, kls):
        std = r.std(axis=0)
        z = (r - r.mean(axis=0)) / np.where(std > 0, std, 1.0)
        scaled.append(z * (k > 0.01))
        masks.append(k > kl_threshold)
    m = len(reps)
    pair = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            if i == j:
                continue
            if correlation == "lasso":
                sim = lasso_similarity(scaled[i], scaled[j], alpha)
            else:
                sim = spearman_similarity(scaled[i], scaled[j])
            if filter_low_kl:
                sim = sim[masks[i]][:, masks[j]]
            pair[i, j] = relative_strength(sim)
    scores = [float(np.median(np.delete(pair[:, i], i))) for i in range(m)]
    return {"model_scores": scores, "pairwise_disentanglement_scores": pair.tolist()}


def sample_udr(
    posteriors: Sequence[Callable],
    data,
    seed: int = 0,
    num_points: int = 1000,
    batch_size: int = DEFAULT_BATCH_SIZE,
    correlation: str = "lasso",
    kl_threshold: float = 0.01,
    filter_low_kl: bool = True,
) -> dict:
    """UDR of models given by ``posterior(observations) -> (mean, variance)`` callables.

    All models see the same ``num_points`` observations, drawn with
    ``np.random.default_rng(seed)``; the codes are the posterior means.

    Parameters
    ----------
    posteriors : sequence of callable
        One per model: numpy observations -> (means, variances), each (n, d).
    data : object
        A dataset following the ground-truth data contract.
    seed : int, default 0
        Seed of the points drawn.
    num_points : int, default 1000
        Observations every model encodes.
    batch_size : int, default 1024
        At most this many observations per call of a posterior.
    correlation : {"lasso", "spearman"}, default "lasso"
        The similarity between the latents of two models.
    kl_threshold : float, default 0.01
        Latents whose mean KL is at most this are left out when ``filter_low_kl``.
    filter_low_kl : bool, default True
        Leave out the low-KL latents.

    Returns
    -------
    dict
        ``udr``'s result, which records ``params`` and ``seed`` like ``evaluate``.

    Raises
    ------
    ValueError
        As ``udr``, or if ``batch_size`` is not a positive integer.
    """
    batch_size = check_batch_size(batch_size)
    rng = np.random.default_rng(seed)
    factors = sample_factors(data, num_points, rng)
    means = [[] for _ in posteriors]
    variances = [[] for _ in posteriors]
    for start in range(0, num_points, batch_size):
        obs = data.observe(factors[start : start + batch_size], rng)
        for i, post in enumerate(posteriors):
            mu, var = (np.asarray(x, dtype=np.float64) for x in post(obs))
            means[i].append(mu)
            variances[i].append(var)
    codes = [np.concatenate(m) for m in means]
    kls = [mean_latent_kl(c, np.concatenate(v)) for c, v in zip(codes, variances)]
    out = udr(codes, kls, correlation=correlation, kl_threshold=kl_threshold, filter_low_kl=filter_low_kl)
    out["params"] = {
        "num_points": num_points,
        "correlation": correlation,
        "kl_threshold": kl_threshold,
        "filter_low_kl": filter_low_kl,
    }
    out["seed"] = seed
    return out
