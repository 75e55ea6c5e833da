"""Known answers computed independently of untwine (numerical integration on a grid), shared by tests.

Every function integrates densities written here from their definitions; none calls untwine.
"""

import math

import numpy as np
import pytest


def normal_pdf(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def _entropy(density, step):
    mask = density > 1e-300
    return float(-np.sum(density[mask] * np.log(density[mask])) * step)


def mixture_entropy_1d(means, stds, weights=None, points=40_001, pad=12.0):
    """H(q) = −∫ q log q of the 1-D mixture q = Σ_n w_n N(means[n], stds[n]²) (equal weights by default)."""
    means, stds = np.asarray(means, float), np.broadcast_to(np.asarray(stds, float), np.shape(means))
    weights = np.full(len(means), 1 / len(means)) if weights is None else np.asarray(weights, float)
    grid = np.linspace((means - pad * stds).min(), (means + pad * stds).max(), points)
    density = normal_pdf(grid[:, None], means[None], stds[None]) @ weights
    assert density.sum() * (grid[1] - grid[0]) == pytest.approx(1.0, abs=1e-6)
    return _entropy(density, grid[1] - grid[0])


def factorised_decomposition(means, stds):
    """Index-code MI, TC and dimension-wise KL (to N(0, I)) of the equal-weight mixture of
    N(means[n], diag stds²) when q(z) = Π_k q(z_k) (a full factor grid, each latent a function of its own
    factor, constant stds per latent): TC = 0, MI = Σ_k [H(q_k) − ½ log(2πe σ_k²)],
    KL(q_k ‖ N(0, 1)) = −H(q_k) + ½ log 2π + ½ E_q[z_k²], E_q[z_k²] = mean(μ_k²) + σ_k²."""
    means, stds = np.asarray(means, float), np.asarray(stds, float)
    mi = dwkl = 0.0
    for k in range(means.shape[1]):
        entropy = mixture_entropy_1d(np.unique(means[:, k]), stds[k])  # equal counts per value on a grid
        mi += entropy - 0.5 * math.log(2 * math.pi * math.e * stds[k] ** 2)
        dwkl += -entropy + 0.5 * math.log(2 * math.pi) + 0.5 * (np.mean(means[:, k] ** 2) + stds[k] ** 2)
    return {"index_code_mi": mi, "total_correlation": 0.0, "dimension_wise_kl": dwkl}


def exact_decomposition_2d(means, stds, grid_points=1201, half_width=6.0):
    """Index-code MI, TC and dimension-wise KL (to N(0, I)) of the 2-D mixture (1/N) Σ_n N(means[n],
    diag stds[n]²), by numerical integration on a grid."""
    means, stds = np.asarray(means, float), np.asarray(stds, float)
    grid = np.linspace(-half_width, half_width, grid_points)
    step = grid[1] - grid[0]
    p1 = normal_pdf(grid[:, None], means[None, :, 0], stds[None, :, 0])
    p2 = normal_pdf(grid[:, None], means[None, :, 1], stds[None, :, 1])
    joint = p1 @ p2.T / len(means)
    assert joint.sum() * step**2 == pytest.approx(1.0, abs=1e-6)
    marginals = [p1.mean(1), p2.mean(1)]
    h_joint = _entropy(joint, step**2)
    h_marginals = [_entropy(m, step) for m in marginals]
    h_posteriors = float(np.mean(np.log(2 * math.pi * math.e * stds**2).sum(1) / 2))
    second_moments = [float(np.sum(m * grid**2) * step) for m in marginals]
    dwkl = sum(-h + 0.5 * math.log(2 * math.pi) + 0.5 * m2 for h, m2 in zip(h_marginals, second_moments))
    return {
        "index_code_mi": h_joint - h_posteriors,
        "total_correlation": sum(h_marginals) - h_joint,
        "dimension_wise_kl": dwkl,
    }


def exact_tc_2d(means, stds, grid_points=1201, half_width=6.0):
    """TC of the mixture (1/N) Σ_n N(means[n], diag stds[n]²) by numerical integration on a grid."""
    return exact_decomposition_2d(means, stds, grid_points, half_width)["total_correlation"]
