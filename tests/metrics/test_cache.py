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


# -- a deterministic code (ae, qlae): its codes alone, never a posterior it does not have ---------------------------


def test_the_cache_of_a_deterministic_model_holds_its_codes_and_refuses_a_posterior():
    import torch

    from untwine.estimators import DeterministicCodeError
    from untwine.models import ModelConfig, build_model

    from tests.helpers.tiny import GridSquares

    data = GridSquares()
    tokens = np.arange(36, dtype=np.float64)[:, None]
    observations = data.observe(np.stack([np.arange(36) // 6, np.arange(36) % 6], axis=1))
    for objective in ("qlae", "ae"):
        torch.manual_seed(0)
        model, _ = build_model(ModelConfig(objective=objective, latent_dim=3), data.observation_shape)
        cache = CodeCache.for_model(model, data)
        assert cache.has_variances is False
        codes = cache.representation(tokens)
        assert np.array_equal(codes, model.representation()(observations))  # the codes, quantized for qlae
        if objective == "qlae":
            values = model.quantizer.values.detach().numpy()
            assert all(np.isin(codes[:, j], values[j]).all() for j in range(3))
        with pytest.raises(DeterministicCodeError, match="no posterior variances"):
            cache.posterior(tokens)
        # it scores the metrics that read codes only, as the model itself does
        direct = evaluate(model.representation(), data, metrics=["mig"], seed=1, num_train=100)
        assert evaluate(cache.representation, cache.data, metrics=["mig"], seed=1, num_train=100) == direct
    torch.manual_seed(0)
    vae, _ = build_model(ModelConfig(objective="beta-vae", latent_dim=3), data.observation_shape)
    cache = CodeCache.for_model(vae, data)
    means, variances = cache.posterior(tokens)
    assert cache.has_variances and np.array_equal(variances, vae.posterior()(observations)[1])
    # the batch size reaches the cache either way; a model without the flag (an older or a hand-made one) is
    # stochastic: its posterior is cached
    assert CodeCache.for_model(vae, data, batch_size=7).batch_size == 7
    assert CodeCache.for_model(vae, data).batch_size == 512
    assert CodeCache.for_model(model, data, batch_size=5).batch_size == 5  # the last deterministic one

    class Plain:  # a posterior, no deterministic attribute
        def posterior(self, batch_size):
            return vae.posterior(batch_size)

    plain = CodeCache.for_model(Plain(), data)
    assert plain.has_variances and np.array_equal(plain.posterior(tokens)[1], variances)


def test_a_cache_takes_a_posterior_or_a_representation_not_both_nor_neither():
    data = get("dsprites")
    counting = Counting()
    with pytest.raises(ValueError, match="either posterior .* or, for a model whose code is deterministic"):
        CodeCache(None, data)
    with pytest.raises(ValueError, match="either posterior"):
        CodeCache(counting, data, representation=counting.mean)
