"""Tripod (Hsu et al. 2024): the finite scalar quantizer's grid, nearest values and straight-through gradient; the
kernel multiinformation against brute force and a closed form; the normalized Hessian penalty against exact
Hessians; the objective's terms by hand, bad input, training, a bit-identical resume and the command line."""

import itertools
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import untwine

from untwine.models import (
    OBJECTIVES,
    QLAE,
    VAE,
    FiniteScalarQuantizer,
    ModelConfig,
    Step,
    Tripod,
    build_model,
    build_objective,
)
from untwine.models.tripod import (
    curvature_spreads,
    decoder_layers,
    draw_directions,
    latent_multiinformation,
    normalized_hessian_penalty,
    second_differences,
    silverman_factor,
)
from untwine.nets import DeconvDecoder, MLPDecoder
from untwine.run_files import read_manifest
from untwine.runs import load_model, read_log
from untwine.train import train

from tests.helpers.tiny import TinySquares
from tests.models.test_objectives import tiny_config as objective_config


@pytest.fixture
def tiny():
    return TinySquares()


def tiny_config(steps=30, seed=0, **params):
    """The objectives' tiny run (tests/models/test_objectives.py) with Tripod."""
    return objective_config("tripod", steps=steps, seed=seed, **params)


def small_model(latent_dim=3, seed=0, **params):
    torch.manual_seed(seed)
    return build_model(ModelConfig(objective="tripod", latent_dim=latent_dim, params=params), (6,))


# -- the finite scalar quantizer ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "levels,grid",
    [
        (2, [-1.0, 1.0]),
        (3, [-1.0, 0.0, 1.0]),
        (4, [-1.0, -1 / 3, 1 / 3, 1.0]),
        (5, [-1.0, -0.5, 0.0, 0.5, 1.0]),
        (12, [-1 + 2 * k / 11 for k in range(12)]),
    ],
)
def test_the_grid_is_levels_evenly_spaced_values_in_minus_one_one(levels, grid):
    quantizer = FiniteScalarQuantizer(levels)
    assert quantizer.levels == levels and len(quantizer.points) == levels and quantizer.points.dtype == torch.float32
    assert torch.allclose(quantizer.points, torch.tensor(grid), atol=1e-7, rtol=0)
    # the extremes of the bound go to the ends of the grid
    z = torch.tensor([[-30.0, 30.0]])
    assert quantizer(z).tolist() == [[-1.0, 1.0]] and quantizer.indices(z).tolist() == [[0, levels - 1]]


def test_the_quantizer_learns_nothing_and_defaults_to_twelve_levels():
    quantizer = FiniteScalarQuantizer()
    assert quantizer.levels == 12 and repr(quantizer) == "FiniteScalarQuantizer(levels=12)"
    assert not list(quantizer.parameters()) and not quantizer.state_dict()
    model, objective = small_model(latent_dim=5)
    assert isinstance(model.quantizer, FiniteScalarQuantizer) and model.quantizer.levels == 12
    assert not any(name.startswith("quantizer") for name in model.state_dict())
    assert build_model(ModelConfig(objective="tripod", params={"levels": 5}), (6,))[0].quantizer.levels == 5


def test_each_latent_goes_to_the_grid_value_nearest_its_tanh():
    quantizer = FiniteScalarQuantizer(5)  # grid −1, −½, 0, ½, 1
    bounded = torch.tensor([[0.2, 0.3, -0.74, -0.76], [0.9, -0.1, 0.6, -0.26]])
    z = torch.atanh(bounded)
    assert quantizer(z).tolist() == [[0.0, 0.5, -0.5, -1.0], [1.0, 0.0, 0.5, -0.5]]
    assert quantizer.indices(z).tolist() == [[2, 3, 1, 0], [4, 2, 3, 1]] and quantizer.indices(z).dtype == torch.int64
    # brute force against every grid value, away from ties, for odd and even levels
    g = torch.Generator().manual_seed(0)
    z = 2 * torch.randn(2000, 3, generator=g)
    for levels in (2, 3, 4, 7, 12):
        quantizer = FiniteScalarQuantizer(levels)
        distance = (torch.tanh(z).unsqueeze(-1) - quantizer.points).abs()
        two = distance.topk(2, dim=-1, largest=False).values
        clear = (two[..., 1] - two[..., 0]) > 1e-4
        nearest = quantizer.points[distance.argmin(-1)]
        assert clear.float().mean() > 0.99
        assert torch.equal(quantizer(z)[clear], nearest[clear]), levels
        assert bool(torch.isin(quantizer(z), quantizer.points).all())


def test_a_half_way_value_rounds_to_the_even_index_as_jnp_round():
    # tanh(0) = 0 lies half way between two grid values for an even number of levels: u = (L − 1)/2
    zero = torch.zeros(1, 1)
    assert FiniteScalarQuantizer(2).indices(zero).item() == 0  # u = 0.5 → 0
    assert FiniteScalarQuantizer(4).indices(zero).item() == 2  # u = 1.5 → 2
    assert FiniteScalarQuantizer(6).indices(zero).item() == 2  # u = 2.5 → 2
    assert FiniteScalarQuantizer(12).indices(zero).item() == 6  # u = 5.5 → 6
    assert FiniteScalarQuantizer(4)(zero).item() == pytest.approx(1 / 3, abs=1e-7)
    assert FiniteScalarQuantizer(6)(zero).item() == pytest.approx(-0.2, abs=1e-7)
    assert FiniteScalarQuantizer(12)(zero).item() == pytest.approx(1 / 11, abs=1e-7)
    assert FiniteScalarQuantizer(3)(zero).item() == 0.0


def test_the_quantized_values_keep_the_codes_dtype_and_have_no_gradient():
    z = torch.tensor([[0.3, -2.0]], dtype=torch.float64, requires_grad=True)
    q = FiniteScalarQuantizer(3)(z)
    assert q.dtype == torch.float64 and not q.requires_grad and q.tolist() == [[0.0, -1.0]]


def test_the_straight_through_code_is_the_grid_value_with_the_gradient_of_tanh():
    model, objective = small_model(latent_dim=3)
    with torch.no_grad():  # spread the codes over the grid
        model.encoder.features[-1].weight.mul_(20)
    x = torch.rand(6, 6, generator=torch.Generator().manual_seed(1))
    _, _, step = objective(model, x, 0, torch.Generator().manual_seed(0))
    assert torch.equal(step.z, step.quantized) and torch.equal(step.quantized, model.quantizer(step.mean))
    assert len(set(step.z.flatten().tolist())) > 3
    assert torch.equal(step.decoded, model.decoder(step.quantized))
    weights = torch.randn(6, 3, generator=torch.Generator().manual_seed(2))
    (gradient,) = torch.autograd.grad((weights * step.z).sum(), step.mean)
    mean = step.mean.detach().double()
    assert torch.allclose(gradient.double(), weights.double() * (1 - torch.tanh(mean) ** 2), rtol=1e-5, atol=1e-7)
    # numerically: the central difference of the bound the rounding stands in for
    numeric = torch.zeros_like(mean)
    h = 1e-6
    for index in itertools.product(range(6), range(3)):
        up, down = mean.clone(), mean.clone()
        up[index] += h
        down[index] -= h
        numeric[index] = ((weights.double() * (torch.tanh(up) - torch.tanh(down))).sum() / (2 * h)).item()
    assert torch.allclose(gradient.double(), numeric, rtol=1e-4, atol=1e-7)
    assert not torch.allclose(gradient, weights, atol=1e-3)  # not the identity of QLAE's codebooks


def test_qlaes_straight_through_gradient_stays_the_identity():
    torch.manual_seed(0)
    model, objective = build_model(ModelConfig(objective="qlae", latent_dim=3), (6,))
    _, _, step = objective(model, torch.rand(4, 6), 0)
    weights = torch.randn(4, 3)
    (gradient,) = torch.autograd.grad((weights * step.z).sum(), step.mean)
    assert torch.equal(gradient, weights)


# -- the kernel multiinformation ----------------------------------------------------------------------------


def test_silvermans_factor():
    assert silverman_factor(2, 2) == pytest.approx(2 ** (-1 / 6), rel=1e-12)
    assert silverman_factor(64, 12) == pytest.approx((4 / 14) ** (1 / 16) * 64 ** (-1 / 16), rel=1e-12)
    assert silverman_factor(1, 1) == pytest.approx((4 / 3) ** 0.2, rel=1e-12)


def brute_force_klm(z, scale):
    """log q(z_i) − Σ_k log q_k(z_ik) with Gaussian kernel densities, by loops over points and latents."""
    n, d = len(z), len(z[0])
    c = (4 / (d + 2)) ** (1 / (d + 4)) * n ** (-1 / (d + 4))

    def normal(x, mu, sigma):
        return math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))

    out = []
    for i in range(n):
        joint = sum(math.prod(normal(z[i][k], z[j][k], c * scale[k]) for k in range(d)) for j in range(n)) / n
        marginals = [sum(normal(z[i][k], z[j][k], scale[k]) for j in range(n)) / n for k in range(d)]
        out.append(math.log(joint) - sum(math.log(m) for m in marginals))
    return out


def test_the_kernel_multiinformation_is_the_brute_force_one():
    g = torch.Generator().manual_seed(4)
    z = torch.randn(5, 3, generator=g, dtype=torch.float64)
    scale = torch.tensor([0.7, 1.3, 0.4], dtype=torch.float64)
    expected = brute_force_klm(z.tolist(), scale.tolist())
    assert latent_multiinformation(z, scale).tolist() == pytest.approx(expected, rel=1e-10, abs=1e-12)
    z = torch.randn(7, 2, generator=g, dtype=torch.float64)
    scale = torch.tensor([2.0, 0.3], dtype=torch.float64)
    assert latent_multiinformation(z, scale).tolist() == pytest.approx(
        brute_force_klm(z.tolist(), scale.tolist()), rel=1e-10, abs=1e-12
    )


def test_two_points_have_the_closed_form_multiinformation():
    # two points, two latents, bandwidths s_k = |Δ_k|/2 (their standard deviation): (Δ_k/s_k)² = 4, c = 2^(−1/6)
    # KLM = log 2 + ⅓ log 2 + log(1 + exp(−4·2^(1/3))) − 2 log(1 + exp(−2)), whatever Δ
    expected = math.log(2) + math.log(2) / 3 + math.log1p(math.exp(-4 * 2 ** (1 / 3))) - 2 * math.log1p(math.exp(-2))
    for a, b in [(1.0, 1.0), (0.3, -5.0), (2.0, 0.01)]:
        z = torch.tensor([[0.0, 0.0], [a, b]], dtype=torch.float64)
        scale = z.std(0, correction=0)
        assert latent_multiinformation(z, scale).tolist() == pytest.approx([expected, expected], rel=1e-12)


def test_the_multiinformation_ignores_each_latents_scale_and_offset():
    g = torch.Generator().manual_seed(5)
    z = torch.randn(16, 3, generator=g, dtype=torch.float64)
    z[:, 2] += 0.8 * z[:, 0]
    factor, shift = torch.tensor([3.0, -0.2, 50.0], dtype=torch.float64), torch.tensor([1.0, -7.0, 0.5])
    before = latent_multiinformation(z, z.std(0, correction=0))
    moved = z * factor + shift
    after = latent_multiinformation(moved, moved.std(0, correction=0))
    assert torch.allclose(before, after, rtol=1e-9, atol=1e-12)


def test_dependent_latents_score_higher_than_independent_ones_with_the_same_marginals():
    values = [-1.5, -0.5, 0.5, 1.5]
    independent = torch.tensor(list(itertools.product(values, values)), dtype=torch.float64)
    dependent = torch.tensor([[v, v] for v in values] * 4, dtype=torch.float64)
    assert sorted(independent[:, 0].tolist()) == sorted(dependent[:, 0].tolist())
    scale = independent.std(0, correction=0)
    assert torch.allclose(scale, dependent.std(0, correction=0), rtol=1e-15)
    low = latent_multiinformation(independent, scale).mean().item()
    high = latent_multiinformation(dependent, scale).mean().item()
    # the estimator's floor is not 0 (the joint bandwidth is Silverman's, the marginals' the whole spread), but
    # a deterministic copy scores about log 4 − 0.7 more than independence, which has 0 multiinformation
    assert low == pytest.approx(0.2318, abs=1e-3) and high == pytest.approx(0.9166, abs=1e-3)
    # and it grows with the correlation of two Gaussian latents
    g = torch.Generator().manual_seed(0)
    a = torch.randn(256, 2, generator=g, dtype=torch.float64)
    estimates = []
    for rho in (0.0, 0.5, 0.9, 0.99):
        z = torch.stack([a[:, 0], rho * a[:, 0] + math.sqrt(1 - rho**2) * a[:, 1]], 1)
        estimates.append(latent_multiinformation(z, z.std(0, correction=0)).mean().item())
    assert estimates == sorted(estimates) and estimates[-1] - estimates[0] > 0.9


# -- the normalized Hessian penalty -------------------------------------------------------------------------


def quadratic_layers(a, b):
    """One layer of two outputs: ½ zᵀ A z + b·z and z₁·z₂."""

    def layers(z):
        return [torch.stack([0.5 * ((z @ a) * z).sum(1) + z @ b, z[:, 0] * z[:, 1]], 1)]

    return layers


def test_second_differences_are_exact_second_derivatives_of_a_quadratic():
    g = torch.Generator().manual_seed(6)
    a = torch.randn(3, 3, generator=g, dtype=torch.float64)
    a = a + a.T
    b = torch.randn(3, generator=g, dtype=torch.float64)
    z = torch.randn(4, 3, generator=g, dtype=torch.float64)
    directions = torch.randn(5, 4, 3, generator=g, dtype=torch.float64)
    (difference,) = second_differences(quadratic_layers(a, b), z, directions, 0.3)
    assert difference.shape == (5, 4, 2)
    product = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
    for m, hessian in enumerate((a, product)):  # the exact Hessians, checked by autograd
        assert torch.allclose(
            torch.autograd.functional.hessian(lambda v: quadratic_layers(a, b)(v[None])[0][0, m], z[0]), hessian
        )
        expected = torch.einsum("kni,ij,knj->kn", directions, hessian, directions)
        assert torch.allclose(difference[..., m], expected, rtol=1e-9, atol=1e-10)


def test_second_differences_of_a_smooth_function_approach_its_second_derivative():
    z = torch.tensor([[0.3, -0.4]], dtype=torch.float64)
    u = torch.tensor([[[1.0, 2.0]]], dtype=torch.float64)

    def layers(v):
        return [torch.sin(v[:, :1] * v[:, 1:])]

    hessian = torch.autograd.functional.hessian(lambda v: torch.sin(v[0] * v[1]), z[0])
    exact = (u[0, 0] @ hessian @ u[0, 0]).item()
    errors = [abs(second_differences(layers, z, u, eps)[0].item() - exact) for eps in (0.1, 0.01)]
    assert errors[0] < 0.05 and errors[1] < errors[0] / 50  # O(ε²)


def additive(z):
    """Additive in the latents: each output a sum of functions of one latent each (curved, so the normaliser
    is not 0)."""
    return [torch.stack([torch.sin(z[:, 0]) + z[:, 1] ** 3, torch.exp(z[:, 2]) - z[:, 0] ** 2], 1), z[:, 1:] ** 2]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_penalty_of_a_decoder_additive_in_the_latents_is_zero(dtype):
    g = torch.Generator().manual_seed(7)
    z = torch.randn(8, 3, generator=g).to(dtype)
    scale = torch.tensor([0.5, 1.0, 0.2], dtype=dtype)
    signs, normals = draw_directions(4, z, g)
    spreads = curvature_spreads(additive, z, scale, 0.1, signs, normals)
    assert len(spreads) == 2 and all(m.shape == t.shape == (8,) for m, t in spreads)
    tiny = 1e-4 if dtype == torch.float32 else 1e-12
    for mixed, total in spreads:
        assert (mixed <= tiny * total).all() and (total > 1e-3).all()  # curved, but not across latents
    for ratio in ("batch", "example"):
        penalty = normalized_hessian_penalty(additive, z, scale, 0.1, signs, normals, ratio)
        assert penalty.shape == () and penalty.dtype == dtype and 0 <= penalty < tiny


def product(v):
    return v[:, :1] * v[:, 1:]


def product_layer(v):
    return [product(v)]


def test_the_penalty_of_a_product_by_hand():
    # f = z₁·z₂: the second difference along s∘u is exactly 2·s₁s₂·u₁u₂ (ε cancels)
    z = torch.tensor([[0.4, -1.2], [2.0, 0.1]], dtype=torch.float64)
    scale = torch.tensor([0.5, 3.0], dtype=torch.float64)
    signs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=2)), dtype=torch.float64)[:, None].repeat(1, 2, 1)
    draws = [[[0.3, -1.1], [1.0, 1.0]], [[1.5, 0.2], [-1.0, 2.0]], [[-0.7, -0.9], [0.5, 0.5]]]
    normals = torch.tensor(draws, dtype=torch.float64)  # (3 directions, 2 codes, 2 latents)
    s12 = 0.5 * 3.0
    mixed = np.var([2 * s12 * a * b for a, b in itertools.product([-1.0, 1.0], repeat=2)])
    assert mixed == pytest.approx(4 * s12**2)  # 2 Σ_{i≠j} (s_i s_j H_ij)² with H_12 = H_21 = 1
    totals = [np.var([2 * s12 * draw[i][0] * draw[i][1] for draw in draws]) for i in range(2)]
    [(m, t)] = curvature_spreads(product_layer, z, scale, 0.1, signs, normals)
    assert m.tolist() == pytest.approx([mixed, mixed], rel=1e-9) and t.tolist() == pytest.approx(totals, rel=1e-9)
    example = normalized_hessian_penalty(product_layer, z, scale, 0.1, signs, normals, "example")
    batch = normalized_hessian_penalty(product_layer, z, scale, 0.1, signs, normals, "batch")
    assert example.item() == pytest.approx(np.mean([mixed / (t + 1e-10) for t in totals]), rel=1e-9)
    assert batch.item() == pytest.approx(mixed / (np.mean(totals) + 1e-10), rel=1e-9)
    assert (
        normalized_hessian_penalty(product_layer, z, scale, 0.1, signs, normals).item() == batch.item()
    )  # the default
    # equal signs only: no spread over the Rademacher draws, no penalty
    same = torch.ones(2, 2, 2, dtype=torch.float64)
    assert normalized_hessian_penalty(product_layer, z, scale, 0.1, same, normals, "example").item() == 0.0
    # no curvature at all: 0 / (0 + 1e-10)
    flat = normalized_hessian_penalty(lambda v: [2 * v], z, scale, 0.1, signs, normals, "example")
    assert flat.item() < 1e-12
    with pytest.raises(ValueError, match=r"^unknown ratio 'median'; valid: batch, example$"):
        normalized_hessian_penalty(product_layer, z, scale, 0.1, signs, normals, "median")


def test_the_floor_of_the_ratio_is_the_authors_1e_10():
    # one code whose Gaussian draws are equal: the whole curvature's spread is 0, the penalty mixed / 1e-10
    z = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    scale = torch.ones(2, dtype=torch.float64)
    signs = torch.tensor([[[1.0, 1.0]], [[1.0, -1.0]]], dtype=torch.float64)  # second differences 2 and −2
    normals = torch.tensor([[[1.0, 1.0]], [[1.0, 1.0]]], dtype=torch.float64)
    for ratio in ("batch", "example"):
        penalty = normalized_hessian_penalty(product_layer, z, scale, 0.1, signs, normals, ratio)
        assert penalty.item() == pytest.approx(4.0 / 1e-10, rel=1e-6)  # Var(2, −2) = 4


def test_the_penalty_is_the_off_diagonal_share_of_the_scaled_hessian():
    # f = ½ zᵀ A z: Var_r = 2 Σ_{i≠j} Ã_ij², Var_g = 2 Σ_ij Ã_ij², Ã = S A S; with many draws the ratio is their share
    a = torch.tensor([[1.0, 0.5, -2.0], [0.5, -3.0, 0.0], [-2.0, 0.0, 0.7]], dtype=torch.float64)
    scale = torch.tensor([1.5, 0.4, 0.8], dtype=torch.float64)
    scaled = scale[:, None] * a * scale[None]
    share = ((scaled**2).sum() - (scaled.diagonal() ** 2).sum()) / (scaled**2).sum()
    z = torch.tensor([[0.2, -0.1, 0.4]], dtype=torch.float64)
    signs, normals = draw_directions(20000, z, torch.Generator().manual_seed(8))
    penalty = normalized_hessian_penalty(
        lambda v: [0.5 * ((v @ a) * v).sum(1, keepdim=True)],
        z,
        scale,
        0.1,
        signs,
        normals,
    )
    assert penalty.item() == pytest.approx(share.item(), rel=0.05)
    assert 0.3 < share < 0.9


def test_each_layer_is_normalised_on_its_own_over_its_mean_entry_and_the_layers_add():
    z = torch.tensor([[0.4, -1.2], [2.0, 0.1], [-0.3, 0.3]], dtype=torch.float64)
    scale = torch.tensor([0.5, 3.0], dtype=torch.float64)
    signs, normals = draw_directions(6, z, torch.Generator().manual_seed(9))

    def mixed(v):  # a layer of two entries, one mixing, one not, of very different sizes
        return torch.cat([product(v), 10 * v[:, :1] ** 2], 1)

    def penalty(*layers, ratio="batch"):
        return normalized_hessian_penalty(lambda v: [f(v) for f in layers], z, scale, 0.1, signs, normals, ratio)

    for ratio in ("batch", "example"):
        one = penalty(product, ratio=ratio)
        assert torch.allclose(penalty(lambda v: 1000 * product(v), ratio=ratio), one, rtol=1e-9)  # size does not count
        assert torch.allclose(penalty(product, mixed, ratio=ratio), one + penalty(mixed, ratio=ratio), rtol=1e-12)
    # within a layer the mean over entries is taken before the ratio, not after
    (difference,) = second_differences(lambda v: [mixed(v)], z, torch.cat([signs, normals]) * scale, 0.1)
    ratio_of_means = difference[:6].var(0, correction=0).mean(1) / difference[6:].var(0, correction=0).mean(1)
    mean_of_ratios = (difference[:6].var(0, correction=0) / difference[6:].var(0, correction=0)).mean(1)
    assert torch.allclose(penalty(mixed, ratio="example"), ratio_of_means.mean(), rtol=1e-9)
    assert not torch.allclose(ratio_of_means, mean_of_ratios, rtol=1e-2)
    # and over the batch, the means of the codes' spreads are divided
    [(m, t)] = curvature_spreads(lambda v: [mixed(v)], z, scale, 0.1, signs, normals)
    assert torch.allclose(penalty(mixed), m.mean() / t.mean(), rtol=1e-9)
    assert not torch.allclose(penalty(mixed), penalty(mixed, ratio="example"), rtol=1e-2)


def test_the_directions_are_signs_then_normals_from_the_generator():
    signs, normals = draw_directions(3, torch.zeros(4, 2), torch.Generator().manual_seed(10))
    assert signs.shape == normals.shape == (3, 4, 2) and signs.dtype == normals.dtype == torch.float32
    assert set(signs.flatten().tolist()) == {-1.0, 1.0}
    g = torch.Generator().manual_seed(10)
    assert torch.equal(signs, torch.randint(0, 2, (3, 4, 2), generator=g) * 2.0 - 1)
    assert torch.equal(normals, torch.randn((3, 4, 2), generator=g))
    # the codes' dtype and device
    like = torch.empty(5, 3, dtype=torch.float64, device="meta")
    signs, normals = draw_directions(2, like, torch.Generator().manual_seed(10))
    assert signs.shape == normals.shape == (2, 5, 3)
    assert signs.dtype == normals.dtype == torch.float64 and signs.is_meta and normals.is_meta


def test_the_penalised_layers_are_the_hidden_ones_of_the_reference_decoders():
    torch.manual_seed(0)
    z = torch.randn(5, 3)
    deconv = DeconvDecoder(2, 3)
    layers = decoder_layers(deconv, z)
    assert [tuple(t.shape) for t in layers] == [(5, 1024), (5, 64, 8, 8), (5, 32, 16, 16), (5, 32, 32, 32)]
    assert torch.equal(layers[0], deconv.dense(z)) and all(bool((t >= 0).all()) for t in layers)
    assert torch.allclose(deconv.deconv[-1](layers[-1]), deconv(z), atol=1e-6)  # the logits are not penalised
    assert torch.allclose(deconv.deconv[:2](layers[0].view(-1, 64, 4, 4)), layers[1], atol=1e-6)
    mlp = MLPDecoder((2, 3), 3, hidden=7)
    layers = decoder_layers(mlp, z)
    assert [tuple(t.shape) for t in layers] == [(5, 7), (5, 7)]
    assert torch.equal(layers[0], torch.relu(mlp.net[0](z)))
    assert torch.equal(mlp.net[-1](layers[-1]).view(5, 2, 3), mlp(z))
    with pytest.raises(TypeError) as error:
        decoder_layers(torch.nn.Linear(3, 4), z)
    assert str(error.value) == (
        "Tripod's Hessian penalty reads the hidden layers of untwine's decoders (DeconvDecoder, MLPDecoder); got Linear"
    )


# -- the objective ------------------------------------------------------------------------------------------


def test_the_loss_is_reconstruction_plus_the_two_weighted_penalties_by_hand():
    model, objective = small_model(latent_dim=3)
    with torch.no_grad():
        model.encoder.features[-1].weight.mul_(20)
    x = torch.rand(5, 6, generator=torch.Generator().manual_seed(3))
    terms, logs, step = objective(model, x, 0, torch.Generator().manual_seed(11))
    assert set(terms) == {"reconstruction", "latent_multiinformation", "hessian_penalty"}
    assert step.model is model
    with torch.no_grad():
        mean = model.encoder(x)[0]
        bounded = torch.tanh(mean)
        q = torch.round((bounded + 1) * 5.5) / 5.5 - 1
        scale = bounded.std(0, correction=0) + 1e-6
        reconstruction = torch.nn.functional.binary_cross_entropy_with_logits(
            model.decoder(q), x, reduction="none"
        ).sum(1)
        klm = brute_force_klm(q.double().tolist(), scale.double().tolist())
        g = torch.Generator().manual_seed(11)  # a deterministic objective draws no noise before the directions
        signs = torch.randint(0, 2, (2, 5, 3), generator=g) * 2.0 - 1
        normals = torch.randn((2, 5, 3), generator=g)
        net = model.decoder.net

        def hidden(v):
            first = torch.relu(net[0](v))
            return [first, torch.relu(net[2](first))]

        nhp = {"batch": 0.0, "example": 0.0}
        for layer in range(2):
            f = hidden(q)[layer]
            spreads = []
            for directions in (signs, normals):
                diffs = torch.stack(
                    [
                        (hidden(q + 0.1 * u * scale)[layer] - 2 * f + hidden(q - 0.1 * u * scale)[layer]) / 0.01
                        for u in directions
                    ]
                )
                spreads.append(diffs.var(0, correction=0).mean(1))
            nhp["example"] += (spreads[0] / (spreads[1] + 1e-10)).mean().item()
            nhp["batch"] += (spreads[0].mean() / (spreads[1].mean() + 1e-10)).item()
    assert torch.allclose(step.quantized, q, atol=1e-6)
    assert terms["reconstruction"].item() == pytest.approx(reconstruction.mean().item(), rel=1e-5)
    # P = 6 entries per observation: the authors' per-pixel mean, times 6
    assert terms["latent_multiinformation"].item() == pytest.approx(1e-4 * 6 * np.mean(klm), rel=1e-4)
    assert terms["hessian_penalty"].item() == pytest.approx(1e-2 * 6 * nhp["batch"], rel=1e-3)
    assert logs == {"klm": pytest.approx(np.mean(klm), rel=1e-4), "nhp": pytest.approx(nhp["batch"], rel=1e-3)}
    assert nhp["batch"] > 0.01 and "kl" not in logs and "elbo" not in logs
    # the authors' ratio, each code's
    authors = Tripod(nhp_ratio="example")(model, x, 0, torch.Generator().manual_seed(11))[0]["hessian_penalty"]
    assert authors.item() == pytest.approx(1e-2 * 6 * nhp["example"], rel=1e-3)
    assert abs(nhp["example"] - nhp["batch"]) > 1e-3 * nhp["batch"]


def test_the_weights_and_the_observation_size_scale_the_terms_and_a_zero_hessian_weight_skips_it():
    model, _ = small_model(latent_dim=3)
    x = torch.rand(4, 6, generator=torch.Generator().manual_seed(3))
    g = torch.Generator().manual_seed(12)
    terms, logs, _ = Tripod()(model, x, 0, g)
    g = torch.Generator().manual_seed(12)
    heavy, heavy_logs, _ = Tripod(klm_weight=0.5, nhp_weight=2.0, epsilon=0.1)(model, x, 0, g)
    assert heavy_logs == logs
    assert heavy["latent_multiinformation"].item() == pytest.approx(0.5 * 6 * logs["klm"], rel=1e-6)
    assert heavy["hessian_penalty"].item() == pytest.approx(2.0 * 6 * logs["nhp"], rel=1e-6)
    g = torch.Generator().manual_seed(12)
    before = g.get_state()
    off, off_logs, _ = Tripod(nhp_weight=0)(model, x, 0, g)
    assert set(off) == {"reconstruction", "latent_multiinformation"} and set(off_logs) == {"klm"}
    assert torch.equal(g.get_state(), before)  # no directions drawn, no decoder passes
    # P is the size of one observation, also for a batch of one
    one, one_logs, _ = Tripod(klm_weight=1.0, nhp_weight=1.0)(model, x[:1], 0, torch.Generator().manual_seed(0))
    assert one["latent_multiinformation"].item() == pytest.approx(6 * one_logs["klm"], rel=1e-6)
    assert one["hessian_penalty"].item() == pytest.approx(6 * one_logs["nhp"], rel=1e-6)
    # other settings change the penalty: ε and the number of perturbations
    wide = Tripod(epsilon=0.5, num_perturbations=5)(model, x, 0, torch.Generator().manual_seed(12))[1]
    assert wide["nhp"] != logs["nhp"] and wide["klm"] == logs["klm"]


def test_the_spread_of_each_latent_is_floored_at_1e_6():
    # codes whose tanh spreads by about 1e-6: the bandwidths are std + 1e-6, not std (or std − 1e-6, about 0)
    model, _ = small_model(latent_dim=2)
    bounded = torch.tensor([[0.0, 0.0], [1e-6, 2e-6], [2e-6, 4e-6]], dtype=torch.float64)
    z = torch.tensor([[0.0, 0.0], [1e-6, 3e-6], [3e-6, 1e-6]], dtype=torch.float64)
    mean = torch.atanh(bounded)
    step = Step(x=torch.zeros(3, 6), mean=mean, logvar=mean, z=z, decoded=None, step=0, quantized=z, model=model)
    _, logs = Tripod(nhp_weight=0).regularizer(step)
    spread = bounded.std(0, correction=0)
    assert logs["klm"] == pytest.approx(latent_multiinformation(z, spread + 1e-6).mean().item(), rel=1e-9)
    assert abs(logs["klm"] - latent_multiinformation(z, spread).mean().item()) > 0.01
    assert abs(logs["klm"] - latent_multiinformation(z, spread + 2e-6).mean().item()) > 0.01


def _step_at(step: int, codes: torch.Tensor, model) -> Step:
    return Step(
        x=torch.zeros(len(codes), 6),
        mean=codes,
        logvar=codes,
        z=codes,
        decoded=None,
        step=step,
        quantized=codes,
        model=model,
    )


def test_a_collapsed_code_is_warned_about_once_and_only_after_its_start(recwarn):
    """One value per latent on a whole batch at step ≥ 500 (every 100 steps) is a collapsed model: one
    CollapsedCodeWarning, naming the step; the same batch earlier (every model starts so), at another step, or a
    batch in which one latent varies, says nothing."""
    from untwine.models.tripod import COLLAPSE_EVERY, COLLAPSE_STEP, CollapsedCodeWarning

    assert (COLLAPSE_STEP, COLLAPSE_EVERY) == (500, 100)
    model, _ = small_model(latent_dim=3)
    flat = torch.tensor([[0.2727, -0.0909, 0.4545]] * 8, dtype=torch.float64)  # each latent one value, not the same
    one_varies = flat.clone()
    one_varies[3, 2] = -0.0909
    objective = Tripod(nhp_weight=0)
    for step, codes in ((0, flat), (400, flat), (499, flat), (550, flat), (500, one_varies), (600, one_varies)):
        objective.regularizer(_step_at(step, codes, model))
    Tripod(nhp_weight=0)._check_collapse(_step_at(500, flat[:1], model))  # one code says nothing of a spread
    assert not [w for w in recwarn if issubclass(w.category, CollapsedCodeWarning)]
    with pytest.warns(CollapsedCodeWarning) as record:
        objective.regularizer(_step_at(700, flat, model))
        objective.regularizer(_step_at(800, flat, model))
    assert len([w for w in record if issubclass(w.category, CollapsedCodeWarning)]) == 1  # once per objective
    assert str(record[0].message) == (
        "Tripod's code has one value per latent on the whole batch at step 700: the model has collapsed (the "
        "encoder's output left tanh's range, where no gradient brings it back), it will not recover, and infomec and "
        "dci_es will record it as undefined. On untwine's reference networks this happens for some seeds even in "
        "fp32 (docs/objectives.md, tripod, 'fp32 only, and what collapses'): stop the run and train it with "
        'model.encoder_norm = "instance" (the authors\' normalised encoder), which keeps the codes apart'
    )
    with pytest.warns(CollapsedCodeWarning):  # two codes are enough to tell
        Tripod(nhp_weight=0)._check_collapse(_step_at(600, flat[:2], model))
    with pytest.warns(CollapsedCodeWarning, match="step 500"):  # a new objective (a new run) warns again
        Tripod(nhp_weight=0).regularizer(_step_at(500, flat, model))


def test_the_penalties_train_the_networks_they_should():
    model, objective = small_model(latent_dim=3)
    with torch.no_grad():  # spread the codes: codes that all coincide give the kernel estimate no gradient
        model.encoder.features[-1].weight.mul_(20)
    x = torch.rand(6, 6, generator=torch.Generator().manual_seed(4))
    terms, _, step = objective(model, x, 0, torch.Generator().manual_seed(0))
    encoder = list(model.encoder.parameters())
    decoder = dict(model.decoder.named_parameters())
    klm = torch.autograd.grad(
        terms["latent_multiinformation"], encoder + list(decoder.values()), allow_unused=True, retain_graph=True
    )
    assert any(g is not None and g.any() for g in klm[: len(encoder)])  # through tanh's straight-through gradient
    assert all(g is None for g in klm[len(encoder) :])  # the multiinformation of the codes does not see the decoder
    nhp = torch.autograd.grad(terms["hessian_penalty"], list(decoder.values()), allow_unused=True, retain_graph=True)
    nhp = dict(zip(decoder, nhp))
    assert all(nhp[name] is not None and nhp[name].any() for name in ("net.0.weight", "net.2.weight"))
    assert nhp["net.4.weight"] is None and nhp["net.4.bias"] is None  # the logits' layer is not penalised
    assert any(g is not None and g.any() for g in torch.autograd.grad(terms["hessian_penalty"], encoder))


def test_a_model_without_the_finite_scalar_quantizer_is_refused():
    with pytest.raises(RuntimeError) as error:
        Tripod()(VAE((6,), 3), torch.zeros(2, 6), 0)
    assert str(error.value) == (
        "Tripod needs a model with a finite scalar quantizer: build it with untwine.models.build_model (or "
        "VAE(..., quantizer=Tripod().make_quantizer(latent_dim)))"
    )
    other = (
        "Tripod's penalties need the model and its finite scalar quantizer: call the objective as "
        "objective(model, x, step), which sets Step.model, on a model built by untwine.models.build_model"
    )
    with pytest.raises(RuntimeError) as error:
        Tripod()(VAE((6,), 3, quantizer=QLAE().make_quantizer(3)), torch.zeros(2, 6), 0)
    assert str(error.value) == other
    q = torch.zeros(2, 3)
    with pytest.raises(RuntimeError) as error:
        Tripod().regularizer(Step(x=torch.zeros(2, 6), mean=q, logvar=q, z=q, decoded=None, step=0, quantized=q))
    assert str(error.value) == other


# -- hyperparameters and bad input ---------------------------------------------------------------------------


def test_defaults_are_the_authors():
    assert OBJECTIVES["tripod"] is Tripod
    assert Tripod.hyperparameters() == {
        "levels": 12,
        "klm_weight": 1e-4,
        "nhp_weight": 1e-2,
        "epsilon": 0.1,
        "num_perturbations": 2,
        "nhp_ratio": "batch",
    }
    objective = Tripod()
    assert (objective.levels, objective.klm_weight, objective.nhp_weight) == (12, 1e-4, 1e-2)
    assert (objective.epsilon, objective.num_perturbations, objective.nhp_ratio) == (0.1, 2, "batch")
    assert objective.deterministic and not objective.paired and objective.weight_decay == 0.0
    assert Tripod(levels=3.0).levels == 3 and isinstance(Tripod(levels=3.0).levels, int)
    assert Tripod(num_perturbations=4.0).num_perturbations == 4
    assert Tripod(klm_weight=0, nhp_weight=0).nhp_weight == 0.0
    assert objective.make_quantizer(7).levels == 12 and Tripod(levels=2).make_quantizer(7).levels == 2


@pytest.mark.parametrize("levels", [1, 0, -3, True, 2.5, float("nan"), "12"])
def test_fewer_than_two_levels_are_refused_at_config_time_naming_the_fix(levels):
    with pytest.raises(ValueError) as error:
        tiny_config(levels=levels).validate(dataset=False)
    assert str(error.value) == (
        f"hyperparameter levels must be a whole number, at least 2, got {levels!r}: one level maps every input to "
        f"the same code; set levels = 2 or more (--param levels=12, the authors' value)"
    )
    with pytest.raises(ValueError, match="^hyperparameter levels must be a whole number, at least 2"):
        FiniteScalarQuantizer(levels)


def test_one_perturbation_is_refused_naming_the_fix():
    with pytest.raises(ValueError) as error:
        build_objective("tripod", {"num_perturbations": 1})
    assert str(error.value) == (
        "hyperparameter num_perturbations must be a whole number, at least 2, got 1: the variance over one "
        "perturbation is always 0, so the penalty would vanish; set num_perturbations = 2 or more "
        "(--param num_perturbations=2, the authors' value)"
    )


@pytest.mark.parametrize(
    "params,message",
    [
        ({"klm_weight": -0.1}, "hyperparameter klm_weight must be a finite non-negative number, got -0.1"),
        ({"nhp_weight": float("inf")}, "hyperparameter nhp_weight must be a finite non-negative number, got inf"),
        ({"epsilon": 0}, "hyperparameter epsilon must be a finite positive number, got 0.0"),
        ({"epsilon": -1}, "hyperparameter epsilon must be a finite positive number, got -1.0"),
        (
            {"nhp_ratio": "median"},
            "unknown nhp_ratio 'median'; valid: batch, example (batch: the batch means divided, untwine's default; "
            "example: each code's ratio, the authors')",
        ),
    ],
)
def test_bad_values_are_refused_at_config_time(params, message):
    with pytest.raises(ValueError) as error:
        tiny_config(**params).validate(dataset=False)
    assert str(error.value) == message


# -- training, the representation, resuming, the command line -------------------------------------------------


def test_training_lowers_the_loss_and_the_representation_is_the_grid_code(tmp_path, tiny, monkeypatch):
    from untwine import data as data_room

    monkeypatch.setitem(data_room.DATASETS, "tiny-squares", TinySquares)
    run = train(tiny_config(steps=30), tmp_path / "r", progress=False)
    log = read_log(run)
    assert {"reconstruction", "latent_multiinformation", "hessian_penalty", "klm", "nhp"} <= set(log.columns)
    loss = log["loss"].to_numpy()
    assert np.isfinite(loss).all() and loss[-3:].mean() < loss[:2].mean()
    assert read_manifest(run).optimizers["optimizer"]["param_groups"][0]["weight_decay"] == 0
    model, _ = load_model(run)
    assert not any(k.startswith("quantizer") for k in load_file(run / "model.safetensors"))
    observations = tiny.observe(tiny.sample_factors(20, np.random.default_rng(0)))
    codes = model.representation()(observations)
    grid = FiniteScalarQuantizer(12).points.numpy()
    assert np.isin(codes, grid).all()
    with torch.no_grad():
        mean = model.encode(torch.from_numpy(observations))[0]
    assert np.array_equal(codes, model.quantizer(mean).numpy()) and not np.array_equal(codes, mean.numpy())


@pytest.mark.parametrize("encoder_norm", ["none", "instance"])
def test_a_resumed_run_is_bit_identical(tmp_path, tiny, encoder_norm, monkeypatch):
    whole = tiny_config(steps=6)
    whole.train.checkpoint_every = 3
    whole.model.encoder_norm = encoder_norm
    train(whole, tmp_path / "whole", progress=False, data=tiny)
    half = tiny_config(steps=3)
    half.train.checkpoint_every = 3
    half.model.encoder_norm = encoder_norm
    train(half, tmp_path / "parts", progress=False, data=tiny)
    train(whole, tmp_path / "parts", progress=False, data=tiny)
    a = load_file(tmp_path / "whole" / read_manifest(tmp_path / "whole").checkpoint)
    b = load_file(tmp_path / "parts" / read_manifest(tmp_path / "parts").checkpoint)
    assert any(k.startswith("optimizer.") and k.endswith("exp_avg") for k in a)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "whole" / "model.safetensors").read_bytes() == (
        tmp_path / "parts" / "model.safetensors"
    ).read_bytes()
    columns = ["step", "loss", "latent_multiinformation", "hessian_penalty", "klm", "nhp"]
    whole_log, parts_log = read_log(tmp_path / "whole")[columns], read_log(tmp_path / "parts")[columns]
    assert whole_log["step"].tolist() == [2, 4, 6] and parts_log["step"].tolist() == [2, 3, 4, 6]
    assert whole_log.to_numpy().tolist() == parts_log[parts_log["step"] != 3].to_numpy().tolist()
    normed = [k for k in a if k.startswith("model.encoder.") and "weight" in k and a[k].dim() == 1]
    assert bool(normed) is (encoder_norm == "instance")  # the norms' scales, trained and checkpointed
    from untwine import data as data_room

    monkeypatch.setitem(data_room.DATASETS, "tiny-squares", TinySquares)
    model, _ = load_model(tmp_path / "whole")
    assert model.encoder_norm == encoder_norm


def test_untwine_train_model_tripod_from_the_command_line(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[model]\nlatent_dim = 4\nlikelihood = "gaussian"\n[train]\nthreads = 1\nlog_every = 1\n')
    out = tmp_path / "run"
    command = [sys.executable, "-m", "untwine.cli", "train", "--model", "tripod", "--dataset", "pinwheel"]
    command += ["--param", "levels=5", "--config", str(config), "--steps", "3", "--batch-size", "16"]
    command += ["--encoder-norm", "instance", "--out", str(out), "--quiet"]
    # the child imports the untwine this test imported (this tree, or a mutation run's copy), not an installed one
    source = str(Path(untwine.__file__).parents[1])
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([source, os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    written = (out / "config.toml").read_text()
    assert 'objective = "tripod"' in written and "levels = 5" in written
    log = read_log(out)
    assert log["step"].tolist() == [1, 2, 3] and np.isfinite(log["hessian_penalty"]).all()
    model, _ = load_model(out)
    assert model.quantizer.levels == 5
    assert model.encoder_norm == "instance" and 'encoder_norm = "instance"' in written
    bad = subprocess.run(
        command[:-3] + ["--out", str(tmp_path / "bad"), "--param", "levels=1"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and "--param levels=12" in bad.stderr


def test_the_quantizer_protocol_lists_the_grid_per_latent_and_needs_the_latent_count():
    """``grid()`` (VAE's quantizer protocol) gives each of the d latents the L points; a quantizer built without
    latent_dim says how to build it; the model of a tripod config gets one that knows d."""
    from untwine.models import build_model
    from untwine.models.vae import ModelConfig

    quantizer = FiniteScalarQuantizer(4, latent_dim=3)
    rows = quantizer.grid()
    assert len(rows) == 3 and all(torch.equal(r, 2 * torch.arange(4.0) / 3 - 1) for r in rows)
    with pytest.raises(TypeError, match=r"built without latent_dim.*FiniteScalarQuantizer\(levels, latent_dim\)"):
        FiniteScalarQuantizer(4).grid()
    model, _ = build_model(ModelConfig("tripod", latent_dim=3, likelihood="gaussian", params={"levels": 5}), (6,))
    assert model.deterministic and [v.tolist() for v in model.code_values()] == [[-1.0, -0.5, 0.0, 0.5, 1.0]] * 3


def test_tripod_trains_in_fp32_only(tmp_path, monkeypatch):
    """Tripod's codes saturate under bf16 autocast (fsq_saturation.py): ``auto`` resolves to fp32 for it even where
    bf16 is fast, an explicit bf16 is refused before anything is written, and a run that trained in bf16 is refused
    on resume; the other objectives keep bf16."""
    from dataclasses import replace

    from untwine import data as data_room
    from untwine.train import _objective_precision
    from untwine.models import objective_class

    assert "saturates at one grid value" in objective_class("tripod").fp32_only
    assert objective_class("qlae").fp32_only == "" and objective_class("beta-vae").fp32_only == ""
    assert _objective_precision("tripod", "auto", "bf16", None) == "fp32"  # auto on an AMX machine
    assert _objective_precision("tripod", "auto", "fp32", None) == "fp32"
    assert _objective_precision("qlae", "auto", "bf16", None) == "bf16"
    assert _objective_precision("qlae", "bf16", "bf16", None) == "bf16"
    with pytest.raises(ValueError, match=r"^this tripod run trained in bf16, but tripod trains in fp32 only: under"):
        _objective_precision("tripod", "auto", "bf16", "bf16")
    monkeypatch.setitem(data_room.DATASETS, "tiny-squares", TinySquares)
    config = tiny_config(steps=2)
    config = replace(config, train=replace(config.train, precision="bf16"))
    with pytest.raises(ValueError) as caught:
        train(config, tmp_path / "r", progress=False)
    assert str(caught.value).startswith("tripod trains in fp32 only: under bf16 autocast")
    assert str(caught.value).endswith("Use --precision fp32 or auto (train.precision), not bf16")
    assert not (tmp_path / "r").exists()
    auto = train(replace(config, train=replace(config.train, precision="auto")), tmp_path / "a", progress=False)
    assert read_manifest(auto).precision == "fp32"
