"""FactorVAE score known answers (definition: majority vote of argmin normalised variance).

* identity / duplicated: holding factor k makes code k constant, every vote is right: 1.
* missing factor 0: votes for factor 0 land on codes owned by other factors:
  accuracy ~ (K − 1)/K.
* pure noise: votes are independent of the factor, accuracy ~ 1/K (majority on few codes).
* constant codes: pruned; with none active the reference's zeros.
"""

import numpy as np
import pytest

from untwine.metrics import evaluate

from tests.helpers.cases import rotation
from tests.helpers.toys import Recorder, ToyData

PARAMS = dict(num_train=600, num_eval=300, num_variance_estimate=1000, group_size=16)


def run(rep, **kw):
    return evaluate(rep, ToyData(), "factor_vae", **{**PARAMS, **kw})["factor_vae"]


def test_identity_and_duplicated():
    assert run(Recorder(3))["eval_accuracy"] == 1.0
    out = run(Recorder(3, np.concatenate([np.eye(3), np.eye(3)[:, :1]], 1)))
    assert out["eval_accuracy"] == 1.0 and out["num_active_dims"] == 4


def test_missing_factor():
    assert run(Recorder(3, np.eye(3)[:, 1:]))["eval_accuracy"] == pytest.approx(2 / 3, abs=0.07)


def test_rotated_is_lower_than_identity():
    assert run(Recorder(3, rotation(3)))["eval_accuracy"] < 0.95


def test_noise_near_chance():
    rng = np.random.default_rng(1)
    assert run(lambda o: rng.standard_normal((len(o), 3)))["eval_accuracy"] < 1 / 3 + 0.12


def test_constant_codes_pruned():
    out = run(lambda o: np.zeros((len(o), 3)))
    assert out["train_accuracy"] == 0.0 and out["eval_accuracy"] == 0.0 and out["num_active_dims"] == 0
    out = run(Recorder(3, np.concatenate([np.eye(3), np.zeros((3, 2))], 1)))
    assert out["num_active_dims"] == 3 and out["eval_accuracy"] == 1.0


def test_pruning_is_on_the_standard_deviation():
    """The reference prunes codes whose standard deviation is below 0.05: a code of std ≈ 0.098 (variance ≈ 0.0096,
    below 0.05) is kept, one of std ≈ 0.033 is pruned."""
    matrix = np.zeros((3, 4))
    matrix[0, 0], matrix[1, 1], matrix[2, 2], matrix[0, 3] = 0.12, 1.0, 1.0, 0.04  # std(f0) = sqrt(2/3)
    out = run(Recorder(3, matrix))
    assert out["num_active_dims"] == 3 and out["eval_accuracy"] == 1.0
