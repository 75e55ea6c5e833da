"""Known answers for MIG, from the definition (docs/reference.md).

* identity code: each factor has one code carrying all of its (discretised)
  information and the other codes none, so the gap is I(z_k; v_k)/H(v_k); with
  <= 20 values per factor the histogram keeps every value apart, so MIG = 1 up
  to the plug-in bias of the independent pairs, about (a-1)(b-1)/(2n) nats
  (< 0.02 nats at n = 10,000, i.e. MIG > 0.98).
* a duplicated code: the two copies tie for the largest MI, the gap is 0.
* a missing factor: that factor's gap is 0, so MIG <= (K-1)/K.
* pure noise: MI is the plug-in bias only, MIG near 0.
* rotation: each code mixes factors, MIG well below the identity's.
"""

import numpy as np
import pytest

from untwine.metrics import mig

from tests.helpers.toys import random_rotation


def _factors(rng, n=10_000, sizes=(3, 6, 10, 20)):
    return np.stack([rng.integers(0, s, n) for s in sizes], axis=1)


def test_identity_code_scores_one(rng):
    f = _factors(rng)
    assert 0.98 < mig(f.astype(float), f)["discrete_mig"] <= 1.0


def test_identity_with_40_values_is_below_one_but_high(rng):
    # 40 values in 20 bins: the code keeps log 20 of log 40 nats, MIG ~ 0.81 for that factor.
    f = _factors(rng, sizes=(40,))
    value = mig(f.astype(float), f)["discrete_mig"]
    assert np.log(20) / np.log(40) - 0.01 < value < np.log(20) / np.log(40) + 0.01


def test_monotone_transform_does_not_matter_much(rng):
    f = _factors(rng)
    codes = np.exp(f / 5.0) + 0.01 * rng.standard_normal(f.shape)
    assert mig(codes, f)["discrete_mig"] > 0.5


def test_duplicated_code_scores_zero_for_that_factor(rng):
    f = _factors(rng)
    codes = np.concatenate([f, f[:, :1]], axis=1).astype(float)
    k = f.shape[1]
    assert (k - 1) / k - 0.02 < mig(codes, f)["discrete_mig"] <= (k - 1) / k + 1e-12


def test_missing_factor(rng):
    f = _factors(rng)
    codes = f[:, 1:].astype(float)
    value = mig(codes, f)["discrete_mig"]
    k = f.shape[1]
    assert value <= (k - 1) / k + 1e-12
    assert value > (k - 1) / k - 0.05


def test_pure_noise_is_near_zero(rng):
    f = _factors(rng)
    assert mig(rng.standard_normal((10_000, 6)), f)["discrete_mig"] < 0.02


def test_rotation_is_worse_than_identity(rng):
    f = _factors(rng)
    z = (f - f.mean(0)) / f.std(0)
    rotated = z @ random_rotation(4, rng)
    assert mig(rotated, f)["discrete_mig"] < 0.5


def test_constant_code_contributes_nothing(rng):
    f = _factors(rng, sizes=(5,))
    assert mig(np.zeros((10_000, 2)), f)["discrete_mig"] == 0.0


def test_shape_errors(rng):
    with pytest.raises(ValueError, match="2-D"):
        mig(np.zeros(10), np.zeros((10, 1), int))
    with pytest.raises(ValueError, match="factors"):
        mig(np.zeros((10, 2)), np.zeros((9, 1), int))
