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
import scipy.stats

from untwine.metrics import sample_udr, udr
from untwine.metrics.udr import relative_strength

from tests.helpers.cases import rotation
from tests.helpers.toys import ToyData


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
    codes = [
        np.concatenate([z, noise], 1),
        np.concatenate([z[:, ::-1], -noise * 0 + rng.standard_normal((1000, 1))], 1),
    ]
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

    out = sample_udr([post(m) for m in perm], ToyData(), seed=0, num_points=400, batch_size=64, correlation="spearman")
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


def test_mean_latent_kl_and_relative_strength_by_hand():
    from untwine.metrics.udr import mean_latent_kl

    means = np.array([[0.5, 0.0], [-0.5, 1.0]])
    variances = np.array([[1.0, 0.5], [1.0, 0.5]])
    expected = [0.5 * 0.25, np.mean([0.5 * (0.5 - np.log(0.5) - 1), 0.5 * (1 + 0.5 - np.log(0.5) - 1)])]
    np.testing.assert_allclose(mean_latent_kl(means, variances), expected, rtol=1e-12)
    assert relative_strength(np.zeros((0, 0))) == 0.0
    # columns: 0.8²/1.0, 0.5²/0.6; rows: 0.8²/1.3, 0.2²/0.3
    matrix = np.array([[0.8, 0.5], [0.2, 0.1]])
    expected = ((0.64 / 1.0 + 0.25 / 0.6) / 2 + (0.64 / 1.3 + 0.04 / 0.3) / 2) / 2
    assert relative_strength(matrix) == pytest.approx(expected, rel=1e-12)
    assert relative_strength(np.array([[1.0, 0.0], [0.0, 0.0]])) == pytest.approx(0.5)  # 0/0 terms count 0


def test_udr_arguments_are_checked_with_their_reason(rng):
    z = _base(rng, n=50, d=3)
    with pytest.raises(ValueError, match=r"^correlation must be 'lasso' or 'spearman', got 'pearson'$"):
        udr([z, z], correlation="pearson")
    with pytest.raises(ValueError, match=r"^UDR needs the codes of at least 2 models$"):
        udr([z])
    with pytest.raises(
        ValueError,
        match=r"^every model's codes must be \(n, d\) of the same shape, got "
        r"\[\(50, 3\), \(50, 2\)\]$",
    ):
        udr([z, z[:, :2]])


def test_the_kl_threshold_filters_and_zeroes(rng):
    """Latents with KL ≤ 0.01 are zeroed; with filter_low_kl they are also left out of the matrix, and a
    higher kl_threshold leaves out more."""
    z = _base(rng, n=1000, d=3)
    codes = [z, z[:, [1, 0, 2]]]
    kl = [np.array([1.0, 1.0, 0.005])] * 2
    # two matched latents and the sample's correlation c between them: every row and column scores 1/(1 + c)
    c = abs(scipy.stats.spearmanr(z[:, 0], z[:, 1])[0])
    filtered = udr(codes, kl, correlation="spearman")["model_scores"]
    assert filtered == pytest.approx([1 / (1 + c)] * 2, rel=1e-9)
    # unfiltered: the zeroed third latent is constant (NaN correlations count 0): rows and columns score
    # (1/(1 + c) + 1/(1 + c) + 0)/3
    unfiltered = udr(codes, kl, correlation="spearman", filter_low_kl=False)["model_scores"]
    assert unfiltered == pytest.approx([2 / (3 * (1 + c))] * 2, rel=1e-9)
    # a threshold above the second latent's KL leaves one latent pair: a perfect 1
    kl_high = [np.array([1.0, 0.5, 0.005])] * 2
    codes_high = [z, z[:, [0, 1, 2]]]
    assert udr(codes_high, kl_high, correlation="spearman", kl_threshold=0.6)["model_scores"] == pytest.approx(
        [1.0] * 2
    )


def test_sample_udr_defaults_and_batches():
    from untwine.metrics.udr import sample_udr as sampler

    calls = []

    def post(o):
        calls.append(len(o))
        x = np.asarray(o, float)[:, :3]
        return x, np.full(x.shape, 0.01)

    out = sampler([post, post], ToyData(), seed=3, num_points=130, batch_size=50)
    assert calls == [50, 50, 50, 50, 30, 30]
    assert out["params"] == {"num_points": 130, "correlation": "lasso", "kl_threshold": 0.01, "filter_low_kl": True}
    assert out["seed"] == 3 and len(out["model_scores"]) == 2
    with pytest.raises(ValueError, match="batch_size"):
        sampler([post, post], ToyData(), batch_size=0)


def test_lasso_caps_a_permuted_copy_at_one_minus_alpha(rng):
    """Standardised, nearly orthogonal latents: Lasso soft-thresholds each regression coefficient, so an exact
    permuted copy gets 1 − α on its match and 0 elsewhere, and every row and column scores 1 − α."""
    from untwine.metrics.udr import lasso_similarity

    z = _base(rng, n=4000, d=3)
    z = (z - z.mean(0)) / z.std(0)
    codes = [z, z[:, [2, 0, 1]]]
    assert udr(codes, correlation="lasso")["model_scores"] == pytest.approx([0.9, 0.9], abs=0.01)
    assert udr(codes, correlation="lasso", alpha=0.3)["model_scores"] == pytest.approx([0.7, 0.7], abs=0.01)
    np.testing.assert_allclose(lasso_similarity(z, z), lasso_similarity(z, z, alpha=0.1))
    # per-latent scales and offsets do not matter: every model's codes are standardised
    scaled = [z * [1.0, 10.0, 0.1] + 5.0, z[:, [2, 0, 1]]]
    assert udr(scaled)["model_scores"] == pytest.approx(udr(codes)["model_scores"], abs=1e-9)


def test_constant_latents_and_the_threshold_boundary(rng):
    import warnings

    z = _base(rng, n=500, d=3)
    constant = np.concatenate([z[:, :2], np.full((500, 1), 2.0)], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        scores = udr([constant, constant[:, [1, 0, 2]]])["model_scores"]  # not zeroed: kl None
        assert relative_strength(np.array([[1.0, 0.0], [0.0, 0.0]])) == pytest.approx(0.5)
    assert np.isfinite(scores).all()
    # KL exactly 0.01 counts as collapsed: zeroed and left out (the reference's "> 0.01")
    kl = [np.array([1.0, 1.0, 0.01])] * 2
    codes = [z, z[:, [1, 0, 2]]]
    c = abs(scipy.stats.spearmanr(z[:, 0], z[:, 1])[0])
    assert udr(codes, kl, correlation="spearman", kl_threshold=0.01)["model_scores"] == pytest.approx(
        [1 / (1 + c)] * 2, rel=1e-9
    )
    assert udr(codes, kl, correlation="spearman", filter_low_kl=False)["model_scores"] == pytest.approx(
        [2 / (3 * (1 + c))] * 2, rel=1e-9
    )


def test_sample_udr_passes_everything_on():
    from untwine.metrics.udr import mean_latent_kl

    def post(matrix, collapsed=False):
        def posterior(o):
            x = np.asarray(o, float)[:, :3] @ matrix
            variances = np.full(x.shape, 0.01)
            if collapsed:  # the last latent says nothing: mean 0, variance 1, KL 0
                x[:, 2], variances[:, 2] = 0.0, 1.0
            return x, variances

        return posterior

    posteriors = [post(np.eye(3), True), post(np.eye(3)[:, [1, 0, 2]], True)]
    noisy = ToyData(noise=0.3)
    default = sample_udr(posteriors, noisy)
    assert default["seed"] == 0 and default["params"]["num_points"] == 1000
    assert default == sample_udr(posteriors, noisy, seed=0, num_points=1000)  # the seed fixes every draw
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, s, size=1000) for s in noisy.factor_sizes], axis=1)
    observations = np.concatenate([noisy.observe(factors[i : i + 256], rng) for i in range(0, 1000, 256)])
    codes, kls = [], []
    for p in posteriors:
        means, variances = p(observations)
        codes.append(means)
        kls.append(mean_latent_kl(means, variances))
    assert kls[0][2] == pytest.approx(0.0)
    for params in ({}, {"correlation": "spearman"}, {"kl_threshold": 0.5}, {"filter_low_kl": False}):
        out = sample_udr(posteriors, noisy, seed=0, batch_size=256, **params)
        assert out["model_scores"] == pytest.approx(udr(codes, kls, **params)["model_scores"], rel=1e-12), params


def _float_posterior(matrix, dtype=np.float64):
    def posterior(o):
        x = np.asarray(o, float)[:, :3] @ matrix
        variances = np.tile([0.01, 0.02, 0.05], (len(o), 1)) @ np.abs(matrix)
        return x.astype(dtype), variances.astype(dtype)

    return posterior


def _codes_and_kls(posteriors, data, num_points, seed=0, batch_size=1024):
    """What sample_udr encodes: the same draws, in float64."""
    from untwine.metrics.udr import mean_latent_kl

    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(0, s, size=num_points) for s in data.factor_sizes], axis=1)
    observations = np.concatenate(
        [data.observe(factors[i : i + batch_size], rng) for i in range(0, num_points, batch_size)]
    )
    codes, kls = [], []
    for p in posteriors:
        means, variances = (np.asarray(a, dtype=np.float64) for a in p(observations))
        codes.append(means)
        kls.append(mean_latent_kl(means, variances))
    return codes, kls


def test_sample_udr_hands_its_kl_threshold_to_udr():
    """The latents' KLs here are about 2.8, 6.2 and 15.7 nats: a threshold of 5 leaves the first out of the
    scoring (at the default 0.01 every latent counts), and sample_udr must score with the threshold it is given."""
    posteriors = [_float_posterior(np.eye(3)), _float_posterior(np.eye(3)[:, [2, 0, 1]])]
    noisy = ToyData(noise=0.3)
    codes, kls = _codes_and_kls(posteriors, noisy, 300)
    assert sorted(np.round(kls[0]).tolist()) == [3.0, 6.0, 16.0]
    out = sample_udr(posteriors, noisy, num_points=300, correlation="spearman", kl_threshold=5.0)["model_scores"]
    assert out == pytest.approx(udr(codes, kls, "spearman", kl_threshold=5.0)["model_scores"], rel=1e-12)
    assert out != pytest.approx(udr(codes, kls, "spearman")["model_scores"], rel=1e-6)


def test_mean_latent_kl_uses_the_variances_themselves():
    """½(μ² + σ² − log σ² − 1) with σ² as given: exp(log σ²) differs from σ² in the last bit for many σ²."""
    from untwine.metrics.udr import mean_latent_kl

    rng = np.random.default_rng(4)
    means, variances = rng.normal(size=(64, 5)), rng.uniform(0.01, 2.0, size=(64, 5))
    assert (np.exp(np.log(variances)) != variances).any()
    expected = np.mean(0.5 * (means**2 + variances - np.log(variances) - 1.0), axis=0)
    np.testing.assert_array_equal(mean_latent_kl(means, variances), expected)


def test_spearman_with_a_constant_latent_warns_nothing(rng):
    """A constant latent's correlations are 0/0: counted 0 (see the module docstring), without a numpy
    RuntimeWarning (SciPy's correlation divides by the zero spread and does not silence it itself)."""
    import warnings

    from untwine.metrics.udr import spearman_similarity

    z = _base(rng, n=200, d=3)
    constant = np.concatenate([z[:, :2], np.zeros((200, 1))], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        similarity = spearman_similarity(constant, z)
        scores = udr([constant, z], correlation="spearman", filter_low_kl=False)["model_scores"]
    assert similarity.shape == (3, 3) and (similarity[2] == 0).all()
    assert np.isfinite(scores).all()


def test_float32_codes_and_kls_are_read_as_their_float64_values(rng):
    """Codes are standardised and regressed in float64, and KLs compared with the threshold in float64: float32
    inputs score exactly as their float64 values. (A float32 comparison would round the threshold
    0.0100000005 up to the float32 KL 0.0100000007 and leave that latent out.)"""
    z = _base(rng, n=300, d=3).astype(np.float32)
    codes32 = [z, z[:, [1, 0, 2]] * np.float32(1.7)]
    codes64 = [c.astype(np.float64) for c in codes32]
    assert udr(codes32)["model_scores"] == udr(codes64)["model_scores"]
    assert udr(codes32, correlation="spearman") == udr(codes64, correlation="spearman")
    kl32 = [np.array([1.0, 1.0, 0.0100000007], dtype=np.float32)] * 2
    kl64 = [k.astype(np.float64) for k in kl32]
    threshold = 0.0100000005
    assert kl64[0][2] > threshold and np.float32(threshold) == kl32[0][2]
    scores = udr(codes64, kl32, correlation="spearman", kl_threshold=threshold)["model_scores"]
    assert scores == udr(codes64, kl64, correlation="spearman", kl_threshold=threshold)["model_scores"]
    assert scores != udr(codes64, kl64, correlation="spearman", kl_threshold=0.02)["model_scores"]  # it counts


def test_sample_udr_scores_float32_posteriors_in_float64():
    """A float32 posterior's KLs are computed from its values in float64: a threshold between the float64 KL of a
    latent and the KL computed in float32 keeps the latent exactly when its float64 KL is above."""
    from untwine.metrics.udr import mean_latent_kl

    posteriors = [_float_posterior(np.eye(3), np.float32), _float_posterior(np.eye(3)[:, [2, 0, 1]], np.float32)]
    noisy = ToyData(noise=0.3)
    codes, kls = _codes_and_kls(posteriors, noisy, 200)
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, s, size=200) for s in noisy.factor_sizes], axis=1)
    low = mean_latent_kl(*posteriors[0](noisy.observe(factors, rng)))  # in float32
    assert low.dtype == np.float32
    j = int(np.argmax(np.abs(low.astype(np.float64) - kls[0])))
    assert low[j] != kls[0][j]
    threshold = (float(low[j]) + float(kls[0][j])) / 2
    out = sample_udr(posteriors, noisy, num_points=200, kl_threshold=threshold)["model_scores"]
    assert out == pytest.approx(udr(codes, kls, kl_threshold=threshold)["model_scores"], rel=1e-12)
    flipped = [np.where(np.arange(3) == j, low.astype(np.float64), kls[0]), kls[1]]
    assert out != pytest.approx(udr(codes, flipped, kl_threshold=threshold)["model_scores"], rel=1e-6)
