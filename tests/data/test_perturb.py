"""The perturbed datasets of seed 002: within ε, same factors, deterministic, described as JSON.

The data room's tests need no model: the posterior is a plain numpy function.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from untwine.data import GroundTruthDataset, from_description, get, perturb, perturb_lowest_mig, read_description
from untwine.data.perturb import (
    FORMAT,
    VERSION,
    PatternFactor,
    PerturbedDataset,
    description_clip,
    fit_range,
    lowest_mig,
    scaling_for,
)


def fake_posterior(observations):
    """Latent 1 is the least noisy and encodes the sprite's mean row (a smooth code)."""
    x = np.asarray(observations, dtype=np.float64)
    n = len(x)
    weight = x[:, 0].sum(axis=2)  # (n, H)
    row = (weight * np.arange(x.shape[2])).sum(axis=1) / np.maximum(weight.sum(axis=1), 1e-9)
    means = np.stack([x.mean(axis=(1, 2, 3)), (row - 32) / 10, np.zeros(n)], axis=1)
    variances = np.tile([0.5, 0.01, 1.0], (n, 1))
    return means, variances


@pytest.fixture(scope="module")
def dsprites():
    return get("dsprites")


def test_pattern_within_epsilon_and_keeps_factors(dsprites):
    perturbed = perturb(dsprites, fake_posterior, 0.1, seed=0, num_points=200)
    assert isinstance(perturbed, PerturbedDataset)
    assert perturbed.latent == 1
    assert perturbed.factor_names == dsprites.factor_names and perturbed.factor_sizes == dsprites.factor_sizes
    assert perturbed.observation_shape == dsprites.observation_shape
    assert perturbed.clip is False and perturbed.num_observations == dsprites.num_observations == 737_280
    factors = dsprites.sample_factors(32, np.random.default_rng(1))
    clean = dsprites.observe(factors)
    x = perturbed.observe(factors, np.random.default_rng(0))
    assert x.dtype == np.float32
    # x̃ = x + ε·f(s(x)), not clipped (seed 002, §4.2): every pixel moves by exactly ±ε, so the binary
    # background becomes ±ε and the object 1 ± ε
    np.testing.assert_allclose(np.abs(x - clean), 0.1, atol=1e-6)
    assert x.min() == pytest.approx(-0.1) and x.max() == pytest.approx(1.1)
    s = fake_posterior(clean)[0][:, 1]
    np.testing.assert_allclose(x - clean, 0.1 * perturbed.pattern_for(s)[:, None], atol=1e-6)


def test_clipping_halves_the_pattern_on_binary_images(dsprites):
    """Clipped, the background only gets +ε and the object only −ε: the change of a pixel has variance
    ε²/4 instead of the ε² of a ±ε pattern (half its amplitude)."""
    unclipped = perturb(dsprites, fake_posterior, 0.1, seed=0, num_points=200)
    clipped = perturb(dsprites, fake_posterior, 0.1, seed=0, num_points=200, clip=True)
    factors = dsprites.sample_factors(64, np.random.default_rng(5))
    clean = dsprites.observe(factors)
    full = unclipped.observe(factors) - clean
    half = clipped.observe(factors) - clean
    assert clipped.observe(factors).min() >= 0 and clipped.observe(factors).max() <= 1
    assert np.allclose(np.unique(half[clean == 0]), [0.0, 0.1]) and np.allclose(np.unique(half[clean == 1]), [-0.1, 0])
    # the pattern's signs are ±1 with probability ½ each (a fixed random pattern): on the background a
    # pixel's change has variance ε² unclipped, and ε²/4 clipped (0 or +ε)
    background = clean == 0
    assert full[background].var() == pytest.approx(0.01, rel=0.02)
    assert half[background].var() == pytest.approx(0.01 / 4, rel=0.02)
    np.testing.assert_allclose(half, np.clip(clean + full, 0, 1) - clean, atol=1e-6)


def test_fit_range_maps_minus_epsilon_to_0_and_1_plus_epsilon_to_1():
    x = np.array([-0.1, 0.0, 0.5, 1.0, 1.1], dtype=np.float32)
    rescaled = fit_range(x, 0.1, False, True)
    assert rescaled.dtype == np.float32
    np.testing.assert_allclose(rescaled, [0.0, 1 / 12, 0.5, 11 / 12, 1.0], atol=1e-7)
    np.testing.assert_array_equal(fit_range(x, 0.1, True, False), [0.0, 0.0, 0.5, 1.0, 1.0])
    assert fit_range(x, 0.1, False, False) is x
    np.testing.assert_allclose(fit_range(np.array([-0.25, 1.25], dtype=np.float32), 0.25, False, True), [0, 1])
    # float32 rounding of (1.2 + 0.2)/1.4 is 1 + 2⁻²³: the map is clipped, so 1 + ε lands on exactly 1
    top = np.array([1.2], dtype=np.float32)
    assert (top + np.float32(0.2)) / np.float32(1.4) > 1
    assert fit_range(top, 0.2, False, True)[0] == 1.0 and fit_range(-top + 1, 0.2, False, True)[0] == 0.0


def test_rescaling_keeps_the_whole_pattern_within_0_and_1(dsprites):
    """Rescaled, every pixel still moves by exactly ±ε relative to the image's contrast:
    x̃' = (x + ε·f + ε)/(1 + 2ε), so the background is ε/(1 + 2ε) ± ε/(1 + 2ε), 0 or 1/6 at ε = 0.1, and the
    object 1 − that."""
    unscaled = perturb(dsprites, fake_posterior, 0.1, seed=0, num_points=200)
    rescaled = perturb(dsprites, fake_posterior, 0.1, seed=0, num_points=200, rescale=True)
    assert (rescaled.rescale, rescaled.clip, unscaled.rescale) == (True, False, False)
    factors = dsprites.sample_factors(32, np.random.default_rng(1))
    clean = dsprites.observe(factors)
    x = rescaled.observe(factors)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, (unscaled.observe(factors) + 0.1) / 1.2, atol=1e-6)
    np.testing.assert_allclose(np.unique(np.round(x[clean == 0], 6)), [0, 1 / 6], atol=1e-6)
    np.testing.assert_allclose(np.unique(np.round(x[clean == 1], 6)), [5 / 6, 1], atol=1e-6)
    # the change against the clean image mapped the same way is the pattern, scaled by 1/(1 + 2ε)
    s = fake_posterior(clean)[0][:, 1]
    np.testing.assert_allclose(x - (clean + 0.1) / 1.2, 0.1 / 1.2 * rescaled.pattern_for(s)[:, None], atol=1e-6)
    uniform = perturb(dsprites, None, 0.05, kind="uniform", seed=0)
    rescaled_uniform = perturb(dsprites, None, 0.05, kind="uniform", seed=0, rescale=True)
    np.testing.assert_allclose(rescaled_uniform.observe(factors), (uniform.observe(factors) + 0.05) / 1.1, atol=1e-6)
    assert rescaled_uniform.observe(factors).min() >= 0 and rescaled_uniform.observe(factors).max() <= 1


def test_clip_and_rescale_exclude_each_other_and_must_be_booleans(dsprites, tmp_path):
    message = (
        r"^clip and rescale exclude each other: clip cuts x̃ to \[0, 1\], rescale maps \[−ε, 1 \+ ε\] onto "
        r"\[0, 1\]; choose one$"
    )
    with pytest.raises(ValueError, match=message):
        perturb(dsprites, None, 0.1, kind="uniform", clip=True, rescale=True)
    with pytest.raises(ValueError, match=message):
        get("pattern-factor", clip=True, rescale=True)
    with pytest.raises(TypeError, match=r"^rescale must be True or False, got 1$"):
        perturb(dsprites, None, 0.1, kind="uniform", rescale=1)
    with pytest.raises(
        ValueError,
        match=r"^bad options \{'rescale': 'yes'\} for dataset 'pattern-factor': rescale "
        r"must be True or False, got 'yes'$",
    ):
        get("pattern-factor", rescale="yes")
    # a rescaled description round-trips as rescaled, pattern and uniform
    pattern = perturb(dsprites, fake_posterior, 0.1, seed=1, num_points=100, run_dir="runs/fake", rescale=True)
    uniform = perturb(dsprites, None, 0.1, kind="uniform", seed=1, rescale=True)
    factors = dsprites.sample_factors(8, np.random.default_rng(0))
    for made, name in ((pattern, "p.json"), (uniform, "u.json")):
        described = read_description(made.save(tmp_path / name))
        assert described["rescale"] is True and described["clip"] is False
        again = from_description(described, fake_posterior)
        assert again.rescale is True
        np.testing.assert_array_equal(again.observe(factors), made.observe(factors))
    chosen = perturb_lowest_mig(dsprites, [fake_posterior], 0.1, migs=[0.2], num_points=20, rescale=True)
    assert chosen.rescale is True and chosen.observe(factors).min() >= 0
    # a version-2 description (written before rescale existed, without it) is read as not rescaled
    old = {k: v for k, v in uniform.describe().items() if k != "rescale"}
    old["version"] = 2
    again = from_description(old)
    assert again.rescale is False and again.describe()["rescale"] is False and again.describe()["version"] == 3
    np.testing.assert_array_equal(
        again.observe(factors), perturb(dsprites, None, 0.1, kind="uniform", seed=1).observe(factors)
    )


def test_pattern_is_deterministic_for_a_seed(dsprites):
    factors = dsprites.sample_factors(16, np.random.default_rng(2))
    a = perturb(dsprites, fake_posterior, 0.1, seed=3, num_points=100).observe(factors, np.random.default_rng(0))
    b = perturb(dsprites, fake_posterior, 0.1, seed=3, num_points=100).observe(factors, np.random.default_rng(9))
    c = perturb(dsprites, fake_posterior, 0.1, seed=4, num_points=100).observe(factors, np.random.default_rng(0))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_pattern_moves_with_s(dsprites):
    perturbed = perturb(dsprites, fake_posterior, 0.1, seed=0, num_points=200)
    low, high = perturbed.scaling["offset"], perturbed.scaling["offset"] + 64 / perturbed.scaling["rows_per_unit"]
    s = np.linspace(low, high, 9)
    patterns = perturbed.pattern_for(s)
    assert patterns.shape == (9, 64, 64) and set(np.unique(patterns)) == {-1.0, 1.0}
    # one pixel row of r(s) shifts the columns with c_j = 1 by one row
    step = 1 / perturbed.scaling["rows_per_unit"]
    pair = perturbed.pattern_for(np.array([low + 10 * step, low + 11 * step]))
    ones = perturbed._blocks == 1
    assert np.array_equal(pair[1][:-1, ones], pair[0][1:, ones])
    # the scaling maps the 1st..99th percentile of s to one image height
    assert np.allclose(perturbed.rows(np.array([low, high])), [0, 64])
    # distinct codes give distinct patterns (injective over the data's range)
    flat = patterns.reshape(9, -1)
    assert len({row.tobytes() for row in flat}) == 9


def test_uniform_control_contaminates_each_image_once(dsprites):
    """Seed 002, §5.3: each image gets its own pixel-wise U[−ε, ε] noise, fixed: the same at every observe,
    whatever the rng and wherever the image sits in a batch; not clipped unless asked."""
    perturbed = perturb(dsprites, None, 0.05, kind="uniform", seed=0)
    assert not perturbed.draws_nuisance  # the noise is fixed per image: observe needs no rng
    factors = dsprites.sample_factors(16, np.random.default_rng(2))
    clean = dsprites.observe(factors)
    x = perturbed.observe(factors, np.random.default_rng(0))
    noise = x - clean
    assert np.abs(noise).max() <= 0.05 + 1e-6 and x.min() < 0 and x.max() > 1
    assert np.array_equal(x, perturbed.observe(factors, np.random.default_rng(7)))
    assert np.array_equal(x, perturbed.observe(factors))
    shuffled = perturbed.observe(factors[::-1].copy())[::-1]
    assert np.array_equal(x, shuffled)
    assert np.array_equal(perturbed.observe(np.repeat(factors[:1], 3, axis=0)), np.repeat(x[:1], 3, axis=0))
    # distinct images get distinct noise; U[−ε, ε] has mean 0 and variance ε²/3
    assert not np.allclose(noise[0], noise[1])
    assert noise.mean() == pytest.approx(0.0, abs=0.05 * 0.02)
    assert noise.var() == pytest.approx(0.05**2 / 3, rel=0.03)
    # another seed, other noise; clip=True clips the same noise
    other = perturb(dsprites, None, 0.05, kind="uniform", seed=1).observe(factors)
    assert not np.allclose(other, x)
    clipped = perturb(dsprites, None, 0.05, kind="uniform", seed=0, clip=True).observe(factors)
    np.testing.assert_allclose(clipped, np.clip(x, 0, 1))


def test_uniform_noise_is_keyed_by_the_flat_factor_index():
    """Two datasets with the same factor grid give an image the same noise: it depends on the image's
    flat index (the base dataset's factors_to_index) and the seed, not on the batch or call order."""
    digits = get("digits", size=16)
    a = perturb(digits, None, 0.1, kind="uniform", seed=4)
    b = perturb(digits, None, 0.1, kind="uniform", seed=4)
    everything = digits.index_to_factors(np.arange(len(digits)))
    noise_a = a.observe(everything) - digits.observe(everything)
    pick = np.array([7, 3, 7, 0])
    noise_b = b.observe(everything[pick]) - digits.observe(everything[pick])
    np.testing.assert_array_equal(noise_b, noise_a[pick])
    np.testing.assert_allclose(a.noise(everything[pick]), noise_a[pick], atol=1e-7)


def test_perturbed_observations_at_enumerates_the_base(dsprites):
    perturbed = perturb(dsprites, fake_posterior, 0.1, seed=0, num_points=200)
    index = np.array([0, 5, 737_279])
    factors, x = perturbed.observations_at(index)
    np.testing.assert_array_equal(factors, dsprites.index_to_factors(index))
    np.testing.assert_array_equal(x, perturbed.observe(factors))


def test_bad_arguments(dsprites):
    with pytest.raises(ValueError, match="kind"):
        perturb(dsprites, fake_posterior, 0.1, kind="stripes")
    with pytest.raises(ValueError, match="epsilon"):
        perturb(dsprites, fake_posterior, 1.5, num_points=20)
    with pytest.raises(TypeError, match="posterior"):
        perturb(dsprites, 42, 0.1, num_points=20)
    with pytest.raises(ValueError, match="posterior"):
        perturb(dsprites, None, 0.1, num_points=20)  # only the uniform control takes None
    with pytest.raises(ValueError, match="data is required"):
        perturb(None, fake_posterior, 0.1)


def test_a_run_directory_is_not_a_posterior(dsprites, tmp_path):
    """The data room never opens a run: a path where the posterior goes says what to do instead."""
    for run in ("runs/b4", tmp_path):
        with pytest.raises(TypeError, match="does not open runs"):
            perturb(dsprites, run, 0.1, num_points=20)


def test_a_vae_like_object_gives_its_posterior(dsprites):
    class Model:
        def posterior(self):
            return fake_posterior

    a = perturb(dsprites, Model(), 0.1, seed=0, num_points=100)
    b = perturb(dsprites, fake_posterior, 0.1, seed=0, num_points=100)
    assert a.latent == b.latent and a.scaling == b.scaling


def test_description_round_trip(dsprites, tmp_path):
    perturbed = perturb(dsprites, fake_posterior, 0.1, seed=1, num_points=100, run_dir="runs/fake")
    path = perturbed.save(tmp_path / "p.json")
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically, nothing left behind
    description = json.loads(path.read_text())
    assert description["format"] == FORMAT and description["version"] == VERSION == 3
    assert description["clip"] is False and description["rescale"] is False and "selection" not in description
    assert description["base"] == {"name": "dsprites", "options": {}} == dsprites.spec()
    assert description["run_dir"] == "runs/fake"
    assert description["latent"] == perturbed.latent == 1 and description["epsilon"] == 0.1
    assert description["scaling"]["rows_per_unit"] > 0
    assert read_description(path) == description
    for again in (
        PerturbedDataset.from_description(description, posterior=fake_posterior),
        from_description(read_description(path), fake_posterior),
    ):
        assert again.factor_sizes == perturbed.factor_sizes and again.run_dir == "runs/fake"
        factors = again.sample_factors(8, np.random.default_rng(0))
        assert np.array_equal(
            again.observe(factors, np.random.default_rng(0)), perturbed.observe(factors, np.random.default_rng(0))
        )
    with pytest.raises(ValueError, match="runs/fake.*posterior="):
        PerturbedDataset.from_description(description)  # the caller supplies the encoder


def test_description_keeps_the_base_options(tmp_path):
    digits = get("digits", size=16)
    perturbed = perturb(digits, None, 0.05, kind="uniform", seed=2)
    description = json.loads(perturbed.save(tmp_path / "u.json").read_text())
    assert description["base"] == {"name": "digits", "options": {"size": 16}}
    again = from_description(read_description(tmp_path / "u.json"))  # uniform: no posterior needed
    assert again.observation_shape == (1, 16, 16) and again.kind == "uniform" and again.epsilon == 0.05
    factors = digits.sample_factors(8, np.random.default_rng(0))
    assert np.array_equal(
        again.observe(factors, np.random.default_rng(3)), perturbed.observe(factors, np.random.default_rng(3))
    )


def test_a_pattern_is_saved_only_with_its_run(dsprites, tmp_path):
    perturbed = perturb(dsprites, fake_posterior, 0.1, num_points=50)
    with pytest.raises(ValueError, match="run_dir"):
        perturbed.save(tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()


def test_read_description_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json.*untwine perturb"):
        read_description(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something"}')
    with pytest.raises(ValueError, match="bad.json.*format.*untwine perturb"):
        read_description(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json.*JSON"):
        read_description(bad)
    good = {
        "format": FORMAT,
        "version": 1,
        "base": {"name": "dsprites", "options": {}},
        "kind": "pattern",
        "epsilon": 0.1,
        "seed": 0,
        "run_dir": "runs/x",
    }
    bad.write_text(json.dumps(good))  # a pattern without latent and scaling
    with pytest.raises(ValueError, match="bad.json.*latent"):
        read_description(bad)
    bad.write_text(json.dumps({**good, "version": 99}))
    with pytest.raises(ValueError, match="bad.json.*newer"):
        read_description(bad)
    bad.write_text(json.dumps({**good, "kind": "uniform", "base": "dsprites"}))
    with pytest.raises(ValueError, match="bad.json.*base"):
        read_description(bad)


def test_observe_requires_the_rng_where_it_draws_noise(dsprites):
    factors = dsprites.sample_factors(4, np.random.default_rng(0))
    uniform = perturb(dsprites, None, 0.05, kind="uniform")  # its noise is fixed per image: no rng needed
    assert np.array_equal(uniform.observe(factors), uniform.observe(factors, np.random.default_rng(1)))
    with pytest.raises(ValueError, match="rng"):
        perturb(get("noisy-dsprites"), fake_posterior, 0.05, num_points=50).observe(factors)
    pattern = perturb(dsprites, fake_posterior, 0.05, num_points=50)  # deterministic: no rng needed
    assert np.array_equal(pattern.observe(factors), pattern.observe(factors, np.random.default_rng(1)))


def test_a_perturbed_dataset_is_not_a_registry_name(dsprites):
    with pytest.raises(TypeError, match="describe"):
        perturb(dsprites, None, 0.05, kind="uniform").spec()


def test_warm_fills_the_cache_with_the_same_codes():
    data = get("digits")

    def posterior(x):
        x = np.asarray(x, dtype=np.float64)
        means = np.stack([x.mean(axis=(1, 2, 3)), x[:, 0, :4].mean(axis=(1, 2))], axis=1)
        return means, np.tile([0.1, 1.0], (len(x), 1))

    cold = perturb(data, posterior, 0.1, num_points=100)
    warm = perturb(data, posterior, 0.1, num_points=100).warm(chunk=500)
    assert not np.isnan(warm._cache).any()
    factors = data.sample_factors(40, np.random.default_rng(0))
    assert np.array_equal(cold.observe(factors), warm.observe(factors))


def test_a_version_1_description_keeps_its_meaning_clipped(dsprites, tmp_path):
    """Version 1 descriptions were written when perturb clipped: they are rebuilt clipped."""
    perturbed = perturb(dsprites, fake_posterior, 0.1, seed=1, num_points=100, run_dir="runs/fake")
    description = perturbed.describe()
    old = {k: v for k, v in description.items() if k != "clip"}
    old["version"] = 1
    (tmp_path / "v1.json").write_text(json.dumps(old))
    read = read_description(tmp_path / "v1.json")
    assert description_clip(read) is True and description_clip(description) is False
    again = from_description(read, fake_posterior)
    assert again.clip is True
    factors = dsprites.sample_factors(8, np.random.default_rng(0))
    x = again.observe(factors)
    np.testing.assert_allclose(x, np.clip(perturbed.observe(factors), 0, 1))
    assert again.describe()["clip"] is True and again.describe()["version"] == 3
    # a clipped perturbation round-trips as clipped
    clipped = perturb(dsprites, fake_posterior, 0.1, seed=1, num_points=100, run_dir="runs/fake", clip=True)
    assert from_description(read_description(clipped.save(tmp_path / "c.json")), fake_posterior).clip is True
    # version 2 must say whether it clips, with a boolean
    for bad in ({k: v for k, v in description.items() if k != "clip"}, {**description, "clip": "yes"}):
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(ValueError, match="bad.json.*clip"):
            read_description(tmp_path / "bad.json")


def shifted_posterior(shift):
    """fake_posterior with latent 1 moved: a different 'run' with its own s."""

    def posterior(observations):
        means, variances = fake_posterior(observations)
        means[:, 1] = means[:, 1] * (1 + shift) + shift
        return means, variances

    return posterior


def test_perturb_lowest_mig_picks_the_most_entangled_run(dsprites, tmp_path):
    """Seed 002 §4 step (i): over several β-VAE restarts, the one with the lowest MIG gives s."""
    candidates = [shifted_posterior(0.0), shifted_posterior(3.0), shifted_posterior(-0.5)]
    chosen = perturb_lowest_mig(
        dsprites, candidates, 0.1, migs=[0.31, 0.07, 0.12], num_points=100, run_dirs=["runs/a", "runs/b", "runs/c"]
    )
    expected = perturb(dsprites, candidates[1], 0.1, num_points=100)
    assert chosen.run_dir == "runs/b" and chosen.scaling == expected.scaling and chosen.latent == expected.latent
    assert chosen.scaling != perturb(dsprites, candidates[0], 0.1, num_points=100).scaling
    factors = dsprites.sample_factors(8, np.random.default_rng(0))
    assert np.array_equal(chosen.observe(factors), expected.observe(factors))
    selection = chosen.describe()["selection"]
    assert selection["chosen"] == 1 and selection["migs"] == [0.31, 0.07, 0.12]
    assert selection["run_dirs"] == ["runs/a", "runs/b", "runs/c"]
    again = from_description(read_description(chosen.save(tmp_path / "p.json")), candidates[1])
    assert again.selection == selection and again.run_dir == "runs/b"
    # the scores may come from a callable; the first of equal scores wins
    scored = perturb_lowest_mig(
        dsprites, candidates, 0.1, migs=lambda p: 0.5 if p is candidates[0] else 0.2, num_points=100
    )
    assert scored.selection["chosen"] == 1 and scored.scaling == expected.scaling
    assert lowest_mig([0.2, 0.1, 0.1]) == 1 and lowest_mig([0.4]) == 0


def test_perturb_lowest_mig_refuses_what_it_cannot_choose_from(dsprites):
    candidates = [fake_posterior, fake_posterior]
    with pytest.raises(ValueError, match="2 candidate posteriors but 3 MIGs"):
        perturb_lowest_mig(dsprites, candidates, 0.1, migs=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="finite MIG"):
        perturb_lowest_mig(dsprites, candidates, 0.1, migs=[0.1, float("nan")])
    with pytest.raises(ValueError, match="migs is required"):
        perturb_lowest_mig(dsprites, candidates, 0.1)
    with pytest.raises(ValueError, match="run_dirs"):
        perturb_lowest_mig(dsprites, candidates, 0.1, migs=[0.1, 0.2], run_dirs=["a"])
    with pytest.raises(ValueError, match="at least one"):
        perturb_lowest_mig(dsprites, [], 0.1, migs=[])


def test_hashed_uniform_is_splitmix64_of_the_counter():
    """SplitMix64 written out with Python integers: the top 24 bits of the mix of (counter XOR key)."""
    from untwine.data.perturb import hashed_uniform

    mask = (1 << 64) - 1

    def splitmix64(x):
        z = (x + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    key = int(np.random.SeedSequence([7, 3]).generate_state(1, dtype=np.uint64)[0])
    counters = [0, 1, 4095, 737_279 * 4096 + 17, 2**40 + 5]
    expected = [(splitmix64(c ^ key) >> 40) / 2**24 for c in counters]
    np.testing.assert_array_equal(hashed_uniform(np.array(counters, dtype=np.uint64), 7), np.float32(expected))
    many = hashed_uniform(np.arange(200_000, dtype=np.uint64), 0)
    assert many.min() >= 0 and many.max() < 1
    assert many.mean() == pytest.approx(0.5, abs=0.003) and many.var() == pytest.approx(1 / 12, rel=0.01)


def test_description_clip_by_version():
    assert description_clip({"version": 1}) is True
    assert description_clip({"version": 2}) is False and description_clip({}) is False
    assert description_clip({"version": 1, "clip": False}) is False and description_clip({"clip": True}) is True


def test_the_pattern_and_its_column_factors():
    from untwine.data.perturb import pattern

    signs, blocks = pattern(64, 64, seed=5)
    assert signs.shape == (4 * 64, 64) and set(np.unique(signs)) == {-1.0, 1.0}
    assert set(blocks.tolist()) == {1, 2, 3, 4}
    again = pattern(64, 64, seed=5)
    assert np.array_equal(again[0], signs) and np.array_equal(again[1], blocks)


def test_column_j_moves_one_row_every_c_j_rows_of_s(dsprites):
    """f(s)_{i,j} = p_{(round(r(s)/c_j) + i) mod P, j}: a column with c_j = 4 keeps its pattern while r(s) moves
    by one row and moves by one row when r(s) moves by 4."""
    perturbed = perturb(dsprites, fake_posterior, 0.1, seed=0, num_points=200)
    step = 1 / perturbed.scaling["rows_per_unit"]
    low = perturbed.scaling["offset"]
    base, one, four = perturbed.pattern_for(np.array([low + 16 * step, low + 17 * step, low + 20 * step]))
    fours = perturbed._blocks == 4
    assert fours.any()
    assert np.array_equal(one[:, fours], base[:, fours])
    assert np.array_equal(four[:-1, fours], base[1:, fours])


def test_observe_encodes_each_point_once_and_uses_the_rng_of_a_noisy_base(dsprites):
    calls = []

    def counting(observations):
        calls.append(len(observations))
        return fake_posterior(observations)

    perturbed = perturb(dsprites, counting, 0.1, seed=0, num_points=100)
    calls.clear()
    factors = dsprites.sample_factors(8, np.random.default_rng(3))
    first = perturbed.observe(factors)
    assert perturbed.observe(factors).tolist() == first.tolist() and sum(calls) == 8  # cached per point
    noisy = get("noisy-dsprites")
    on_noise = perturb(noisy, fake_posterior, 0.1, seed=0, num_points=100)
    x = on_noise.observe(factors, np.random.default_rng(4))
    clean = noisy.observe(factors, np.random.default_rng(4))
    s = fake_posterior(clean)[0][:, 1]
    np.testing.assert_allclose(x - clean, np.broadcast_to(0.1 * on_noise.pattern_for(s)[:, None], x.shape), atol=1e-6)
    _, at = on_noise.observations_at(np.arange(3), np.random.default_rng(4))
    _, clean_at = noisy.observations_at(np.arange(3), np.random.default_rng(4))
    expected = 0.1 * on_noise.pattern_for(fake_posterior(clean_at)[0][:, 1])[:, None]
    np.testing.assert_allclose(at - clean_at, np.broadcast_to(expected, at.shape), atol=1e-6)
    assert perturb(dsprites, None, 0.05, kind="uniform").observe(factors).dtype == np.float32


def test_observations_at_of_a_base_without_it(dsprites):
    class Plain:
        """The data contract only (no observations_at), delegating to dSprites."""

        name, draws_nuisance = "plain", False
        factor_names, factor_sizes, observation_shape = (
            dsprites.factor_names,
            dsprites.factor_sizes,
            dsprites.observation_shape,
        )

        def __len__(self):
            return len(dsprites)

        def factors_to_index(self, factors):
            return dsprites.factors_to_index(factors)

        def observe(self, factors, rng=None):
            return dsprites.observe(factors, rng)

        def sample_factors(self, n, rng):
            return dsprites.sample_factors(n, rng)

    plain = perturb(Plain(), None, 0.05, kind="uniform", seed=1)
    factors, x = plain.observations_at(np.array([0, 7]))
    np.testing.assert_array_equal(factors, dsprites.index_to_factors(np.array([0, 7])))
    np.testing.assert_array_equal(x, perturb(dsprites, None, 0.05, kind="uniform", seed=1).observe(factors))


def test_lowest_mig_refuses_nothing_to_choose_from():
    with pytest.raises(ValueError, match=r"^migs must hold one MIG per candidate run, at least one$"):
        lowest_mig([])
    with pytest.raises(ValueError, match=r"^every candidate needs a finite MIG, got \[0.1, inf\]$"):
        lowest_mig([0.1, float("inf")])


def test_the_uniform_noise_is_pixel_wise_and_factor_values_are_the_bases(dsprites):
    perturbed = perturb(dsprites, None, 0.05, kind="uniform", seed=0)
    noise = perturbed.noise(dsprites.sample_factors(2, np.random.default_rng(0)))
    assert (
        len(np.unique(noise[0])) > 4000
        and abs(float(np.corrcoef(noise[0].ravel()[:-1], noise[0].ravel()[1:])[0, 1])) < 0.05
    )
    for k in range(5):
        np.testing.assert_array_equal(perturbed.factor_values(k), dsprites.factor_values(k))


# -- every check says what is wrong and how to fix it, whole ---------------------------------------------------


class TwoInstances(GroundTruthDataset):
    """A SmallNORB-like base: 3 × 2 factor points, 2 images (instances) of each, 12 distinct observations; observe
    picks an instance with its rng, observations_at enumerates them (observation i: point i // 2, instance i % 2)."""

    name = "two-instances"
    factor_names = ("row", "column")
    factor_sizes = (3, 2)
    observation_shape = (1, 4, 4)
    draws_nuisance = True

    @property
    def num_observations(self):
        return 12

    def _images(self, factors, instances):
        images = np.zeros((len(factors), 1, 4, 4), dtype=np.float32)
        for i, ((row, column), instance) in enumerate(zip(np.asarray(factors), instances)):
            images[i, 0, row, column + 2 * instance] = 1.0
        return images

    def observe(self, factors, rng=None):
        factors = self.check_factors(factors)
        rng = self._require_rng(rng)
        return self._images(factors, rng.integers(0, 2, size=len(factors)))

    def observations_at(self, index, rng=None):
        index = np.asarray(index)
        factors = self.index_to_factors(index // 2)
        return factors, self._images(factors, index % 2)


def instance_posterior(observations):
    """Latent 0 (the least noisy): the row of the brightest pixel plus a quarter of its column (0..3), so that
    every image of TwoInstances has its own s."""
    x = np.asarray(observations, dtype=np.float64)[:, 0]
    rows, columns = np.divmod(x.reshape(len(x), -1).argmax(axis=1), x.shape[2])  # the brightest pixel
    means = np.stack([rows + columns / 4, np.zeros(len(x))], axis=1)
    return means, np.tile([0.01, 1.0], (len(x), 1))


def test_observations_at_enumerates_every_instance_of_a_base_with_several_per_point():
    """observations_at is the base's (index → (point, instance)), perturbed, not index → factor point → observe:
    observation i of TwoInstances is point i // 2, so the 12 observations are 6 points twice, each image with its
    own s."""
    base = TwoInstances()
    perturbed = perturb(base, instance_posterior, 0.1, num_points=40)
    assert perturbed._cache is None  # observe draws the instance: s is computed per image
    factors, x = perturbed.observations_at(np.arange(12))
    clean_factors, clean = base.observations_at(np.arange(12))
    np.testing.assert_array_equal(factors, clean_factors)
    np.testing.assert_array_equal(factors, base.index_to_factors(np.arange(12) // 2))
    s = instance_posterior(clean)[0][:, 0]
    np.testing.assert_allclose(x - clean, 0.1 * perturbed.pattern_for(s)[:, None], atol=1e-6)
    assert len({image.tobytes() for image in x}) == 12


class QuietPlain:
    """The data contract only: no observations_at, no draws_nuisance (the contract does not require either), and
    an observe without noise."""

    name = "quiet-plain"
    factor_names, factor_sizes, observation_shape = ("a", "b"), (3, 4), (1, 4, 4)

    def __len__(self):
        return 12

    def factors_to_index(self, factors):
        return np.asarray(factors) @ np.array([4, 1])

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, 3, size=n), rng.integers(0, 4, size=n)], axis=1)

    def observe(self, factors, rng=None):
        factors = np.asarray(factors)
        images = np.zeros((len(factors), 1, 4, 4), dtype=np.float32)
        images[np.arange(len(factors)), 0, factors[:, 0], factors[:, 1]] = 1.0
        return images


class NoisyPlain(QuietPlain):
    """The data contract only (no observations_at), with an observe that draws noise from its rng."""

    name, draws_nuisance = "noisy-plain", True

    def observe(self, factors, rng=None):
        if rng is None:
            raise ValueError("noisy-plain needs an rng")
        factors = np.asarray(factors)
        images = rng.uniform(0, 0.5, size=(len(factors), 1, 4, 4)).astype(np.float32)
        images[np.arange(len(factors)), 0, factors[:, 0], factors[:, 1]] = 1.0
        return images


def test_observations_at_of_a_base_without_it_hands_on_its_rng():
    quiet = perturb(QuietPlain(), None, 0.05, kind="uniform")  # no draws_nuisance: observe needs no rng
    np.testing.assert_array_equal(quiet.observe(np.array([[1, 2]])), quiet.observations_at(np.array([6]))[1])
    base = NoisyPlain()
    for perturbed in (
        perturb(base, None, 0.05, kind="uniform", seed=2),
        perturb(base, instance_posterior, 0.05, num_points=30, seed=2),
    ):
        factors, x = perturbed.observations_at(np.array([0, 5, 11]), np.random.default_rng(8))
        np.testing.assert_array_equal(factors, [[0, 0], [1, 1], [2, 3]])
        expected = perturbed.observe(factors, np.random.default_rng(8))
        np.testing.assert_array_equal(x, expected)
        with pytest.raises(ValueError, match=r"^noisy-plain needs an rng$"):
            perturbed.observations_at(np.array([0]))


def test_a_noisy_base_is_recognised_and_its_codes_follow_each_observation(dsprites):
    """noisy-dsprites draws noise in observe: no cache, s of each observation's own clean image, at every call."""
    noisy = get("noisy-dsprites")
    perturbed = perturb(noisy, fake_posterior, 0.1, num_points=30)
    assert perturbed._cache is None
    cache = perturb(dsprites, fake_posterior, 0.1, num_points=30)._cache  # a deterministic base: one float32 a point
    assert cache.dtype == np.float32 and cache.shape == (737_280,) and np.isnan(cache).all()
    factors = dsprites.sample_factors(4, np.random.default_rng(0))
    for seed in (1, 2):
        x = perturbed.observe(factors, np.random.default_rng(seed))
        clean = noisy.observe(factors, np.random.default_rng(seed))
        s = fake_posterior(clean)[0][:, 1]
        np.testing.assert_allclose(
            x - clean, np.broadcast_to(0.1 * perturbed.pattern_for(s)[:, None], x.shape), atol=1e-6
        )


def test_the_code_is_estimated_in_float64_in_batches_of_256(dsprites):
    """A float32 posterior: the mean variances that choose the latent are those of its values in float64 (a
    float32 mean gives another number here), and so are the percentiles of s; the posterior sees at most 256
    observations at once."""
    weights = np.random.default_rng(0).uniform(size=(64, 64))
    calls = []

    def float32_posterior(observations):
        calls.append(len(observations))
        x = np.asarray(observations, dtype=np.float64)[:, 0]
        means = np.stack([(x * weights).sum(axis=(1, 2)) * 0.037 + 0.11, x[:, 30].sum(axis=1)], axis=1)
        variances = np.stack([0.2 + x.mean(axis=(1, 2)) / 3, np.ones(len(x))], axis=1)
        return means.astype(np.float32), variances.astype(np.float32)

    perturbed = perturb(dsprites, float32_posterior, 0.1, seed=5, num_points=300)
    assert calls == [256, 44]
    rng = np.random.default_rng(5)
    means32, variances32 = float32_posterior(dsprites.observe(dsprites.sample_factors(300, rng), rng))
    means, variances = means32.astype(np.float64), variances32.astype(np.float64)
    low, high = np.percentile(means[:, 0], (1.0, 99.0))
    assert perturbed.latent == 0
    assert perturbed.scaling["offset"] == float(low)
    assert perturbed.scaling["rows_per_unit"] == 64 / float(high - low)
    assert perturbed.scaling["mean_variances"] == [float(v) for v in variances.mean(axis=0)]
    # (float32 arithmetic usually gives another mean here, which is what kills a float32 mutant; whether it does
    # depends on NumPy's summation order on the CPU at hand, so it is not asserted: one run saw them equal)
    calls.clear()
    perturbed.code(dsprites.observe(dsprites.index_to_factors(np.arange(300))))
    assert calls == [256, 44]


def test_warm_encodes_the_factor_space_in_chunks_of_4096():
    """warm's chunks: 4096 points (16 batches of 256), then the rest (4160 = 4096 + 64 points)."""

    class Wide(GroundTruthDataset):
        name, factor_names, factor_sizes, observation_shape = "wide", ("a", "b"), (64, 65), (1, 2, 2)

        def observe(self, factors, rng=None):
            factors = np.asarray(factors, dtype=np.float32)
            return np.broadcast_to(
                (factors[:, 0] / 64 + factors[:, 1] / 4160)[:, None, None, None], (len(factors), 1, 2, 2)
            ).copy()

    calls = []

    def posterior(observations):
        calls.append(len(observations))
        x = np.asarray(observations, dtype=np.float64)
        return np.stack([x[:, 0, 0, 0], np.zeros(len(x))], axis=1), np.tile([0.1, 1.0], (len(x), 1))

    perturbed = perturb(Wide(), posterior, 0.1, num_points=10)
    calls.clear()
    assert perturbed.warm() is perturbed
    assert calls == [256] * 16 + [64] and not np.isnan(perturbed._cache).any()
    calls.clear()
    perturbed.warm()
    assert calls == []  # nothing left to encode


def test_the_checks_of_perturb_name_the_problem_and_the_fix(dsprites):
    with pytest.raises(
        ValueError,
        match=r"^data is required: the dataset to perturb \(e\.g\. "
        r"untwine\.data\.get\('dsprites'\)\); to perturb a run's dataset, load the "
        r"run \(untwine\.runs\) and pass its dataset and model\.posterior\(\)$",
    ):
        perturb(object(), fake_posterior, 0.1)
    with pytest.raises(ValueError, match=r"^kind must be one of pattern, uniform, got 'stripes'$"):
        perturb(dsprites, fake_posterior, 0.1, kind="stripes")
    for epsilon in (-0.01, 1.5):
        with pytest.raises(
            ValueError,
            match=rf"^epsilon must be in \[0, 1\] \(pixels are in \[0, 1\]\), "
            rf"got {epsilon}$",
        ):
            perturb(dsprites, fake_posterior, epsilon)
    for epsilon in (0.0, 1.0):  # the bounds are allowed
        assert perturb(dsprites, None, epsilon, kind="uniform").epsilon == epsilon
    with pytest.raises(TypeError, match=r"^run_dir must be a string \(recorded, never opened\), got int$"):
        perturb(dsprites, fake_posterior, 0.1, run_dir=7)
    assert perturb(dsprites, None, 0.1, kind="uniform", run_dir=Path("runs") / "u").run_dir == "runs/u"
    with pytest.raises(
        ValueError,
        match=r"^the pattern perturbation needs posterior: a callable observations -> "
        r"\(means, variances\) \(e\.g\. a trained model's \.posterior\(\)\); only "
        r"kind='uniform' takes None$",
    ):
        perturb(dsprites, None, 0.1)
    with pytest.raises(
        TypeError,
        match=r"^posterior must be a callable observations -> \(means, variances\), got "
        r"the path 'runs/b4': the data room does not open runs; load the run's model "
        r"\(untwine\.runs\) and pass model\.posterior\(\), with run_dir='runs/b4' "
        r"to record it$",
    ):
        perturb(dsprites, Path("runs/b4"), 0.1)
    with pytest.raises(
        TypeError,
        match=r"^posterior must be a callable observations -> \(means, variances\), or a "
        r"VAE \(with \.posterior\(\)\), got int$",
    ):
        perturb(dsprites, 42, 0.1)
    with pytest.raises(ValueError, match=r"^num_points must be at least 10, got 9$"):
        perturb(dsprites, fake_posterior, 0.1, num_points=9)
    assert perturb(dsprites, fake_posterior, 0.1, num_points=10).num_points == 10


def test_a_code_without_spread_is_refused(dsprites):
    """The 1st..99th percentile spread of s must be finite and above 1e-12: a constant latent, one that spreads
    exactly 1e-12 or a NaN code give nothing to perturb along; a spread of 1e-6 is enough."""

    def spreading(spread):
        def posterior(observations):
            n = len(observations)
            means = np.stack([np.zeros(n), (np.arange(n) % 2) * spread], axis=1)
            return means, np.tile([1.0, 0.01], (n, 1))

        return posterior

    message = (
        r"^latent 1 \(least posterior variance\) is constant over the sample: the model encodes nothing to "
        r"perturb along; train it longer or use kind='uniform'$"
    )
    for spread in (0.0, 1e-12, np.nan):
        with pytest.raises(ValueError, match=message):
            perturb(dsprites, spreading(spread), 0.1, num_points=10)
    small = perturb(dsprites, spreading(1e-6), 0.1, num_points=10)
    assert small.latent == 1 and small.scaling["rows_per_unit"] == pytest.approx(64 / 1e-6)
    assert small.scaling["rule"] == (
        "rows = (s - offset) * rows_per_unit; offset and offset + height / "
        "rows_per_unit are the 1st and 99th percentiles of s over the estimation sample"
    )


def test_the_constructor_checks_its_arguments_itself(dsprites):
    """PerturbedDataset is public: built directly, it refuses what perturb refuses, with the same words."""
    scaling = {"offset": 0.0, "rows_per_unit": 1.0}
    with pytest.raises(ValueError, match=r"^kind must be one of pattern, uniform, got 'stripes'$"):
        PerturbedDataset(dsprites, 0.1, "stripes")
    for epsilon in (-0.5, 2):
        with pytest.raises(
            ValueError,
            match=rf"^epsilon must be in \[0, 1\] \(pixels are in \[0, 1\]\), "
            rf"got {epsilon}$",
        ):
            PerturbedDataset(dsprites, epsilon, "uniform")
    for epsilon in (0, 1):
        assert PerturbedDataset(dsprites, epsilon, "uniform").epsilon == float(epsilon)
    needs = (
        r"^the pattern perturbation needs a posterior, a latent index and a scaling; use "
        r"untwine\.data\.perturb\(data, posterior, epsilon\)$"
    )
    for missing in ({"posterior": None}, {"latent": None}, {"scaling": None}):
        arguments = {"posterior": fake_posterior, "latent": 1, "scaling": scaling, **missing}
        with pytest.raises(ValueError, match=needs):
            PerturbedDataset(dsprites, 0.1, "pattern", **arguments)
    assert PerturbedDataset(dsprites, 0.1, "pattern", posterior=fake_posterior, latent=1, scaling=scaling).latent == 1
    with pytest.raises(TypeError, match=r"^run_dir is an opaque string recorded in the description, got PosixPath$"):
        PerturbedDataset(dsprites, 0.1, "uniform", run_dir=Path("runs/x"))
    assert PerturbedDataset(dsprites, 0.1, "uniform", run_dir="runs/x").run_dir == "runs/x"
    with pytest.raises(TypeError, match=r"^clip must be True or False, got 'yes'$"):
        PerturbedDataset(dsprites, 0.1, "uniform", clip="yes")
    assert PerturbedDataset(dsprites, 0.1, "uniform", clip=np.bool_(True)).clip is True

    class Flat:
        name, factor_names, factor_sizes, observation_shape = "toy", ("a",), (3,), (3,)

    flat = Flat()
    with pytest.raises(
        ValueError,
        match=r"^the pattern perturbation needs image observations \(C, H, W\), 'toy' "
        r"has \(3,\)$",
    ):
        PerturbedDataset(flat, 0.1, "pattern", posterior=fake_posterior, latent=1, scaling=scaling)
    uniform = PerturbedDataset(dsprites, 0.1, "uniform", seed=3)
    assert uniform.name == "dsprites-perturbed-uniform" and uniform.seed == 3 and uniform.kind == "uniform"
    with pytest.raises(
        TypeError,
        match=r"^'dsprites-perturbed-uniform' is a perturbed dataset, not a registry name: "
        r"its description is describe\(\) \(or save\(path\)\), rebuilt by "
        r"PerturbedDataset\.from_description or untwine\.runs\.load_dataset\(path\)$",
    ):
        uniform.spec()


# -- the pattern as a factor (seed 002, §5.2 and figure 4) ------------------------------------------------


def test_pattern_factor_adds_s_and_the_pattern_of_perturb(dsprites):
    """pattern-factor: dSprites' factors plus s (32 values, mean 0, variance 1); x̃ = x + ε f(s), with the signs and
    column factors of perturb's pattern for the same seed, unclipped."""
    data = get("pattern-factor", epsilon=0.1, seed=3)
    assert data.factor_names == (*dsprites.factor_names, "s")
    assert data.factor_sizes == (*dsprites.factor_sizes, 32) and data.observation_shape == (1, 64, 64)
    s = data.factor_values(5)
    assert len(s) == 32 and s.mean() == pytest.approx(0, abs=1e-12) and s.var() == pytest.approx(1.0)
    assert np.allclose(np.diff(s), np.sqrt(12 / (32**2 - 1)))
    assert np.array_equal(data.factor_values(3), dsprites.factor_values(3))
    factors = data.sample_factors(24, np.random.default_rng(0))
    x = data.observe(factors)
    clean = dsprites.observe(factors[:, :5])
    np.testing.assert_allclose(x - clean, 0.1 * data.pattern_for(s[factors[:, 5]])[:, None], atol=1e-6)
    assert x.min() == pytest.approx(-0.1) and x.max() == pytest.approx(1.1)
    same = perturb(dsprites, fake_posterior, 0.1, seed=3, num_points=200)
    assert np.array_equal(data._pattern, same._pattern) and np.array_equal(data._blocks, same._blocks)
    # the 1st and 99th percentiles of s's values span the image height
    low, high = np.percentile(s, [1, 99])
    assert np.allclose(data.rows(np.array([low, high])), [0, 64])
    # s alone changes the pattern; every s value its own
    assert len({data.pattern_for(s[i : i + 1]).tobytes() for i in range(32)}) == 32


def test_pattern_factor_is_a_registered_dataset_that_rebuilds_from_its_spec():
    data = get("pattern-factor", base="digits", base_options={"size": 64}, epsilon=0.05, num_s_values=8, clip=True)
    assert data.spec() == {
        "name": "pattern-factor",
        "options": {
            "base": "digits",
            "base_options": {"size": 64},
            "epsilon": 0.05,
            "seed": 0,
            "num_s_values": 8,
            "clip": True,
        },
    }
    again = get(**data.spec())
    factors = data.sample_factors(10, np.random.default_rng(1))
    assert np.array_equal(data.observe(factors), again.observe(factors))
    assert data.observe(factors).min() >= 0 and data.observe(factors).max() <= 1  # clipped
    assert data.factor_sizes == (10, 174, 8) and len(data) == 10 * 174 * 8
    still = get("pattern-factor", epsilon=0)  # ε = 0: the base's observations, whatever s
    factors = still.sample_factors(4, np.random.default_rng(2))
    assert np.array_equal(still.observe(factors), get("dsprites").observe(factors[:, :5]))


def test_pattern_factor_with_a_noisy_base_needs_the_rng():
    data = get("pattern-factor", base="noisy-dsprites")
    assert data.draws_nuisance
    factors = data.sample_factors(2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="draws nuisance noise"):
        data.observe(factors)
    a = data.observe(factors, np.random.default_rng(5))
    assert np.array_equal(a, data.observe(factors, np.random.default_rng(5)))


def test_pattern_factor_refuses_bad_options():
    with pytest.raises(ValueError, match="image observations"):
        get("pattern-factor", base="pinwheel")
    with pytest.raises(ValueError, match="another dataset"):
        get("pattern-factor", base="pattern-factor")
    with pytest.raises(ValueError, match=r"epsilon must be a number in \[0, 1\]"):
        get("pattern-factor", epsilon=1.5)
    with pytest.raises(ValueError, match="num_s_values must be an integer ≥ 2"):
        get("pattern-factor", num_s_values=1)
    with pytest.raises(ValueError, match="base_options must be a dict"):
        get("pattern-factor", base_options=[1])
    with pytest.raises(ValueError, match="unknown dataset"):
        get("pattern-factor", base="dsprites-5")


class _TinyImages(GroundTruthDataset):
    """A registered-like base for pattern-factor: factors named by ``names``, float64 images whose every pixel is the
    first factor's value / 4, factor_values k = 10·k + index (so that a wrong k shows)."""

    name = "tiny-images"
    source = "procedural"

    def __init__(self, names=("a", "b")):
        self.factor_names = tuple(names)
        self.factor_sizes = (3, 2)[: len(names)]
        self.observation_shape = (1, 4, 4)

    def factor_values(self, k):
        return 10.0 * k + np.arange(self.factor_sizes[k], dtype=np.float64)

    def observe(self, factors, rng=None):
        factors = self.check_factors(factors)
        return np.broadcast_to((factors[:, 0] / 4.0)[:, None, None, None], (len(factors), 1, 4, 4)).copy()


@pytest.fixture
def tiny_base(monkeypatch):
    import untwine.data

    monkeypatch.setitem(untwine.data.DATASETS, "tiny-images", _TinyImages)
    return "tiny-images"


def test_pattern_factor_on_a_float64_base_with_its_own_factor_values(tiny_base):
    data = get("pattern-factor", base=tiny_base, epsilon=0.25, num_s_values=4)
    assert data.factor_names == ("a", "b", "s") and data.factor_sizes == (3, 2, 4)
    np.testing.assert_array_equal(data.factor_values(0), [0, 1, 2])
    np.testing.assert_array_equal(data.factor_values(1), [10, 11])  # the base's own k, not another
    factors = np.array([[0, 0, 0], [1, 1, 3], [2, 0, 1]])
    x = data.observe(factors)
    assert x.dtype == np.float32  # observations are float32 whatever the base returns
    s = data.factor_values(2)
    expected = factors[:, 0, None, None, None] / 4.0 + 0.25 * data.pattern_for(s[factors[:, 2]])[:, None]
    np.testing.assert_allclose(x, expected, atol=1e-7)
    # clip: exactly the unclipped observation clipped to [0, 1] (background 0 − ε → 0, 0.5 + ε stays)
    clipped = get("pattern-factor", base=tiny_base, epsilon=0.25, num_s_values=4, clip=True).observe(factors)
    np.testing.assert_array_equal(clipped, np.clip(x, 0, 1))
    assert clipped[0].min() == 0 and clipped[0].max() == pytest.approx(0.25) and clipped[1].min() == 0
    # rescale: [−ε, 1 + ε] onto [0, 1], (x + ε)/(1 + 2ε), recorded in the spec only when set
    rescaled = get("pattern-factor", base=tiny_base, epsilon=0.25, num_s_values=4, rescale=True)
    np.testing.assert_allclose(rescaled.observe(factors), (x + 0.25) / 1.5, atol=1e-7)
    assert rescaled.spec()["options"]["rescale"] is True and "rescale" not in data.spec()["options"]
    assert get("pattern-factor", **rescaled.spec()["options"]).rescale is True and data.rescale is False


def test_pattern_factor_refuses_a_base_that_already_has_s(monkeypatch, tiny_base):
    import untwine.data

    class WithS(_TinyImages):
        def __init__(self):
            super().__init__(names=("a", "s"))

    monkeypatch.setitem(untwine.data.DATASETS, "tiny-images", WithS)
    with pytest.raises(ValueError, match=r"^'tiny-images' already has a factor called 's'$"):
        get("pattern-factor", base=tiny_base)

    class WithCapitalS(_TinyImages):  # only the exact name clashes
        def __init__(self):
            super().__init__(names=("S", "b"))

    monkeypatch.setitem(untwine.data.DATASETS, "tiny-images", WithCapitalS)
    assert get("pattern-factor", base=tiny_base).factor_names == ("S", "b", "s")


def test_pattern_factor_options_at_their_bounds():
    """ε = 1 and two values of s are allowed (the bounds are inclusive); a boolean or a float where a number or an
    integer is meant is not; the base's options reach the base."""
    one = get("pattern-factor", epsilon=1, num_s_values=2)
    np.testing.assert_array_equal(one.factor_values(5), [-1.0, 1.0])  # mean 0, variance 1 with two values
    x = one.observe(one.sample_factors(8, np.random.default_rng(0)))
    assert x.min() == -1 and x.max() == 2
    with pytest.raises(ValueError, match=r"epsilon must be a number in \[0, 1\]"):
        get("pattern-factor", epsilon=True)
    with pytest.raises(ValueError, match=r"epsilon must be a number in \[0, 1\]"):
        get("pattern-factor", epsilon=1.0001)
    with pytest.raises(ValueError, match="num_s_values must be an integer ≥ 2, got 3.0"):
        get("pattern-factor", num_s_values=3.0)
    with pytest.raises(ValueError, match="num_s_values must be an integer ≥ 2, got True"):
        get("pattern-factor", num_s_values=True)
    with pytest.raises(TypeError, match="^clip must be True or False, got 'yes'$"):
        PatternFactor(clip="yes")
    assert get("pattern-factor", base="digits", base_options={"size": 16}).observation_shape == (1, 16, 16)


def test_pattern_factor_rows_and_scaling_in_double_precision():
    """s is scaled to pixel rows in float64 whatever the dtype of s given (float32 percentiles and products round)."""
    s32 = np.arange(100, dtype=np.float32) * np.float32(0.3) + np.float32(0.1)
    scaling = scaling_for(s32, 64)
    low, high = np.percentile(s32.astype(np.float64), [1, 99])
    assert scaling["offset"] == low and scaling["rows_per_unit"] == 64 / (high - low)
    data = get("pattern-factor")
    rows = data.rows(s32)
    assert rows.dtype == np.float64
    np.testing.assert_array_equal(
        rows, (s32.astype(np.float64) - data.scaling["offset"]) * data.scaling["rows_per_unit"]
    )
    with pytest.raises(
        ValueError, match="^s is constant over the sample: there is nothing to sweep the pattern along$"
    ):
        scaling_for(np.full(10, 0.5), 64)


def test_describe_and_save_write_every_field(tmp_path):
    digits = get("digits")
    uniform = perturb(digits, None, 0.05, kind="uniform", seed=2, run_dir="runs/u", clip=True)
    expected = {
        "format": "untwine.perturbed-dataset",
        "version": 3,
        "name": "digits-perturbed-uniform",
        "base": {"name": "digits", "options": {"size": 8}},
        "run_dir": "runs/u",
        "latent": None,
        "epsilon": 0.05,
        "kind": "uniform",
        "seed": 2,
        "clip": True,
        "rescale": False,
        "num_points": None,
        "scaling": None,
        "factor_names": list(digits.factor_names),
        "factor_sizes": list(digits.factor_sizes),
        "observation_shape": [1, 8, 8],
    }
    assert uniform.describe() == expected
    path = uniform.save(str(tmp_path / "u.json"))
    assert path == tmp_path / "u.json"
    assert path.read_text() == json.dumps(expected, indent=2) + "\n"
    with pytest.raises(
        ValueError,
        match=r"^a pattern perturbation is saved only with the run whose encoder "
        r"computes s: build it with perturb\(data, model\.posterior\(\), epsilon, "
        r"run_dir=RUN_DIR\)$",
    ):
        perturb(digits, instance_like_posterior, 0.1, num_points=20).save(tmp_path / "p.json")


def instance_like_posterior(observations):
    x = np.asarray(observations, dtype=np.float64)
    means = np.stack([x.mean(axis=(1, 2, 3)), x[:, 0, 2].mean(axis=1)], axis=1)
    return means, np.tile([0.1, 1.0], (len(x), 1))


def _description(**changes):
    good = {
        "format": FORMAT,
        "version": 3,
        "base": {"name": "digits", "options": {}},
        "kind": "uniform",
        "epsilon": 0.1,
        "seed": 0,
        "clip": False,
        "rescale": False,
        "run_dir": "runs/u",
    }
    good.update(changes)
    return {k: v for k, v in good.items() if v is not _DROP}


_DROP = object()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"format": "something"}, r"'format' is 'something', not 'untwine\.perturbed-dataset'"),
        ({"format": _DROP}, r"'format' is None, not 'untwine\.perturbed-dataset'"),
        ({"version": 4}, r"version 4 is newer than this untwine reads \(3\); upgrade untwine"),
        ({"version": "3"}, r"version '3' is newer than this untwine reads \(3\); upgrade untwine"),
        ({"base": "digits"}, r"'base' must be \{\"name\": DATASET, \"options\": \{\.\.\.\}\}, got 'digits'"),
        ({"base": {"name": 3}}, r"'base' must be \{\"name\": DATASET, \"options\": \{\.\.\.\}\}, got \{'name': 3\}"),
        ({"base": {"name": "digits", "options": [1]}}, r"'base\.options' must be an object, got \[1\]"),
        ({"clip": _DROP}, r"a version-3 description must say 'clip' \(true or false\)"),
        ({"clip": _DROP, "version": 2}, r"a version-2 description must say 'clip' \(true or false\)"),
        ({"clip": 1}, r"'clip' must be true or false, got 1"),
        ({"rescale": _DROP}, r"a version-3 description must say 'rescale' \(true or false\)"),
        ({"rescale": 0}, r"'rescale' must be true or false, got 0"),
        ({"rescale": True, "clip": True}, r"'clip' and 'rescale' exclude each other; set one of them to false"),
        (
            {"rescale": True, "clip": _DROP, "version": 1},
            r"'clip' and 'rescale' exclude each other; set one of them to false",
        ),
        ({"selection": [1]}, r"'selection' must be an object, got \[1\]"),
        ({"kind": "stripes"}, r"'kind' must be one of pattern, uniform, got 'stripes'"),
        ({"epsilon": "big"}, r"'epsilon' must be a number, got 'big'"),
        ({"epsilon": _DROP}, r"'epsilon' must be a number, got None"),
        ({"seed": [0]}, r"'seed' must be a number, got \[0\]"),
        (
            {"kind": "pattern", "latent": 0},
            r"a pattern perturbation needs 'latent' and 'scaling' "
            r"\{'offset', 'rows_per_unit'\}",
        ),
        (
            {"kind": "pattern", "latent": "first", "scaling": {"offset": 0, "rows_per_unit": 1}},
            r"a pattern perturbation needs 'latent' and 'scaling' \{'offset', 'rows_per_unit'\}",
        ),
        (
            {"kind": "pattern", "latent": 0, "scaling": {"offset": 0}},
            r"a pattern perturbation needs 'latent' and 'scaling' \{'offset', 'rows_per_unit'\}",
        ),
        (
            {"kind": "pattern", "latent": 0, "scaling": {"offset": None, "rows_per_unit": 1}},
            r"a pattern perturbation needs 'latent' and 'scaling' \{'offset', 'rows_per_unit'\}",
        ),
        ({"run_dir": 3}, r"'run_dir' must be a string, got 3"),
    ],
)
def test_a_bad_description_is_refused_with_its_reason_and_the_fix(tmp_path, changes, message):
    description = _description(**changes)
    with pytest.raises(ValueError, match=rf"^the description: {message}$"):
        from_description(description)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(description))
    fix = rf"write it again with `untwine perturb RUN_DIR --epsilon E --out {path}` \(or PerturbedDataset\.save\)"
    with pytest.raises(ValueError, match=rf"^{path}: {message}; {fix}$"):
        read_description(path)


def test_descriptions_that_are_read_and_the_files_that_are_not(tmp_path):
    digits = get("digits")
    for description in (
        _description(),
        _description(version=1, clip=_DROP, rescale=_DROP),
        _description(version=2, rescale=_DROP),
        _description(version=1, clip=_DROP, rescale=False),
        _description(rescale=True),
        _description(base={"name": "digits"}),
        _description(base={"name": "digits", "options": None}),
        _description(selection={"a": 1}),
        _description(run_dir=None),
        _description(epsilon="0.1", seed="3"),
        _description(version=_DROP),
        _description(kind="pattern", latent=0, scaling={"offset": 0, "rows_per_unit": 1}),
    ):
        (tmp_path / "ok.json").write_text(json.dumps(description))
        assert read_description(tmp_path / "ok.json") == description
    with pytest.raises(ValueError, match=r"^the description is not a JSON object$"):
        from_description([1, 2])
    path = tmp_path / "list.json"
    fix = rf"write it again with `untwine perturb RUN_DIR --epsilon E --out {path}` \(or PerturbedDataset\.save\)"
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match=rf"^{path} is not a JSON object; {fix}$"):
        read_description(path)
    path.write_text("{not json")
    with pytest.raises(
        ValueError,
        match=rf"^{path} is not a perturbed-dataset description \(not readable JSON: "
        rf"Expecting property name enclosed in double quotes: line 1 column 2 "
        rf"\(char 1\)\); {fix}$",
    ):
        read_description(path)
    path.write_bytes(b'{"format": "\xff"}')
    with pytest.raises(
        ValueError,
        match=rf"^{path} is not a perturbed-dataset description \(not readable JSON: "
        rf"'utf-8' codec can't decode",
    ):
        read_description(path)
    unreadable = Path("/proc/self/mem")  # a file whose read fails (EIO at offset 0) on Linux
    if unreadable.is_file():
        with pytest.raises(
            ValueError,
            match=r"^/proc/self/mem is not a perturbed-dataset description \(not readable "
            r"JSON: \[Errno 5\] Input/output error\); write it again with",
        ):
            read_description(unreadable)
    for where in (tmp_path / "nope.json", str(tmp_path / "nope.json"), tmp_path):  # a folder is not a file either
        fix_here = fix.replace(str(path), str(where))
        with pytest.raises(
            FileNotFoundError,
            match=rf"^perturbed-dataset description not found: {where}; "
            rf"{fix_here}$",
        ):
            read_description(where)
    # what from_description reads: sizes that changed, and a pattern needs its run's encoder
    with pytest.raises(
        ValueError,
        match=rf"^the description's factor sizes \(10, 2\) differ from those of its base "
        rf"dataset 'digits' now, \({digits.factor_sizes[0]}, "
        rf"{digits.factor_sizes[1]}\) \(its files changed\?\); perturb the dataset "
        rf"again$",
    ):
        from_description(_description(factor_sizes=[10, 2]))
    with pytest.raises(
        ValueError,
        match=r"^a pattern perturbation computes s through the encoder of its run "
        r"\(runs/u\): pass posterior= \(that run's model\.posterior\(\)\), or use "
        r"untwine\.runs\.load_dataset\(path\)$",
    ):
        from_description(_description(kind="pattern", latent=0, scaling={"offset": 0, "rows_per_unit": 1}))
    rebuilt = from_description(
        _description(
            epsilon=0.2,
            seed=4,
            clip=True,
            num_points=77,
            selection={"chosen": 0},
            base={"name": "digits", "options": {"size": 16}},
            factor_sizes=list(digits.factor_sizes),
        )
    )
    assert (
        rebuilt.kind,
        rebuilt.epsilon,
        rebuilt.seed,
        rebuilt.clip,
        rebuilt.num_points,
        rebuilt.selection,
        rebuilt.run_dir,
        rebuilt.observation_shape,
    ) == ("uniform", 0.2, 4, True, 77, {"chosen": 0}, "runs/u", (1, 16, 16))
    pattern = from_description(
        _description(
            kind="pattern",
            latent=1,
            seed=2,
            num_points=50,
            clip=True,
            selection={"chosen": 0},
            scaling={"offset": -0.5, "rows_per_unit": 3.0, "rule": "r"},
        ),
        posterior=instance_like_posterior,
    )
    assert (
        pattern.kind,
        pattern.latent,
        pattern.scaling,
        pattern.seed,
        pattern.num_points,
        pattern.clip,
        pattern.selection,
        pattern.run_dir,
    ) == ("pattern", 1, {"offset": -0.5, "rows_per_unit": 3.0, "rule": "r"}, 2, 50, True, {"chosen": 0}, "runs/u")
    factors = digits.sample_factors(5, np.random.default_rng(0))
    clean = digits.observe(factors, np.random.default_rng(1))
    s = instance_like_posterior(clean)[0][:, 1]
    np.testing.assert_allclose(
        pattern.observe(factors, np.random.default_rng(1)),
        np.clip(clean + 0.1 * pattern.pattern_for(s)[:, None], 0, 1),
        atol=1e-6,
    )


def test_perturb_lowest_mig_names_what_is_missing_and_records_its_choice(dsprites):
    candidates = [fake_posterior, shifted_posterior(1.0)]
    with pytest.raises(ValueError, match=r"^posteriors must hold at least one candidate run's posterior$"):
        perturb_lowest_mig(dsprites, [], 0.1, migs=[])
    with pytest.raises(
        ValueError,
        match=r"^migs is required: one MIG per candidate \(a sequence\), or a callable "
        r"posterior -> MIG$",
    ):
        perturb_lowest_mig(dsprites, candidates, 0.1)
    with pytest.raises(ValueError, match=r"^2 candidate posteriors but 3 MIGs$"):
        perturb_lowest_mig(dsprites, candidates, 0.1, migs=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"^2 candidate posteriors but 1 run_dirs$"):
        perturb_lowest_mig(dsprites, candidates, 0.1, migs=[0.1, 0.2], run_dirs=["a"])
    chosen = perturb_lowest_mig(
        dsprites,
        iter(candidates),
        0.1,
        migs=(0.4, 0.2),
        run_dirs=[Path("runs/a"), "runs/b"],
        seed=3,
        num_points=20,
        clip=True,
    )
    assert chosen.selection == {
        "rule": "lowest MIG (seed 002, section 4, step (i))",
        "migs": [0.4, 0.2],
        "chosen": 1,
        "run_dirs": ["runs/a", "runs/b"],
    }
    assert (chosen.run_dir, chosen.seed, chosen.num_points, chosen.clip, chosen.kind) == (
        "runs/b",
        3,
        20,
        True,
        "pattern",
    )
    assert chosen.scaling == perturb(dsprites, candidates[1], 0.1, seed=3, num_points=20).scaling
    uniform = perturb_lowest_mig(dsprites, candidates, 0.05, migs=[0.1, 0.3], kind="uniform", seed=6)
    assert (uniform.kind, uniform.seed, uniform.run_dir, uniform.selection["run_dirs"]) == ("uniform", 6, None, None)
    assert uniform.selection["chosen"] == 0


def test_a_callable_with_a_posterior_attribute_is_still_a_posterior_and_warm_skips_what_has_no_cache(dsprites):
    class Callable:
        posterior = "not a method"

        def __call__(self, observations):
            return fake_posterior(observations)

    assert perturb(dsprites, Callable(), 0.1, num_points=20).latent == 1
    uniform = perturb(dsprites, None, 0.1, kind="uniform")
    assert uniform.warm() is uniform
    base = TwoInstances()
    calls = []

    def counting(observations):
        calls.append(len(observations))
        return instance_posterior(observations)

    noisy = perturb(base, counting, 0.1, num_points=20)
    calls.clear()
    assert noisy.warm() is noisy and calls == []  # no cache to fill: s is computed per observation
    assert noisy.num_observations == 12 and len(noisy) == 6 and noisy.name == "two-instances-perturbed-pattern"


def test_hashed_uniform_reads_any_integer_counters_as_uint64():
    """Flat indices come as int64 (factors_to_index) or Python integers: the same numbers as their uint64 values."""
    from untwine.data.perturb import hashed_uniform

    counters = [0, 1, 4095, 737_279 * 4096 + 17]
    expected = hashed_uniform(np.array(counters, dtype=np.uint64), 7)
    np.testing.assert_array_equal(hashed_uniform(np.array(counters, dtype=np.int64), 7), expected)
    np.testing.assert_array_equal(hashed_uniform(counters, 7), expected)


def test_the_constructor_defaults_and_a_noisy_base_named_in_its_error(dsprites):
    """PerturbedDataset(base, ε) is a pattern perturbation (which needs its posterior), seed 0, not clipped; over a
    base that draws nuisance noise, observe without an rng is refused by the perturbed dataset, under its name."""
    with pytest.raises(
        ValueError,
        match=r"^the pattern perturbation needs a posterior, a latent index and a "
        r"scaling; use untwine\.data\.perturb\(data, posterior, epsilon\)$",
    ):
        PerturbedDataset(dsprites, 0.1)
    uniform = PerturbedDataset(dsprites, 0.1, "uniform")
    assert (uniform.seed, uniform.clip, uniform.draws_nuisance) == (0, False, False)
    noisy = perturb(get("noisy-dsprites"), fake_posterior, 0.05, num_points=20)
    assert noisy.draws_nuisance is True
    with pytest.raises(
        ValueError,
        match=r"^dataset 'noisy-dsprites-perturbed-pattern' draws nuisance noise in "
        r"observe: pass an explicit rng, e\.g\. observe\(factors, "
        r"np\.random\.default_rng\(seed\)\)$",
    ):
        noisy.observe(dsprites.sample_factors(2, np.random.default_rng(0)))


def test_rows_are_float64_whatever_the_codes_precision(dsprites):
    perturbed = perturb(dsprites, fake_posterior, 0.1, num_points=50)
    s = np.linspace(-3, 3, 7).astype(np.float32) + np.float32(0.1)
    rows = perturbed.rows(s)
    assert rows.dtype == np.float64
    np.testing.assert_array_equal(rows, perturbed.rows(s.astype(np.float64)))


class WidePlain(QuietPlain):
    """Images 4 rows high and 6 columns wide: the pattern sweeps the height, not the width."""

    name = "wide-plain"
    observation_shape = (1, 4, 6)


def test_perturb_defaults_checks_before_encoding_and_scales_to_the_image_height(dsprites):
    calls = []

    def counting(observations):
        calls.append(len(observations))
        return instance_posterior(observations)

    default = perturb(QuietPlain(), counting, 0.1)
    assert default.num_points == 10_000 and sum(calls) == 10_000
    chosen = perturb_lowest_mig(QuietPlain(), [counting], 0.1, migs=[0.3])
    assert chosen.num_points == 10_000 and chosen.scaling == default.scaling
    calls.clear()
    with pytest.raises(ValueError, match=r"^epsilon must be in \[0, 1\] \(pixels are in \[0, 1\]\), got 1\.5$"):
        perturb(dsprites, counting, 1.5)
    assert calls == []  # refused before any encoding
    # r(s) sweeps the height (4 rows), not the width (6)
    wide = perturb(WidePlain(), instance_posterior, 0.1, num_points=40, seed=1)
    rng = np.random.default_rng(1)
    base = WidePlain()
    s = instance_posterior(base.observe(base.sample_factors(40, rng), rng))[0][:, 0]
    low, high = np.percentile(s, (1.0, 99.0))
    assert wide.scaling["offset"] == low and wide.scaling["rows_per_unit"] == 4 / (high - low)

    class Flat(QuietPlain):
        name, observation_shape = "flat", (12,)

        def observe(self, factors, rng=None):
            return super().observe(factors).reshape(len(factors), -1)[:, :12]

    def flat_posterior(observations):
        x = np.asarray(observations, dtype=np.float64)
        return np.stack([x @ np.arange(12.0), x.sum(axis=1)], axis=1), np.tile([0.1, 1.0], (len(x), 1))

    with pytest.raises(
        ValueError,
        match=r"^the pattern perturbation needs image observations \(C, H, W\), 'flat' "
        r"has \(12,\)$",
    ):
        perturb(Flat(), flat_posterior, 0.1, num_points=10)


def test_uniform_noise_of_neighbouring_images_is_independent(dsprites):
    """Images next to each other in the factor grid (flat indices i and i + 1) get independent noise: no shift
    of one noise field by a few pixels lines up with the other (as it would if the counters of image i + 1
    were those of image i moved by one pixel)."""
    perturbed = perturb(dsprites, None, 0.1, kind="uniform", seed=0)
    base = dsprites.index_to_factors(np.array([1000, 1001, 1002]))
    noise = perturbed.noise(base).reshape(3, -1).astype(np.float64)
    for a, b in ((0, 1), (1, 2), (0, 2)):
        for shift in range(-4, 5):
            x, y = (
                (noise[a][shift:], noise[b][: len(noise[b]) - shift])
                if shift >= 0
                else (noise[a][:shift], noise[b][-shift:])
            )
            assert abs(np.corrcoef(x, y)[0, 1]) < 0.08, (a, b, shift)
