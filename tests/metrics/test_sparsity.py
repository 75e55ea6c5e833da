"""Hoyer sparsity (definition: (√d − ‖z‖₁/‖z‖₂)/(√d − 1) per point after scaling
by std; 1 for one-hot vectors, 0 for equal magnitudes)."""

import numpy as np
import pytest

from untwine.metrics import hoyer_sparsity


def test_one_hot_is_one_and_flat_is_zero(rng):
    d = 5
    one_hot = np.eye(d)[rng.integers(0, d, 1000)] * rng.choice([-1, 1], (1000, 1))
    assert hoyer_sparsity(one_hot)["hoyer_sparsity"] == pytest.approx(1.0)
    flat = rng.choice([-1.0, 1.0], (1000, d))
    assert hoyer_sparsity(flat)["hoyer_sparsity"] == pytest.approx(0.0, abs=1e-3)  # stds ~1, not exactly


def test_scale_invariant_per_code_and_gaussian_middle(rng):
    z = rng.standard_normal((5000, 6))
    a = hoyer_sparsity(z)["hoyer_sparsity"]
    assert hoyer_sparsity(z * np.arange(1, 7))["hoyer_sparsity"] == pytest.approx(a)
    assert 0.1 < a < 0.4  # dense Gaussian codes: ‖z‖₁/‖z‖₂ ≈ √(2d/π)


def test_constant_code_counts_as_zero(rng):
    z = np.concatenate([np.eye(3)[rng.integers(0, 3, 500)], np.full((500, 1), 7.0)], axis=1)
    assert hoyer_sparsity(z)["hoyer_sparsity"] == pytest.approx(1.0)
