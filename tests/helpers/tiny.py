"""A tiny ground-truth dataset for tests that train many short runs."""

import numpy as np

from untwine.config import RunConfig


class TinySquares:
    """A 3×3 white square at 6×6 positions in an 8×8 binary image: 36 points, 2 factors."""

    name = "tiny-squares"
    factor_names = ("row", "column")
    factor_sizes = (6, 6)
    observation_shape = (1, 8, 8)

    def factor_values(self, k):
        return np.arange(self.factor_sizes[k], dtype=np.float64)

    def sample_factors(self, n, rng):
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1).astype(np.int64)

    def observe(self, factors, rng=None):
        images = np.zeros((len(factors), *self.observation_shape), dtype=np.float32)
        for i, (row, column) in enumerate(np.asarray(factors)):
            images[i, 0, row : row + 3, column : column + 3] = 1.0
        return images

    def __len__(self):
        return 36


class GridSquares(TinySquares):
    """TinySquares as a registered dataset is: its observations are a function of its factors (scoring shares one
    code cache, as for dSprites), and it draws (factors, observations) as the report asks."""

    draws_nuisance = False

    def sample(self, n, rng):
        factors = self.sample_factors(n, rng)
        return factors, self.observe(factors, rng)


def tiny_config(steps=6, checkpoint_every=2, objective="beta-vae", **params):
    config = RunConfig()
    config.dataset = "tiny-squares"
    config.model.objective = objective
    config.model.latent_dim = 3
    config.model.params = dict(params)
    config.train.steps = steps
    config.train.batch_size = 8
    config.train.lr = 1e-3
    config.train.log_every = 1
    config.train.checkpoint_every = checkpoint_every
    config.train.threads = 1
    return config
