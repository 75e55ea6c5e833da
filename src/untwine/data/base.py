"""The ground-truth data contract and a base class that implements its common parts.

A ground-truth dataset is a finite factor space and a way to observe it
(shared/DESIGN.md). Factor *indices* travel between rooms; a flat index maps to
factor indices in mixed radix with the last factor changing fastest, which is the
order of the published dSprites file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch


@runtime_checkable
class GroundTruthData(Protocol):
    """What every room may assume of a dataset, and nothing more."""

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
    """
    return Path(os.environ.get("UNTWINE_DATA", Path.home() / ".cache" / "untwine")).expanduser()


def missing_file(what: str, path: Path, published: str, alternative: str = "") -> FileNotFoundError:
    """The error for a published file that is not where it is looked for: names the
    path, what to put there, and the ways to point untwine elsewhere."""
    return FileNotFoundError(
        f"{what} not found: {path}. untwine never downloads data: put the published {published} there, "
        f"or set UNTWINE_DATA to the directory that holds it, or pass path=...{alternative}"
    )


class GroundTruthDataset(torch.utils.data.Dataset):
    """Base class: factor bookkeeping, uniform sampling, and the torch Dataset face.

    Subclasses set ``name``, ``factor_names``, ``factor_sizes``,
    ``observation_shape`` and implement :meth:`observe` (and usually
    :meth:`factor_values`). Training draws whole batches through
    :meth:`observe`; ``__getitem__`` exists for ``DataLoader`` users.
    """

    name: str = "ground-truth"
    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()
    observation_shape: tuple[int, ...] = ()

    # -- factor space ---------------------------------------------------------
    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes, dtype=np.int64))

    @property
    def _strides(self) -> np.ndarray:
        sizes = np.asarray(self.factor_sizes, dtype=np.int64)
        return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)

    def index_to_factors(self, index: np.ndarray) -> np.ndarray:
        """Flat indices (n,) -> factor indices (n, K), last factor fastest."""
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"flat index out of range [0, {len(self)}) for dataset {self.name!r}")
        return (index[:, None] // self._strides[None, :]) % np.asarray(self.factor_sizes, dtype=np.int64)

    def factors_to_index(self, factors: np.ndarray) -> np.ndarray:
        """Factor indices (n, K) -> flat indices (n,)."""
        factors = self.check_factors(factors)
        return factors @ self._strides

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
        """Physical value of each index of factor k (default: the indices themselves)."""
        return np.arange(self.factor_sizes[k], dtype=np.float64)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n factor vectors, each factor uniform and independent (n, K) int64."""
        return np.stack([rng.integers(0, s, size=n) for s in self.factor_sizes], axis=1).astype(np.int64)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(factors, observations) for n uniformly drawn points."""
        factors = self.sample_factors(n, rng)
        return factors, self.observe(factors, rng)

    def observe(self, factors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    # -- torch Dataset ----------------------------------------------------------
    def __getitem__(self, index: int):
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
