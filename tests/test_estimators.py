"""Estimators: importance weights, TC against exact values, MMD."""

import math

import numpy as np
import pytest
import torch

from untwine.estimators import (ESTIMATORS, decompose_kl, gaussian_log_density,
                                gaussian_total_correlation, importance_weights, log_importance_weights, mmd,
                                standard_normal_log_density, total_correlation)

from _exact import exact_tc_2d


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_importance_weight_rows_sum_to_one(estimator):
    for batch_size in (1, 2, 3, 5, 17, 64, 100, 257):
        for dataset_size in (1, 2, 3, 5, 63, 64, 65, 100, 1000, 737_280):
            w = importance_weights(batch_size, dataset_size, estimator)
            assert w.shape == (batch_size, batch_size)
            assert (w >= 0).all()
            np.testing.assert_allclose(w.sum(1), 1.0, rtol=0, atol=1e-12)
            if estimator == "mss" and batch_size > 1:
                np.testing.assert_allclose(np.diag(w), 1.0 / dataset_size)
            logw = log_importance_weights(batch_size, dataset_size, estimator, dtype=torch.float64)
            assert torch.allclose(torch.logsumexp(logw, 1), torch.zeros(batch_size, dtype=torch.float64))


def test_mss_needs_a_dataset_size_and_estimators_are_named():
    with pytest.raises(ValueError, match="dataset size"):
        importance_weights(8, None, "mss")
    with pytest.raises(ValueError, match="mws, mss"):
        importance_weights(8, 10, "mis")


def test_gaussian_log_density_matches_torch():
    g = torch.Generator().manual_seed(0)
    x, mean, logvar = (torch.randn(6, 3, generator=g) for _ in range(3))
    expected = torch.distributions.Normal(mean, torch.exp(0.5 * logvar)).log_prob(x)
    assert torch.allclose(gaussian_log_density(x, mean, logvar), expected, atol=1e-5)
    assert torch.allclose(standard_normal_log_density(x), torch.distributions.Normal(0.0, 1.0).log_prob(x))


def gaussian_latents(covariance, noise_variance, n, seed):
    """Posteriors N(μ_i, s² I) with μ_i ~ N(0, A): the aggregate posterior is N(0, A + s² I)."""
    g = torch.Generator().manual_seed(seed)
    chol = torch.linalg.cholesky(torch.as_tensor(covariance, dtype=torch.float64))
    mean = torch.randn(n, len(chol), generator=g, dtype=torch.float64) @ chol.T
    logvar = torch.full_like(mean, math.log(noise_variance))
    z = mean + math.sqrt(noise_variance) * torch.randn(mean.shape, generator=g, dtype=torch.float64)
    return z, mean, logvar


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_tc_of_independent_latents_is_zero(estimator):
    z, mean, logvar = gaussian_latents(np.diag([1.0, 2.0, 0.5]), 0.3, 2048, seed=1)
    tc = total_correlation(z, mean, logvar, estimator=estimator, dataset_size=10 ** 9)
    assert abs(float(tc)) < 0.03


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_tc_of_correlated_gaussian_latents(estimator):
    covariance = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.2], [0.3, 0.2, 1.0]])
    expected = gaussian_total_correlation(covariance + 0.3 * np.eye(3))  # −½ log det(correlation)
    correlation = (covariance + 0.3 * np.eye(3)) / 1.3
    assert expected == pytest.approx(-0.5 * np.log(np.linalg.det(correlation)))
    estimates = [float(total_correlation(*gaussian_latents(covariance, 0.3, 2048, seed=s), estimator=estimator,
                                         dataset_size=10 ** 9)) for s in range(2)]
    assert np.mean(estimates) == pytest.approx(expected, abs=0.03)


def test_mws_and_mss_converge_to_exact_tc_of_a_2d_aggregate_posterior():
    rng = np.random.default_rng(0)
    n = 50
    u, v = rng.normal(size=n), rng.normal(size=n)
    means = np.stack([u, 0.8 * u + 0.3 * v], axis=1)
    stds = rng.uniform(0.08, 0.15, size=(n, 2))
    exact = exact_tc_2d(means, stds)
    assert exact > 0.5
    mean_t, logvar_t = torch.tensor(means), torch.tensor(np.log(stds ** 2))
    g = torch.Generator().manual_seed(1)

    def bias(estimator, batch_size):
        values = []
        for _ in range(max(4, 4000 // batch_size)):
            # MSS assumes distinct points (a batch drawn without replacement); MWS takes any batch.
            index = (torch.randint(n, (batch_size,), generator=g) if estimator == "mws"
                     else torch.randperm(n, generator=g)[:batch_size])
            mean, logvar = mean_t[index], logvar_t[index]
            z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=g, dtype=torch.float64)
            values.append(float(total_correlation(z, mean, logvar, estimator=estimator, dataset_size=n)))
        return abs(np.mean(values) - exact)

    mss = [bias("mss", b) for b in (5, 15, 50)]
    assert mss[0] > mss[1] > mss[2] and mss[2] < 0.05
    mws = [bias("mws", b) for b in (20, 2000)]
    assert mws[0] > mws[1] and mws[1] < 0.04


def test_kl_parts_sum_to_the_sampled_kl():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(32, 5, generator=g), 0.5 * torch.randn(32, 5, generator=g)
    z = mean + torch.exp(0.5 * logvar) * torch.randn(32, 5, generator=g)
    for estimator in ESTIMATORS:
        parts = decompose_kl(z, mean, logvar, estimator=estimator, dataset_size=500)
        sampled = (gaussian_log_density(z, mean, logvar) - standard_normal_log_density(z)).sum(1).mean()
        assert float(sum(parts.values())) == pytest.approx(float(sampled), abs=1e-4)


def test_mmd_is_zero_for_identical_samples_and_grows_with_a_shift():
    x = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    for kernel in ("imq", "gaussian"):
        assert float(mmd(x, x.clone(), kernel)) == pytest.approx(0.0, abs=1e-6)
        values = [float(mmd(x, x + shift, kernel)) for shift in (0.25, 0.5, 1.0, 2.0)]
        assert all(a < b for a, b in zip(values, values[1:])) and values[0] > 0
    y = torch.randn(200, 4, generator=torch.Generator().manual_seed(1))
    assert abs(float(mmd(x, y, unbiased=True))) < 0.01 < float(mmd(x, y + 1.0, unbiased=True))
    with pytest.raises(ValueError, match="imq, gaussian"):
        mmd(x, y, "linear")
