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

from tests.helpers.toys import ToyData

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
    out = evaluate(
        lambda o: o, ToyData((10, 10, 10)), "mig_exact", posterior=posterior_for(), max_points=300, num_samples=1000
    )["mig_exact"]
    assert out["num_points"] == 300 and out["mig_exact"] > 0.8


def test_mutual_information_matches_numerical_integration():
    """Overlapping posteriors: I(z_j; v_k) = H(q(z_j)) − H(q(z_j | v_k)), each a 1-D integral; a latent that
    does not depend on a factor has I = 0 with it."""
    from tests.helpers.exact import mixture_entropy_1d

    sizes = (3, 4)
    f = index_to_factors(np.arange(12), sizes)
    stds = np.array([0.5, 0.3])
    means = np.stack([f[:, 0], 0.7 * f[:, 1]], axis=1).astype(float)
    out = mig_exact(
        means, np.broadcast_to(stds**2, means.shape), f, sizes, num_samples=40_000, rng=np.random.default_rng(1)
    )
    mi = np.array(out["mutual_info"])
    expected = np.zeros((2, 2))
    for j, values in ((0, np.arange(3.0)), (1, 0.7 * np.arange(4.0))):
        expected[j, j] = mixture_entropy_1d(values, stds[j]) - 0.5 * np.log(2 * np.pi * np.e * stds[j] ** 2)
    assert expected[0, 0] < np.log(3) - 0.1  # overlapping: short of log 3
    np.testing.assert_allclose(mi, expected, atol=0.02)
    gaps = np.diag(expected) / np.log(sizes)
    assert out["mig_exact"] == pytest.approx(gaps.mean(), abs=0.02)
    assert out["mig_exact_chen"] == out["mig_exact"] and out["chen_factors"] == [0, 1]


DSPRITES_NAMES = ("shape", "scale", "orientation", "pos_x", "pos_y")


def test_chen_variant_leaves_dsprites_shape_out():
    """Chen et al.'s dSprites number averages over scale, orientation and position only: a code that ignores
    shape scores 4/5 over all factors and 1 in their variant."""
    sizes = (3, 2, 3, 2, 2)
    data = ToyData(sizes)
    data.factor_names = DSPRITES_NAMES

    def ignores_shape(obs):
        x = np.asarray(obs, float).reshape(len(obs), -1)[:, :5].copy()
        x[:, 0] = 0.0
        return x, np.full(x.shape, 1e-4)

    out = evaluate(lambda o: o, data, "mig_exact", posterior=ignores_shape, num_samples=3000)["mig_exact"]
    assert out["chen_factors"] == [1, 2, 3, 4]
    assert out["mig_exact"] == pytest.approx(0.8, abs=0.02)
    assert out["mig_exact_chen"] == pytest.approx(1.0, abs=0.02)
    data.factor_names = ("a", "b", "c", "d", "e")  # not dSprites: every factor, both numbers equal
    other = evaluate(lambda o: o, data, "mig_exact", posterior=ignores_shape, num_samples=3000)["mig_exact"]
    assert other["chen_factors"] == [0, 1, 2, 3, 4] and other["mig_exact_chen"] == other["mig_exact"]


def test_chen_factors_and_bad_arguments():
    from untwine.metrics.mig_exact import chen_factors

    assert chen_factors(DSPRITES_NAMES) == [1, 2, 3, 4]
    assert chen_factors(("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")) == list(range(6))
    f = index_to_factors(np.arange(24), SIZES)
    with pytest.raises(ValueError, match="num_samples"):
        mig_exact(f.astype(float), np.ones((24, 3)), f, SIZES, num_samples=0)
    with pytest.raises(ValueError, match="chen"):
        mig_exact(f.astype(float), np.ones((24, 3)), f, SIZES, chen=[3])


def test_defaults_inputs_and_errors():
    f = index_to_factors(np.arange(24), SIZES)
    means = f.astype(float)
    variances = np.full(means.shape, 0.01)
    default = mig_exact(means, variances, f, num_samples=500)
    assert default == mig_exact(means, variances, f, SIZES, num_samples=500, rng=np.random.default_rng(0))
    assert default["factor_entropy"] == pytest.approx(np.log(SIZES).tolist())
    assert mig_exact(means, variances, f)["mig_exact"] == pytest.approx(1.0, abs=0.03)  # 10,000 samples
    with pytest.raises(ValueError, match=r"^means and variances must both be \(n, d\), got \(24, 3\) and \(24, 2\)$"):
        mig_exact(means, variances[:, :2], f)
    with pytest.raises(ValueError, match=r"^means and variances must both be \(n, d\), got \(24,\) and \(24,\)$"):
        mig_exact(means[:, 0], variances[:, 0], f)
    with pytest.raises(
        ValueError,
        match=r"^posterior variances must be positive \(pass variances, not "
        r"log-variances\)$",
    ):
        mig_exact(means, np.zeros_like(variances), f)
    with pytest.raises(ValueError, match=r"^num_samples must be a positive integer, got True$"):
        mig_exact(means, variances, f, num_samples=True)
    with pytest.raises(ValueError, match=r"^chen must name factor indices in \[0, 3\), got \[\]$"):
        mig_exact(means, variances, f, chen=[])
    with pytest.raises(ValueError, match=r"^chen must name factor indices in \[0, 3\), got \[-1\]$"):
        mig_exact(means, variances, f, chen=[-1])


def test_the_sampler_defaults_and_a_dataset_without_factor_names():
    from untwine.metrics import metric_parameters

    assert metric_parameters("mig_exact") == {"posterior": inspect_empty(), "max_points": 50_000, "num_samples": 10_000}

    class Unnamed:
        factor_sizes = SIZES
        observation_shape = (3,)

        def sample_factors(self, n, rng):
            return np.stack([rng.integers(0, s, size=n) for s in SIZES], axis=1)

        def observe(self, factors, rng):
            return np.asarray(factors, dtype=np.float32)

    out = evaluate(lambda o: o, Unnamed(), "mig_exact", posterior=posterior_for(), num_samples=1000)["mig_exact"]
    assert out["chen_factors"] == [0, 1, 2] and out["mig_exact_chen"] == out["mig_exact"]
    assert out["num_points"] == 24


def inspect_empty():
    import inspect

    return inspect.Parameter.empty


def test_the_core_uses_its_rng_sizes_and_sample_count():
    f = index_to_factors(np.arange(24), SIZES)
    means, variances = f.astype(float), np.full((24, 3), 0.3)
    a = mig_exact(means, variances, f, num_samples=50, rng=np.random.default_rng(1))
    assert a != mig_exact(means, variances, f, num_samples=50, rng=np.random.default_rng(2))
    assert mig_exact(means, variances, f, num_samples=1)["mig_exact"] >= 0
    assert mig_exact(means, variances, f) == mig_exact(means, variances, f, num_samples=10_000)
    # declared sizes, not the values seen, normalise the gaps
    declared = mig_exact(means, variances, f, factor_sizes=(2, 3, 8), num_samples=500)
    assert declared["factor_entropy"] == pytest.approx(np.log([2, 3, 8]).tolist())


def test_the_sampler_draws_distinct_points_with_its_rng_and_batches():
    seen = []

    def spy(obs):
        seen.append(np.asarray(obs).copy())
        return posterior_for()(obs)

    noisy = ToyData((4, 5, 6), noise=0.01)  # observe needs the rng
    out = evaluate(lambda o: o, noisy, "mig_exact", posterior=spy, max_points=60, num_samples=200, batch_size=16)[
        "mig_exact"
    ]
    observed = np.concatenate(seen)
    assert out["num_points"] == 60 and len(observed) == 60 and max(len(s) for s in seen) == 16
    assert len(np.unique(np.round(observed[:, :3]), axis=0)) == 60  # distinct factor points

    def scores(**params):
        out = evaluate(lambda o: o, ToyData(SIZES), "mig_exact", posterior=posterior_for(), **params)["mig_exact"]
        return {k: v for k, v in out.items() if k != "params"}

    assert scores(max_points=24, num_samples=300) == scores(max_points=1000, num_samples=300)  # 24 points: all
    assert scores() == scores(num_samples=10_000, max_points=50_000)


def test_the_sampler_hands_its_rng_and_sample_count_to_the_core():
    """On an enumerated space only the samples are random: the seed and num_samples must reach the core."""

    def value(**params):
        return evaluate(lambda o: o, ToyData(SIZES), "mig_exact", posterior=posterior_for(scale=0.5), **params)[
            "mig_exact"
        ]["mutual_info"]

    assert value(seed=1, num_samples=300) != value(seed=2, num_samples=300)
    assert value(seed=1, num_samples=300) != value(seed=1, num_samples=301)


def test_the_sampler_subsamples_a_space_larger_than_its_default_50000_points():
    """3 × 7 × 2381 = 50,001 points: one more than the default max_points, so 50,000 distinct points are drawn
    (a default of 50,001 would enumerate the whole space)."""
    sizes = (3, 7, 2381)
    assert int(np.prod(sizes)) == 50_001
    out = evaluate(lambda o: o, ToyData(sizes), "mig_exact", posterior=posterior_for(), num_samples=20)["mig_exact"]
    assert out["num_points"] == 50_000
    whole = evaluate(
        lambda o: o, ToyData(sizes), "mig_exact", posterior=posterior_for(), num_samples=20, max_points=50_001
    )["mig_exact"]
    assert whole["num_points"] == 50_001


def test_the_sampler_normalises_by_the_declared_sizes_when_the_subset_misses_values():
    """40 points of a factor with 200 values cannot show all of them: the gaps are normalised by log 200 (the
    factor's entropy), not by the log of the number of values the subset happens to hold."""
    sizes = (2, 3, 200)
    out = evaluate(lambda o: o, ToyData(sizes), "mig_exact", posterior=posterior_for(), max_points=40, num_samples=200)[
        "mig_exact"
    ]
    assert out["num_points"] == 40
    assert out["factor_entropy"] == pytest.approx(np.log(sizes).tolist(), rel=1e-12)


def test_float32_posteriors_are_scored_in_float64():
    """The estimate is computed in float64 whatever the posterior's precision: float32 variances give exactly
    the estimate of their float64 values (their log and square root taken in float64, not float32)."""
    f = index_to_factors(np.arange(24), SIZES)
    rng = np.random.default_rng(3)
    means = (f + 0.3 * rng.standard_normal(f.shape)).astype(np.float32)
    variances = rng.uniform(0.05, 0.4, size=f.shape).astype(np.float32)
    low = mig_exact(means, variances, f, num_samples=300)
    high = mig_exact(means.astype(np.float64), variances.astype(np.float64), f, num_samples=300)
    assert low == high
