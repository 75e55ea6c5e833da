"""Factor samplers for training data: uniform, or with the sampling bias of Chen et al. (2018).

Chen, Li, Grosse and Duvenaud, *Isolating Sources of Disentanglement in VAEs* (β-TCVAE,
NeurIPS 2018), train on data whose factors are drawn (a) uniform and independent,
(b) with non-uniform marginals but independent, (c) uncorrelated but dependent, and
(d) correlated, "the most likely sample r times more likely than the least likely".
A sampler here draws the factor indices of training batches in one of those ways.
Metrics keep drawing factors uniformly, as their protocols say: they call
``GroundTruthDataset.sample_factors``, which no sampler changes.

With ``u_i = index_i / (size_i - 1)`` in [0, 1] and a ratio ``r ≥ 1`` (default 10):

- ``uniform``: every factor uniform and independent (the dataset's own ``sample_factors``);
- ``nonuniform``: each listed factor independently, ``p(i) ∝ 1 + (r - 1) u_i`` (a linear ramp, max/min = r);
- ``dependent`` (two factors a, b): ``p(a, b) ∝ 1 + (r - 1) |(2u_a - 1)(2u_b - 1)|``: zero Pearson
  correlation (the table is unchanged when either factor is mirrored), but ``p(b | a)`` depends on a;
- ``correlated`` (two factors): ``p(a, b) ∝ 1 + (r - 1) (1 - |u_a - u_b|)``: positively correlated.

Factors not listed stay uniform and independent of everything. A spec is a dict, as written in a run's
``config.toml`` (``[train.factor_sampler]``)::

    {"kind": "correlated", "factors": ["pos_x", "pos_y"], "ratio": 10}

and ``make_sampler(data, spec)`` builds the sampler; ``None`` or ``{}`` is uniform.
"""

from __future__ import annotations

import math

import numpy as np

#: Keys a factor-sampler spec may have.
SPEC_KEYS = ("kind", "factors", "ratio")
#: The ratio r when a spec gives none: the most likely configuration over the least likely.
DEFAULT_RATIO = 10.0

_EXAMPLE = 'e.g. {kind = "correlated", factors = ["pos_x", "pos_y"], ratio = 10}'


class UniformSampler:
    """Every factor uniform and independent: the dataset's own ``sample_factors``.

    Training with it draws exactly the batches it draws without a sampler (same values, same
    rng consumption).

    Parameters
    ----------
    data : GroundTruthData
        The dataset whose factors are drawn.
    """

    kind = "uniform"
    factors: tuple[int, ...] = ()

    def __init__(self, data):
        self.data = data

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw factor indices.

        Parameters
        ----------
        n : int
            The number of points.
        rng : np.random.Generator
            The source of randomness.

        Returns
        -------
        np.ndarray
            Factor indices (n, K), int64.
        """
        return self.data.sample_factors(n, rng)

    def probabilities(self) -> np.ndarray:
        """The joint table of the factors it biases: none, so the 0-d table 1."""
        return np.ones(())

    def spec(self) -> dict:
        return {}

    def __repr__(self) -> str:
        return f"<UniformSampler of {getattr(self.data, 'name', 'a dataset')!r}>"


class _BiasedSampler:
    """Factors drawn uniformly by the dataset, then the listed ones redrawn from their tables.

    A subclass sets ``kind``, ``num_factors`` (None: one or more) and ``_weights``: unnormalised tables,
    each over a tuple of positions in ``factors``.
    """

    kind = ""
    num_factors: int | None = None

    def __init__(self, data, factors: tuple[int, ...], ratio: float):
        self.data = data
        self.factors = tuple(int(k) for k in factors)
        self.ratio = float(ratio)
        sizes = [int(data.factor_sizes[k]) for k in self.factors]
        #: u_i = index / (size - 1) of each listed factor
        self._u = [np.arange(s, dtype=np.float64) / (s - 1) for s in sizes]
        blocks = []
        for positions, weights in self._weights():
            flat = weights.ravel()
            blocks.append((positions, weights.shape, np.cumsum(flat), flat / flat.sum()))
        self._blocks = blocks

    def _weights(self) -> list[tuple[tuple[int, ...], np.ndarray]]:
        raise NotImplementedError

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(self.data.factor_names[k] for k in self.factors)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """(n, K) int64 factor indices: the dataset's uniform draw, then each biased block drawn by inverting
        its cumulative table with one uniform number per row (so every value is exact up to float rounding)."""
        factors = np.array(self.data.sample_factors(n, rng), dtype=np.int64)
        for positions, shape, cumulative, _ in self._blocks:
            flat = np.searchsorted(cumulative, rng.random(n) * cumulative[-1], side="right")
            flat = np.minimum(flat, cumulative.size - 1)  # rounding at the top end
            for position, index in zip(positions, np.unravel_index(flat, shape)):
                factors[:, self.factors[position]] = index
        return factors

    def probabilities(self) -> np.ndarray:
        """The exact joint probability table of the listed factors, one axis each in the order listed."""
        table = np.ones(())
        order = []
        for positions, shape, _, p in self._blocks:
            table = np.multiply.outer(table, p.reshape(shape))
            order.extend(positions)
        return np.transpose(table, np.argsort(order))

    def spec(self) -> dict:
        return {"kind": self.kind, "factors": list(self.factor_names), "ratio": self.ratio}

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self.kind} on {', '.join(self.factor_names)} of "
            f"{getattr(self.data, 'name', 'a dataset')!r}, ratio {self.ratio:g}>"
        )


class NonUniformSampler(_BiasedSampler):
    """Non-uniform but independent (configuration (b) of Chen et al. 2018).

    Each listed factor on its own, ``p(i) ∝ 1 + (r - 1) u_i``, a ramp from 1 at the first value
    to r at the last.

    Parameters
    ----------
    data : GroundTruthData
        The dataset whose factors are drawn.
    factors : tuple of int
        The positions of the biased factors in ``data.factor_names``.
    ratio : float
        r ≥ 1: the most likely configuration over the least likely.
    """

    kind = "nonuniform"

    def _weights(self):
        return [((position,), 1.0 + (self.ratio - 1.0) * u) for position, u in enumerate(self._u)]


class DependentSampler(_BiasedSampler):
    """Uncorrelated but dependent (configuration (c)): ``p(a, b) ∝ 1 + (r - 1) |(2u_a - 1)(2u_b - 1)|``.

    Mirroring either factor (u → 1 - u) leaves the table unchanged, so the covariance is exactly
    zero; but an extreme a makes extreme values of b likely, and a middle a leaves b nearly
    uniform. The ratio of the most to the least likely pair is r when one factor has an odd number
    of values (a middle value, weight 1), a little less otherwise.

    Parameters
    ----------
    data : GroundTruthData
        The dataset whose factors are drawn.
    factors : tuple of int
        The positions of the two biased factors in ``data.factor_names``.
    ratio : float
        r ≥ 1: the most likely configuration over the least likely.
    """

    kind = "dependent"
    num_factors = 2

    def _weights(self):
        a, b = (np.abs(2.0 * u - 1.0) for u in self._u)
        return [((0, 1), 1.0 + (self.ratio - 1.0) * np.multiply.outer(a, b))]


class CorrelatedSampler(_BiasedSampler):
    """Correlated (configuration (d)): ``p(a, b) ∝ 1 + (r - 1) (1 - |u_a - u_b|)``.

    Most likely along the diagonal u_a = u_b (weight r), least likely at the opposite corners
    (weight 1).

    Parameters
    ----------
    data : GroundTruthData
        The dataset whose factors are drawn.
    factors : tuple of int
        The positions of the two biased factors in ``data.factor_names``.
    ratio : float
        r ≥ 1: the most likely configuration over the least likely.
    """

    kind = "correlated"
    num_factors = 2

    def _weights(self):
        ua, ub = self._u
        return [((0, 1), 1.0 + (self.ratio - 1.0) * (1.0 - np.abs(np.subtract.outer(ua, ub))))]


#: kind -> sampler class (the one place where kinds are named)
SAMPLERS: dict[str, type] = {
    cls.kind: cls for cls in (UniformSampler, NonUniformSampler, DependentSampler, CorrelatedSampler)
}


def check_spec(spec, factor_names=None, factor_sizes=None, dataset: str = "the dataset") -> dict:
    """Check a factor-sampler spec and return it in full.

    Factor names are checked when ``factor_names`` is given, sizes when ``factor_sizes`` is
    given too.

    Parameters
    ----------
    spec : dict or None
        The spec, as in a run's ``[train.factor_sampler]``; None or ``{}`` is uniform.
    factor_names : sequence of str, optional
        The dataset's factor names.
    factor_sizes : sequence of int, optional
        The dataset's factor sizes (with ``factor_names``).
    dataset : str, default "the dataset"
        How messages name the dataset.

    Returns
    -------
    dict
        ``{}`` for uniform, else ``kind``, ``factors`` (a list of names) and ``ratio`` (a float).

    Raises
    ------
    ValueError
        If the spec is malformed; the message names the problem and the fix.
    """
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise ValueError(f"factor_sampler must be a table (dict), got {spec!r}; {_EXAMPLE}, or {{}} for uniform")
    unknown = sorted(str(key) for key in set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ValueError(
            f"factor_sampler has no key {', '.join(repr(k) for k in unknown)}; valid keys: "
            f"{', '.join(SPEC_KEYS)} ({_EXAMPLE})"
        )
    if not spec:
        return {}
    kinds = ", ".join(SAMPLERS)
    if "kind" not in spec:
        raise ValueError(f"factor_sampler needs a kind, one of {kinds} ({_EXAMPLE})")
    kind = spec["kind"]
    if not isinstance(kind, str) or kind not in SAMPLERS:
        raise ValueError(f"factor_sampler: unknown kind {kind!r}; valid kinds: {kinds} ({_EXAMPLE})")
    named = f" of {dataset}: {', '.join(factor_names)}" if factor_names is not None else ""
    if kind == "uniform":
        extra = sorted(set(spec) - {"kind"})
        if extra:
            raise ValueError(
                f"factor_sampler kind 'uniform' takes no {' or '.join(extra)}: remove them, or choose "
                f"a biased kind ({kinds})"
            )
        return {}
    cls = SAMPLERS[kind]
    needed = "exactly two factors" if cls.num_factors == 2 else "one or more factors"
    if "factors" not in spec:
        raise ValueError(f"factor_sampler kind {kind!r} needs factors = [...], {needed} to bias by name{named}")
    factors = spec["factors"]
    if not isinstance(factors, list) or not all(isinstance(name, str) for name in factors):
        raise ValueError(f"factor_sampler factors must be a list of factor names, got {factors!r}{named}")
    if cls.num_factors is not None and len(factors) != cls.num_factors:
        raise ValueError(
            f"factor_sampler kind {kind!r} takes {needed}, got {len(factors)} ({factors}); name two{named}"
        )
    if not factors:
        raise ValueError(f"factor_sampler kind {kind!r} takes {needed}, got none; name them{named}")
    twice = sorted({name for name in factors if factors.count(name) > 1})
    if twice:
        raise ValueError(f"factor_sampler lists factor {', '.join(map(repr, twice))} twice; name each factor once")
    if factor_names is not None:
        for name in factors:
            if name not in factor_names:
                raise ValueError(f"factor_sampler: {name!r} is not a factor{named}")
        if factor_sizes is not None:
            for name in factors:
                size = int(factor_sizes[list(factor_names).index(name)])
                if size < 2:
                    raise ValueError(
                        f"factor_sampler: factor {name!r} of {dataset} has {size} value, so there is "
                        f"nothing to bias; choose a factor with two or more values"
                    )
    ratio = spec.get("ratio", DEFAULT_RATIO)
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not math.isfinite(ratio) or ratio < 1:
        raise ValueError(
            f"factor_sampler ratio must be a number ≥ 1 (how much more likely the most likely "
            f"configuration is than the least likely; default {DEFAULT_RATIO:g}), got {ratio!r}"
        )
    return {"kind": kind, "factors": list(factors), "ratio": float(ratio)}


def make_sampler(data, spec: dict | None = None):
    """The sampler of ``spec`` over the factors of ``data``.

    Parameters
    ----------
    data : GroundTruthData
        The dataset whose factors are drawn.
    spec : dict, optional
        A factor-sampler spec (see ``check_spec``).

    Returns
    -------
    object
        A ``UniformSampler`` for None, ``{}`` or ``{"kind": "uniform"}``, else the biased sampler
        of its kind; each has ``sample(n, rng)``, ``probabilities()`` and ``spec()``.

    Raises
    ------
    ValueError
        If the spec is malformed or names factors ``data`` does not have.
    """
    full = check_spec(
        spec, tuple(data.factor_names), tuple(data.factor_sizes), dataset=repr(getattr(data, "name", "the dataset"))
    )
    if not full:
        return UniformSampler(data)
    names = list(data.factor_names)
    return SAMPLERS[full["kind"]](data, tuple(names.index(name) for name in full["factors"]), full["ratio"])


__all__ = [
    "SAMPLERS",
    "SPEC_KEYS",
    "DEFAULT_RATIO",
    "UniformSampler",
    "NonUniformSampler",
    "DependentSampler",
    "CorrelatedSampler",
    "check_spec",
    "make_sampler",
]
