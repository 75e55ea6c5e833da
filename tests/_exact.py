"""Known answers computed independently of untwine (numerical integration), shared by tests."""

import math

import numpy as np
import pytest


def exact_tc_2d(means, stds, grid_points=1201, half_width=6.0):
    """TC of the mixture (1/N) Σ_n N(means[n], diag stds[n]²) by numerical integration on a grid."""
    grid = np.linspace(-half_width, half_width, grid_points)
    step = grid[1] - grid[0]

    def component_densities(k):
        s = stds[None, :, k]
        return np.exp(-0.5 * ((grid[:, None] - means[None, :, k]) / s) ** 2) / (s * math.sqrt(2 * math.pi))

    p1, p2 = component_densities(0), component_densities(1)
    joint = p1 @ p2.T / len(means)
    product = np.outer(p1.mean(1), p2.mean(1))
    assert joint.sum() * step ** 2 == pytest.approx(1.0, abs=1e-6)
    mask = joint > 1e-300
    return float(np.sum(joint[mask] * np.log(joint[mask] / product[mask])) * step ** 2)
