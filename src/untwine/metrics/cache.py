"""Encode each distinct observation once: a code cache shared by every metric and both representations.

The reference protocol's metrics draw about 3 million observations per representation, but a
dataset whose observations are a deterministic function of the factors (dSprites, Shapes3D,
Cars3D, ...) has only ``prod(factor_sizes)`` distinct ones (737,280 for dSprites). A
``CodeCache`` encodes an observation the first time a metric asks for it, keeps its
posterior mean and variance by flat factor index, and answers every later request from memory:

>>> cache = CodeCache.for_model(model, data)                # doctest: +SKIP
>>> evaluate(cache.representation, cache.data, metrics="all")  # doctest: +SKIP

A model whose code is deterministic (``ae``, ``qlae``: ``VAE.deterministic``) has no posterior variance: its
cache holds the codes alone (``CodeCache(representation=..., data=...)``, which ``for_model`` picks), and
``cache.posterior`` raises ``untwine.estimators.DeterministicCodeError`` rather than hand out variances it does
not have.

``cache.data`` follows the ground-truth data contract but "observes" a factor vector as its
flat index (a float column); ``cache.representation`` and ``cache.posterior`` map those
indices to codes. The metrics only pass observations on to the representation, so every
value is the one the uncached metric computes (up to the encoder's last-bit dependence on
batch composition; see docs/metrics.md). Datasets that draw nuisance noise per observation
(noisy-dsprites, SmallNORB's instances, ...) cannot be cached this way: ``cacheable``
says so.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from ..data import factors_to_index, index_to_factors
from ..estimators import DeterministicCodeError

__all__ = ["CodeCache", "cacheable"]


def cacheable(data) -> bool:
    """Whether ``data``'s observations are a deterministic function of its factors.

    Parameters
    ----------
    data : object
        A ground-truth dataset.

    Returns
    -------
    bool
        True when ``data`` has ``factor_sizes`` and does not draw nuisance noise per observation.
    """
    return hasattr(data, "factor_sizes") and getattr(data, "draws_nuisance", True) is False


class _IndexedData:
    """``data`` with each observation replaced by its flat factor index, (n, 1) float64."""

    observation_shape = (1,)

    def __init__(self, data):
        self._data = data
        self.name = getattr(data, "name", "data")
        self.factor_names = tuple(getattr(data, "factor_names", ()))
        self.factor_sizes = tuple(int(s) for s in data.factor_sizes)

    def factor_values(self, k: int) -> np.ndarray:
        return self._data.factor_values(k)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._data.sample_factors(n, rng)

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return factors_to_index(np.asarray(factors), self.factor_sizes).astype(np.float64)[:, None]


class CodeCache:
    """Posterior means and variances of ``data``'s observations, by flat factor index, filled on demand.

    ``encode_seconds`` and ``encoded`` count the work done (rendering included).

    Parameters
    ----------
    posterior : callable or None
        Numpy observations -> (means, variances), each (n, d) (e.g. ``model.posterior()``); None with
        ``representation``.
    data : object
        A ground-truth dataset whose observations are a function of its factors
        (see ``cacheable``).
    batch_size : int, default 512
        Observations rendered and encoded per call when filling.
    representation : callable, optional
        Instead of ``posterior``, for a model whose code is deterministic: numpy observations -> codes (n, d)
        (``model.representation()``). The cache then holds no variances (``has_variances`` is False) and
        ``posterior`` raises ``untwine.estimators.DeterministicCodeError``.

    Raises
    ------
    ValueError
        If ``data`` draws nuisance noise per observation and so cannot be cached, or not exactly one of
        ``posterior`` and ``representation`` is given.
    """

    def __init__(
        self,
        posterior: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None,
        data,
        batch_size: int = 512,
        *,
        representation: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        if (posterior is None) == (representation is None):
            raise ValueError(
                "give a CodeCache either posterior (observations -> (means, variances)) or, for a model whose "
                "code is deterministic, representation (observations -> codes): CodeCache.for_model picks"
            )
        if not cacheable(data):
            raise ValueError(
                f"dataset {getattr(data, 'name', data)!r} draws nuisance noise per observation, so its "
                f"observations are not a function of the factors and cannot be cached"
            )
        self.has_variances = posterior is not None
        self._posterior = (
            posterior if posterior is not None else (lambda observations: (representation(observations), None))
        )
        self._base = data
        self.data = _IndexedData(data)
        self.size = int(np.prod(self.data.factor_sizes, dtype=np.int64))
        self.batch_size = int(batch_size)
        self._filled = np.zeros(self.size, dtype=bool)
        self._means: np.ndarray | None = None
        self._variances: np.ndarray | None = None
        self.encode_seconds = 0.0
        self.encoded = 0

    def _indices(self, tokens: np.ndarray) -> np.ndarray:
        tokens = np.asarray(tokens)
        if tokens.ndim != 2 or tokens.shape[1] != 1:
            raise ValueError(
                f"a CodeCache's representation takes the observations of cache.data ((n, 1) flat "
                f"indices), got shape {tokens.shape}: pass cache.data to the metrics, not the dataset"
            )
        index = tokens[:, 0].astype(np.int64)
        if index.size and (index.min() < 0 or index.max() >= self.size):
            raise ValueError(f"flat index out of range [0, {self.size})")
        return index

    def _fill(self, index: np.ndarray) -> None:
        missing = np.unique(index[~self._filled[index]])
        if not missing.size:
            return
        start = time.perf_counter()
        rng = np.random.default_rng(0)  # unused by a deterministic dataset's observe
        for at in range(0, len(missing), self.batch_size):
            chunk = missing[at : at + self.batch_size]
            observations = self._base.observe(index_to_factors(chunk, self.data.factor_sizes), rng)
            means, variances = self._posterior(observations)
            means = np.asarray(means)
            if self._means is None:
                self._means = np.empty((self.size, means.shape[1]), dtype=means.dtype)
                if self.has_variances:
                    self._variances = np.empty((self.size, means.shape[1]), dtype=np.asarray(variances).dtype)
            self._means[chunk] = means
            if self.has_variances:
                self._variances[chunk] = np.asarray(variances)
            self._filled[chunk] = True
        self.encoded += int(missing.size)
        self.encode_seconds += time.perf_counter() - start

    def representation(self, tokens: np.ndarray) -> np.ndarray:
        """The posterior means of the observations ``tokens`` (flat indices from ``cache.data``)."""
        index = self._indices(tokens)
        self._fill(index)
        return self._means[index]

    def posterior(self, tokens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The posterior (means, variances) of the observations ``tokens``.

        Raises ``untwine.estimators.DeterministicCodeError`` for a cache of a deterministic code (built from a
        ``representation``): it has no variances."""
        if not self.has_variances:
            raise DeterministicCodeError(
                "this CodeCache holds a deterministic code (built from a representation): it has no posterior "
                "variances; metrics that need them (active_units, mig_exact) do not apply to such a model"
            )
        index = self._indices(tokens)
        self._fill(index)
        return self._means[index], self._variances[index]

    @classmethod
    def for_model(cls, model, data, batch_size: int = 512) -> "CodeCache":
        """The cache of a trained model: of its posterior, or of its codes alone when its code is deterministic.

        Parameters
        ----------
        model : untwine.models.VAE
            The model; ``model.deterministic`` picks ``representation()`` over ``posterior()``.
        data : object
            A ground-truth dataset whose observations are a function of its factors.
        batch_size : int, default 512
            Observations per forward pass and per fill.

        Returns
        -------
        CodeCache
            ``has_variances`` is False for a deterministic model.
        """
        if getattr(model, "deterministic", False):
            return cls(None, data, batch_size, representation=model.representation(batch_size))
        return cls(model.posterior(batch_size), data, batch_size)

    @property
    def fraction_encoded(self) -> float:
        return float(self._filled.mean())
