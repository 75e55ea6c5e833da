"""A regular sub-grid of a dataset's factor space: every s-th value of some factors.

Some computations visit every observation of a dataset: the ELBO decomposition of Chen et al.
(2018, seed 000; ``untwine.metrics.elbo_decomposition``) encodes all N observations and
mixes their N posteriors, and dSprites has N = 737,280, minutes of encoding per model on a
CPU. A sub-grid is a smaller dataset of the same kind, still a full product of factor values
(every kept value of one factor appears with every kept value of the others, so factors stay
uniform and independent), for experiments that cannot afford the whole grid:

>>> from untwine import data
>>> from untwine.data.subgrid import SubGrid
>>> small = SubGrid(data.get("dsprites"), {"orientation": 4, "pos_x": 4, "pos_y": 4})
>>> small.factor_sizes, small.num_observations
((3, 6, 10, 8, 8), 11520)

Factor k keeps the base indices ``0, s, 2s, ... < size`` (``s = every[name]``, 1 for factors
not named); indices, sizes and ``factor_values`` are the sub-grid's own, and ``observe``
renders the base dataset's observation of the corresponding base point. Quantities that depend
on N (the index-code mutual information is at most log N, the mixture q(z) of the
decomposition has N components) are those of the sub-grid, not of the base dataset.
"""

from __future__ import annotations

import numpy as np

from .base import GroundTruthDataset

__all__ = ["SubGrid"]


class SubGrid(GroundTruthDataset):
    """The sub-grid of ``base`` that keeps every ``every[name]``-th value of the named factors (all values of the others).

    Parameters
    ----------
    base : GroundTruthData
        A dataset that follows the data contract (``factor_names``, ``factor_sizes``,
        ``observation_shape``, ``observe``) and has one observation per point of its factor
        space (not SmallNORB's several instances).
    every : dict
        Factor name -> step ≥ 1: keep every step-th value of that factor, e.g. ``{"pos_x": 4}``.

    Raises
    ------
    TypeError
        If ``base`` does not follow the data contract, or ``every`` is not a dict.
    ValueError
        If ``every`` names a factor ``base`` does not have or a step that is not an integer ≥ 1,
        or ``base`` has several observations per point.
    """

    def __init__(self, base, every: dict):
        names = tuple(getattr(base, "factor_names", ()))
        sizes = tuple(int(s) for s in getattr(base, "factor_sizes", ()))
        if not names or len(names) != len(sizes) or not hasattr(base, "observe"):
            raise TypeError(
                f"base must be a ground-truth dataset (factor_names, factor_sizes, observe); got {type(base).__name__}"
            )
        if not isinstance(every, dict):
            raise TypeError(f"every must be a dict of factor name -> step, e.g. {{'pos_x': 4}}; got {every!r}")
        unknown = sorted(set(every) - set(names))
        if unknown:
            raise ValueError(
                f"{getattr(base, 'name', 'the dataset')!r} has no factor {', '.join(map(repr, unknown))}; "
                f"its factors: {', '.join(names)}"
            )
        for name, step in every.items():
            if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
                raise ValueError(f"every[{name!r}] must be an integer ≥ 1 (keep every step-th value), got {step!r}")
        points = int(np.prod(sizes, dtype=np.int64))
        observations = int(getattr(base, "num_observations", points))
        if observations != points:
            raise ValueError(
                f"{getattr(base, 'name', 'the dataset')!r} has {observations:,} observations for "
                f"{points:,} points of its factor space (several images per point); a sub-grid of "
                f"its factor space would not say which of them it holds"
            )
        self.base = base
        self.every = {name: int(every.get(name, 1)) for name in names}
        #: base indices kept, per factor
        self.kept = tuple(np.arange(0, size, self.every[name], dtype=np.int64) for name, size in zip(names, sizes))
        self.name = f"{getattr(base, 'name', 'dataset')}-subgrid"
        self.factor_names = names
        self.factor_sizes = tuple(len(k) for k in self.kept)
        self.observation_shape = tuple(base.observation_shape)
        self.draws_nuisance = bool(getattr(base, "draws_nuisance", False))

    def base_factors(self, factors: np.ndarray) -> np.ndarray:
        """Sub-grid factor indices (n, K) -> the base dataset's factor indices (n, K)."""
        factors = self.check_factors(factors)
        out = np.empty_like(factors)
        for k, kept in enumerate(self.kept):
            out[:, k] = kept[factors[:, k]]
        return out

    def factor_values(self, k: int) -> np.ndarray:
        """The base's physical values at the kept indices (the base's indices where it has no values)."""
        try:
            values = np.asarray(self.base.factor_values(k), dtype=np.float64)
        except (AttributeError, NotImplementedError):
            values = np.arange(self.base.factor_sizes[k], dtype=np.float64)
        return values[self.kept[k]]

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """The base dataset's observations of the corresponding base points (its nuisance, if any, from ``rng``)."""
        return self.base.observe(self.base_factors(factors), rng)

    def spec(self) -> dict:
        raise NotImplementedError(
            "a sub-grid is a view of another dataset, not a registered one: rebuild it with "
            "SubGrid(untwine.data.get(**base_spec), every), see describe()"
        )

    def describe(self) -> dict:
        """The sub-grid's factors and shape, with the base it was cut from and the steps."""
        base = self.base.describe() if hasattr(self.base, "describe") else {"name": getattr(self.base, "name", "")}
        return {**super().describe(), "subgrid_of": base, "every": dict(self.every)}

    def __repr__(self) -> str:
        steps = ", ".join(f"{name}/{step}" for name, step in self.every.items() if step > 1) or "every value"
        return f"<SubGrid of {getattr(self.base, 'name', 'a dataset')!r}: {steps}, {len(self):,} points>"
