"""The ELBO decomposition of a trained model over a dataset, against known answers.

Stub posteriors (numpy maps of the factor indices), never networks: the known answers come from
numerical integration (tests/helpers/exact.py) or closed forms, so that a wrong weight, a subsampled mixture
or a wrong sign shows.
"""

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp

from untwine.data import all_factors
from untwine.metrics import elbo_decomposition
from untwine.metrics.elbo import encode_dataset, mixture_log_density
from tests.helpers.exact import exact_decomposition_2d, factorised_decomposition

DSPRITES_SIZES = (3, 6, 40, 32, 32)


class GridData:
    """A factor grid whose observations are the factor indices themselves (no rendering)."""

    def __init__(self, factor_sizes):
        self.factor_sizes = tuple(factor_sizes)
        self.observation_shape = (len(self.factor_sizes),)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1)

    def observe(self, factors, rng=None):
        return np.asarray(factors, dtype=np.float32)


def one_latent_per_factor(factor_sizes, stds):
    """posterior(x) = N(m(x), diag stds²), m_k = 2 v_k / (s_k − 1) − 1 ∈ [−1, 1]: latent k is a function of
    factor k alone, so on the full grid q(z) = Π_k q(z_k) and the true TC is exactly 0."""
    sizes = np.asarray(factor_sizes, dtype=np.float64)
    stds = np.broadcast_to(np.asarray(stds, dtype=np.float64), sizes.shape)

    def posterior(x):
        means = 2.0 * np.asarray(x, dtype=np.float64) / (sizes - 1) - 1.0
        return means, np.broadcast_to(stds**2, means.shape).copy()

    return posterior


def test_tc_is_zero_on_the_full_dsprites_grid():
    """All 737,280 posteriors are the mixture (Chen et al.): the true TC 0 comes out within 0.05 (a mixture
    of 10,000 subsampled posteriors gave −1.34 here)."""
    posterior = one_latent_per_factor(DSPRITES_SIZES, 0.05)
    result = elbo_decomposition(posterior, GridData(DSPRITES_SIZES), num_samples=96, batch_size=1 << 16)
    assert result["dataset_size"] == 737_280 and result["num_samples"] == 96
    assert abs(result["total_correlation"]) < 0.05
    # the analytic average KL over the whole grid, in closed form: Σ_k ½(E[μ_k²] + σ² − log σ² − 1)
    second_moments = [np.mean((2 * np.arange(s) / (s - 1) - 1) ** 2) for s in DSPRITES_SIZES]
    expected_kl = sum(0.5 * (m + 0.05**2 - math.log(0.05**2) - 1) for m in second_moments)
    assert result["kl"] == pytest.approx(expected_kl, rel=1e-9)


def test_every_term_matches_numerical_integration_on_a_factorised_grid():
    sizes, stds = (3, 6, 10), np.array([0.3, 0.1, 0.05])
    posterior = one_latent_per_factor(sizes, stds)
    result = elbo_decomposition(posterior, GridData(sizes), num_samples=40_000, seed=1)
    means, _ = posterior(all_factors(sizes))
    exact = factorised_decomposition(means, stds)
    assert result["dataset_size"] == 180
    assert result["total_correlation"] == pytest.approx(0.0, abs=0.02)
    assert result["index_code_mi"] == pytest.approx(exact["index_code_mi"], abs=0.03)
    assert result["dimension_wise_kl"] == pytest.approx(exact["dimension_wise_kl"], abs=0.03)
    assert result["estimated_kl"] == pytest.approx(result["kl"], abs=0.05)


class TwoFactorData(GridData):
    def __init__(self):
        super().__init__((10, 10))


def correlated_posterior(x):
    """N((a, 0.6a + 0.4b)/3 − 1.5, diag(0.15², 0.1²)) for x = (a, b): correlated latents, TC > 0."""
    x = np.asarray(x, dtype=np.float64)
    means = np.stack([x[:, 0], 0.6 * x[:, 0] + 0.4 * x[:, 1]], axis=1) / 3.0 - 1.5
    return means, np.broadcast_to(np.array([0.15, 0.1]) ** 2, means.shape).copy()


def test_correlated_latents_match_numerical_integration():
    result = elbo_decomposition(correlated_posterior, TwoFactorData(), num_samples=20_000, seed=0)
    means, variances = correlated_posterior(all_factors((10, 10)))
    exact = exact_decomposition_2d(means, np.sqrt(variances))
    assert exact["total_correlation"] > 0.3
    for key in ("index_code_mi", "total_correlation", "dimension_wise_kl"):
        assert result[key] == pytest.approx(exact[key], abs=0.04), key
    assert result == elbo_decomposition(correlated_posterior, TwoFactorData(), num_samples=20_000, seed=0)
    assert result != elbo_decomposition(correlated_posterior, TwoFactorData(), num_samples=20_000, seed=1)


def test_mixture_log_density_is_the_whole_mixture():
    """Brute force: log (1/N Σ_n N(z; μ_n, σ_n²)) over every row, repeated rows included (unequal
    multiplicities), for any chunking."""
    rng = np.random.default_rng(0)
    base_means, base_logvars = rng.normal(size=(7, 3)), rng.normal(scale=0.5, size=(7, 3))
    repeats = np.array([1, 5, 2, 1, 9, 1, 3])
    means, logvars = np.repeat(base_means, repeats, axis=0), np.repeat(base_logvars, repeats, axis=0)
    z = rng.normal(scale=1.5, size=(11, 3))
    pairs = -0.5 * (np.log(2 * np.pi) + logvars[None] + (z[:, None] - means[None]) ** 2 / np.exp(logvars[None]))
    expected = logsumexp(pairs.sum(2), axis=1) - np.log(len(means))
    for cells in (1, 7, 2**22):
        got = mixture_log_density(torch.from_numpy(z), means, logvars, chunk_cells=cells).numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    one = mixture_log_density(torch.from_numpy(z[:, 1:2]), means[:, 1:2], logvars[:, 1:2]).numpy()
    np.testing.assert_allclose(one, logsumexp(pairs[:, :, 1], axis=1) - np.log(len(means)), rtol=0, atol=1e-10)


class TwoImagesPerPoint:
    """4 factor points, 2 images each (a SmallNORB-like instance): 8 distinct observations."""

    factor_sizes = (4,)
    observation_shape = (1,)
    num_observations = 8

    def sample_factors(self, n, rng):
        return rng.integers(0, 4, size=(n, 1))

    def observe(self, factors, rng):
        return (2 * np.asarray(factors) + rng.integers(0, 2, size=(len(factors), 1))).astype(np.float32)

    def observations_at(self, index, rng=None):
        index = np.asarray(index)
        return index[:, None] // 2, index[:, None].astype(np.float32)


def test_the_mixture_holds_every_distinct_observation():
    """N is the dataset's num_observations (8 here, not the 4 factor points) and every image is a component:
    the MI is that of an 8-component mixture, by numerical integration."""
    std = 0.2

    def posterior(x):
        means = np.asarray(x, dtype=np.float64) - 3.5
        return means, np.full(means.shape, std**2)

    data = TwoImagesPerPoint()
    means, log_variances = encode_dataset(posterior, data)
    np.testing.assert_array_equal(means[:, 0], np.arange(8) - 3.5)
    result = elbo_decomposition(posterior, data, num_samples=40_000)
    assert result["dataset_size"] == 8
    exact = factorised_decomposition(means, [std])
    assert exact["index_code_mi"] == pytest.approx(math.log(8), abs=0.05)  # nearly separated: about log N
    assert result["index_code_mi"] == pytest.approx(exact["index_code_mi"], abs=0.02)
    assert result["dimension_wise_kl"] == pytest.approx(exact["dimension_wise_kl"], abs=0.02)
    assert result["total_correlation"] == 0.0  # one latent: log q(z) is its only marginal


def test_a_torch_dataset_is_encoded_whole():
    grid = all_factors((10, 10)).astype(np.float32)
    tensors = torch.utils.data.TensorDataset(torch.from_numpy(grid))
    whole = elbo_decomposition(correlated_posterior, tensors, num_samples=500, seed=2)
    assert whole["dataset_size"] == 100
    assert whole == elbo_decomposition(correlated_posterior, TwoFactorData(), num_samples=500, seed=2)


def test_bad_inputs_are_named():
    with pytest.raises(TypeError, match="model.posterior"):
        elbo_decomposition(object(), TwoFactorData())
    with pytest.raises(ValueError, match="num_samples"):
        elbo_decomposition(correlated_posterior, TwoFactorData(), num_samples=0)
    with pytest.raises(ValueError, match="log-variances"):
        elbo_decomposition(lambda x: (np.zeros((len(x), 2)), np.zeros((len(x), 2))), TwoFactorData())
    with pytest.raises(TypeError, match="torch Dataset"):
        elbo_decomposition(correlated_posterior, object())


class BareItems(torch.utils.data.Dataset):
    """A torch Dataset whose items are bare numpy arrays (no (image, label) tuple)."""

    def __len__(self):
        return 100

    def __getitem__(self, i):
        return all_factors((10, 10))[i].astype(np.float32)


def test_every_input_kind_and_error_is_named():
    bare = elbo_decomposition(correlated_posterior, BareItems(), num_samples=300, seed=4)
    assert bare == elbo_decomposition(correlated_posterior, TwoFactorData(), num_samples=300, seed=4)
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0$"):
        encode_dataset(correlated_posterior, TwoFactorData(), batch_size=0)
    with pytest.raises(ValueError, match=r"^num_samples must be a positive integer, got True$"):
        elbo_decomposition(correlated_posterior, TwoFactorData(), num_samples=True)
    with pytest.raises(
        ValueError,
        match=r"^posterior must return means and variances of shape \(n, d\) for n "
        r"observations; got \(100, 2\) and \(100, 3\) for 100 observations$",
    ):
        encode_dataset(lambda x: (np.zeros((len(x), 2)), np.ones((len(x), 3))), TwoFactorData())
    with pytest.raises(
        ValueError,
        match=r"^posterior returned non-finite means or variances that are not positive "
        r"\(it must return variances, not log-variances\)$",
    ):
        encode_dataset(lambda x: (np.full((len(x), 2), np.nan), np.ones((len(x), 2))), TwoFactorData())

    class Empty(GridData):
        num_observations = 0

    with pytest.raises(ValueError, match=r"^the dataset has no observations$"):
        encode_dataset(correlated_posterior, Empty((1,)))
    # small batches give the same encodings (the batches only split the work)
    a, b = (
        encode_dataset(correlated_posterior, TwoFactorData(), batch_size=7),
        encode_dataset(correlated_posterior, TwoFactorData(), batch_size=1000),
    )
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_nuisance_noise_is_drawn_once_per_point_from_the_seed():
    """A dataset that draws noise in observe is encoded with one draw per point from default_rng(seed)."""

    class Noisy(GridData):
        def observe(self, factors, rng=None):
            return np.asarray(factors, dtype=np.float32) + rng.normal(size=np.shape(factors)).astype(np.float32)

    data = Noisy((5, 4))
    means, _ = encode_dataset(correlated_posterior, data, seed=3)
    again, _ = encode_dataset(correlated_posterior, data, seed=3)
    other, _ = encode_dataset(correlated_posterior, data, seed=4)
    assert np.array_equal(means, again) and not np.array_equal(means, other)
    expected = data.observe(all_factors((5, 4)), np.random.default_rng(3))
    np.testing.assert_allclose(means, correlated_posterior(expected)[0], rtol=1e-6)


def test_defaults_batches_and_precisions():
    """10,000 samples and batches of 256 by default; the posterior sees float32 observations in batches of
    batch_size; its float32 outputs become float64; the sum of the parts is the key estimated_kl."""
    seen = []

    def spy(x):
        seen.append((len(x), np.asarray(x).dtype))
        means, variances = correlated_posterior(x)
        return means.astype(np.float32), variances.astype(np.float32)

    data = GridData((20, 30))
    result = elbo_decomposition(spy, data)
    assert result["num_samples"] == 10_000 and seen[0] == (256, np.float32) and sum(n for n, _ in seen) == 600
    assert result == elbo_decomposition(spy, data, seed=0, num_samples=10_000, batch_size=256)
    assert result["estimated_kl"] == result["index_code_mi"] + result["total_correlation"] + result["dimension_wise_kl"]
    seen.clear()
    elbo_decomposition(spy, data, num_samples=1, batch_size=7)
    assert {n for n, _ in seen} == {7, 5}
    means, log_variances = encode_dataset(spy, data, batch_size=1)
    assert means.dtype == log_variances.dtype == np.float64 and len(means) == 600


def test_mixture_log_density_takes_any_float_precision():
    rng = np.random.default_rng(1)
    means, logvars = rng.normal(size=(9, 2)), rng.normal(scale=0.3, size=(9, 2))
    z = torch.from_numpy(rng.normal(size=(5, 2)))
    exact = mixture_log_density(z, means, logvars).numpy()
    low = mixture_log_density(z.float(), means.astype(np.float32), logvars.astype(np.float32)).numpy()
    np.testing.assert_allclose(
        low,
        mixture_log_density(
            z.float().double(), means.astype(np.float32).astype(float), logvars.astype(np.float32).astype(float)
        ).numpy(),
        rtol=1e-12,
    )
    np.testing.assert_allclose(low, exact, rtol=1e-5)


class SeededInstances(TwoImagesPerPoint):
    """observations_at draws a nuisance offset from the rng it is given (and needs one)."""

    def observations_at(self, index, rng=None):
        if rng is None:
            raise ValueError("needs an rng")
        index = np.asarray(index)
        return index[:, None] // 2, (index[:, None] + rng.normal(size=(len(index), 1))).astype(np.float32)


def test_the_seed_reaches_every_draw():
    def posterior(x):
        return np.asarray(x, dtype=np.float64), np.full((len(x), 1), 0.04)

    data = SeededInstances()
    a = elbo_decomposition(posterior, data, num_samples=200, seed=5)
    assert a == elbo_decomposition(posterior, data, num_samples=200, seed=5)
    assert a != elbo_decomposition(posterior, data, num_samples=200, seed=6)
    assert elbo_decomposition(posterior, data, num_samples=200) == elbo_decomposition(
        posterior, data, num_samples=200, seed=0
    )
    means, _ = encode_dataset(posterior, data)
    np.testing.assert_array_equal(means, encode_dataset(posterior, data, seed=0)[0])


class IndexedTensors(torch.utils.data.Dataset):
    """A torch Dataset that also has an ``observe`` method but no factor_sizes: it is read by index."""

    def __len__(self):
        return 100

    def __getitem__(self, i):
        return torch.from_numpy(all_factors((10, 10))[i].astype(np.float32)), 0

    def observe(self, factors, rng=None):
        raise AssertionError("a dataset without factor_sizes is read by index")


def test_what_is_a_dataset():
    result = elbo_decomposition(correlated_posterior, IndexedTensors(), num_samples=300, seed=4)
    assert result == elbo_decomposition(correlated_posterior, TwoFactorData(), num_samples=300, seed=4)

    class OnlyLength:
        def __len__(self):
            return 3

    for bad in (object(), OnlyLength()):
        with pytest.raises(
            TypeError,
            match=rf"^data must follow the ground-truth data contract \(factor_sizes, "
            rf"sample_factors, observe\) or be a torch Dataset; got "
            rf"{type(bad).__name__}$",
        ):
            elbo_decomposition(correlated_posterior, bad)
    with pytest.raises(
        TypeError,
        match=r"^posterior must be a callable observations -> \(means, variances\), e.g. "
        r"model.posterior\(\); got int$",
    ):
        elbo_decomposition(3, TwoFactorData())
    one = elbo_decomposition(correlated_posterior, TwoFactorData(), num_samples=1)
    assert one["num_samples"] == 1


class Float64Grid(GridData):
    """Observations in float64 (a dataset that does not follow the float32 convention)."""

    def observe(self, factors, rng=None):
        return np.asarray(factors, dtype=np.float64) + 0.1


def test_encode_dataset_batches_256_float32_observations_by_default():
    """Called directly, encode_dataset hands the posterior batches of at most 256 observations, converted to
    float32 whatever the dataset returns (here float64, with values float32 cannot hold exactly)."""
    seen = []

    def spy(x):
        seen.append((len(x), x.dtype))
        return correlated_posterior(x)

    means, _ = encode_dataset(spy, Float64Grid((20, 30)))
    assert seen == [(256, np.float32), (256, np.float32), (88, np.float32)]
    expected = correlated_posterior(all_factors((20, 30)).astype(np.float64) + 0.1)[0]
    assert not np.array_equal(means, expected)  # the float32 rounding of x + 0.1 shows
    np.testing.assert_array_equal(means, correlated_posterior((all_factors((20, 30)) + 0.1).astype(np.float32))[0])
    seen.clear()
    elbo_decomposition(spy, Float64Grid((20, 30)), num_samples=1)
    assert [n for n, _ in seen] == [256, 256, 88] and {d for _, d in seen} == {np.dtype(np.float32)}


def test_elbo_decomposition_encodes_with_its_seed():
    """The seed draws the dataset's nuisance noise as well as the samples: the analytic KL, a function of the
    encodings alone, is that of encode_dataset(seed=seed) and changes with the seed."""

    def posterior(x):
        return np.asarray(x, dtype=np.float64), np.full((len(x), 1), 0.04)

    def analytic_kl(seed):
        means, log_variances = encode_dataset(posterior, SeededInstances(), seed=seed)
        return float(np.mean(0.5 * (means**2 + np.exp(log_variances) - log_variances - 1.0).sum(1)))

    for seed in (5, 6):
        result = elbo_decomposition(posterior, SeededInstances(), num_samples=50, seed=seed)
        assert result["kl"] == pytest.approx(analytic_kl(seed), rel=1e-12)
    assert analytic_kl(5) != pytest.approx(analytic_kl(0), rel=1e-6)
