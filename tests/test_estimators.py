"""Estimators: importance weights, TC against exact values, MMD."""

import math
import re

import numpy as np
import pytest
import torch

from untwine.estimators import (
    ESTIMATORS,
    KERNELS,
    PER_DIMENSION_SCALES,
    decompose_kl,
    default_bandwidth,
    dimension_wise_kl,
    gaussian_kl,
    gaussian_log_density,
    gaussian_total_correlation,
    importance_weights,
    index_code_mutual_information,
    kernel_matrix,
    log_aggregate_densities,
    log_importance_weights,
    mmd,
    mmd_per_dimension,
    standard_normal_log_density,
    total_correlation,
)

from tests.helpers.exact import exact_tc_2d


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_importance_weight_rows_sum_to_one(estimator):
    for batch_size in (1, 2, 3, 5, 17, 64, 100, 257):
        for dataset_size in (1, 2, 3, 5, 63, 64, 65, 100, 1000, 737_280):
            w = importance_weights(batch_size, dataset_size, estimator)
            assert w.shape == (batch_size, batch_size)
            assert (w >= 0).all()
            np.testing.assert_allclose(w.sum(1), 1.0, rtol=0, atol=1e-12)
            if estimator == "mss" and batch_size > 1:
                np.testing.assert_allclose(np.diag(w), 1.0 / dataset_size)
            logw = log_importance_weights(batch_size, dataset_size, estimator, dtype=torch.float64)
            assert torch.allclose(torch.logsumexp(logw, 1), torch.zeros(batch_size, dtype=torch.float64))


def test_mss_needs_a_dataset_size_and_estimators_are_named():
    with pytest.raises(ValueError, match="dataset size"):
        importance_weights(8, None, "mss")
    with pytest.raises(ValueError, match="mws, mss"):
        importance_weights(8, 10, "mis")


def test_gaussian_log_density_matches_torch():
    g = torch.Generator().manual_seed(0)
    x, mean, logvar = (torch.randn(6, 3, generator=g) for _ in range(3))
    expected = torch.distributions.Normal(mean, torch.exp(0.5 * logvar)).log_prob(x)
    assert torch.allclose(gaussian_log_density(x, mean, logvar), expected, atol=1e-5)
    assert torch.allclose(standard_normal_log_density(x), torch.distributions.Normal(0.0, 1.0).log_prob(x))


def gaussian_latents(covariance, noise_variance, n, seed):
    """Posteriors N(μ_i, s² I) with μ_i ~ N(0, A): the aggregate posterior is N(0, A + s² I)."""
    g = torch.Generator().manual_seed(seed)
    chol = torch.linalg.cholesky(torch.as_tensor(covariance, dtype=torch.float64))
    mean = torch.randn(n, len(chol), generator=g, dtype=torch.float64) @ chol.T
    logvar = torch.full_like(mean, math.log(noise_variance))
    z = mean + math.sqrt(noise_variance) * torch.randn(mean.shape, generator=g, dtype=torch.float64)
    return z, mean, logvar


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_tc_of_independent_latents_is_zero(estimator):
    z, mean, logvar = gaussian_latents(np.diag([1.0, 2.0, 0.5]), 0.3, 2048, seed=1)
    tc = total_correlation(z, mean, logvar, estimator=estimator, dataset_size=10**9)
    assert abs(float(tc)) < 0.03


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_tc_of_correlated_gaussian_latents(estimator):
    covariance = np.array([[1.0, 0.6, 0.3], [0.6, 1.0, 0.2], [0.3, 0.2, 1.0]])
    expected = gaussian_total_correlation(covariance + 0.3 * np.eye(3))  # −½ log det(correlation)
    correlation = (covariance + 0.3 * np.eye(3)) / 1.3
    assert expected == pytest.approx(-0.5 * np.log(np.linalg.det(correlation)))
    estimates = [
        float(
            total_correlation(*gaussian_latents(covariance, 0.3, 2048, seed=s), estimator=estimator, dataset_size=10**9)
        )
        for s in range(2)
    ]
    assert np.mean(estimates) == pytest.approx(expected, abs=0.03)


def test_mws_and_mss_converge_to_exact_tc_of_a_2d_aggregate_posterior():
    rng = np.random.default_rng(0)
    n = 50
    u, v = rng.normal(size=n), rng.normal(size=n)
    means = np.stack([u, 0.8 * u + 0.3 * v], axis=1)
    stds = rng.uniform(0.08, 0.15, size=(n, 2))
    exact = exact_tc_2d(means, stds)
    assert exact > 0.5
    mean_t, logvar_t = torch.tensor(means), torch.tensor(np.log(stds**2))
    g = torch.Generator().manual_seed(1)

    def bias(estimator, batch_size):
        values = []
        for _ in range(max(4, 4000 // batch_size)):
            # MSS assumes distinct points (a batch drawn without replacement); MWS takes any batch.
            index = (
                torch.randint(n, (batch_size,), generator=g)
                if estimator == "mws"
                else torch.randperm(n, generator=g)[:batch_size]
            )
            mean, logvar = mean_t[index], logvar_t[index]
            z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=g, dtype=torch.float64)
            values.append(float(total_correlation(z, mean, logvar, estimator=estimator, dataset_size=n)))
        return abs(np.mean(values) - exact)

    mss = [bias("mss", b) for b in (5, 15, 50)]
    assert mss[0] > mss[1] > mss[2] and mss[2] < 0.05
    mws = [bias("mws", b) for b in (20, 2000)]
    assert mws[0] > mws[1] and mws[1] < 0.04


def test_mmd_is_zero_for_identical_samples_and_grows_with_a_shift():
    x = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))
    for kernel in ("imq", "gaussian"):
        assert float(mmd(x, x.clone(), kernel)) == pytest.approx(0.0, abs=1e-6)
        values = [float(mmd(x, x + shift, kernel)) for shift in (0.25, 0.5, 1.0, 2.0)]
        assert all(a < b for a, b in zip(values, values[1:])) and values[0] > 0
    y = torch.randn(200, 4, generator=torch.Generator().manual_seed(1))
    assert abs(float(mmd(x, y, unbiased=True))) < 0.01 < float(mmd(x, y + 1.0, unbiased=True))
    with pytest.raises(ValueError, match="imq, gaussian"):
        mmd(x, y, "linear")


# -- brute force: the estimators written out from the papers' definitions, loop by loop -------------


def mss_weights_by_hand(batch_size, dataset_size):
    """Chen et al. 2018, Appendix C, as a loop: the point's own posterior weighs 1/N; the next one (cyclically)
    the remainder (N − B + 1)/(N(B − 1)); every other one 1/(B − 1). With B > N the B − 1 others share
    (N − 1)/N equally."""
    b, n = batch_size, dataset_size
    w = np.zeros((b, b))
    for i in range(b):
        for j in range(b):
            if i == j:
                w[i, j] = 1 / n if b > 1 else 1.0
            elif b > n:
                w[i, j] = (n - 1) / (n * (b - 1))
            elif j == (i + 1) % b:
                w[i, j] = (n - b + 1) / (n * (b - 1))
            else:
                w[i, j] = 1 / (b - 1)
    return w


@pytest.mark.parametrize("batch_size,dataset_size", [(1, 7), (2, 2), (4, 10), (5, 3), (6, 6), (9, 1000)])
def test_importance_weights_are_those_of_the_paper(batch_size, dataset_size):
    np.testing.assert_allclose(
        importance_weights(batch_size, dataset_size, "mss"),
        mss_weights_by_hand(batch_size, dataset_size),
        rtol=0,
        atol=1e-15,
    )
    np.testing.assert_allclose(
        importance_weights(batch_size, dataset_size, "mws"),
        np.full((batch_size, batch_size), 1 / batch_size),
        rtol=0,
        atol=1e-15,
    )
    # a hand-written case: B = 4, N = 10
    if (batch_size, dataset_size) == (4, 10):
        third, rest = 1 / 3, 7 / 30
        expected = [
            [0.1, rest, third, third],
            [third, 0.1, rest, third],
            [third, third, 0.1, rest],
            [rest, third, third, 0.1],
        ]
        np.testing.assert_allclose(importance_weights(4, 10), expected, rtol=0, atol=1e-15)


def test_log_aggregate_densities_by_brute_force():
    g = torch.Generator().manual_seed(4)
    mean, logvar = (
        torch.randn(6, 3, generator=g, dtype=torch.float64),
        torch.randn(6, 3, generator=g, dtype=torch.float64),
    )
    z = mean + torch.exp(0.5 * logvar) * torch.randn(6, 3, generator=g, dtype=torch.float64)
    m, lv, zz = mean.numpy(), logvar.numpy(), z.numpy()

    def log_normal(x, mu, log_variance):
        return -0.5 * (math.log(2 * math.pi) + log_variance + (x - mu) ** 2 / math.exp(log_variance))

    for estimator, size in (("mws", None), ("mss", 40)):
        w = np.full((6, 6), 1 / 6) if estimator == "mws" else mss_weights_by_hand(6, 40)
        joint = np.zeros(6)
        marginal = np.zeros((6, 3))
        for i in range(6):
            joint[i] = math.log(
                sum(
                    w[i, j] * math.exp(sum(log_normal(zz[i, k], m[j, k], lv[j, k]) for k in range(3))) for j in range(6)
                )
            )
            for k in range(3):
                marginal[i, k] = math.log(
                    sum(w[i, j] * math.exp(log_normal(zz[i, k], m[j, k], lv[j, k])) for j in range(6))
                )
        log_qz, log_marginals = log_aggregate_densities(z, mean, logvar, estimator=estimator, dataset_size=size)
        np.testing.assert_allclose(log_qz.numpy(), joint, rtol=1e-10)
        np.testing.assert_allclose(log_marginals.numpy(), marginal, rtol=1e-10)
        log_q_given = np.array([sum(log_normal(zz[i, k], m[i, k], lv[i, k]) for k in range(3)) for i in range(6)])
        log_p = np.array([sum(log_normal(zz[i, k], 0.0, 0.0) for k in range(3)) for i in range(6)])
        parts = decompose_kl(z, mean, logvar, estimator=estimator, dataset_size=size)
        assert float(parts["index_code_mi"]) == pytest.approx(np.mean(log_q_given - joint), rel=1e-10)
        assert float(parts["total_correlation"]) == pytest.approx(np.mean(joint - marginal.sum(1)), rel=1e-10)
        assert float(parts["dimension_wise_kl"]) == pytest.approx(
            np.mean((marginal - log_p[:, None] / 3).sum(1)), rel=1e-10
        )
        assert float(total_correlation(z, mean, logvar, estimator=estimator, dataset_size=size)) == pytest.approx(
            float(parts["total_correlation"]), rel=1e-12
        )
        assert float(dimension_wise_kl(z, mean, logvar, estimator=estimator, dataset_size=size)) == pytest.approx(
            float(parts["dimension_wise_kl"]), rel=1e-12
        )
        assert float(
            index_code_mutual_information(z, mean, logvar, estimator=estimator, dataset_size=size)
        ) == pytest.approx(float(parts["index_code_mi"]), rel=1e-12)


def test_gaussian_kl_closed_forms():
    """KL(N(μ, v) ‖ N(0, s²)) = log(s/√v) + (v + μ²)/(2s²) − ½, written out."""
    mean, logvar = np.array([0.5, -1.0, 0.0]), np.array([-1.0, 0.3, 0.0])
    variance = np.exp(logvar)

    def by_hand(prior_variance):
        return [
            0.5 * math.log(prior_variance / v) + (v + mu**2) / (2 * prior_variance) - 0.5
            for mu, v in zip(mean, variance)
        ]

    np.testing.assert_allclose(gaussian_kl(mean, logvar), by_hand(1.0), rtol=1e-12)
    np.testing.assert_allclose(gaussian_kl(mean, logvar, variance=variance), by_hand(1.0), rtol=1e-12)
    np.testing.assert_allclose(gaussian_kl(mean, logvar, 2.25), by_hand(2.25), rtol=1e-12)
    np.testing.assert_allclose(gaussian_kl(mean, logvar, 0.5, variance=variance), by_hand(0.5), rtol=1e-12)
    torch_kl = gaussian_kl(torch.tensor(mean), torch.tensor(logvar))
    np.testing.assert_allclose(torch_kl.numpy(), by_hand(1.0), rtol=1e-12)
    assert gaussian_kl(mean, logvar)[2] == 0.0  # N(0, 1) against itself


def test_gaussian_total_correlation_closed_form():
    # two latents with correlation ρ: TC = −½ log(1 − ρ²), whatever the scales
    covariance = np.array([[4.0, 0.8 * 2 * 3], [0.8 * 2 * 3, 9.0]])
    assert gaussian_total_correlation(covariance) == pytest.approx(-0.5 * math.log(1 - 0.64), rel=1e-12)
    assert gaussian_total_correlation(np.diag([1.0, 5.0, 0.1])) == pytest.approx(0.0, abs=1e-12)


def kernel_by_hand(a, b, kernel, bandwidth):
    distance = float(((a - b) ** 2).sum())
    return bandwidth / (bandwidth + distance) if kernel == "imq" else math.exp(-distance / (2 * bandwidth**2))


@pytest.mark.parametrize("kernel", KERNELS)
def test_mmd_by_brute_force(kernel):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, 3, generator=g, dtype=torch.float64)
    y = 0.5 + torch.randn(4, 3, generator=g, dtype=torch.float64)
    bandwidth = default_bandwidth(kernel, 3)
    xx = [[kernel_by_hand(p.numpy(), q.numpy(), kernel, bandwidth) for q in x] for p in x]
    yy = [[kernel_by_hand(p.numpy(), q.numpy(), kernel, bandwidth) for q in y] for p in y]
    xy = [[kernel_by_hand(p.numpy(), q.numpy(), kernel, bandwidth) for q in y] for p in x]
    np.testing.assert_allclose(kernel_matrix(x, y, kernel, bandwidth).numpy(), xy, rtol=1e-12)
    biased = np.mean(xx) + np.mean(yy) - 2 * np.mean(xy)
    assert float(mmd(x, y, kernel)) == pytest.approx(biased, rel=1e-12)
    off = lambda m: (np.sum(m) - np.trace(m)) / (len(m) * (len(m) - 1))  # noqa: E731
    assert float(mmd(x, y, kernel, unbiased=True)) == pytest.approx(
        off(np.array(xx)) + off(np.array(yy)) - 2 * np.mean(xy), rel=1e-12
    )


def test_default_bandwidths_are_the_wae_rule():
    assert default_bandwidth("imq", 10) == 20.0 and default_bandwidth("imq", 10, 0.5) == 10.0
    assert default_bandwidth("gaussian", 10, 0.4) == pytest.approx(2.0)


def test_mmd_per_dimension_is_the_authors_sum_by_brute_force():
    """Mathieu et al.'s released discrepancy: Σ over scales s ∈ {0.1, …, 5} and latents k of a 1-D MMD²
    with k(a, b) = 2s / (2s + (a − b)²), U-statistics within each sample."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 2, generator=g, dtype=torch.float64)
    y = 0.3 + 1.5 * torch.randn(5, 2, generator=g, dtype=torch.float64)
    xs, ys = x.numpy(), y.numpy()
    total = 0.0
    for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0):
        c = 2 * s
        for k in range(2):
            kxx = sum(c / (c + (xs[i, k] - xs[j, k]) ** 2) for i in range(6) for j in range(6) if i != j) / 30
            kyy = sum(c / (c + (ys[i, k] - ys[j, k]) ** 2) for i in range(5) for j in range(5) if i != j) / 20
            kxy = sum(c / (c + (xs[i, k] - ys[j, k]) ** 2) for i in range(6) for j in range(5)) / 30
            total += kxx + kyy - 2 * kxy
    assert PER_DIMENSION_SCALES == (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
    assert float(mmd_per_dimension(x, y)) == pytest.approx(total, rel=1e-12)
    # it compares marginals only: shuffling one latent across the batch leaves it unchanged
    shuffled = torch.stack([x[:, 0], x[torch.tensor([3, 1, 5, 0, 2, 4]), 1]], dim=1)
    assert float(mmd_per_dimension(shuffled, y)) == pytest.approx(total, rel=1e-12)
    with pytest.raises(ValueError, match="two samples"):
        mmd_per_dimension(x[:1], y)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        mmd_per_dimension(x, y[:, :1])


# -- defaults, dtypes, devices and messages: what a caller relies on ---------------------------------


def test_defaults_are_the_documented_ones():
    """MSS for the weights, MWS for the minibatch estimates, IMQ with C = 1 for the kernel matrix."""
    np.testing.assert_array_equal(
        log_importance_weights(4, 10).numpy(), np.log(mss_weights_by_hand(4, 10)).astype(np.float32)
    )
    z, mean, logvar = gaussian_latents(np.eye(3), 0.3, 16, seed=3)
    for function in (total_correlation, dimension_wise_kl, index_code_mutual_information):
        assert float(function(z, mean, logvar)) == float(function(z, mean, logvar, estimator="mws"))
    assert {k: float(v) for k, v in decompose_kl(z, mean, logvar).items()} == {
        k: float(v) for k, v in decompose_kl(z, mean, logvar, estimator="mws").items()
    }
    joint, marginals = log_aggregate_densities(z, mean, logvar)
    assert torch.equal(joint, log_aggregate_densities(z, mean, logvar, estimator="mws")[0])
    x, y = z[:3], z[3:5]
    expected = [[kernel_by_hand(p.numpy(), q.numpy(), "imq", 1.0) for q in y] for p in x]
    np.testing.assert_allclose(kernel_matrix(x, y).numpy(), expected, rtol=1e-12)


def test_dtypes_and_devices_follow_the_inputs():
    assert log_importance_weights(4, 10).dtype == torch.float32
    assert log_importance_weights(4, 10, dtype=torch.float64).dtype == torch.float64
    assert log_importance_weights(4, 10, device="meta").device.type == "meta"
    z, mean, logvar = (t.float() for t in gaussian_latents(np.eye(3), 0.3, 8, seed=1))
    joint, marginals = log_aggregate_densities(z, mean, logvar, estimator="mss", dataset_size=50)
    assert joint.dtype == marginals.dtype == torch.float32
    meta = torch.zeros(8, 3, device="meta")
    joint, marginals = log_aggregate_densities(meta, meta, meta, estimator="mss", dataset_size=50)
    assert joint.device.type == "meta" and marginals.shape == (8, 3)
    # the Gaussian TC is computed in float64 whatever the input's precision
    covariance = np.array([[4.0, 3.0], [3.0, 9.0]], dtype=np.float32)  # correlation ½ exactly
    assert gaussian_total_correlation(covariance) == pytest.approx(-0.5 * math.log(0.75), rel=1e-13)


def test_bad_shapes_and_sizes_are_refused_with_their_reason():
    with pytest.raises(ValueError, match=r"^batch_size must be a positive integer, got 0$"):
        importance_weights(0, 10)
    with pytest.raises(
        ValueError,
        match=r"^the MSS estimator needs the dataset size N \(the number of points of the "
        r"finite factor space\); got None$",
    ):
        importance_weights(8, None, "mss")
    z = torch.zeros(4, 3)
    for bad in ((z, z, torch.zeros(4, 2)), (z, torch.zeros(4, 2), z), (z[None], z[None], z[None])):
        shapes = ", ".join(str(tuple(t.shape)) for t in bad)
        with pytest.raises(
            ValueError,
            match=rf"^z, mean and logvar must all have shape \(B, d\); got "
            rf"{re.escape(shapes)}$",
        ):
            log_aggregate_densities(*bad)
    for function in (mmd, mmd_per_dimension):
        for x, y in ((z, torch.zeros(4, 2)), (z[None], torch.zeros(4, 4)), (z, z[None])):
            with pytest.raises(
                ValueError,
                match=rf"^x and y must be \(n, d\) and \(m, d\) samples; got "
                rf"{re.escape(str(tuple(x.shape)))} and "
                rf"{re.escape(str(tuple(y.shape)))}$",
            ):
                function(x, y)
    two = torch.randn(2, 3, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(mmd(two, two + 1, unbiased=True)) and torch.isfinite(mmd_per_dimension(two, two + 1))
    for x, y in ((two[:1], two), (two, two[:1]), (two[:1], two[:1])):
        with pytest.raises(ValueError, match=r"^the unbiased MMD needs at least two samples on each side$"):
            mmd(x, y, unbiased=True)
        with pytest.raises(ValueError, match=r"^the per-dimension MMD needs at least two samples on each side$"):
            mmd_per_dimension(x, y)


def test_zero_weights_have_log_minus_infinity_silently():
    """A one-point dataset under MSS gives the other batch entries weight 0: log −inf, without a warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logw = log_importance_weights(3, 1, "mss", dtype=torch.float64)
    assert torch.equal(
        logw,
        torch.tensor(
            [[0.0, -math.inf, -math.inf], [-math.inf, 0.0, -math.inf], [-math.inf, -math.inf, 0.0]], dtype=torch.float64
        ),
    )


def test_mean_latent_kl_closed_form_and_a_collapsed_point():
    """KL(N(m, v) || N(0, 1)) = (m^2 + v - log v - 1) / 2, averaged over points per latent; a zero variance enters
    the logarithm as 1e-12 (finite), where an unclamped formula would give infinity."""
    from untwine.estimators import mean_latent_kl

    means = np.array([[0.0, 1.0, 2.0], [2.0, -1.0, 0.0]])
    variances = np.array([[1.0, 0.5, 2.0], [0.25, 0.5, 0.0]])
    clamped = np.maximum(variances, 1e-12)
    expected = np.mean(0.5 * (means**2 + variances - np.log(clamped) - 1.0), axis=0)
    got = mean_latent_kl(means, variances)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.isfinite(got).all() and got[2] == pytest.approx(
        0.5 * (4.0 + 2.0 - np.log(2.0) - 1.0) / 2 + 0.5 * (0.0 - np.log(1e-12) - 1.0) / 2
    )
