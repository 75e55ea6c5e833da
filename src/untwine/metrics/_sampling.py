"""Drawing points from a ground-truth dataset and encoding them in bounded batches.

The metrics rely only on the data contract (docs/design.md): ``name``,
``factor_names``, ``factor_sizes``, ``observation_shape``,
``sample_factors(n, rng)`` and ``observe(factors, rng)``. A representation is any
callable numpy observations (n, ...) -> codes (n, d).

Speed without changing a value: a sampler first draws *all* factor vectors it
needs with the metric's rng, in the order a point-by-point loop would draw them,
then observes and encodes them in large batches (at most ``batch_size`` points
per call to the representation, never all points in one call).
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

DEFAULT_BATCH_SIZE = 1024

Representation = Callable[[np.ndarray], np.ndarray]


def check_data(data, *, metric: str) -> None:
    """Raise a clear error when ``data`` lacks what every sampled metric needs."""
    missing = [a for a in ("factor_sizes", "sample_factors", "observe") if not hasattr(data, a)]
    if missing:
        raise TypeError(
            f"metric {metric!r} needs a ground-truth dataset with factor_sizes, sample_factors(n, rng) "
            f"and observe(factors, rng); {type(data).__name__} lacks {', '.join(missing)}"
        )


def check_batch_size(batch_size: int) -> int:
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def sample_factors(data, n: int, rng: np.random.Generator) -> np.ndarray:
    """``data.sample_factors`` with its output checked against the contract."""
    f = np.asarray(data.sample_factors(int(n), rng))
    k = len(data.factor_sizes)
    if f.shape != (n, k):
        raise ValueError(f"{type(data).__name__}.sample_factors({n}, rng) returned shape {f.shape}, expected {(n, k)}")
    return f.astype(np.int64, copy=False)


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def encode_batch(function: Callable, observations: np.ndarray, n: int, what: str = "representation"):
    """Call a representation on one batch and check it returns (n, d)."""
    out = np.asarray(function(observations))
    if out.ndim != 2 or out.shape[0] != n:
        raise ValueError(
            f"the {what} must map observations (n, ...) to codes (n, d); for n={n} it returned shape {out.shape}"
        )
    return out


def encode_factors(
    representation: Representation,
    data,
    factors: np.ndarray,
    rng: np.random.Generator,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """Observe ``factors`` (n, K) and encode them, at most ``batch_size`` points per call."""
    batch_size = check_batch_size(batch_size)
    n = factors.shape[0]
    parts = []
    for s in _chunks(n, batch_size):
        obs = data.observe(factors[s], rng)
        parts.append(encode_batch(representation, obs, s.stop - s.start))
    if not parts:
        raise ValueError("cannot encode zero points")
    return np.concatenate(parts, axis=0).astype(np.float64, copy=False)


def posterior_factors(
    posterior: Callable, data, factors: np.ndarray, rng: np.random.Generator, batch_size: int = DEFAULT_BATCH_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Observe ``factors`` and return the posterior (mean, variance), each (n, d), in batches.

    ``posterior(observations) -> (mean, variance)`` is the documented interface for
    metrics that need q(z|x) (mig_exact, active_units, udr): numpy in, numpy out.
    """
    batch_size = check_batch_size(batch_size)
    n = factors.shape[0]
    means, variances = [], []
    for s in _chunks(n, batch_size):
        obs = data.observe(factors[s], rng)
        out = posterior(obs)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("posterior(observations) must return a tuple (mean, variance) of arrays (n, d)")
        m, v = (np.asarray(x, dtype=np.float64) for x in out)
        if m.ndim != 2 or m.shape != v.shape or m.shape[0] != s.stop - s.start:
            raise ValueError(f"posterior must return mean and variance of shape (n, d); got {m.shape}, {v.shape}")
        means.append(m)
        variances.append(v)
    return np.concatenate(means), np.concatenate(variances)


def sample_codes(
    representation: Representation,
    data,
    num_points: int,
    rng: np.random.Generator,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``num_points`` factor vectors uniformly, observe and encode them.

    Returns (codes (n, d) float64, factors (n, K) int64). The factors are drawn
    first, then observations (whose nuisance noise uses the same rng).
    """
    factors = sample_factors(data, num_points, rng)
    return encode_factors(representation, data, factors, rng, batch_size), factors
