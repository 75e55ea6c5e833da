"""The code cache: the same scores as encoding every draw, with each distinct observation encoded once."""

import numpy as np
import pytest

from untwine.data import get
from untwine.metrics import evaluate
from untwine.metrics.cache import CodeCache, cacheable


class Counting:
    """A posterior function of dSprites images that counts the images it encodes."""

    def __init__(self):
        self.calls = 0
        rng = np.random.default_rng(0)
        self.weights = rng.standard_normal((64 * 64, 5)).astype(np.float32) / 64

    def __call__(self, observations):
        self.calls += len(observations)
        flat = observations.reshape(len(observations), -1)
        means = flat @ self.weights
        return means, np.exp(-np.abs(means)).astype(np.float32) + 0.01

    def mean(self, observations):
        return self(observations)[0]


def test_cached_scores_equal_uncached_and_each_observation_is_encoded_once():
    data = get("dsprites")
    names = ["mig", "sap", "modularity_explicitness", "unsupervised", "active_units"]
    plain = Counting()
    direct = evaluate(plain.mean, data, metrics=names, posterior=plain, seed=3)
    counting = Counting()
    cache = CodeCache(counting, data)
    cached = evaluate(cache.representation, cache.data, metrics=names, posterior=cache.posterior, seed=3)
    for name in names:
        assert {k: v for k, v in cached[name].items()} == {k: v for k, v in direct[name].items()}
    # five metrics each drew 10,000 points with the same seed: they share the encodings
    assert plain.calls >= 5 * 10_000
    assert counting.calls == cache.encoded <= 10_000 + 10_000
    assert cache.encoded == int(cache._filled.sum())


def test_only_deterministic_datasets_are_cached():
    assert cacheable(get("dsprites")) and not cacheable(get("noisy-dsprites"))
    with pytest.raises(ValueError, match="nuisance noise"):
        CodeCache(Counting(), get("noisy-dsprites"))


def test_the_cache_takes_its_own_observations_only():
    cache = CodeCache(Counting(), get("dsprites"))
    with pytest.raises(ValueError, match="pass cache.data to the metrics"):
        cache.representation(np.zeros((2, 1, 64, 64), np.float32))
    with pytest.raises(ValueError, match="out of range"):
        cache.representation(np.array([[737_280.0]]))
