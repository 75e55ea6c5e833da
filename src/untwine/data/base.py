"""The ground-truth data contract and a base class that implements its common parts.

A ground-truth dataset is a finite factor space and a way to observe it
(docs/design.md). Factor *indices* travel between rooms; a flat index maps to
factor indices in mixed radix with the last factor changing fastest, which is the
order of the published dSprites file. ``index_to_factors``,
``factors_to_index`` and ``all_factors`` are that enumeration, written
once for every room.

A dataset class describes itself: its registry ``name``, where its observations
come from (``source``), the ``files`` it reads (and whether any one of them is
enough, ``any_file``), and whether ``observe`` draws
nuisance noise from its rng (``draws_nuisance``). An instance knows the options it
was built with: ``spec`` returns them, and
``untwine.data.get(**dataset.spec())`` rebuilds it.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

#: Where a dataset's observations come from (the ``source`` class attribute).
SOURCE_KINDS = ("procedural", "bundled", "file")


@runtime_checkable
class GroundTruthData(Protocol):
    """What every room may assume of a dataset, and nothing more.

    A dataset has a ``name``, ``factor_names``, ``factor_sizes`` and an ``observation_shape``;
    ``factor_values(k)`` gives the physical value of each index of factor k,
    ``sample_factors(n, rng)`` draws integer factor indices (n, K), and
    ``observe(factors, rng)`` renders their observations (n, *observation_shape). It is a
    runtime-checkable protocol: ``isinstance(data, GroundTruthData)`` checks the names.
    """

    name: str
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    observation_shape: tuple[int, ...]

    def factor_values(self, k: int) -> np.ndarray: ...

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray: ...

    def observe(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray: ...


def data_dir() -> Path:
    """The directory where published dataset files are looked for.

    ``$UNTWINE_DATA`` if set, else ``~/.cache/untwine``. Nothing is ever downloaded.

    Returns
    -------
    Path
        The directory (it may not exist).
    """
    return Path(os.environ.get("UNTWINE_DATA", Path.home() / ".cache" / "untwine")).expanduser()


def missing_file(what: str, path: Path, published: str, alternative: str = "") -> FileNotFoundError:
    """The error for a published file that is not where it is looked for: names the
    path, what to put there, and the ways to point untwine elsewhere."""
    return FileNotFoundError(
        f"{what} not found: {path}. untwine never downloads data: put the published {published} there, "
        f"or set UNTWINE_DATA to the directory that holds it, or pass path=...{alternative}"
    )


# -- mixed radix: flat index <-> factor indices, the last factor fastest -------------------


def _sizes(factor_sizes) -> np.ndarray:
    sizes = np.asarray(factor_sizes, dtype=np.int64)
    if sizes.ndim != 1 or (sizes < 1).any():
        raise ValueError(f"factor_sizes must be a sequence of positive integers, got {factor_sizes!r}")
    return sizes


def factor_strides(factor_sizes) -> np.ndarray:
    """How far the flat index moves when factor k moves by one (the last factor's stride is 1).

    Parameters
    ----------
    factor_sizes : sequence of int
        The number of values of each factor.

    Returns
    -------
    np.ndarray
        The strides, (K,) int64.

    Raises
    ------
    ValueError
        If ``factor_sizes`` is not a sequence of positive integers.
    """
    sizes = _sizes(factor_sizes)
    return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)


def _unravel(index: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    return (index[:, None] // factor_strides(sizes)[None, :]) % sizes[None, :]


def index_to_factors(index, factor_sizes) -> np.ndarray:
    """Flat indices (n,) -> factor indices (n, K) int64, in mixed radix with the last factor fastest.

    The same as ``np.stack(np.unravel_index(index, factor_sizes), axis=1)``, the
    order of the published dSprites file.

    Parameters
    ----------
    index : array_like
        Flat indices (n,) (a scalar is taken as one index).
    factor_sizes : sequence of int
        The number of values of each factor.

    Returns
    -------
    np.ndarray
        Factor indices (n, K), int64.

    Raises
    ------
    IndexError
        If an index lies outside [0, prod(factor_sizes)).
    ValueError
        If ``index`` is not one-dimensional, or ``factor_sizes`` not a sequence of positive
        integers.
    """
    sizes = _sizes(factor_sizes)
    index = np.atleast_1d(np.asarray(index)).astype(np.int64, copy=False)
    if index.ndim != 1:
        raise ValueError(f"flat indices must have shape (n,), got {index.shape}")
    total = int(np.prod(sizes, dtype=np.int64))
    if index.size and (index.min() < 0 or index.max() >= total):
        raise IndexError(f"flat index out of range [0, {total}) for factor sizes {tuple(int(s) for s in sizes)}")
    return _unravel(index, sizes)


def factors_to_index(factors, factor_sizes) -> np.ndarray:
    """Factor indices (n, K) -> flat indices (n,) int64; the inverse of ``index_to_factors``.

    The same as ``np.ravel_multi_index(factors.T, factor_sizes)``.

    Parameters
    ----------
    factors : array_like
        Factor indices (n, K).
    factor_sizes : sequence of int
        The number of values of each factor.

    Returns
    -------
    np.ndarray
        Flat indices (n,), int64.

    Raises
    ------
    ValueError
        If ``factors`` is not (n, K), a factor index lies outside [0, factor_sizes[k]), or
        ``factor_sizes`` is not a sequence of positive integers.
    """
    sizes = _sizes(factor_sizes)
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[1] != len(sizes):
        raise ValueError(f"factors must have shape (n, {len(sizes)}), got {factors.shape}")
    factors = factors.astype(np.int64, copy=False)
    if factors.size and ((factors < 0) | (factors >= sizes[None, :])).any():
        raise ValueError(f"factor indices out of range for factor sizes {tuple(int(s) for s in sizes)}")
    return factors @ factor_strides(sizes)


def all_factors(factor_sizes) -> np.ndarray:
    """Every point of the factor space, in flat-index order.

    Parameters
    ----------
    factor_sizes : sequence of int
        The number of values of each factor.

    Returns
    -------
    np.ndarray
        Factor indices (prod(factor_sizes), K), int64.

    Raises
    ------
    ValueError
        If ``factor_sizes`` is not a sequence of positive integers.
    """
    sizes = _sizes(factor_sizes)
    return _unravel(np.arange(int(np.prod(sizes, dtype=np.int64)), dtype=np.int64), sizes)


def _jsonable(value):
    """Constructor options as JSON values: paths as strings, tuples as lists, numpy scalars as Python ones."""
    if isinstance(value, os.PathLike):
        return os.path.abspath(os.fspath(value))
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


class GroundTruthDataset(torch.utils.data.Dataset):
    """Base class: factor bookkeeping, uniform sampling, its own spec, and the torch Dataset face.

    Subclasses set ``name`` (the registry name), ``factor_names``,
    ``factor_sizes``, ``observation_shape``, where observations come from
    (``source``, ``files``, ``any_file``) and ``draws_nuisance``; they implement
    ``observe`` (and usually ``factor_values``), and a constructor with
    options calls ``_record_options`` so that ``spec`` can rebuild it.
    Training draws whole batches through ``observe``; ``__getitem__`` exists
    for ``DataLoader`` users.
    """

    name: str = "ground-truth"
    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()
    observation_shape: tuple[int, ...] = ()
    #: "procedural" (rendered here), "bundled" (ships with an installed package) or
    #: "file" (published files read from the data directory)
    source: str = "procedural"
    #: files (relative to the data directory) that the dataset reads
    files: tuple[str, ...] = ()
    #: True when any one of ``files`` is enough (e.g. scream.jpg or scream.png)
    any_file: bool = False
    #: True when ``observe`` draws nuisance noise from its rng (which it then requires)
    draws_nuisance: bool = False

    # -- what it is and how to rebuild it ------------------------------------------
    @classmethod
    def expected_paths(cls) -> list[Path]:
        """Where each of ``files`` is looked for (in the data directory, now)."""
        return [data_dir() / name for name in cls.files]

    @classmethod
    def default_path(cls) -> Path:
        """Where the first of ``files`` is looked for."""
        return data_dir() / cls.files[0]

    def _record_options(self, **options) -> None:
        """Remember the constructor options for ``spec``.

        None (the default) is left out; paths (``os.PathLike``, or a string given as
        an option called ``path``) are stored as absolute path strings, so that the
        spec rebuilds the dataset from any working directory; tuples become lists.
        """
        options = {
            key: Path(value) if key == "path" and isinstance(value, str) else value
            for key, value in options.items()
            if value is not None
        }
        self._options = {key: _jsonable(value) for key, value in options.items()}

    def spec(self) -> dict:
        """The dataset's registry name and constructor options, JSON-able.

        ``untwine.data.get(**dataset.spec())`` builds an equivalent dataset (same factors, same
        observations for the same factors and rng).

        Returns
        -------
        dict
            ``{"name": registry name, "options": constructor options}``.
        """
        return {"name": self.name, "options": copy.deepcopy(getattr(self, "_options", {}))}

    # -- factor space ---------------------------------------------------------
    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes, dtype=np.int64))

    @property
    def num_observations(self) -> int:
        """How many distinct observations the dataset has: N of the estimators that need the dataset size.

        ``prod(factor_sizes)`` (one image per point of the factor space) unless
        ``observe`` picks among several images of each point (SmallNORB: one of
        10 instances, 48,600 images for 4,860 points), which a subclass then says.
        Noise drawn anew on every call (the noisy, colour and scream variants) is not
        counted: those datasets count their factor points. The minibatch stratified
        estimator of β-TCVAE (``untwine.estimators``) weighs each sample's own
        posterior by 1/N, and ``untwine.metrics.elbo_decomposition`` mixes N posteriors.
        """
        return len(self)

    def observations_at(self, index, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The distinct observations with flat indices ``index``, and their factors.

        As ``index`` runs over ``range(num_observations)`` this gives every observation of the
        dataset, once. Default: observation i is the point of the factor space with flat index i,
        through ``observe`` (which draws its nuisance noise, if any, from ``rng``). A dataset
        with several images per point (SmallNORB) enumerates them all.

        Parameters
        ----------
        index : array_like
            Flat indices (n,) in [0, ``num_observations``).
        rng : np.random.Generator, optional
            Passed to ``observe``; required by a dataset that draws nuisance noise.

        Returns
        -------
        tuple of np.ndarray
            (factors (n, K), observations (n, *observation_shape)).
        """
        index = np.atleast_1d(np.asarray(index)).astype(np.int64, copy=False)
        factors = self.index_to_factors(index)
        return factors, self.observe(factors, rng)

    def index_to_factors(self, index: np.ndarray) -> np.ndarray:
        """Flat indices (n,) -> factor indices (n, K), last factor fastest (see ``index_to_factors``).

        Parameters
        ----------
        index : np.ndarray
            Flat indices (n,).

        Returns
        -------
        np.ndarray
            Factor indices (n, K), int64.

        Raises
        ------
        IndexError
            If an index lies outside [0, len(dataset)).
        """
        index = np.atleast_1d(np.asarray(index)).astype(np.int64, copy=False)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"flat index out of range [0, {len(self)}) for dataset {self.name!r}")
        return _unravel(index, _sizes(self.factor_sizes))

    def factors_to_index(self, factors: np.ndarray) -> np.ndarray:
        """Factor indices (n, K) -> flat indices (n,) (see ``factors_to_index``).

        Parameters
        ----------
        factors : np.ndarray
            Factor indices (n, K).

        Returns
        -------
        np.ndarray
            Flat indices (n,), int64.

        Raises
        ------
        ValueError
            If ``factors`` is not (n, K) or an index is out of its factor's range.
        """
        factors = self.check_factors(factors)
        return factors @ factor_strides(self.factor_sizes)

    def check_factors(self, factors: np.ndarray) -> np.ndarray:
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != self.num_factors:
            raise ValueError(
                f"factors for {self.name!r} must have shape (n, {self.num_factors}) "
                f"[{', '.join(self.factor_names)}], got {factors.shape}"
            )
        if factors.size:
            sizes = np.asarray(self.factor_sizes)
            bad = (factors < 0) | (factors >= sizes[None, :])
            if bad.any():
                k = int(np.nonzero(bad.any(axis=0))[0][0])
                raise ValueError(
                    f"factor {self.factor_names[k]!r} of {self.name!r} takes indices 0..{sizes[k] - 1}, "
                    f"got {int(factors[bad.any(axis=1)][0, k])}"
                )
        return factors.astype(np.int64, copy=False)

    def factor_values(self, k: int) -> np.ndarray:
        """Physical value of each index of factor k (default: the indices themselves).

        Parameters
        ----------
        k : int
            The factor's position in ``factor_names``.

        Returns
        -------
        np.ndarray
            The values (factor_sizes[k],).
        """
        return np.arange(self.factor_sizes[k], dtype=np.float64)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n factor vectors, each factor uniform and independent.

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
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1).astype(np.int64)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Factors and observations of n uniformly drawn points.

        Parameters
        ----------
        n : int
            The number of points.
        rng : np.random.Generator
            Draws the factors, then any nuisance noise of the observations.

        Returns
        -------
        tuple of np.ndarray
            (factors (n, K), observations (n, *observation_shape)).
        """
        factors = self.sample_factors(n, rng)
        return factors, self.observe(factors, rng)

    def observe(self, factors: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Observations of factor indices.

        Parameters
        ----------
        factors : np.ndarray
            Factor indices (n, K).
        rng : np.random.Generator, optional
            A dataset that draws nuisance noise (``draws_nuisance``) requires it; a deterministic
            one ignores it, and None is then fine.

        Returns
        -------
        np.ndarray
            Observations (n, *observation_shape), float32.
        """
        raise NotImplementedError

    def _require_rng(self, rng: np.random.Generator | None) -> np.random.Generator:
        """``rng`` itself; a clear error when it is None (no silent unseeded fallback)."""
        if rng is None:
            raise ValueError(
                f"dataset {self.name!r} draws nuisance noise in observe: pass an explicit "
                f"rng, e.g. observe(factors, np.random.default_rng(seed))"
            )
        return rng

    # -- torch Dataset ----------------------------------------------------------
    def __getitem__(self, index: int):
        # seeded by the index: the same item is the same image every time
        factors = self.index_to_factors(np.array([index]))
        image = self.observe(factors, np.random.default_rng(index))
        return torch.from_numpy(image[0]), torch.from_numpy(factors[0])

    def describe(self) -> dict:
        """A JSON-able description: name, factors and observation shape."""
        return {
            "name": self.name,
            "factor_names": list(self.factor_names),
            "factor_sizes": list(self.factor_sizes),
            "observation_shape": list(self.observation_shape),
        }

    def __repr__(self) -> str:
        factors = ", ".join(f"{n}={s}" for n, s in zip(self.factor_names, self.factor_sizes))
        return f"<{type(self).__name__} {self.name!r}: {factors}; observations {self.observation_shape}>"
