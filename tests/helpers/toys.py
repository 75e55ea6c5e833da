"""Toy ground-truth data and representations for the metric tests (imported as ``_toys``: a module named
``conftest`` is ambiguous once several test folders have one).

``ToyData`` follows only the data contract (no import of untwine.data); its
observations are the factor indices themselves (plus optional noise), in any
``observation_shape`` the test asks for.
"""

from __future__ import annotations

import numpy as np


class ToyData:
    def __init__(self, factor_sizes=(3, 6, 10), observation_shape=None, noise=0.0):
        self.name = "toy"
        self.factor_sizes = tuple(factor_sizes)
        self.factor_names = tuple(f"f{k}" for k in range(len(self.factor_sizes)))
        k = len(self.factor_sizes)
        self.observation_shape = tuple(observation_shape) if observation_shape else (k,)
        if int(np.prod(self.observation_shape)) < k:
            raise ValueError("observation too small")
        self.noise = noise
        self.observe_calls = []

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1).astype(np.int64)

    def observe(self, factors, rng):
        self.observe_calls.append(len(factors))
        n, k = factors.shape
        flat = np.zeros((n, int(np.prod(self.observation_shape))), dtype=np.float32)
        flat[:, :k] = factors
        if self.noise:
            flat[:, :k] += self.noise * rng.standard_normal((n, k)).astype(np.float32)
        return flat.reshape((n,) + self.observation_shape)


class Recorder:
    """A representation that records its batch sizes: first K entries, optionally mixed."""

    def __init__(self, k, matrix=None):
        self.k = k
        self.matrix = matrix
        self.calls = []

    def __call__(self, obs):
        self.calls.append(len(obs))
        x = np.asarray(obs, dtype=np.float64).reshape(len(obs), -1)[:, : self.k]
        return x if self.matrix is None else x @ self.matrix


def random_rotation(d, rng):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))
