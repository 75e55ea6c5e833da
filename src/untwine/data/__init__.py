"""Ground-truth datasets: a finite factor space and a way to observe it.

``untwine.data.get(name, **options)`` returns a dataset by name; ``DATASETS`` maps
every name to its class (the one place where names live).
"""

from __future__ import annotations

from .base import GroundTruthData, GroundTruthDataset, data_dir
from .dsprites import DSprites, DSpritesNPZ

DATASETS: dict[str, type] = {
    "dsprites": DSprites,
    "dsprites-npz": DSpritesNPZ,
}


def get(name: str, **options) -> GroundTruthDataset:
    """The dataset called ``name``, built with ``options``.

    >>> from untwine import data
    >>> data.get("dsprites").factor_sizes
    (3, 6, 40, 32, 32)
    """
    try:
        cls = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}") from None
    return cls(**options)


def names() -> list[str]:
    return sorted(DATASETS)


__all__ = ["DATASETS", "GroundTruthData", "GroundTruthDataset", "DSprites", "DSpritesNPZ", "data_dir", "get", "names"]
