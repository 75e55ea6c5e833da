"""The ELBO decomposition of a trained model over a dataset, against exact values."""

import math

import numpy as np
import pytest
import torch

from untwine.metrics import elbo_decomposition
from _exact import exact_tc_2d


class TwoFactorData:
    """10×10 factor space, 2-D observations (the factor indices); used with a stub encoder."""

    factor_sizes = (10, 10)
    observation_shape = (2,)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1)

    def observe(self, factors, rng):
        return np.asarray(factors, dtype=np.float32)


class StubModel:
    """posterior(x) = N((a, 0.6a + 0.4b)/3, diag(0.15², 0.1²)) for x = (a, b)."""

    stds = np.array([0.15, 0.1])

    def posterior(self, x):
        x = np.asarray(x, dtype=np.float64)
        means = np.stack([x[:, 0], 0.6 * x[:, 0] + 0.4 * x[:, 1]], axis=1) / 3.0 - 1.5
        return means, np.broadcast_to(self.stds ** 2, means.shape).copy()


def test_elbo_decomposition_matches_exact_values_over_the_whole_dataset():
    data, model = TwoFactorData(), StubModel()
    result = elbo_decomposition(model.posterior, data, samples_per_point=20, seed=0)
    assert result["num_points"] == 100 and result["dataset_size"] == 100
    factors = np.stack(np.unravel_index(np.arange(100), (10, 10)), axis=1)
    means, _ = model.posterior(factors)
    exact = exact_tc_2d(means, np.broadcast_to(model.stds, means.shape))
    assert result["total_correlation"] == pytest.approx(exact, abs=0.05)
    assert result["estimated_kl"] == pytest.approx(result["kl"], abs=0.1)
    # every point appears once, so q(z) is exact and MI ≤ log N
    assert 0 < result["index_code_mi"] <= math.log(100) + 0.05
    assert elbo_decomposition(model.posterior, data, samples_per_point=20, seed=0) == result


def test_elbo_decomposition_samples_large_datasets_and_torch_datasets():
    data, model = TwoFactorData(), StubModel()
    sampled = elbo_decomposition(model.posterior, data, num_points=60, seed=3)
    assert sampled["num_points"] == 60 and sampled["dataset_size"] == 100
    assert sampled == elbo_decomposition(model.posterior, data, num_points=60, seed=3)
    tensors = torch.utils.data.TensorDataset(torch.from_numpy(
        np.stack(np.unravel_index(np.arange(100), (10, 10)), axis=1).astype(np.float32)))
    whole = elbo_decomposition(model.posterior, tensors, samples_per_point=5)
    assert whole["num_points"] == 100 and np.isfinite(list(whole.values())).all()


def test_elbo_decomposition_needs_a_posterior_callable():
    with pytest.raises(TypeError, match="model.posterior"):
        elbo_decomposition(StubModel(), TwoFactorData())
