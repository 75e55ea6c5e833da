"""The perturbed datasets of seed 002: within ε, same factors, deterministic, described as JSON.

The data room's tests need no model: the posterior is a plain numpy function.
"""

import json

import numpy as np
import pytest

from untwine.data import from_description, get, perturb, perturb_lowest_mig, read_description
from untwine.data.perturb import FORMAT, VERSION, PerturbedDataset, description_clip, lowest_mig


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
    assert noise.var() == pytest.approx(0.05 ** 2 / 3, rel=0.03)
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
    assert description["format"] == FORMAT and description["version"] == VERSION == 2
    assert description["clip"] is False and "selection" not in description
    assert description["base"] == {"name": "dsprites", "options": {}} == dsprites.spec()
    assert description["run_dir"] == "runs/fake"
    assert description["latent"] == perturbed.latent == 1 and description["epsilon"] == 0.1
    assert description["scaling"]["rows_per_unit"] > 0
    assert read_description(path) == description
    for again in (PerturbedDataset.from_description(description, posterior=fake_posterior),
                  from_description(read_description(path), fake_posterior)):
        assert again.factor_sizes == perturbed.factor_sizes and again.run_dir == "runs/fake"
        factors = again.sample_factors(8, np.random.default_rng(0))
        assert np.array_equal(again.observe(factors, np.random.default_rng(0)),
                              perturbed.observe(factors, np.random.default_rng(0)))
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
    assert np.array_equal(again.observe(factors, np.random.default_rng(3)),
                          perturbed.observe(factors, np.random.default_rng(3)))


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
    good = {"format": FORMAT, "version": 1, "base": {"name": "dsprites", "options": {}}, "kind": "pattern",
            "epsilon": 0.1, "seed": 0, "run_dir": "runs/x"}
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
    assert again.describe()["clip"] is True and again.describe()["version"] == 2
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
    chosen = perturb_lowest_mig(dsprites, candidates, 0.1, migs=[0.31, 0.07, 0.12], num_points=100,
                                run_dirs=["runs/a", "runs/b", "runs/c"])
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
    scored = perturb_lowest_mig(dsprites, candidates, 0.1, migs=lambda p: 0.5 if p is candidates[0] else 0.2,
                                num_points=100)
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
    counters = [0, 1, 4095, 737_279 * 4096 + 17, 2 ** 40 + 5]
    expected = [(splitmix64(c ^ key) >> 40) / 2 ** 24 for c in counters]
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
        factor_names, factor_sizes, observation_shape = dsprites.factor_names, dsprites.factor_sizes, \
            dsprites.observation_shape

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
    assert len(np.unique(noise[0])) > 4000 and abs(float(np.corrcoef(noise[0].ravel()[:-1],
                                                                      noise[0].ravel()[1:])[0, 1])) < 0.05
    for k in range(5):
        np.testing.assert_array_equal(perturbed.factor_values(k), dsprites.factor_values(k))


# -- the pattern as a factor (seed 002, §5.2 and figure 4) ------------------------------------------------

def test_pattern_factor_adds_s_and_the_pattern_of_perturb(dsprites):
    """pattern-factor: dSprites' factors plus s (32 values, mean 0, variance 1); x̃ = x + ε f(s), with the signs and
    column factors of perturb's pattern for the same seed, unclipped."""
    data = get("pattern-factor", epsilon=0.1, seed=3)
    assert data.factor_names == (*dsprites.factor_names, "s")
    assert data.factor_sizes == (*dsprites.factor_sizes, 32) and data.observation_shape == (1, 64, 64)
    s = data.factor_values(5)
    assert len(s) == 32 and s.mean() == pytest.approx(0, abs=1e-12) and s.var() == pytest.approx(1.0)
    assert np.allclose(np.diff(s), np.sqrt(12 / (32 ** 2 - 1)))
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
    assert len({data.pattern_for(s[i:i + 1]).tobytes() for i in range(32)}) == 32


def test_pattern_factor_is_a_registered_dataset_that_rebuilds_from_its_spec():
    data = get("pattern-factor", base="digits", base_options={"size": 64}, epsilon=0.05, num_s_values=8,
               clip=True)
    assert data.spec() == {"name": "pattern-factor", "options": {"base": "digits", "base_options": {"size": 64},
                                                                 "epsilon": 0.05, "seed": 0, "num_s_values": 8,
                                                                 "clip": True}}
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
