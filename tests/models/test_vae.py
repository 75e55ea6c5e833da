"""The VAE and the β-VAE objective: loss terms against hand computations."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from untwine.models import OBJECTIVES, VAE, BetaVAE, ModelConfig, build_model, build_objective, gaussian_kl


def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mean, logvar = torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g)
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(4), torch.ones(4))
    assert torch.allclose(gaussian_kl(mean, logvar), torch.distributions.kl_divergence(q, p), atol=1e-6)


def test_bernoulli_reconstruction_is_summed_over_pixels():
    model = VAE((1, 64, 64), 3)
    x = (torch.rand(4, 1, 64, 64) > 0.5).float()
    logits = torch.randn(4, 1, 64, 64)
    expected = -(x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(dim=(1, 2, 3))
    assert torch.allclose(model.reconstruction_loss(x, logits), expected, rtol=1e-5)


def test_gaussian_reconstruction_is_squared_error_sum():
    model = VAE((3,), 2, likelihood="gaussian")
    x = torch.tensor([[0.2, 0.5, 1.0]])
    out = torch.tensor([[0.0, 0.0, 0.0]])  # sigmoid -> 0.5
    assert model.reconstruction_loss(x, out).item() == pytest.approx(0.09 + 0.0 + 0.25)


def test_beta_vae_loss_terms_are_batch_means_of_sums():
    torch.manual_seed(0)
    model = VAE((1, 64, 64), 10)
    objective = BetaVAE(beta=4.0)
    x = (torch.rand(8, 1, 64, 64) > 0.8).float()
    g = torch.Generator().manual_seed(1)
    terms, logs, _ = objective(model, x, step=0, generator=g)
    assert set(terms) == {"reconstruction", "beta_kl"}
    mean, logvar = model.encode(x)
    kl = (0.5 * (mean ** 2 + logvar.exp() - logvar - 1)).sum(1).mean()
    assert terms["beta_kl"].item() == pytest.approx(4.0 * kl.item(), rel=1e-5)
    assert logs["kl"] == pytest.approx(kl.item(), rel=1e-5)
    # recon is a per-image sum: about 4096 · log 2 for an untrained decoder
    assert 0.3 * 4096 * math.log(2) < terms["reconstruction"].item() < 3 * 4096 * math.log(2)


def test_vae_is_beta_one():
    assert OBJECTIVES["vae"]().beta == 1.0
    assert BetaVAE.hyperparameters() == {"beta": 1.0}


def test_bad_hyperparameters_are_named():
    with pytest.raises(ValueError, match="beta"):
        build_objective("beta-vae", {"betta": 2})
    with pytest.raises(ValueError, match="non-negative"):
        build_objective("beta-vae", {"beta": -1})
    with pytest.raises(ValueError, match="valid names"):
        build_objective("beta_vae")
    with pytest.raises(ValueError, match="likelihood"):
        VAE((1, 64, 64), 10, likelihood="poisson")


def test_representation_is_batched_and_gradient_free():
    model, _ = build_model(ModelConfig(latent_dim=5), (1, 64, 64))
    calls = []
    original = model.encoder.forward

    def spy(x):
        calls.append(len(x))
        return original(x)

    model.encoder.forward = spy
    x = np.random.default_rng(0).random((70, 1, 64, 64)).astype(np.float32)
    codes = model.representation(batch_size=32)(x)
    assert codes.shape == (70, 5) and codes.dtype == np.float32
    assert calls == [32, 32, 6]
    mean, var = model.posterior(batch_size=64)(x)
    assert np.allclose(mean, codes, atol=1e-5) and (var > 0).all()
    with pytest.raises(ValueError, match="shape"):
        model.representation()(x[:, :, :32])


def test_unknown_names_and_hyperparameters_say_what_is_valid():
    names = "ae, annealed-vae, beta-tcvae, beta-vae, decomposition, dip-vae-i, dip-vae-ii, factor-vae, vae"
    with pytest.raises(ValueError, match=rf"^unknown model 'beta_vea' \(did you mean 'beta-vae'\?\); valid names: "
                                         rf"{names}$"):
        build_objective("beta_vea")
    with pytest.raises(ValueError, match=rf"^unknown model 'zzz'; valid names: {names}$"):
        build_objective("zzz")
    with pytest.raises(ValueError, match=r"^model 'beta-vae' has no hyperparameter betta, gama; its hyperparameters: "
                                         r"beta=1.0$"):
        build_objective("beta-vae", {"betta": 2, "gama": 1})
    with pytest.raises(ValueError, match=r"^model 'vae' has no hyperparameter beta; its hyperparameters: none$"):
        build_objective("vae", {"beta": 2})
    objective = build_objective("beta-tcvae", {"beta": 3.0, "estimator": "mss"})
    assert objective.beta == 3.0 and objective.estimator == "mss" and objective.gamma == 1.0


def test_build_model_passes_the_config_through():
    model, objective = build_model(ModelConfig(objective="dip-vae-ii", latent_dim=3, likelihood="gaussian",
                                               params={"lambda_od": 2.0}), (1, 64, 64))
    assert model.latent_dim == 3 and model.likelihood == "gaussian" and model.observation_shape == (1, 64, 64)
    assert objective.name == "dip-vae-ii" and objective.lambda_od == 2.0 and objective.lambda_d == 2.0
    assert build_model(ModelConfig(), (2,))[0].likelihood == "bernoulli"
