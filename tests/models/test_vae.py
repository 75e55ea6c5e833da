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
    kl = (0.5 * (mean**2 + logvar.exp() - logvar - 1)).sum(1).mean()
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
    names = (
        "ada-gvae, ada-ml-vae, ae, annealed-vae, beta-tcvae, beta-vae, decomposition, dip-vae-i, dip-vae-ii, "
        "factor-vae, gvae-labels, ml-vae-labels, qlae, tripod, vae"
    )
    with pytest.raises(
        ValueError,
        match=rf"^unknown model 'beta_vea' \(did you mean 'beta-vae'\?\); valid names: "
        rf"{names}$",
    ):
        build_objective("beta_vea")
    with pytest.raises(ValueError, match=rf"^unknown model 'zzz'; valid names: {names}$"):
        build_objective("zzz")
    with pytest.raises(
        ValueError,
        match=r"^model 'beta-vae' has no hyperparameter betta, gama; its hyperparameters: "
        r"beta=1.0$",
    ):
        build_objective("beta-vae", {"betta": 2, "gama": 1})
    with pytest.raises(ValueError, match=r"^model 'vae' has no hyperparameter beta; its hyperparameters: none$"):
        build_objective("vae", {"beta": 2})
    objective = build_objective("beta-tcvae", {"beta": 3.0, "estimator": "mss"})
    assert objective.beta == 3.0 and objective.estimator == "mss" and objective.gamma == 1.0


def test_build_model_passes_the_config_through():
    model, objective = build_model(
        ModelConfig(objective="dip-vae-ii", latent_dim=3, likelihood="gaussian", params={"lambda_od": 2.0}), (1, 64, 64)
    )
    assert model.latent_dim == 3 and model.likelihood == "gaussian" and model.observation_shape == (1, 64, 64)
    assert objective.name == "dip-vae-ii" and objective.lambda_od == 2.0 and objective.lambda_d == 2.0
    assert build_model(ModelConfig(), (2,))[0].likelihood == "bernoulli"


def test_bad_model_arguments_are_named_exactly():
    with pytest.raises(ValueError, match=r"^unknown likelihood 'poisson'; valid: bernoulli, gaussian$"):
        VAE((1, 64, 64), 10, likelihood="poisson")
    with pytest.raises(ValueError, match=r"^latent_dim must be a positive integer, got 0$"):
        VAE((1, 64, 64), 0)
    assert VAE((3,), 1).latent_dim == 1


def test_sampling_preparing_and_the_numpy_faces_by_hand():
    torch.manual_seed(0)
    model = VAE((1, 64, 64), 3)
    mean, logvar = torch.randn(4, 3), torch.randn(4, 3)
    z = model.sample_posterior(mean, logvar, torch.Generator().manual_seed(7))
    noise = torch.randn(4, 3, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(z, mean + torch.exp(0.5 * logvar) * noise)
    x = torch.rand(2, 3, 8, 8)  # three channels: channels-last differs from the default layout
    assert not x.is_contiguous(memory_format=torch.channels_last)
    assert model.prepare(x).is_contiguous(memory_format=torch.channels_last) and torch.equal(model.prepare(x), x)
    flat = torch.rand(2, 3)
    assert model.prepare(flat) is flat and VAE((3,), 2).is_image is False
    assert model.is_image
    images = np.random.default_rng(0).random((5, 1, 64, 64)).astype(np.float32)
    with torch.no_grad():
        mean, logvar = model.encode(torch.from_numpy(images))
        decoded = torch.sigmoid(model.decode(mean))
        codes = torch.randn(3, 3, generator=torch.Generator().manual_seed(1))
        generated = torch.sigmoid(model.decode(codes))
    means, variances = model.posterior(batch_size=2)(images)
    np.testing.assert_allclose(means, mean.numpy(), atol=1e-5)
    np.testing.assert_allclose(variances, logvar.exp().numpy(), rtol=1e-4)
    np.testing.assert_allclose(model.reconstruct(images, batch_size=2), decoded.numpy(), atol=1e-5)
    np.testing.assert_allclose(model.generate(codes.numpy(), batch_size=2), generated.numpy(), atol=1e-5)
    assert model.generate(np.zeros((0, 3), np.float32)).shape == (0, 1, 64, 64)
    empty = model.representation()(np.zeros((0, 1, 64, 64), np.float32))
    assert empty.shape == (0, 3) and empty.dtype == np.float32


def test_the_numpy_faces_run_in_eval_mode_and_restore_the_mode():
    model = VAE((4,), 2)
    seen = []
    original = model.encoder.forward

    def spy(x):
        seen.append(model.training)
        return original(x)

    model.encoder.forward = spy
    for mode in (True, False):
        model.train(mode)
        model.representation()(np.zeros((3, 4), np.float32))
        assert model.training is mode
    assert seen == [False, False]
    with pytest.raises(ValueError, match=r"^observations must have shape \(n, 4\), got \(3, 5\)$"):
        model.representation()(np.zeros((3, 5), np.float32))


def test_mixed_precision_runs_the_networks_and_hands_back_float32():
    torch.manual_seed(0)
    model = VAE((1, 64, 64), 3)
    x = torch.rand(2, 1, 64, 64)
    reference_mean, _ = model.encode(x)
    reference_decoded = model.decode(reference_mean)
    model.autocast_dtype = torch.bfloat16
    mean, logvar = model.encode(x)
    decoded = model.decode(reference_mean)
    assert mean.dtype == logvar.dtype == decoded.dtype == torch.float32
    assert torch.allclose(mean, reference_mean, atol=0.05) and torch.allclose(decoded, reference_decoded, atol=0.1)


def test_forward_logs_the_analytic_kl_and_the_elbo():
    torch.manual_seed(0)
    model = VAE((1, 64, 64), 3)
    x = (torch.rand(4, 1, 64, 64) > 0.5).float()
    terms, logs, step = BetaVAE(beta=2.0)(model, x, 5, torch.Generator().manual_seed(2))
    mean, logvar = model.encode(x)
    kl = float(gaussian_kl(mean, logvar).sum(1).mean().detach())
    assert step.step == 5 and logs["kl"] == pytest.approx(kl, rel=1e-5)
    # elbo = −recon − KL exactly (the KL of an untrained encoder is tiny: compare the difference)
    assert logs["elbo"] + float(terms["reconstruction"].detach()) == pytest.approx(-logs["kl"], abs=1e-9)
    # the step record holds the batch, the sample drawn with the step's generator, and the decoder's output
    assert step.x is x and step.generator is not None
    expected_z = model.sample_posterior(mean, logvar, torch.Generator().manual_seed(2))
    assert torch.allclose(step.z, expected_z) and torch.allclose(step.decoded, model.decode(step.z))
    _, _, ae_step = OBJECTIVES["ae"]()(model, x, 0, torch.Generator().manual_seed(2))
    assert torch.equal(ae_step.z, mean)
    assert torch.allclose(step.kl_per_latent, gaussian_kl(mean, logvar))
    assert float(step.kl.detach()) == pytest.approx(kl, rel=1e-5)
    _, ae_logs, _ = OBJECTIVES["ae"]()(model, x, 0)
    assert ae_logs == {}


def test_the_hyperparameter_listing_names_each_with_its_default():
    with pytest.raises(
        ValueError,
        match=r"^model 'annealed-vae' has no hyperparameter c; its hyperparameters: "
        r"gamma=1000.0, c_max=25.0, iteration_threshold=100000$",
    ):
        build_objective("annealed-vae", {"c": 1})


def test_defaults_batches_and_input_precisions_of_the_numpy_faces():
    model = VAE((4,), 3)
    assert VAE((4,)).latent_dim == 10 and VAE((4,)).likelihood == "bernoulli"
    calls = []
    encoder, decoder = model.encoder.forward, model.decoder.forward
    model.encoder.forward = lambda x: (calls.append(("enc", len(x))), encoder(x))[1]
    model.decoder.forward = lambda z: (calls.append(("dec", len(z))), decoder(z))[1]
    observations = np.random.default_rng(0).random((600, 4))  # float64 in: converted to float32
    codes = model.representation()(observations)
    assert calls == [("enc", 512), ("enc", 88)] and codes.dtype == np.float32
    np.testing.assert_array_equal(codes, model.representation()(observations.astype(np.float32)))
    calls.clear()
    model.posterior()(observations)
    assert calls == [("enc", 512), ("enc", 88)]
    calls.clear()
    model.reconstruct(observations)
    assert [c for c in calls if c[0] == "enc"] == [("enc", 512), ("enc", 88)]
    calls.clear()
    out = model.generate(np.zeros((600, 3)))  # float64 codes
    assert calls == [("dec", 512), ("dec", 88)] and out.dtype == np.float32 and out.shape == (600, 4)
    assert model.generate(np.zeros((0, 3))).dtype == np.float32
    image = VAE((1, 8, 8), 2)
    with pytest.raises(ValueError, match=r"^observations must have shape \(n, 1, 8, 8\), got \(2, 1, 8, 7\)$"):
        image.representation()(np.zeros((2, 1, 8, 7), np.float32))


def test_sampling_stays_on_the_inputs_device_and_precision():
    mean = torch.zeros(500, 3, dtype=torch.float64)
    z = VAE.sample_posterior(mean, torch.zeros_like(mean), torch.Generator().manual_seed(0))
    assert z.dtype == torch.float64 and float((z.float().double() != z).double().mean()) > 0.99
    meta = torch.zeros(4, 3, device="meta")
    assert VAE.sample_posterior(meta, meta).device.type == "meta"


def test_autocast_is_off_by_default_and_uses_the_dtype_asked_for():
    torch.manual_seed(0)
    model = VAE((1, 64, 64), 3)
    x = torch.rand(2, 1, 64, 64)
    assert torch.equal(model.encode(x)[0], model.encoder(x)[0])
    assert torch.equal(model.decode(x.new_zeros(2, 3)), model.decoder(x.new_zeros(2, 3)))
    model.autocast_dtype = torch.float16
    with torch.autocast("cpu", dtype=torch.float16):
        expected_mean = model.encoder(x)[0].float()
        expected_decoded = model.decoder(x.new_ones(2, 3)).float()
    assert torch.equal(model.encode(x)[0], expected_mean)
    assert torch.equal(model.decode(x.new_ones(2, 3)), expected_decoded)
    model.autocast_dtype = torch.bfloat16
    assert not torch.equal(model.encode(x)[0], expected_mean)  # another precision, other bits
