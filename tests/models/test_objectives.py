"""Every objective: loss terms against hand computations and known answers (closed forms, brute force, a
trained discriminator's TC against the Gaussian one), and end-to-end training."""

import math
import re

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import distributions as D

from untwine import data as data_room
from untwine.config import RunConfig
from untwine.estimators import gaussian_total_correlation, mmd, mmd_per_dimension
from untwine.models import (
    OBJECTIVES,
    VAE,
    AnnealedVAE,
    Autoencoder,
    BetaTCVAE,
    DIPVAEI,
    DIPVAEII,
    Decomposition,
    FactorVAE,
    Step,
    build_objective,
    gaussian_kl,
)
from untwine.models import beta_tcvae as beta_tcvae_module
from untwine.models.factor_vae import Discriminator, permute_dims
from untwine.run_files import read_manifest
from untwine.runs import load_model, read_log
from untwine.train import train

from tests.helpers.tiny import TinySquares


@pytest.fixture
def tiny():
    return TinySquares()


NAMES = [
    "vae",
    "beta-vae",
    "annealed-vae",
    "beta-tcvae",
    "factor-vae",
    "dip-vae-i",
    "dip-vae-ii",
    "decomposition",
    "ae",
    "qlae",
    "tripod",
    "ada-gvae",
    "ada-ml-vae",
    "gvae-labels",
    "ml-vae-labels",
]


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
    assert terms["dip"].item() == pytest.approx(2.0 * 0.5 + 20.0 * (1.5**2 + 0.5**2))
    assert terms["kl"].item() == pytest.approx(kl)
    # DIP-VAE-II: C = [[3, 0.5], [0.5, 2]], λ_d = λ_od = 2
    terms, _ = regularize(DIPVAEII(lambda_od=2.0), mean, logvar, mean)
    assert terms["dip"].item() == pytest.approx(2.0 * 0.5 + 2.0 * (2.0**2 + 1.0**2))


def correlated_gaussian_posteriors(n, seed, dtype=torch.float64):
    """Posteriors N(μ_i, s² I), μ_i ~ N(0, A), and one sample each: q(z) ≈ N(0, A + s² I) for large n."""
    g = torch.Generator().manual_seed(seed)
    chol = torch.linalg.cholesky(torch.tensor(COVARIANCE, dtype=dtype))
    mean = torch.randn(n, 3, generator=g, dtype=dtype) @ chol.T
    logvar = torch.full_like(mean, math.log(NOISE))
    z = mean + math.sqrt(NOISE) * torch.randn(mean.shape, generator=g, dtype=dtype)
    return mean, logvar, z


COVARIANCE, NOISE = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.2], [0.3, 0.2, 1.0]]), 0.3
AGGREGATE = COVARIANCE + NOISE * np.eye(3)
# closed forms for Gaussian posteriors with Gaussian means: MI = ½ log det(Σ/s²), TC = −½ log det(correlation),
# dimension-wise KL = Σ_k ½(Σ_kk − 1 − log Σ_kk)
EXACT = {
    "index_code_mi": 0.5 * np.linalg.slogdet(AGGREGATE / NOISE)[1],
    "total_correlation": gaussian_total_correlation(AGGREGATE),
    "dimension_wise_kl": sum(0.5 * (v - 1 - math.log(v)) for v in np.diag(AGGREGATE)),
}
TOLERANCE = {"index_code_mi": 0.12, "total_correlation": 0.03, "dimension_wise_kl": 0.015}


@pytest.mark.parametrize("estimator", ["mws", "mss"])
def test_beta_tcvae_terms_are_the_closed_form_parts(estimator):
    """On 2,048 Gaussian posteriors the three minibatch-estimated parts are the closed forms; each weight
    multiplies its own part: (β − 1)·TC beside the analytic KL, or α·MI + β·TC + γ·dwKL."""
    mean, logvar, z = correlated_gaussian_posteriors(2048, seed=0)
    kl = gaussian_kl(mean, logvar).sum(1).mean()
    terms, logs = regularize(BetaTCVAE(beta=4.0, estimator=estimator, dataset_size=10**9), mean, logvar, z)
    assert set(terms) == {"kl", "weighted_tc"} and float(terms["kl"]) == pytest.approx(float(kl), rel=1e-12)
    assert float(terms["weighted_tc"]) / 3.0 == pytest.approx(EXACT["total_correlation"], abs=0.03)
    assert float(regularize(BetaTCVAE(beta=1.0), mean, logvar, z)[0]["weighted_tc"]) == 0.0
    full = BetaTCVAE(beta=5.0, alpha=2.0, gamma=3.0, full_decomposition=True, estimator=estimator, dataset_size=10**9)
    terms, logs = regularize(full, mean, logvar, z)
    assert set(terms) == {"weighted_mi", "weighted_tc", "weighted_dwkl"}
    for term, weight, part in (
        ("weighted_mi", 2.0, "index_code_mi"),
        ("weighted_tc", 5.0, "total_correlation"),
        ("weighted_dwkl", 3.0, "dimension_wise_kl"),
    ):
        assert float(terms[term]) / weight == pytest.approx(EXACT[part], abs=TOLERANCE[part]), term
        assert logs[part] == pytest.approx(EXACT[part], abs=TOLERANCE[part]), part


def mss_tc_by_hand(z, mean, logvar, dataset_size):
    """Chen et al.'s MSS estimate of the TC written out in numpy (Appendix C weights)."""
    z, mean, logvar = (t.double().numpy() for t in (z, mean, logvar))
    b, n = len(z), dataset_size
    w = np.full((b, b), 1 / (b - 1))
    for i in range(b):
        w[i, (i + 1) % b] = (n - b + 1) / (n * (b - 1))
        w[i, i] = 1 / n
    pairs = -0.5 * (np.log(2 * np.pi) + logvar[None] + (z[:, None] - mean[None]) ** 2 / np.exp(logvar[None]))
    log_qz = np.log((w * np.exp(pairs.sum(2))).sum(1))
    log_marginals = np.log((w[:, :, None] * np.exp(pairs)).sum(1))
    return float(np.mean(log_qz - log_marginals.sum(1)))


class TinySquaresWithInstances(TinySquares):
    """TinySquares whose 36 points each come as 10 distinct images (as SmallNORB's instances)."""

    num_observations = 360


def test_mss_uses_the_datasets_number_of_observations():
    mean, logvar, z = batch(n=16)
    objective = BetaTCVAE(estimator="mss")
    with pytest.raises(ValueError, match="dataset size"):
        regularize(objective, mean, logvar, z)
    for data, size in ((TinySquares(), 36), (TinySquaresWithInstances(), 360)):
        objective.configure(None, None, data)
        _, logs = regularize(objective, mean, logvar, z)
        assert logs["total_correlation"] == pytest.approx(mss_tc_by_hand(z, mean, logvar, size), rel=1e-5)
    assert mss_tc_by_hand(z, mean, logvar, 360) != pytest.approx(mss_tc_by_hand(z, mean, logvar, 16), rel=1e-3)
    fixed = BetaTCVAE(estimator="mss", dataset_size=100)
    fixed.configure(None, None, TinySquaresWithInstances())
    _, logs = regularize(fixed, mean, logvar, z)
    assert logs["total_correlation"] == pytest.approx(mss_tc_by_hand(z, mean, logvar, 100), rel=1e-5)


@pytest.mark.parametrize("data,size", [(TinySquaresWithInstances(), 360), (TinySquares(), 36)])
def test_the_trainer_hands_the_datasets_n_to_the_mss_estimator(data, size, tmp_path, monkeypatch):
    """Through untwine.train.train: the estimator sees N = num_observations (or prod(factor_sizes)), never
    the batch size."""
    seen = []
    original = beta_tcvae_module.decompose_kl

    def spy(*args, **kwargs):
        seen.append(kwargs["dataset_size"])
        return original(*args, **kwargs)

    monkeypatch.setattr(beta_tcvae_module, "decompose_kl", spy)
    train(tiny_config("beta-tcvae", steps=3, estimator="mss"), tmp_path / "r", progress=False, data=data)
    assert seen == [size] * 3


def mixture_prior_by_hand(components, radius, scale, d):
    """The documented placement: component k at ±radius on axis k // 2, sign (−1)^k, equal weights."""
    means = torch.zeros(components, d, dtype=torch.float64)
    for k in range(components):
        means[k, k // 2] = radius if k % 2 == 0 else -radius
    return D.MixtureSameFamily(
        D.Categorical(torch.ones(components, dtype=torch.float64)), D.Independent(D.Normal(means, scale), 1)
    )


def test_decomposition_kl_is_to_the_structured_prior():
    """β·KL(q(z|x) ‖ p(z)) with p the chosen prior, computed here with torch.distributions: closed form for
    N(0, σ*² I), the one-sample estimate log q(z|x) − log p(z) at the step's z for the mixture and sparse
    priors (not the KL to N(0, I))."""
    mean, logvar, z = (t.double() for t in batch(n=16))
    q = D.Independent(D.Normal(mean, torch.exp(0.5 * logvar)), 1)
    terms, logs = regularize(Decomposition(beta=2.0, prior_scale=2.0), mean, logvar, z)
    wide = D.Independent(D.Normal(torch.zeros(4, dtype=torch.float64), 2.0), 1)
    assert float(terms["beta_kl"]) == pytest.approx(2.0 * float(D.kl_divergence(q, wide).mean()), rel=1e-10)
    assert logs["kl"] == pytest.approx(float(D.kl_divergence(q, wide).mean()), rel=1e-10)
    mixture = mixture_prior_by_hand(3, 1.5, 0.7, 4)
    terms, _ = regularize(
        Decomposition(beta=2.0, prior="mixture", components=3, component_radius=1.5, component_scale=0.7),
        mean,
        logvar,
        z,
    )
    expected = (q.log_prob(z) - mixture.log_prob(z)).mean()
    assert float(terms["beta_kl"]) == pytest.approx(2.0 * float(expected), rel=1e-10)
    per_latent = D.MixtureSameFamily(
        D.Categorical(torch.tensor([0.4, 0.6], dtype=torch.float64)),
        D.Normal(torch.zeros(2, dtype=torch.float64), torch.tensor([1.0, 0.1], dtype=torch.float64)),
    )
    terms, _ = regularize(Decomposition(beta=3.0, prior="sparse", sparsity=0.6, spike_scale=0.1), mean, logvar, z)
    expected = (q.log_prob(z) - per_latent.log_prob(z).sum(1)).mean()
    assert float(terms["beta_kl"]) == pytest.approx(3.0 * float(expected), rel=1e-10)
    standard = gaussian_kl(mean, logvar).sum(1).mean()
    assert abs(float(expected) - float(standard)) > 0.5


def test_decomposition_mmd_compares_the_codes_with_prior_samples():
    """α·MMD²(z, y) with y drawn from the prior with the step's generator, after the reparameterisation: the
    joint MMD² with the WAE bandwidth from the prior's per-latent variance σ² (C = 2·d·σ², h = √(d·σ²)), or
    Mathieu et al.'s per-dimension sum."""
    mean, logvar, z = (t.double() for t in batch(n=16))
    for objective in (
        Decomposition(alpha=3.0, prior="mixture"),
        Decomposition(alpha=3.0, prior="sparse"),
        Decomposition(alpha=3.0, prior_scale=2.0, kernel="gaussian"),
        Decomposition(alpha=3.0, prior="mixture", mmd="per-dimension"),
    ):
        terms, logs = regularize(objective, mean, logvar, z, generator=torch.Generator().manual_seed(5))
        samples = objective.prior.sample(16, 4, torch.Generator().manual_seed(5), dtype=torch.float64)
        if objective.mmd == "joint":
            variance = objective.prior.variance(4)
            bandwidth = 2 * 4 * variance if objective.kernel == "imq" else math.sqrt(4 * variance)
            expected = mmd(z, samples, objective.kernel, bandwidth)
        else:
            expected = mmd_per_dimension(z, samples)
        assert float(terms["alpha_mmd"]) == pytest.approx(3.0 * float(expected), rel=1e-10)
        assert logs["mmd"] == pytest.approx(float(expected), rel=1e-10)
    assert Decomposition(bandwidth=5.0).kernel_bandwidth(4) == 5.0
    assert Decomposition(prior="mixture").kernel_bandwidth(4) == pytest.approx(2 * 4 * (0.25 + 4.0 / 4))
    with pytest.raises(ValueError, match="joint, per-dimension"):
        Decomposition(mmd="energy")
    with pytest.raises(ValueError, match="kernel and bandwidth"):
        Decomposition(mmd="per-dimension", kernel="gaussian")
    with pytest.raises(ValueError, match="kernel and bandwidth"):
        Decomposition(mmd="per-dimension", bandwidth=1.0)


def test_autoencoder_is_deterministic_reconstruction_only():
    torch.manual_seed(0)
    model = VAE((1, 8, 8), 3)
    x = (torch.rand(5, 1, 8, 8) > 0.5).float()
    objective = Autoencoder()
    t1, _, step = objective(model, x, 0, torch.Generator().manual_seed(1))
    t2, _, _ = objective(model, x, 0, torch.Generator().manual_seed(2))
    assert list(t1) == ["reconstruction"] and torch.equal(t1["reconstruction"], t2["reconstruction"])
    assert torch.equal(step.z, model.encode(x)[0])


def test_permute_dims_shuffles_each_dimension_independently():
    """Each column is a permutation of its own values, and the columns are permuted independently: two
    identical columns stay equal in about 1/B of the rows (not all of them)."""
    z = torch.arange(1000, dtype=torch.float32)[:, None].repeat(1, 3)
    shuffled = permute_dims(z, torch.Generator().manual_seed(0))
    for k in range(3):
        assert torch.equal(shuffled[:, k].sort().values, z[:, k])
        assert (shuffled[:, k] != z[:, k]).float().mean() > 0.95
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert (shuffled[:, a] == shuffled[:, b]).float().mean() < 0.01
    # samples of Π_k q(z_k): the correlation of a perfectly correlated pair is gone
    assert abs(float(torch.corrcoef(shuffled[:, :2].T)[0, 1])) < 0.1


class SmallFactorVAE(FactorVAE):
    discriminator_hidden = 64
    discriminator_layers = 2


def test_a_trained_discriminator_estimates_the_gaussian_tc():
    """Kim & Mnih's density-ratio trick: trained to tell z ~ q(z) (class 0) from permuted batches (class 1),
    D's logit difference on q(z) averages to TC = −½ log det(correlation) (0.67 nats here). A flipped sign or
    swapped labels give −0.67, one shared permutation for all dimensions gives 0."""
    covariance = np.array([[1.0, 0.8, 0.3], [0.8, 1.0, 0.5], [0.3, 0.5, 1.0]])
    chol = torch.linalg.cholesky(torch.tensor(covariance, dtype=torch.float32))
    torch.manual_seed(0)
    objective = SmallFactorVAE(gamma=2.0, discriminator_lr=1e-3)
    objective.configure(VAE((4,), 3), None, None)
    assert [m.out_features for m in objective.discriminator.net if isinstance(m, torch.nn.Linear)] == [64, 64, 2]
    g = torch.Generator().manual_seed(0)
    estimates = []
    for it in range(900):
        z = torch.randn(256, 3, generator=g) @ chol.T
        objective.auxiliary_step(None, Step(x=None, mean=z, logvar=z, z=z, decoded=None, step=it, generator=g))
        if it >= 600 and it % 50 == 0:
            z = torch.randn(20_000, 3, generator=g) @ chol.T
            terms, logs = regularize(objective, z, z, z, generator=g)
            estimates.append(logs["tc_estimate"])
            assert float(terms["weighted_tc"]) == pytest.approx(2.0 * logs["tc_estimate"], rel=1e-5)
    assert np.mean(estimates) == pytest.approx(gaussian_total_correlation(covariance), abs=0.12)


def test_discriminator_loss_labels_q_as_zero_and_permuted_as_one():
    torch.manual_seed(0)
    objective = SmallFactorVAE()
    objective.configure(VAE((4,), 3), None, None)
    z = torch.randn(8, 3)
    loss, logits, labels = objective.discriminator_loss(z, torch.Generator().manual_seed(1))
    loss, logits = loss.detach(), logits.detach()
    assert labels.tolist() == [0] * 8 + [1] * 8
    permuted = permute_dims(z, torch.Generator().manual_seed(1))
    expected_logits = objective.discriminator(torch.cat([z, permuted])).detach()
    assert torch.allclose(logits, expected_logits)
    log_p = torch.log_softmax(expected_logits, dim=1)
    assert float(loss) == pytest.approx(-float((log_p[:8, 0].sum() + log_p[8:, 1].sum()) / 16), rel=1e-5)
    with pytest.raises(RuntimeError, match="configure"):
        FactorVAE().regularizer(Step(x=None, mean=z, logvar=z, z=z, decoded=None, step=0))
    assert isinstance(objective.discriminator, Discriminator) and set(objective.optimizers()) == {"discriminator"}
    assert FactorVAE().optimizers() == {}


def test_factor_vae_gradients_stay_apart():
    torch.manual_seed(0)
    model = VAE((1, 8, 8), 4)
    objective = FactorVAE(gamma=10.0)
    objective.configure(model, None, None)
    x = (torch.rand(16, 1, 8, 8) > 0.5).float()
    generator = torch.Generator().manual_seed(3)
    terms, _, step = objective(model, x, 0, generator)
    # The TC term reaches the encoder ...
    tc_only = torch.autograd.grad(
        terms["weighted_tc"], list(model.encoder.parameters()), retain_graph=True, allow_unused=True
    )
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


@pytest.mark.parametrize(
    "name,params",
    [("beta-tcvae", {"estimator": "mss", "beta": 4.0}), ("decomposition", {"prior": "mixture", "alpha": 10.0})],
)
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


# -- the documented defaults and the exact messages of bad hyperparameters --------------------------

DEFAULTS = {  # (attribute, documented default), docs/objectives.md
    "vae": {"beta": 1.0},
    "beta-vae": {"beta": 1.0},
    "annealed-vae": {"gamma": 1000.0, "c_max": 25.0, "iteration_threshold": 100_000},
    "beta-tcvae": {
        "beta": 6.0,
        "estimator": "mws",
        "full_decomposition": False,
        "alpha": 1.0,
        "gamma": 1.0,
        "dataset_size": 0,
        "_dataset_size": None,
    },
    "factor-vae": {"gamma": 10.0, "discriminator_lr": 1e-4, "discriminator_hidden": 1000, "discriminator_layers": 6},
    "dip-vae-i": {"lambda_od": 10.0, "lambda_d_factor": 10.0, "lambda_d": 100.0},
    "dip-vae-ii": {"lambda_od": 10.0, "lambda_d_factor": 1.0, "lambda_d": 10.0},
    "decomposition": {
        "beta": 1.0,
        "alpha": 100.0,
        "prior_name": "gaussian",
        "kernel": "imq",
        "bandwidth": 0.0,
        "mmd": "joint",
    },
    "ae": {},
    "qlae": {"codebook_size": 10, "quantization_weight": 0.01, "commitment_weight": 0.01, "weight_decay": 0.1},
    "tripod": {
        "levels": 12,
        "klm_weight": 1e-4,
        "nhp_weight": 1e-2,
        "epsilon": 0.1,
        "num_perturbations": 2,
        "nhp_ratio": "batch",
        "weight_decay": 0.0,
    },
    "ada-gvae": {"beta": 1.0, "k": -1, "averaging": "group", "paired": True, "uses_labels": False},
    "ada-ml-vae": {"beta": 1.0, "k": -1, "averaging": "ml", "paired": True, "uses_labels": False},
    "gvae-labels": {"beta": 1.0, "k": 1, "averaging": "group", "paired": True, "uses_labels": True},
    "ml-vae-labels": {"beta": 1.0, "k": 1, "averaging": "ml", "paired": True, "uses_labels": True},
}


@pytest.mark.parametrize("name", NAMES)
def test_defaults_are_the_documented_ones(name):
    objective = OBJECTIVES[name]()
    for attribute, value in DEFAULTS[name].items():
        assert getattr(objective, attribute) == value, attribute
    assert objective.deterministic is (name in ("ae", "qlae", "tripod"))


def test_the_decomposition_priors_default_to_the_papers():
    assert repr(Decomposition().prior) == "GaussianPrior(scale=1.0)"
    assert repr(Decomposition(prior="mixture").prior) == "MixturePrior(components=4, radius=2.0, component_scale=0.5)"
    assert repr(Decomposition(prior="sparse").prior) == "SparsePrior(sparsity=0.8, spike_scale=0.05)"
    assert (
        repr(Decomposition(prior="sparse", sparsity=0.3, spike_scale=0.2).prior)
        == "SparsePrior(sparsity=0.3, spike_scale=0.2)"
    )


@pytest.mark.parametrize(
    "name,params,message",
    [
        ("beta-vae", {"beta": -1}, "hyperparameter beta must be a finite non-negative number, got -1.0"),
        ("beta-tcvae", {"beta": -1}, "hyperparameter beta must be a finite non-negative number, got -1.0"),
        (
            "beta-tcvae",
            {"alpha": -2, "full_decomposition": True},
            "hyperparameter alpha must be a finite non-negative number, got -2.0",
        ),
        (
            "beta-tcvae",
            {"gamma": -3, "full_decomposition": True},
            "hyperparameter gamma must be a finite non-negative number, got -3.0",
        ),
        (
            "beta-tcvae",
            {"dataset_size": -1},
            "hyperparameter dataset_size (0: take it from the dataset) must be a whole number ≥ 0, got -1",
        ),
        (
            "beta-tcvae",
            {"full_decomposition": "yes"},
            "hyperparameter full_decomposition must be true or false, got 'yes'",
        ),
        (
            "beta-tcvae",
            {"gamma": 2.0},
            "alpha (index-code MI) and gamma (dimension-wise KL) weigh the terms of the full "
            "decomposition; set full_decomposition=true to use them",
        ),
        ("annealed-vae", {"gamma": -1}, "hyperparameter gamma must be a finite non-negative number, got -1.0"),
        ("annealed-vae", {"c_max": -1}, "hyperparameter c_max must be a finite non-negative number, got -1.0"),
        (
            "annealed-vae",
            {"iteration_threshold": -1},
            "hyperparameter iteration_threshold (steps) must be a whole number ≥ 0, got -1",
        ),
        ("factor-vae", {"gamma": -1}, "hyperparameter gamma must be a finite non-negative number, got -1.0"),
        (
            "factor-vae",
            {"discriminator_lr": 0},
            "hyperparameter discriminator_lr must be a finite positive number, got 0.0",
        ),
        ("dip-vae-i", {"lambda_od": -1}, "hyperparameter lambda_od must be a finite non-negative number, got -1.0"),
        (
            "dip-vae-ii",
            {"lambda_d_factor": -1},
            "hyperparameter lambda_d_factor must be a finite non-negative number, got -1.0",
        ),
        ("decomposition", {"beta": -1}, "hyperparameter beta must be a finite non-negative number, got -1.0"),
        ("decomposition", {"alpha": -1}, "hyperparameter alpha must be a finite non-negative number, got -1.0"),
        (
            "decomposition",
            {"bandwidth": -1},
            "hyperparameter bandwidth (0: the WAE rule) must be a finite non-negative number, got -1.0",
        ),
        ("decomposition", {"kernel": "linear"}, "unknown kernel 'linear'; valid: imq, gaussian"),
        ("decomposition", {"mmd": "energy"}, "unknown mmd 'energy'; valid: joint, per-dimension"),
    ],
)
def test_bad_hyperparameters_name_themselves_exactly(name, params, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        build_objective(name, params)


@pytest.mark.parametrize(
    "name,zeroed",
    [
        ("beta-vae", "beta"),
        ("beta-tcvae", "beta"),
        ("annealed-vae", "gamma"),
        ("annealed-vae", "c_max"),
        ("annealed-vae", "iteration_threshold"),
        ("factor-vae", "gamma"),
        ("dip-vae-i", "lambda_od"),
        ("dip-vae-ii", "lambda_d_factor"),
        ("decomposition", "alpha"),
        ("decomposition", "beta"),
    ],
)
def test_zero_weights_are_allowed(name, zeroed):
    assert getattr(build_objective(name, {zeroed: 0}), zeroed) == 0
    full = build_objective("beta-tcvae", {"full_decomposition": True, "alpha": 0, "gamma": 0})
    assert full.alpha == full.gamma == 0


def test_mss_without_n_says_how_to_give_it():
    mean, logvar, z = batch()
    with pytest.raises(
        ValueError,
        match=r"^the MSS estimator needs the dataset size: train through untwine.train "
        r"\(which passes the dataset to configure\), call configure\(model, "
        r"train_config, data\), or set the hyperparameter dataset_size$",
    ):
        regularize(BetaTCVAE(estimator="mss"), mean, logvar, z)


# -- FactorVAE: the reference's discriminator and optimiser, seeds, devices ----------------------------


def test_the_discriminator_is_the_references():
    """6 hidden layers of 1000 units with leaky ReLU (slope 0.2) and 2 logits."""
    net = Discriminator(5).net
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(5, 1000)] + [(1000, 1000)] * 5 + [(1000, 2)]
    slopes = [m.negative_slope for m in net if isinstance(m, torch.nn.LeakyReLU)]
    assert slopes == [0.2] * 6


def test_factor_vae_configure_builds_from_the_runs_seed_with_the_references_adam():
    from untwine.config import TrainConfig

    def first_weight(train_config):
        objective = SmallFactorVAE(discriminator_lr=3e-4)
        objective.configure(VAE((4,), 3), train_config, None)
        return objective, objective.discriminator.net[0].weight.detach().clone()

    objective, default = first_weight(None)
    _, seed0 = first_weight(TrainConfig(seed=0))
    _, seed3 = first_weight(TrainConfig(seed=3))
    _, seed3_again = first_weight(TrainConfig(seed=3))
    assert torch.equal(default, seed0) and torch.equal(seed3, seed3_again) and not torch.equal(seed0, seed3)
    group = objective.optimizers()["discriminator"].param_groups[0]
    assert group["lr"] == 3e-4 and group["betas"] == (0.5, 0.9) and group["fused"] is True
    # the discriminator goes where the model is
    on_meta = SmallFactorVAE()
    on_meta.configure(VAE((4,), 3).to("meta"), None, None)
    assert next(on_meta.discriminator.parameters()).device.type == "meta"


def test_factor_vae_terms_steps_and_devices():
    torch.manual_seed(0)
    objective = SmallFactorVAE(gamma=3.0)
    objective.configure(VAE((4,), 3), None, None)
    mean, logvar, z = batch(n=16, d=3)
    terms, logs = regularize(objective, mean, logvar, z)
    assert set(terms) == {"kl", "weighted_tc"}
    assert float(terms["kl"]) == pytest.approx(float(gaussian_kl(mean, logvar).sum(1).mean()), rel=1e-6)
    # the accuracy logged is that of the logits before the update
    g = torch.Generator().manual_seed(9)
    _, logits, labels = objective.discriminator_loss(z, torch.Generator().manual_seed(9))
    expected = float((logits.detach().argmax(1) == labels).float().mean())
    logs = objective.auxiliary_step(
        None, Step(x=None, mean=mean, logvar=logvar, z=z, decoded=None, step=0, generator=g)
    )
    assert logs["discriminator_accuracy"] == pytest.approx(expected)
    assert all(p.grad is not None for p in objective.discriminator.parameters())
    # on another device everything stays there
    meta = torch.zeros(6, 3, device="meta")
    assert permute_dims(meta).device.type == "meta"
    objective.discriminator = Discriminator(3, 8, 1).to("meta")
    loss, logits, labels = objective.discriminator_loss(meta)
    assert loss.device.type == labels.device.type == "meta"
    with pytest.raises(
        RuntimeError,
        match=r"^FactorVAE's discriminator is built by configure\(model, train_config, "
        r"data\); train through untwine.train, or call configure first$",
    ):
        FactorVAE().auxiliary_step(None, Step(x=None, mean=z, logvar=z, z=z, decoded=None, step=0))


def test_annealed_capacity_without_a_ramp_is_full_at_once():
    objective = AnnealedVAE(c_max=7.0, iteration_threshold=0)
    assert objective.capacity(0) == objective.capacity(10**6) == 7.0
    mean, logvar, z = batch()
    kl = float(gaussian_kl(mean, logvar).sum(1).mean())
    terms, logs = regularize(AnnealedVAE(gamma=2.0, c_max=7.0, iteration_threshold=0), mean, logvar, z)
    assert set(terms) == {"capacity_kl"} and float(terms["capacity_kl"]) == pytest.approx(2.0 * abs(kl - 7.0), rel=1e-6)
    assert logs == {"kl": pytest.approx(kl, rel=1e-6), "capacity": 7.0}


def test_dip_and_beta_vae_terms_are_named_and_weighted():
    mean, logvar, z = batch()
    kl = float(gaussian_kl(mean, logvar).sum(1).mean())
    terms, logs = regularize(OBJECTIVES["beta-vae"](beta=3.0), mean, logvar, z)
    assert set(terms) == {"beta_kl"} and float(terms["beta_kl"]) == pytest.approx(3.0 * kl, rel=1e-6) and logs == {}
    assert OBJECTIVES["vae"]().beta == 1.0 and OBJECTIVES["vae"].hyperparameters() == {}
    for name in ("dip-vae-i", "dip-vae-ii"):
        terms, logs = regularize(OBJECTIVES[name](), mean, logvar, z)
        assert set(terms) == {"kl", "dip"} and logs == {} and float(terms["kl"]) == pytest.approx(kl, rel=1e-6)
    assert regularize(Autoencoder(), mean, logvar, z) == ({}, {})


def test_dip_covariances_by_hand_with_a_shifted_mean():
    """Cov[μ] does not see a shift of μ; DIP-VAE-II adds E[σ²] to the diagonal."""
    from untwine.models.dip_vae import dip_covariance, mean_covariance

    mean = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [2.0, 0.0], [-2.0, 0.0]]) + torch.tensor([5.0, -3.0])
    logvar = torch.log(torch.tensor([[0.5, 1.5], [0.5, 1.5], [1.5, 0.5], [1.5, 0.5]]))
    expected = torch.tensor([[2.5, 0.5], [0.5, 0.5]])
    assert torch.allclose(mean_covariance(mean), expected)
    assert torch.allclose(dip_covariance(mean, logvar, False), expected)
    assert torch.allclose(dip_covariance(mean, logvar, True), expected + torch.diag(torch.tensor([1.0, 1.0])))


def test_decomposition_bandwidth_and_per_dimension_messages():
    assert Decomposition(bandwidth=0.5).kernel_bandwidth(4) == 0.5
    assert Decomposition(kernel="gaussian", bandwidth=0.7).kernel_bandwidth(4) == 0.7
    with pytest.raises(
        ValueError,
        match=r"^kernel and bandwidth choose the joint MMD; mmd='per-dimension' is "
        r"Mathieu et al.'s IMQ at the scales \(0.1, 0.2, 0.5, 1.0, 2.0, 5.0\): leave "
        r"kernel and bandwidth at their defaults$",
    ):
        Decomposition(mmd="per-dimension", bandwidth=1.0)


def test_the_logged_accuracy_counts_the_right_guesses(monkeypatch):
    """3 of 4 logits argmax to their label: accuracy 0.75 (an untrained discriminator's 0.5 hides a flipped
    comparison)."""
    torch.manual_seed(0)
    objective = SmallFactorVAE()
    objective.configure(VAE((4,), 3), None, None)
    real = objective.discriminator_loss
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, 2.0], [2.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 1])

    def crafted(z, generator=None):
        loss, _, _ = real(z, generator)
        return loss, logits, labels

    monkeypatch.setattr(objective, "discriminator_loss", crafted)
    z = torch.randn(2, 3)
    logs = objective.auxiliary_step(None, Step(x=None, mean=z, logvar=z, z=z, decoded=None, step=0))
    assert logs["discriminator_accuracy"] == 0.75
