"""The perturbed datasets of seed 002: within ε, same factors, deterministic, described as JSON.

The data room's tests need no model: the posterior is a plain numpy function.
"""

import json

import numpy as np
import pytest

from untwine.data import from_description, get, perturb, read_description
from untwine.data.perturb import FORMAT, PerturbedDataset


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
    factors = dsprites.sample_factors(32, np.random.default_rng(1))
    clean = dsprites.observe(factors)
    x = perturbed.observe(factors, np.random.default_rng(0))
    assert x.dtype == np.float32 and x.min() >= 0 and x.max() <= 1
    assert np.abs(x - clean).max() <= 0.1 + 1e-6
    assert np.abs(x - clean).max() > 0.09  # it does change the images
    # the perturbation is ±ε where clipping allows: background pixels go up by ε or stay at 0
    change = (x - clean)[clean == 0]
    assert np.allclose(np.unique(change), [0.0, 0.1])


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


def test_uniform_control(dsprites):
    perturbed = perturb(dsprites, None, 0.05, kind="uniform", seed=0)
    factors = dsprites.sample_factors(16, np.random.default_rng(2))
    clean = dsprites.observe(factors)
    x = perturbed.observe(factors, np.random.default_rng(0))
    assert np.abs(x - clean).max() <= 0.05 + 1e-6
    assert np.array_equal(x, perturbed.observe(factors, np.random.default_rng(0)))
    interior = (x > 0) & (x < 1)
    assert interior.mean() > 0.3  # noise spreads values, not a pattern


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
    assert description["format"] == FORMAT and description["version"] == 1
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
    with pytest.raises(ValueError, match="rng"):
        perturb(dsprites, None, 0.05, kind="uniform").observe(factors)
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
