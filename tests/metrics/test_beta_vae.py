"""β-VAE score known answers (definition: LR predicts the fixed factor from mean |z1 − z2|).

* identity, duplicated, missing-a-factor: the fixed factor's code difference is
  exactly 0 (missing: the *absence* of a zero identifies it), accuracy ~ 1.
* rotated: the score saturates near 1 even for a rotated code (docs/reference.md);
  with the small samples and groups of this test, > 0.8.
* pure noise (codes independent of the observation): chance, 1/K.
"""

import numpy as np
import pytest

from untwine.metrics import evaluate
from untwine.metrics.beta_vae import draw_beta_vae_factors

from tests.helpers.cases import rotation
from tests.helpers.toys import Recorder, ToyData

PARAMS = dict(num_train=400, num_eval=200, group_size=16)


def noise_rep(rng):
    return lambda obs: rng.standard_normal((len(obs), 3))


@pytest.mark.parametrize(
    "matrix,low",
    [
        (None, 0.95),
        (np.concatenate([np.eye(3), np.eye(3)[:, :1]], 1), 0.95),
        (np.eye(3)[:, 1:], 0.9),
        (rotation(3), 0.8),
    ],
)
def test_known_answers(matrix, low):
    out = evaluate(Recorder(3, matrix), ToyData(), "beta_vae", **PARAMS)["beta_vae"]
    assert out["eval_accuracy"] >= low and out["train_accuracy"] >= low


def test_noise_is_chance():
    out = evaluate(noise_rep(np.random.default_rng(5)), ToyData(), "beta_vae", **PARAMS)["beta_vae"]
    assert out["eval_accuracy"] < 1 / 3 + 0.12


def test_groups_agree_on_fixed_factor(rng):
    labels, a, b = draw_beta_vae_factors(ToyData(), 50, 8, rng)
    for p in range(50):
        np.testing.assert_array_equal(a[p, :, labels[p]], b[p, :, labels[p]])


def test_batches_bounded_and_deterministic():
    rep = Recorder(3)
    a = evaluate(rep, ToyData(noise=0.3), "beta_vae", batch_size=100, **PARAMS)
    assert max(rep.calls) <= 100
    assert sum(rep.calls) == 2 * 16 * (400 + 200)
    assert a == evaluate(Recorder(3), ToyData(noise=0.3), "beta_vae", batch_size=100, **PARAMS)
