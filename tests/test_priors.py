"""Priors: log-densities and KLs against torch.distributions, samples against moments."""

import math

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
    z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=torch.Generator().manual_seed(0),
                                                     dtype=torch.float64)
    mc = Prior.kl(prior, mean, logvar, z).mean()
    assert float(mc) == pytest.approx(float(prior.kl(mean[:1], logvar[:1])[0]), abs=0.01)


def test_mixture_prior_matches_torch_mixture():
    prior = MixturePrior(components=5, radius=2.0, component_scale=0.5)
    means = prior.means(4, dtype=torch.float64)
    assert means.tolist()[:3] == [[2.0, 0, 0, 0], [-2.0, 0, 0, 0], [0, 2.0, 0, 0]]
    reference = D.MixtureSameFamily(D.Categorical(torch.ones(5, dtype=torch.float64)),
                                    D.Independent(D.Normal(means, 0.5), 1))
    z = points()
    assert torch.allclose(prior.log_prob(z), reference.log_prob(z))
    samples = prior.sample(20_000, 4, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert torch.allclose(samples.mean(0), means.mean(0), atol=0.05)
    assert float(samples[:, 3].std()) == pytest.approx(0.5, abs=0.02)
    with pytest.raises(ValueError, match="needs at least 3 latents"):
        prior.log_prob(torch.zeros(2, 2))


def test_sparse_prior_matches_a_per_latent_mixture():
    prior = SparsePrior(sparsity=0.8, spike_scale=0.05)
    per_latent = D.MixtureSameFamily(D.Categorical(torch.tensor([0.2, 0.8], dtype=torch.float64)),
                                     D.Normal(torch.zeros(2, dtype=torch.float64),
                                              torch.tensor([1.0, 0.05], dtype=torch.float64)))
    z = points() / 4
    assert torch.allclose(prior.log_prob(z), per_latent.log_prob(z).sum(1))
    samples = prior.sample(50_000, 2, torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float((samples.abs() < 0.2).double().mean()) == pytest.approx(0.8 + 0.2 * 0.159, abs=0.01)
    assert float(samples.var()) == pytest.approx(0.2 + 0.8 * 0.05 ** 2, abs=0.01)
    assert torch.isfinite(SparsePrior(sparsity=1.0).log_prob(z)).all()


def test_sampling_is_reproducible_with_a_generator():
    for name in PRIORS:
        prior = make_prior(name)
        a = prior.sample(5, 4, torch.Generator().manual_seed(3))
        b = prior.sample(5, 4, torch.Generator().manual_seed(3))
        assert torch.equal(a, b) and a.shape == (5, 4)


def test_bad_priors_are_named():
    with pytest.raises(ValueError, match="gaussian, mixture, sparse"):
        make_prior("laplace")
    with pytest.raises(ValueError, match="sparsity"):
        SparsePrior(sparsity=1.5)
    with pytest.raises(ValueError, match="scale"):
        GaussianPrior(scale=0.0)
    assert math.isfinite(float(GaussianPrior().log_prob(torch.zeros(1, 3))[0]))
