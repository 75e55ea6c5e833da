"""Hoyer sparsity (definition: (√d − ‖z‖₁/‖z‖₂)/(√d − 1) per point after scaling
by std; 1 for one-hot vectors, 0 for equal magnitudes; closed form for Gaussian codes; constant codes left
out)."""

import math
import warnings

import numpy as np
import pytest

from tests.helpers.toys import Recorder, ToyData

from untwine.metrics import evaluate, hoyer_sparsity, metric_parameters


def test_one_hot_is_one_and_flat_is_zero(rng):
    d = 5
    one_hot = np.eye(d)[rng.integers(0, d, 1000)] * rng.choice([-1, 1], (1000, 1))
    assert hoyer_sparsity(one_hot)["hoyer_sparsity"] == pytest.approx(1.0)
    flat = rng.choice([-1.0, 1.0], (1000, d))
    assert hoyer_sparsity(flat)["hoyer_sparsity"] == pytest.approx(0.0, abs=1e-3)  # stds ~1, not exactly


def expected_gaussian_hoyer(d):
    """Hoyer measure of isotropic Gaussian codes in d dimensions, in closed form: the direction z/‖z‖ is uniform
    on the sphere, E|u_1| = Γ(d/2) / (√π Γ((d + 1)/2)), so E[‖z‖₁/‖z‖₂] = d·E|u_1|."""
    ratio = d * math.exp(math.lgamma(d / 2) - math.lgamma((d + 1) / 2)) / math.sqrt(math.pi)
    return (math.sqrt(d) - ratio) / (math.sqrt(d) - 1)


def test_scale_invariant_per_code_and_gaussian_closed_form(rng):
    z = rng.standard_normal((20_000, 6))
    a = hoyer_sparsity(z)["hoyer_sparsity"]
    assert hoyer_sparsity(z * np.arange(1, 7))["hoyer_sparsity"] == pytest.approx(a)
    assert a == pytest.approx(expected_gaussian_hoyer(6), abs=0.005)  # 0.2846
    assert expected_gaussian_hoyer(2) == pytest.approx((math.sqrt(2) - 4 / math.pi) / (math.sqrt(2) - 1))


def test_constant_codes_are_left_out(rng):
    """A collapsed (constant) code must not make the others look sparse: two Gaussian codes beside eight
    constant ones score as the two alone, (√2 − 4/π)/(√2 − 1) ≈ 0.340 (counted as zeros they scored 0.727)."""
    dense = rng.standard_normal((20_000, 2))
    z = np.concatenate([dense, np.full((20_000, 8), 7.0)], axis=1)
    out = hoyer_sparsity(z)
    assert out["num_codes"] == 2
    assert out["hoyer_sparsity"] == pytest.approx(expected_gaussian_hoyer(2), abs=0.005)
    assert out["hoyer_sparsity"] == pytest.approx(hoyer_sparsity(dense)["hoyer_sparsity"])
    one_hot = np.concatenate([np.eye(3)[rng.integers(0, 3, 500)], np.zeros((500, 1))], axis=1)
    assert hoyer_sparsity(one_hot) == {"hoyer_sparsity": pytest.approx(1.0), "num_codes": 3}


def test_fewer_than_two_varying_codes_is_nan(rng):
    """One active code and nine collapsed ones: nothing to be sparse about (it scored a perfect 1 before)."""
    z = np.concatenate([rng.standard_normal((100, 1)), np.zeros((100, 9))], axis=1)
    out = hoyer_sparsity(z)
    assert math.isnan(out["hoyer_sparsity"]) and out["num_codes"] == 1
    with pytest.raises(ValueError, match="^Hoyer sparsity needs at least 2 codes$"):
        hoyer_sparsity(rng.standard_normal((10, 1)))


def test_a_point_at_zero_counts_zero(rng):
    """A point whose normalised code is all zeros has no direction to be sparse about: it counts 0, silently
    (no division warning)."""
    z = np.concatenate([np.eye(3)[rng.integers(0, 3, 99)], np.zeros((1, 3))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert hoyer_sparsity(z)["hoyer_sparsity"] == pytest.approx(99 / 100)


def test_the_sampler_scores_its_points_with_the_reference_default():
    """10,000 points by default (the reference's), encoded in batches of ``batch_size``."""
    assert metric_parameters("hoyer_sparsity") == {"num_train": 10_000}
    data = ToyData((3, 4, 5))
    recorder = Recorder(3, matrix=np.diag([1.0, 0.0, 1.0]))
    out = evaluate(recorder, data, "hoyer_sparsity", seed=2, batch_size=96)["hoyer_sparsity"]
    assert sum(recorder.calls) == 10_000 and max(recorder.calls) == 96
    rng = np.random.default_rng(2)
    drawn = np.stack([rng.integers(0, s, size=10_000) for s in (3, 4, 5)], axis=1).astype(float)
    assert out["num_codes"] == 2
    assert out["hoyer_sparsity"] == pytest.approx(hoyer_sparsity(drawn[:, [0, 2]])["hoyer_sparsity"])
