"""Dataset statistics of seed 002's figure 4: explained global variance and local expansiveness, with known
answers on datasets whose observations are simple functions of their factors."""

import numpy as np
import pytest

from untwine.data import get
from untwine.data.base import GroundTruthDataset
from untwine.data.statistics import explained_variance, local_expansiveness, standardised_step


class Additive(GroundTruthDataset):
    """x = (a·i₀, b·i₁): factor 0 (3 values) moves entry 0, factor 1 (5 values) moves entry 1."""

    name = "additive"
    factor_names = ("first", "second")
    factor_sizes = (3, 5)
    observation_shape = (1, 1, 2)

    def __init__(self, a=2.0, b=0.5):
        self.a, self.b = a, b

    def observe(self, factors, rng=None):
        factors = self.check_factors(factors)
        x = np.stack([self.a * factors[:, 0], self.b * factors[:, 1]], axis=1).astype(np.float32)
        return x.reshape(-1, 1, 1, 2)


class NoisyIdle(GroundTruthDataset):
    """One entry of pure noise N(0, 1), drawn from the rng; factor ``idle`` (50 values) changes nothing, factor
    ``moving`` (2 values) shifts a second entry by 3."""

    name = "noisy-idle"
    factor_names = ("idle", "moving")
    factor_sizes = (50, 2)
    observation_shape = (2,)
    draws_nuisance = True

    def observe(self, factors, rng=None):
        factors = self.check_factors(factors)
        rng = self._require_rng(rng)
        return np.stack([rng.standard_normal(len(factors)), 3.0 * factors[:, 1]], axis=1).astype(np.float32)


def test_standardised_step():
    # the step between evenly spaced, equally likely values, in units of their standard deviation
    for size in (2, 3, 32, 40):
        values = np.arange(size, dtype=np.float64)
        assert standardised_step(size) == pytest.approx(1 / values.std())
    assert np.isnan(standardised_step(1))


def test_explained_variance_of_an_additive_dataset():
    data = Additive(a=2.0, b=0.5)
    result = explained_variance(data, num_points=20_000, seed=0)
    # Var of a·i over 3 equally likely values is a²·2/3; of b·i over 5 values b²·2
    expected = [4.0 * 2 / 3, 0.25 * 2.0]
    assert result["factor_names"] == ["first", "second"]
    assert result["explained_variance"] == pytest.approx(expected, rel=0.03)
    assert result["total_variance"] == pytest.approx(sum(expected), rel=0.03)
    assert result["num_points"] == 20_000 and result["seed"] == 0


def test_explained_variance_corrects_the_noise_of_group_means():
    """A factor without effect explains nothing. Grouped by ``idle`` (50 values, ≈ 40 points each), both entries
    vary within the groups, by 1 (the noise) + 9/4 (the moving entry) = 3.25 in all: the plug-in variance of the
    group means is ≈ (1 − 1/50)·3.25/40 ≈ 0.080; the corrected estimate is ≈ 0 (over 200 seeds: −0.0007 ±
    0.0009, each with a standard deviation of 0.011)."""
    data = NoisyIdle()
    corrected, plug_in = [], []
    for seed in range(5):
        result = explained_variance(data, num_points=2000, seed=seed)
        corrected.append(result["explained_variance"][0])
        plug_in.append(result["uncorrected"][0])
        assert result["explained_variance"][1] == pytest.approx(9 / 4, rel=0.05)  # 3 × a fair coin: Var 9/4
    assert np.mean(plug_in) == pytest.approx(0.98 * 3.25 / 40, rel=0.15)
    assert abs(np.mean(corrected)) < 0.015


def test_explained_variance_is_seeded_and_refuses_too_few_points():
    data = Additive()
    assert explained_variance(data, 500, seed=3) == explained_variance(data, 500, seed=3)
    assert explained_variance(data, 500, seed=3) != explained_variance(data, 500, seed=4)
    with pytest.raises(
        ValueError,
        match=r"^value \d of factor '(first|second)' was drawn [01] time\(s\); every "
        r"value needs at least 2: raise num_points \(now 6\)$",
    ):
        explained_variance(data, num_points=6, seed=0)
    with pytest.raises(ValueError, match=r"^num_points must be an integer ≥ 2, got 1$"):
        explained_variance(data, num_points=1)
    with pytest.raises(ValueError, match=r"^num_points must be an integer ≥ 1, got 0$"):
        local_expansiveness(data, num_points=0)


def test_local_expansiveness_of_an_additive_dataset():
    result = local_expansiveness(Additive(a=2.0, b=0.5), num_points=100, seed=0)
    # one step moves the observation by exactly a (factor 0) or b (factor 1)
    assert result["step_norm"] == pytest.approx([2.0, 0.5])
    assert result["step"] == pytest.approx([standardised_step(3), standardised_step(5)])
    assert result["local_expansiveness"] == pytest.approx([2.0 / standardised_step(3), 0.5 / standardised_step(5)])


def test_local_expansiveness_keeps_the_nuisance_fixed():
    # the noise entry is drawn alike for both ends of a step, so only the moving factor moves x
    result = local_expansiveness(NoisyIdle(), num_points=300, seed=1)
    assert result["step_norm"] == pytest.approx([0.0, 3.0], abs=1e-6)


@pytest.fixture(scope="module")
def pattern_factor():
    return get("pattern-factor", epsilon=0.1)


def test_the_pattern_factor_s_has_its_known_statistics(pattern_factor):
    """For s, E[x̃ | s] = E[x] + ε f(s): its explained variance is ε² Σ_pixels Var_s f(s), and one step of s moves
    x̃ by ε ‖f(s_{i+1}) − f(s_i)‖, both computable from the pattern alone."""
    data = pattern_factor
    s = data.s_values
    f = data.pattern_for(s).astype(np.float64)  # (32, 64, 64)
    exact_variance = 0.01 * f.var(axis=0).sum()
    exact_step = 0.1 * np.sqrt(((f[1:] - f[:-1]) ** 2).sum(axis=(1, 2))).mean()
    variance = explained_variance(data, num_points=6000, seed=0)
    assert variance["factor_names"][-1] == "s"
    assert variance["explained_variance"][-1] == pytest.approx(exact_variance, rel=0.05)
    expansiveness = local_expansiveness(data, num_points=2000, seed=0)
    assert expansiveness["step_norm"][-1] == pytest.approx(exact_step, rel=0.03)
    assert expansiveness["step"][-1] == pytest.approx(s[1] - s[0])  # s has unit variance: its step is δ
    # the position factors share s's standardised step (32 values each)
    assert expansiveness["step"][3] == expansiveness["step"][4] == pytest.approx(expansiveness["step"][-1])


def test_the_statistics_of_s_scale_with_epsilon():
    low, high = get("pattern-factor", epsilon=0.05), get("pattern-factor", epsilon=0.2)
    a, b = explained_variance(low, 3000, seed=2), explained_variance(high, 3000, seed=2)
    assert b["explained_variance"][-1] / a["explained_variance"][-1] == pytest.approx(16, rel=0.1)
    # the other factors do not depend on ε (the same draws: the pattern only adds a term independent of them)
    assert b["explained_variance"][3] == pytest.approx(a["explained_variance"][3], rel=0.1)
    c, d = local_expansiveness(low, 300, seed=2), local_expansiveness(high, 300, seed=2)
    assert d["local_expansiveness"][-1] == pytest.approx(4 * c["local_expansiveness"][-1], rel=1e-6)
    assert d["local_expansiveness"][3] == pytest.approx(c["local_expansiveness"][3], rel=0.2)
