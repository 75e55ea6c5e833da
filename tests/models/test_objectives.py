"""Every objective: loss terms against hand computations, and end-to-end training."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from untwine import data as data_room
from untwine.config import RunConfig
from untwine.estimators import gaussian_log_density, standard_normal_log_density
from untwine.models import (OBJECTIVES, VAE, AnnealedVAE, Autoencoder, BetaTCVAE, DIPVAEI, DIPVAEII, Decomposition,
                            FactorVAE, Step, build_objective, gaussian_kl)
from untwine.run_files import read_manifest
from untwine.runs import load_model, read_log
from untwine.train import train


class TinySquares:
    """A 3×3 white square at 6×6 positions in an 8×8 binary image: 36 points, 2 factors."""

    name = "tiny-squares"
    factor_names = ("row", "column")
    factor_sizes = (6, 6)
    observation_shape = (1, 8, 8)

    def factor_values(self, k):
        return np.arange(self.factor_sizes[k], dtype=np.float64)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1).astype(np.int64)

    def observe(self, factors, rng):
        factors = np.asarray(factors)
        images = np.zeros((len(factors), *self.observation_shape), dtype=np.float32)
        for i, (row, column) in enumerate(factors):
            images[i, 0, row:row + 3, column:column + 3] = 1.0
        return images

    def __len__(self):
        return int(np.prod(self.factor_sizes))


@pytest.fixture
def tiny():
    return TinySquares()


NAMES = ["vae", "beta-vae", "annealed-vae", "beta-tcvae", "factor-vae", "dip-vae-i", "dip-vae-ii", "decomposition",
         "ae"]


def tiny_config(objective, steps=40, seed=0, **params):
    config = RunConfig()
    config.dataset = "tiny-squares"
    config.model.objective = objective
    config.model.latent_dim = 4
    config.model.params = dict(params)
    config.train.steps = steps
    config.train.batch_size = 16
    config.train.lr = 1e-3
    config.train.seed = seed
    config.train.log_every = 2
    config.train.checkpoint_every = steps
    config.train.threads = 1
    return config


def batch(n=8, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    mean, logvar = torch.randn(n, d, generator=g), 0.3 * torch.randn(n, d, generator=g)
    z = mean + torch.exp(0.5 * logvar) * torch.randn(n, d, generator=g)
    return mean, logvar, z


def test_every_objective_is_listed_with_paper_and_docstring():
    assert sorted(OBJECTIVES) == sorted(NAMES)
    for name, cls in OBJECTIVES.items():
        assert cls.name == name and cls.paper and cls.__doc__
        cls(**cls.hyperparameters())  # defaults are valid


def test_bad_values_are_named_with_the_valid_ones():
    with pytest.raises(ValueError, match="mws, mss"):
        build_objective("beta-tcvae", {"estimator": "mcmc"})
    with pytest.raises(ValueError, match="gaussian, mixture, sparse"):
        build_objective("decomposition", {"prior": "laplace"})
    with pytest.raises(ValueError, match="imq, gaussian"):
        build_objective("decomposition", {"kernel": "linear"})
    with pytest.raises(ValueError, match="full_decomposition"):
        build_objective("beta-tcvae", {"alpha": 2.0})
    with pytest.raises(ValueError, match="gamma"):
        build_objective("factor-vae", {"gamma": -1})
    with pytest.raises(ValueError, match="iteration_threshold"):
        build_objective("annealed-vae", {"iteration_threshold": 1.5})


def regularize(objective, mean, logvar, z, step=0, generator=None):
    record = Step(x=None, mean=mean, logvar=logvar, z=z, decoded=None, step=step, generator=generator)
    return objective.regularizer(record)


def test_annealed_capacity_grows_linearly_then_stays():
    objective = AnnealedVAE(gamma=10.0, c_max=20.0, iteration_threshold=100)
    assert [objective.capacity(s) for s in (0, 50, 100, 1000)] == [0.0, 10.0, 20.0, 20.0]
    mean, logvar, z = batch()
    kl = gaussian_kl(mean, logvar).sum(1).mean()
    terms, logs = regularize(objective, mean, logvar, z, step=50)
    assert terms["capacity_kl"].item() == pytest.approx(10.0 * abs(kl.item() - 10.0), rel=1e-6)
    assert logs["capacity"] == 10.0


def test_dip_vae_penalties_by_hand():
    mean = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [2.0, 0.0], [-2.0, 0.0]])
    logvar = torch.log(torch.tensor([[0.5, 1.5]] * 4))
    # Cov[μ] = [[2.5, 0.5], [0.5, 0.5]]; E[diag σ²] = (0.5, 1.5).
    kl = gaussian_kl(mean, logvar).sum(1).mean().item()
    terms, _ = regularize(DIPVAEI(lambda_od=2.0), mean, logvar, mean)
    assert terms["dip"].item() == pytest.approx(2.0 * 0.5 + 20.0 * (1.5 ** 2 + 0.5 ** 2))
    assert terms["kl"].item() == pytest.approx(kl)
    # DIP-VAE-II: C = [[3, 0.5], [0.5, 2]], λ_d = λ_od = 2
    terms, _ = regularize(DIPVAEII(lambda_od=2.0), mean, logvar, mean)
    assert terms["dip"].item() == pytest.approx(2.0 * 0.5 + 2.0 * (2.0 ** 2 + 1.0 ** 2))


def test_beta_tcvae_terms():
    mean, logvar, z = batch(n=16)
    kl = gaussian_kl(mean, logvar).sum(1).mean()
    terms, logs = regularize(BetaTCVAE(beta=1.0), mean, logvar, z)
    assert terms["weighted_tc"].item() == 0.0 and terms["kl"].item() == pytest.approx(kl.item())
    terms, logs = regularize(BetaTCVAE(beta=4.0), mean, logvar, z)
    assert terms["weighted_tc"].item() == pytest.approx(3.0 * logs["total_correlation"], rel=1e-5)
    # The full decomposition with unit weights sums to the one-sample KL estimate, exactly.
    full = BetaTCVAE(beta=1.0, full_decomposition=True, estimator="mss", dataset_size=1000)
    terms, logs = regularize(full, mean, logvar, z)
    mc_kl = (gaussian_log_density(z, mean, logvar) - standard_normal_log_density(z)).sum(1).mean()
    assert sum(t.item() for t in terms.values()) == pytest.approx(mc_kl.item(), rel=1e-4, abs=1e-4)
    weighted = BetaTCVAE(beta=5.0, alpha=2.0, gamma=3.0, full_decomposition=True)
    terms, logs = regularize(weighted, mean, logvar, z)
    assert terms["weighted_mi"].item() == pytest.approx(2.0 * logs["index_code_mi"], rel=1e-4)
    assert terms["weighted_tc"].item() == pytest.approx(5.0 * logs["total_correlation"], rel=1e-4)
    assert terms["weighted_dwkl"].item() == pytest.approx(3.0 * logs["dimension_wise_kl"], rel=1e-4)


def test_mss_needs_the_dataset_size_and_takes_it_from_configure():
    mean, logvar, z = batch()
    objective = BetaTCVAE(estimator="mss")
    with pytest.raises(ValueError, match="dataset size"):
        regularize(objective, mean, logvar, z)
    objective.configure(None, None, TinySquares())
    regularize(objective, mean, logvar, z)
    assert objective._dataset_size == 36
    fixed = BetaTCVAE(estimator="mss", dataset_size=100)
    fixed.configure(None, None, TinySquares())
    assert fixed._dataset_size == 100


def test_decomposition_gaussian_kl_and_priors():
    mean, logvar, z = batch(n=16)
    objective = Decomposition(beta=2.0, alpha=1.0)
    terms, logs = regularize(objective, mean, logvar, z)
    assert terms["beta_kl"].item() == pytest.approx(2.0 * gaussian_kl(mean, logvar).sum(1).mean().item(), rel=1e-5)
    assert terms["alpha_mmd"].item() > 0
    for prior in ("mixture", "sparse"):
        terms, logs = regularize(Decomposition(prior=prior), mean, logvar, z)
        assert all(torch.isfinite(t) for t in terms.values())


def test_autoencoder_is_deterministic_reconstruction_only():
    torch.manual_seed(0)
    model = VAE((1, 8, 8), 3)
    x = (torch.rand(5, 1, 8, 8) > 0.5).float()
    objective = Autoencoder()
    t1, _, step = objective(model, x, 0, torch.Generator().manual_seed(1))
    t2, _, _ = objective(model, x, 0, torch.Generator().manual_seed(2))
    assert list(t1) == ["reconstruction"] and torch.equal(t1["reconstruction"], t2["reconstruction"])
    assert torch.equal(step.z, model.encode(x)[0])


def test_factor_vae_gradients_stay_apart():
    torch.manual_seed(0)
    model = VAE((1, 8, 8), 4)
    objective = FactorVAE(gamma=10.0)
    objective.configure(model, None, None)
    x = (torch.rand(16, 1, 8, 8) > 0.5).float()
    generator = torch.Generator().manual_seed(3)
    terms, _, step = objective(model, x, 0, generator)
    # The TC term reaches the encoder ...
    tc_only = torch.autograd.grad(terms["weighted_tc"], list(model.encoder.parameters()), retain_graph=True,
                                  allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in tc_only)
    sum(terms.values()).backward()
    # ... but the VAE's loss (its TC term included) left no gradient on the discriminator.
    assert all(p.grad is None for p in objective.discriminator.parameters())
    encoder_grads = [p.grad.clone() for p in model.encoder.parameters()]
    decoder_grads = [p.grad.clone() for p in model.decoder.parameters()]
    before = [p.detach().clone() for p in objective.discriminator.parameters()]
    logs = objective.auxiliary_step(model, step)
    assert {"discriminator_loss", "discriminator_accuracy"} <= set(logs)
    # The discriminator's loss changed no encoder or decoder gradient ...
    assert all(torch.equal(p.grad, g) for p, g in zip(model.encoder.parameters(), encoder_grads))
    assert all(torch.equal(p.grad, g) for p, g in zip(model.decoder.parameters(), decoder_grads))
    # ... and did train the discriminator.
    assert any(not torch.equal(p, b) for p, b in zip(objective.discriminator.parameters(), before))


@pytest.mark.parametrize("name", NAMES)
def test_trains_end_to_end_and_is_reproducible(name, tmp_path, tiny):
    config = tiny_config(name)
    run = train(config, tmp_path / "a", progress=False, data=tiny)
    loss = read_log(run)["loss"].to_numpy()
    assert np.isfinite(loss).all()
    assert loss[-4:].mean() < loss[:2].mean()
    again = train(config, tmp_path / "b", progress=False, data=tiny)
    assert (run / "model.safetensors").read_bytes() == (again / "model.safetensors").read_bytes()
    first = load_file(run / read_manifest(run).checkpoint)
    second = load_file(again / read_manifest(again).checkpoint)
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.parametrize("name,params", [("beta-tcvae", {"estimator": "mss", "beta": 4.0}),
                                         ("decomposition", {"prior": "mixture", "alpha": 10.0})])
def test_save_load_round_trip(name, params, tmp_path, monkeypatch):
    monkeypatch.setitem(data_room.DATASETS, "tiny-squares", TinySquares)
    config = tiny_config(name, steps=4, **params)
    run = train(config, tmp_path / "r", progress=False)
    model, loaded = load_model(run)
    assert loaded == config and loaded.model.params == params
    weights = load_file(run / "model.safetensors")
    assert all(torch.equal(v.contiguous(), weights[k]) for k, v in model.state_dict().items())


def test_factor_vae_resume_is_bit_identical(tmp_path, tiny):
    config = tiny_config("factor-vae", steps=8)
    config.train.checkpoint_every = 4
    whole = train(config, tmp_path / "whole", progress=False, data=tiny)
    half = tiny_config("factor-vae", steps=4)
    half.train.checkpoint_every = 4
    train(half, tmp_path / "parts", progress=False, data=tiny)
    parts = train(config, tmp_path / "parts", progress=False, data=tiny)
    a = load_file(whole / read_manifest(whole).checkpoint)
    b = load_file(parts / read_manifest(parts).checkpoint)
    assert any(k.startswith("objective.discriminator") for k in a)
    assert any(k.startswith("objective_optimizer.discriminator") for k in a)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
