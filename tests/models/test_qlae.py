"""QLAE (Hsu et al. 2023): the scalar codebooks, the straight-through code, the loss against hand computations,
AdamW's weight decay, training, the quantized representation and a bit-identical resume."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from untwine.models import (
    OBJECTIVES,
    QLAE,
    VAE,
    DeterministicCodeError,
    ModelConfig,
    ScalarCodebooks,
    Step,
    build_model,
    build_objective,
)
from untwine.models.vae import straight_through
from untwine.run_files import read_manifest
from untwine.runs import load_model, read_log
from untwine.train import make_optimizer, train

from tests.helpers.tiny import TinySquares
from tests.models.test_objectives import tiny_config as objective_config


@pytest.fixture
def tiny():
    return TinySquares()


def tiny_config(steps=30, seed=0, **params):
    """The objectives' tiny run (tests/models/test_objectives.py) with QLAE."""
    return objective_config("qlae", steps=steps, seed=seed, **params)


def hand_codebooks(rows):
    codebooks = ScalarCodebooks(len(rows), len(rows[0]))
    with torch.no_grad():
        codebooks.values.copy_(torch.tensor(rows))
    return codebooks


def small_model(latent_dim=3, seed=0):
    torch.manual_seed(seed)
    return build_model(ModelConfig(objective="qlae", latent_dim=latent_dim), (6,))


# -- the codebooks ---------------------------------------------------------------------------------------


def test_codebooks_start_evenly_spaced_in_minus_half_half():
    codebooks = ScalarCodebooks(3, 10)
    assert codebooks.values.shape == (3, 10) and codebooks.values.requires_grad
    expected = torch.tensor([-0.5 + k / 9 for k in range(10)])
    for row in codebooks.values.detach():
        assert torch.allclose(row, expected, atol=1e-7, rtol=0)
        assert torch.allclose(row.diff(), torch.full((9,), 1 / 9), atol=1e-6, rtol=0)
    assert ScalarCodebooks(1, 2).values.tolist() == [[-0.5, 0.5]]
    assert ScalarCodebooks(3).values.shape == (3, 10)  # the paper's 10 values by default
    with pytest.raises(ValueError, match=r"^latent_dim must be a whole number ≥ 1, got 0$"):
        ScalarCodebooks(0, 10)
    assert ScalarCodebooks(2, 3).values.tolist() == [[-0.5, 0.0, 0.5]] * 2


def test_the_model_owns_the_codebooks_and_saves_them():
    model, objective = small_model(latent_dim=5)
    assert isinstance(model.quantizer, ScalarCodebooks) and model.quantizer.values.shape == (5, 10)
    assert "quantizer.values" in model.state_dict()
    assert any(p is model.quantizer.values for p in model.parameters())
    assert not list(objective.parameters())
    assert VAE((6,), 5).quantizer is None and "quantizer.values" not in VAE((6,), 5).state_dict()
    means = torch.randn(4, 5)
    assert VAE((6,), 5).code(means) is means  # without codebooks the code is the posterior mean
    assert torch.equal(model.code(means), model.quantizer(means))
    model, _ = build_model(ModelConfig(objective="qlae", latent_dim=2, params={"codebook_size": 4}), (6,))
    assert model.quantizer.values.shape == (2, 4)


def test_the_quantizer_picks_each_latents_nearest_value_of_its_own_codebook():
    codebooks = hand_codebooks([[-1.0, 0.0, 1.0], [0.0, 10.0, 20.0]])
    z = torch.tensor([[0.4, 14.0], [-0.6, 16.0], [0.5, -3.0], [7.0, 9.0], [-0.49, 5.0]])
    # 0.5 lies halfway between 0 and 1, 5 halfway between 0 and 10: the first (the lower) wins, as argmin's
    assert codebooks.indices(z).tolist() == [[1, 1], [0, 2], [1, 0], [2, 1], [1, 0]]
    assert codebooks(z).tolist() == [[0.0, 10.0], [-1.0, 20.0], [0.0, 0.0], [1.0, 10.0], [0.0, 0.0]]
    # the same inputs against the other latent's codebook give other values: each latent has its own
    swapped = hand_codebooks([[0.0, 10.0, 20.0], [-1.0, 0.0, 1.0]])
    assert swapped(z).tolist() == [[0.0, 1.0], [0.0, 1.0], [0.0, -1.0], [10.0, 1.0], [0.0, 1.0]]


def test_the_nearest_value_is_the_brute_force_one():
    g = torch.Generator().manual_seed(3)
    codebooks = hand_codebooks(torch.randn(4, 7, generator=g).tolist())
    z = 2 * torch.randn(50, 4, generator=g)
    q = codebooks(z)
    for n in range(50):
        for j in range(4):
            distances = [abs(float(z[n, j]) - float(v)) for v in codebooks.values.detach()[j]]
            assert float(q[n, j].detach()) == float(codebooks.values.detach()[j, int(np.argmin(distances))])


def test_the_straight_through_code_is_the_quantized_value_with_the_identity_gradient():
    codebooks = hand_codebooks([[-1.0, 0.0, 1.0], [0.0, 10.0, 20.0]])
    z = torch.tensor([[0.1, 13.0], [-0.7, 21.0]], requires_grad=True)
    q = codebooks(z)
    code = straight_through(z, q)
    assert torch.equal(code, q) and torch.equal(code, torch.tensor([[0.0, 10.0], [-1.0, 20.0]]))
    weights = torch.tensor([[1.0, -2.0], [3.0, 0.5]])
    (code * weights).sum().backward()
    assert torch.equal(z.grad, weights)  # d code / d z = I
    assert codebooks.values.grad is None  # nothing reaches the codebooks through the straight-through code
    # the quantizer itself gives z no gradient
    z2 = z.detach().clone().requires_grad_()
    codebooks(z2).sum().backward()
    assert z2.grad is None
    assert codebooks.values.grad.tolist() == [[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]


def test_values_that_would_round_are_passed_on_exactly():
    # z + (q − z) is not q in float32 (about a third of random pairs round); the code must be q exactly
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1000, 4, generator=g).requires_grad_()
    q = ScalarCodebooks(1, 10).values.detach()[0, torch.randint(0, 10, (1000, 4), generator=g)]
    assert not torch.equal(z + (q - z), q)
    assert torch.equal(straight_through(z, q), q)


# -- the loss ----------------------------------------------------------------------------------------------


def test_the_loss_is_reconstruction_plus_the_two_weighted_terms_by_hand():
    model, objective = small_model(latent_dim=3)
    x = torch.tensor([[0.0, 1.0, 0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0, 0.0, 1.0]])
    terms, logs, step = objective(model, x, 0)
    assert set(terms) == {"reconstruction", "quantization", "commitment"}
    with torch.no_grad():
        mean = model.encoder(x)[0]
        values = model.quantizer.values
        q = torch.stack(
            [torch.stack([values[j, (values[j] - mean[n, j]).abs().argmin()] for j in range(3)]) for n in range(2)]
        )
        decoded = model.decoder(q)
        bce = -(x * torch.log(torch.sigmoid(decoded)) + (1 - x) * torch.log(1 - torch.sigmoid(decoded)))
        reconstruction = bce.sum(1).mean()
        squared = ((mean - q) ** 2).sum() / 6  # the mean over 2 examples × 3 latents
    assert torch.equal(step.mean, mean) and torch.equal(step.quantized, q) and torch.equal(step.z, q)
    assert terms["reconstruction"].item() == pytest.approx(reconstruction.item(), rel=1e-5)
    # P = 6 entries per observation: the authors' per-pixel mean, times 6
    assert terms["quantization"].item() == pytest.approx(0.01 * 6 * squared.item(), rel=1e-6)
    assert terms["commitment"].item() == pytest.approx(0.01 * 6 * squared.item(), rel=1e-6)
    assert logs == {"quantization_error": pytest.approx(squared.item(), rel=1e-6)}
    assert "kl" not in logs and "elbo" not in logs  # no posterior, no KL


def test_the_weights_and_the_observation_size_scale_the_terms():
    objective = QLAE(quantization_weight=0.5, commitment_weight=2.0)
    mean = torch.tensor([[0.2, -0.1], [0.0, 0.4]])
    q = torch.tensor([[0.0, 0.0], [0.1, 0.5]])
    x = torch.zeros(2, 1, 3, 4)  # P = 12
    step = Step(x=x, mean=mean, logvar=torch.zeros(2, 2), z=q, decoded=None, step=0, quantized=q)
    terms, logs = objective.regularizer(step)
    squared = (0.04 + 0.01 + 0.01 + 0.01) / 4
    assert terms["quantization"].item() == pytest.approx(0.5 * 12 * squared)
    assert terms["commitment"].item() == pytest.approx(2.0 * 12 * squared)
    assert logs["quantization_error"] == pytest.approx(squared)
    # a batch of one example: P is still the size of one observation
    one = Step(x=x[:1], mean=mean[:1], logvar=None, z=q[:1], decoded=None, step=0, quantized=q[:1])
    terms, _ = objective.regularizer(one)
    assert terms["quantization"].item() == pytest.approx(0.5 * 12 * 0.05 / 2)
    assert terms["commitment"].item() == pytest.approx(2.0 * 12 * 0.05 / 2)


def test_the_quantization_term_moves_only_the_codebooks_and_the_commitment_term_only_the_code():
    model, objective = small_model(latent_dim=3)
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(1))
    terms, _, step = objective(model, x, 0)
    encoder = list(model.encoder.parameters())
    decoder = list(model.decoder.parameters())
    codebooks = model.quantizer.values

    grads = torch.autograd.grad(terms["quantization"], [codebooks, step.mean, *encoder, *decoder], allow_unused=True)
    assert grads[0] is not None and grads[0].abs().sum() > 0
    assert all(g is None or not g.any() for g in grads[1:])
    # by hand: d/dv of 0.01·P·mean (sg(z) − q)² is 0.01·P·2·(q − z)/(n·d), summed over the codes that chose v
    expected = torch.zeros_like(codebooks)
    index = model.quantizer.indices(step.mean)
    for n in range(5):
        for j in range(3):
            expected[j, index[n, j]] += 0.01 * 6 * 2 * (step.quantized[n, j] - step.mean[n, j]).detach() / 15
    assert torch.allclose(grads[0], expected, atol=1e-8, rtol=1e-5)

    grads = torch.autograd.grad(
        terms["commitment"], [codebooks, step.mean, *decoder], allow_unused=True, retain_graph=True
    )
    assert grads[0] is None or not grads[0].any()
    expected = 0.01 * 6 * 2 * (step.mean - step.quantized).detach() / 15
    assert torch.allclose(grads[1], expected, atol=1e-8, rtol=1e-5)
    assert all(g is None or not g.any() for g in grads[2:])
    assert any(g is not None and g.any() for g in torch.autograd.grad(terms["commitment"], encoder, allow_unused=True))


def test_the_reconstruction_reaches_the_encoder_through_the_straight_through_code_and_not_the_codebooks():
    model, objective = small_model(latent_dim=3)
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(2))
    terms, _, step = objective(model, x, 0)
    to_code, to_mean, to_values = torch.autograd.grad(
        terms["reconstruction"], [step.z, step.mean, model.quantizer.values], allow_unused=True
    )
    assert torch.equal(to_code, to_mean) and to_code.abs().sum() > 0
    assert to_values is None or not to_values.any()


def test_a_model_without_codebooks_is_refused():
    model = VAE((6,), 3)
    message = (
        "QLAE needs a model with scalar codebooks: build it with untwine.models.build_model (or "
        "VAE(..., quantizer=QLAE().make_quantizer(latent_dim)))"
    )
    with pytest.raises(RuntimeError) as error:
        QLAE()(model, torch.zeros(2, 6), 0)
    assert str(error.value) == message


# -- hyperparameters and bad input --------------------------------------------------------------------------


def test_defaults_are_the_authors():
    objective = QLAE()
    assert (objective.codebook_size, objective.quantization_weight, objective.commitment_weight) == (10, 0.01, 0.01)
    assert objective.weight_decay == 0.1 and objective.deterministic and not objective.paired
    assert OBJECTIVES["qlae"] is QLAE
    assert QLAE.hyperparameters() == {
        "codebook_size": 10,
        "quantization_weight": 0.01,
        "commitment_weight": 0.01,
        "weight_decay": 0.1,
    }
    assert QLAE(codebook_size=2.0).codebook_size == 2 and isinstance(QLAE(codebook_size=2.0).codebook_size, int)
    assert QLAE(quantization_weight=0, commitment_weight=0, weight_decay=0).weight_decay == 0.0


@pytest.mark.parametrize("size", [1, 0, -3, True, 2.5, float("nan"), "10"])
def test_a_codebook_below_two_values_is_refused_at_config_time_naming_the_fix(size):
    config = tiny_config(codebook_size=size)
    with pytest.raises(ValueError, match=r"codebook_size.*at least 2.*--param codebook_size=10") as error:
        config.validate(dataset=False)
    assert repr(size) in str(error.value)
    with pytest.raises(ValueError, match="codebook_size"):
        ScalarCodebooks(3, size)


@pytest.mark.parametrize(
    "params,name",
    [
        ({"quantization_weight": -0.1}, "quantization_weight"),
        ({"commitment_weight": float("inf")}, "commitment_weight"),
        ({"weight_decay": -1}, "weight_decay"),
    ],
)
def test_bad_weights_are_refused(params, name):
    with pytest.raises(ValueError, match=f"hyperparameter {name} must be a finite non-negative number"):
        build_objective("qlae", params)


def test_an_unknown_hyperparameter_lists_qlaes():
    with pytest.raises(ValueError, match="codebook_size=10, quantization_weight=0.01"):
        build_objective("qlae", {"beta": 1.0})


# -- the optimiser -----------------------------------------------------------------------------------------


def test_adamw_decays_the_weights_but_not_the_biases_or_the_codebooks():
    model, objective = small_model(latent_dim=3)
    train = tiny_config().train
    optimizer = make_optimizer(model, train, torch.device("cpu"), weight_decay=objective.weight_decay)
    assert type(optimizer) is torch.optim.AdamW
    decayed, exempt = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and exempt["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in exempt["params"]) == sorted(
        n for n in names.values() if n.endswith("bias") or n == "quantizer.values"
    )
    assert len(decayed["params"]) + len(exempt["params"]) == len(names)
    assert all(not names[id(p)].endswith("bias") for p in decayed["params"])
    # with zero gradients Adam's step is 0, so one step only decays: w ← (1 − lr·λ)·w for the decayed ones
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for name, p in model.named_parameters():
        if name.endswith("bias") or name == "quantizer.values":
            assert torch.equal(p, before[name]), name
        else:
            assert torch.allclose(p, before[name] * (1 - 1e-3 * 0.1), rtol=1e-6, atol=0), name
            assert not torch.equal(p, before[name]) or not before[name].any()


def test_without_weight_decay_the_optimiser_is_plain_adam():
    model, _ = small_model()
    optimizer = make_optimizer(model, tiny_config().train, torch.device("cpu"), weight_decay=0.0)
    assert type(optimizer) is torch.optim.Adam and len(optimizer.param_groups) == 1
    default = make_optimizer(model, tiny_config().train, torch.device("cpu"))  # Adam unless asked
    assert type(default) is torch.optim.Adam and default.param_groups[0]["weight_decay"] == 0


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_both_optimisers_take_the_runs_settings_and_the_fused_kernel(weight_decay):
    model, _ = small_model()
    train = tiny_config().train
    train.lr, train.beta1, train.beta2, train.eps = 3e-4, 0.8, 0.95, 1e-6
    optimizer = make_optimizer(model, train, torch.device("cpu"), weight_decay=weight_decay)
    assert optimizer.defaults["fused"] is True
    for group in optimizer.param_groups:
        assert (group["lr"], group["betas"], group["eps"]) == (3e-4, (0.8, 0.95), 1e-6)
    assert QLAE(weight_decay=0).weight_decay == 0.0
    assert OBJECTIVES["beta-vae"]().weight_decay == 0.0


# -- training, the representation, resuming ----------------------------------------------------------------


def test_training_lowers_the_loss_and_moves_the_codebooks(tmp_path, tiny):
    config = tiny_config(steps=30)
    run = train(config, tmp_path / "r", progress=False, data=tiny)
    log = read_log(run)
    assert {"reconstruction", "quantization", "commitment", "quantization_error"} <= set(log.columns)
    loss = log["loss"].to_numpy()
    assert np.isfinite(loss).all() and loss[-3:].mean() < loss[:2].mean()
    weights = load_file(run / "model.safetensors")
    assert weights["quantizer.values"].shape == (4, 10)
    assert not torch.equal(weights["quantizer.values"], ScalarCodebooks(4, 10).values.detach())
    state = read_manifest(run)
    assert state.optimizers["optimizer"]["param_groups"][0]["weight_decay"] == 0.1


def test_the_representation_is_the_quantized_code(tmp_path, tiny, monkeypatch):
    from untwine import data as data_room

    monkeypatch.setitem(data_room.DATASETS, "tiny-squares", TinySquares)
    run = train(tiny_config(steps=6), tmp_path / "r", progress=False)
    model, _ = load_model(run)
    observations = tiny.observe(tiny.sample_factors(20, np.random.default_rng(0)))
    codes = model.representation()(observations)
    values = model.quantizer.values.detach().numpy()
    assert all(np.isin(codes[:, j], values[j]).all() for j in range(4))
    with torch.no_grad():
        mean = model.encode(torch.from_numpy(observations))[0]
        assert np.array_equal(codes, model.quantizer(mean).numpy())
        assert not np.array_equal(codes, mean.numpy())
        expected = torch.sigmoid(model.decode(model.quantizer(mean))).numpy()
    assert model.deterministic  # no posterior: its variances would be the untrained log-variance head's noise
    with pytest.raises(DeterministicCodeError, match="no posterior variance"):
        model.posterior()
    assert np.array_equal(model.reconstruct(observations), expected)


def test_a_resumed_run_is_bit_identical(tmp_path, tiny):
    whole = tiny_config(steps=8)
    whole.train.checkpoint_every = 4
    train(whole, tmp_path / "whole", progress=False, data=tiny)
    half = tiny_config(steps=4)
    half.train.checkpoint_every = 4
    train(half, tmp_path / "parts", progress=False, data=tiny)
    train(whole, tmp_path / "parts", progress=False, data=tiny)
    a = load_file(tmp_path / "whole" / read_manifest(tmp_path / "whole").checkpoint)
    b = load_file(tmp_path / "parts" / read_manifest(tmp_path / "parts").checkpoint)
    assert "model.quantizer.values" in a
    assert any(k.startswith("optimizer.") and k.endswith("exp_avg") for k in a)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "whole" / "model.safetensors").read_bytes() == (
        tmp_path / "parts" / "model.safetensors"
    ).read_bytes()
    assert read_manifest(tmp_path / "parts").optimizers == read_manifest(tmp_path / "whole").optimizers


def test_the_decoder_input_equals_the_codebook_values_in_training(tiny):
    model, objective = small_model(latent_dim=2)
    x = torch.rand(4, 6, generator=torch.Generator().manual_seed(5))
    _, _, step = objective(model, x, 0)
    values = model.quantizer.values.detach()
    assert all(bool(torch.isin(step.z[:, j].detach(), values[j]).all()) for j in range(2))
    assert torch.equal(step.decoded, model.decoder(step.quantized.detach()))
    assert F.mse_loss(step.z, step.quantized).item() == 0.0
