"""Exact-posterior MIG known answers (definition: I = H(z) − H(z|v) under q(z|x)).

* identity with tiny posterior noise: z_k identifies v_k, I(z_k; v_k) = log(size_k),
  other latents carry nothing: MIG ~ 1.
* a posterior that ignores the input (mean 0, var 1): every I = 0, MIG = 0.
* duplicated latent: the two copies tie, that factor's gap is 0.
"""

import numpy as np
import pytest

from untwine.metrics import evaluate, mig_exact
from untwine.data import index_to_factors

from conftest import ToyData

SIZES = (2, 3, 4)


def posterior_for(matrix=None, scale=0.01):
    def posterior(obs):
        x = np.asarray(obs, float).reshape(len(obs), -1)[:, :3]
        m = x if matrix is None else x @ matrix
        return m, np.full(m.shape, scale**2)
    return posterior


def test_identity_scores_one():
    out = evaluate(lambda o: o, ToyData(SIZES), "mig_exact", posterior=posterior_for(), num_samples=2000)
    out = out["mig_exact"]
    assert out["num_points"] == 24
    assert out["mig_exact"] == pytest.approx(1.0, abs=0.03)
    mi = np.array(out["mutual_info"])
    np.testing.assert_allclose(np.diag(mi), np.log(SIZES), atol=0.03)


def test_uninformative_posterior_is_zero():
    f = index_to_factors(np.arange(24), SIZES)
    out = mig_exact(np.zeros((24, 3)), np.ones((24, 3)), f, SIZES, num_samples=2000)
    assert out["mig_exact"] == pytest.approx(0.0, abs=0.02)


def test_duplicate_latent_loses_its_factor():
    f = index_to_factors(np.arange(24), SIZES).astype(float)
    m = np.concatenate([f, f[:, :1]], axis=1)
    out = mig_exact(m, np.full(m.shape, 1e-4), f.astype(int), SIZES, num_samples=2000)
    assert out["mig_exact"] == pytest.approx(2 / 3, abs=0.03)


def test_subsample_of_a_large_space():
    out = evaluate(lambda o: o, ToyData((10, 10, 10)), "mig_exact", posterior=posterior_for(),
                   max_points=300, num_samples=1000)["mig_exact"]
    assert out["num_points"] == 300 and out["mig_exact"] > 0.8
