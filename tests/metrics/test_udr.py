"""UDR known answers (definition: relative strength of latent similarity between models).

* models that are permuted / sign-flipped copies of one disentangled code: every
  similarity row and column is one-hot up to the sampling correlation of
  independent latents, E|ρ| ≈ √(2/(πn)) each, so Spearman UDR ≈ 1/(1 + (d−1)E|ρ|)
  (≈ 0.93 at n = 1000, d = 4); Lasso zeroes those small terms but shrinks the
  kept coefficient (α = 0.1 on standardised codes), the score stays high (≈ 0.9).
* rotated (entangled) models: similarity spread out, lower scores.
* collapsed latents (KL <= 0.01) are ignored.
"""

import numpy as np
import pytest

from untwine.metrics import sample_udr, udr
from untwine.metrics.udr import relative_strength

from _cases import rotation
from conftest import ToyData


def _base(rng, n=1000, d=4):
    return rng.uniform(-1, 1, (n, d))


def test_permuted_copies(rng):
    z = _base(rng)
    codes = [z, -z[:, [1, 0, 3, 2]], z[:, [3, 2, 1, 0]] * 2]
    expected = 1 / (1 + 3 * np.sqrt(2 / (np.pi * 1000)))
    assert udr(codes, correlation="spearman")["model_scores"] == pytest.approx([expected] * 3, abs=0.03)
    assert all(s > 0.85 for s in udr(codes, correlation="lasso")["model_scores"])


def test_rotated_models_score_lower(rng):
    z = _base(rng)
    codes = [z @ rotation(4, s) for s in (1, 2, 3)]
    assert max(udr(codes, correlation="spearman")["model_scores"]) < 0.8


def test_low_kl_latents_are_ignored(rng):
    z = _base(rng)
    noise = rng.standard_normal((1000, 1))
    codes = [np.concatenate([z, noise], 1), np.concatenate([z[:, ::-1], -noise * 0 + rng.standard_normal((1000, 1))], 1)]
    kl = [np.array([1, 1, 1, 1, 0.0])] * 2
    expected = 1 / (1 + 3 * np.sqrt(2 / (np.pi * 1000)))
    assert udr(codes, kl, correlation="spearman")["model_scores"] == pytest.approx([expected] * 2, abs=0.03)


def test_relative_strength():
    assert relative_strength(np.eye(3)) == 1.0
    assert relative_strength(np.ones((2, 2))) == pytest.approx(0.5)


def test_sample_udr_with_posteriors():
    perm = [np.eye(3), np.eye(3)[:, [2, 0, 1]], -np.eye(3)]

    def post(m):
        return lambda o: (np.asarray(o, float)[:, :3] @ m, np.full((len(o), 3), 0.01))

    out = sample_udr([post(m) for m in perm], ToyData(), seed=0, num_points=400, batch_size=64,
                     correlation="spearman")
    assert min(out["model_scores"]) > 0.85
    assert out["seed"] == 0 and out["params"]["num_points"] == 400


def test_spearman_undefined_correlations_cost_only_their_entry(rng):
    """A constant latent has no Spearman correlation (NaN). untwine counts those entries 0: with two latents
    matched one to one and a constant third, rows and columns score (1 + 1 + 0)/3 each, UDR ≈ 2/3. (The
    reference library's max of a column holding a NaN is NaN, scored 0: every column of this pair would
    score 0 and the pair ≈ 1/3; see the module docstring.)"""
    z = _base(rng, n=2000, d=3)
    constant_third = np.concatenate([z[:, :2], np.full((2000, 1), 3.0)], axis=1)
    permuted = z[:, [1, 0, 2]]
    out = udr([constant_third, permuted], correlation="spearman", filter_low_kl=False)
    pair = np.array(out["pairwise_disentanglement_scores"])
    assert pair[0, 1] == pytest.approx(2 / 3, abs=0.03)
    assert pair[1, 0] == pytest.approx(2 / 3, abs=0.03)
