"""Priors: log-densities and KLs against torch.distributions, samples against moments."""

import math

import numpy as np
import pytest
import torch
from torch import distributions as D

from untwine.priors import PRIORS, GaussianPrior, MixturePrior, Prior, SparsePrior, make_prior


def points(n=50, d=4, seed=0):
    return 2.0 * torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_gaussian_prior_log_prob_and_kl_match_torch():
    prior = GaussianPrior(scale=2.0)
    z = points()
    expected = D.Normal(0.0, 2.0).log_prob(z).sum(1)
    assert torch.allclose(prior.log_prob(z), expected)
    g = torch.Generator().manual_seed(1)
    mean, logvar = torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g)
    q = D.Normal(mean, torch.exp(0.5 * logvar))
    expected_kl = D.kl_divergence(q, D.Normal(torch.zeros(4), 2.0 * torch.ones(4))).sum(1)
    assert torch.allclose(prior.kl(mean, logvar), expected_kl, atol=1e-5)


def test_monte_carlo_kl_converges_to_the_closed_form():
    prior = GaussianPrior(scale=1.5)
    mean = torch.tensor([[0.5, -1.0, 0.2]], dtype=torch.float64).expand(200_000, 3)
    logvar = torch.tensor([[-1.0, 0.3, 0.0]], dtype=torch.float64).expand(200_000, 3)
    z = mean + torch.exp(0.5 * logvar) * torch.randn(
        mean.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    mc = Prior.kl(prior, mean, logvar, z).mean()
    assert float(mc) == pytest.approx(float(prior.kl(mean[:1], logvar[:1])[0]), abs=0.01)


def test_mixture_prior_matches_torch_mixture():
    prior = MixturePrior(components=5, radius=2.0, component_scale=0.5)
    means = prior.means(4, dtype=torch.float64)
    assert means.tolist()[:3] == [[2.0, 0, 0, 0], [-2.0, 0, 0, 0], [0, 2.0, 0, 0]]
    reference = D.MixtureSameFamily(
        D.Categorical(torch.ones(5, dtype=torch.float64)), D.Independent(D.Normal(means, 0.5), 1)
    )
    z = points()
    assert torch.allclose(prior.log_prob(z), reference.log_prob(z))
    samples = prior.sample(20_000, 4, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(samples.mean(0), means.mean(0), atol=0.05)
    assert float(samples[:, 3].std()) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="needs at least 3 latents"):
        prior.log_prob(torch.zeros(2, 2))


def test_sparse_prior_matches_a_per_latent_mixture():
    prior = SparsePrior(sparsity=0.8, spike_scale=0.05)
    per_latent = D.MixtureSameFamily(
        D.Categorical(torch.tensor([0.2, 0.8], dtype=torch.float64)),
        D.Normal(torch.zeros(2, dtype=torch.float64), torch.tensor([1.0, 0.05], dtype=torch.float64)),
    )
    z = points() / 4
    assert torch.allclose(prior.log_prob(z), per_latent.log_prob(z).sum(1))
    samples = prior.sample(50_000, 2, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float((samples.abs() < 0.2).double().mean()) == pytest.approx(0.8 + 0.2 * 0.159, abs=0.01)
    assert float(samples.var()) == pytest.approx(0.2 + 0.8 * 0.05**2, abs=0.01)
    assert torch.isfinite(SparsePrior(sparsity=1.0).log_prob(z)).all()


def test_sampling_is_reproducible_with_a_generator():
    for name in PRIORS:
        prior = make_prior(name)
        a = prior.sample(5, 4, torch.Generator().manual_seed(3))
        b = prior.sample(5, 4, torch.Generator().manual_seed(3))
        assert torch.equal(a, b) and a.shape == (5, 4)


def test_bad_priors_are_named():
    with pytest.raises(ValueError, match=r"^unknown prior 'laplace'; valid: gaussian, mixture, sparse$"):
        make_prior("laplace")
    with pytest.raises(ValueError, match=r"^sparsity \(the spike's weight γ\) must lie in \[0, 1\], got 1.5$"):
        SparsePrior(sparsity=1.5)
    with pytest.raises(ValueError, match=r"^sparsity \(the spike's weight γ\) must be a finite non-negative number"):
        SparsePrior(sparsity=-0.1)
    with pytest.raises(ValueError, match=r"^prior scale must be a finite positive number, got 0.0$"):
        GaussianPrior(scale=0.0)
    with pytest.raises(ValueError, match=r"^components must be"):
        MixturePrior(components=0)
    with pytest.raises(ValueError, match=r"^component_scale must be a finite positive number"):
        MixturePrior(component_scale=0.0)
    with pytest.raises(ValueError, match=r"^spike_scale must be a finite positive number"):
        SparsePrior(spike_scale=0.0)
    with pytest.raises(
        ValueError,
        match=r"^a mixture prior with 5 components needs at least 3 latents \(two "
        r"components per axis\); got 2$",
    ):
        MixturePrior(components=5).means(2)
    assert MixturePrior(components=4).means(2).shape == (4, 2)  # two components per axis: 4 on 2 latents
    assert math.isfinite(float(GaussianPrior().log_prob(torch.zeros(1, 3))[0]))


def test_defaults_and_descriptions():
    """The documented defaults (the paper's sparsity 0.8), and a repr that names every option."""
    assert repr(GaussianPrior()) == "GaussianPrior(scale=1.0)"
    assert repr(MixturePrior()) == "MixturePrior(components=4, radius=2.0, component_scale=0.5)"
    assert repr(SparsePrior()) == "SparsePrior(sparsity=0.8, spike_scale=0.05)"
    z = points(d=2)
    assert torch.allclose(GaussianPrior().log_prob(z), D.Normal(0.0, 1.0).log_prob(z).sum(1))


def test_sparsity_zero_is_the_standard_normal_and_one_the_spike():
    z = points(d=3) / 4
    assert torch.allclose(SparsePrior(sparsity=0.0).log_prob(z), D.Normal(0.0, 1.0).log_prob(z).sum(1))
    assert torch.allclose(SparsePrior(sparsity=1.0, spike_scale=0.1).log_prob(z), D.Normal(0.0, 0.1).log_prob(z).sum(1))


@pytest.mark.parametrize("name", list(PRIORS))
def test_samples_and_densities_follow_dtype_and_device(name):
    prior = make_prior(name)
    samples = prior.sample(5, 4, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert samples.dtype == torch.float64 and samples.shape == (5, 4)
    assert prior.sample(5, 4, dtype=torch.float32).dtype == torch.float32
    meta = prior.sample(5, 4, device="meta")
    assert meta.device.type == "meta" and meta.shape == (5, 4)
    assert prior.log_prob(torch.zeros(5, 4, device="meta")).device.type == "meta"


# -- KL(q(z|x) ‖ p(z)) of the structured priors against numerical integration ---------------------


def kl_by_integration_1d(mean, std, log_prior, half_width=12.0, points=200_001):
    """∫ q log(q/p) dz for q = N(mean, std²) and a 1-D prior given by its log-density (numpy)."""
    grid = np.linspace(mean - half_width * std, mean + half_width * std, points)
    log_q = -0.5 * np.log(2 * np.pi * std**2) - 0.5 * ((grid - mean) / std) ** 2
    q = np.exp(log_q)
    return float(np.sum(q * (log_q - log_prior(grid))) * (grid[1] - grid[0]))


def log_normal(x, std):
    return -0.5 * np.log(2 * np.pi * std**2) - 0.5 * (x / std) ** 2


def monte_carlo_kl(prior, mean, logvar, n=400_000, seed=0):
    mean = torch.as_tensor(mean, dtype=torch.float64).expand(n, -1)
    logvar = torch.as_tensor(logvar, dtype=torch.float64).expand(n, -1)
    z = mean + torch.exp(0.5 * logvar) * torch.randn(
        mean.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    return float(prior.kl(mean, logvar, z).mean())


def test_sparse_prior_kl_converges_to_numerical_integration():
    """Per latent (1 − γ)·N(0, 1) + γ·N(0, σ0²): the Monte-Carlo KL at many samples is the integral, latent by
    latent (the prior factorises)."""
    prior = SparsePrior(sparsity=0.8, spike_scale=0.05)

    def log_prior(x):
        return np.logaddexp(np.log(0.2) + log_normal(x, 1.0), np.log(0.8) + log_normal(x, 0.05))

    mean, std = np.array([0.02, 0.7]), np.array([0.03, 0.4])
    exact = sum(kl_by_integration_1d(m, s, log_prior) for m, s in zip(mean, std))
    assert monte_carlo_kl(prior, mean[None], np.log(std**2)[None]) == pytest.approx(exact, abs=0.01)
    # the KL to N(0, I) is far from it: a structured prior is not the standard one
    standard = GaussianPrior().kl(torch.tensor(mean[None]), torch.tensor(np.log(std**2)[None]))[0]
    assert abs(float(standard) - exact) > 0.5


def test_mixture_prior_kl_converges_to_numerical_integration():
    """Two latents, four components at (±2, 0) and (0, ±2), std 0.5: the 2-D integral on a grid."""
    prior = MixturePrior(components=4, radius=2.0, component_scale=0.5)
    centres = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    mean, std = np.array([1.2, 0.3]), np.array([0.6, 0.5])
    grid = np.linspace(-8, 8, 1601)
    a, b = np.meshgrid(grid, grid, indexing="ij")
    log_q = log_normal(a - mean[0], std[0]) + log_normal(b - mean[1], std[1])
    log_p = np.log(np.mean([np.exp(log_normal(a - c[0], 0.5) + log_normal(b - c[1], 0.5)) for c in centres], axis=0))
    q = np.exp(log_q)
    exact = float(np.sum(q * (log_q - log_p)) * (grid[1] - grid[0]) ** 2)
    assert monte_carlo_kl(prior, mean[None], np.log(std**2)[None]) == pytest.approx(exact, abs=0.01)
    standard = GaussianPrior().kl(torch.tensor(mean[None]), torch.tensor(np.log(std**2)[None]))[0]
    assert abs(float(standard) - exact) > 0.5


@pytest.mark.parametrize(
    "prior,expected",
    [
        (GaussianPrior(scale=1.5), 2.25),
        (MixturePrior(components=3, radius=3.0, component_scale=0.5), 0.25 + 9.0 / 4),
        (SparsePrior(sparsity=0.8, spike_scale=0.05), 0.2 + 0.8 * 0.05**2),
    ],
)
def test_variance_is_the_second_moment_of_the_samples(prior, expected):
    """variance(d): E[z_j²] averaged over the d latents, in closed form, and as the samples show."""
    assert prior.variance(4) == pytest.approx(expected, rel=1e-12)
    samples = prior.sample(200_000, 4, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(samples.pow(2).mean()) == pytest.approx(expected, rel=0.02)


def test_gaussian_prior_kl_is_closed_form_at_any_sample():
    prior = GaussianPrior(scale=0.5)
    mean, logvar = torch.tensor([[0.3, -0.2]], dtype=torch.float64), torch.tensor([[-1.0, -2.0]], dtype=torch.float64)
    expected = sum(
        np.log(0.5 / np.exp(0.5 * lv)) + (np.exp(lv) + m**2) / (2 * 0.25) - 0.5
        for m, lv in zip(mean[0].tolist(), logvar[0].tolist())
    )
    assert float(prior.kl(mean, logvar, torch.full_like(mean, 9.0))[0]) == pytest.approx(expected, rel=1e-12)
    assert float(prior.kl(mean, logvar)[0]) == pytest.approx(expected, rel=1e-12)


def test_mixture_samples_keep_the_precision_asked_for():
    """float64 samples are float64 all through: the component means (±0.1 is not a float32 number) and the
    noise (most float64 normals are not float32 numbers)."""
    tight = MixturePrior(components=2, radius=0.1, component_scale=1e-12)
    samples = tight.sample(1000, 2, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert set(torch.round(samples[:, 0], decimals=9).tolist()) == {0.1, -0.1}
    assert float((samples[:, 0].abs() - 0.1).abs().max()) < 1e-10
    centred = MixturePrior(components=2, radius=0.0, component_scale=1.0)
    noise = centred.sample(1000, 2, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float((noise.float().double() != noise).double().mean()) > 0.99
