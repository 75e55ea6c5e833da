"""Ground-truth datasets: a finite factor space and a way to observe it.

Each dataset is one class that describes itself (see :class:`GroundTruthDataset`):
its registry ``name``, its ``source`` ("procedural", "bundled" or "file"), the
``files`` it reads and whether any one of them is enough (``any_file``).
``DATASETS`` maps every name to its class, built from the classes themselves (the
one place where names live): adding a dataset is one class in one file, listed in
``_CLASSES`` below. ``untwine.data.get(name, **options)`` builds one, and
``get(**dataset.spec())`` rebuilds it; :func:`catalog` says for each whether it is
rendered here or read from a file, and whether that file is present.

The data room imports nothing above it: a perturbed-dataset description
(``*.json``) is read here (:func:`read_description`) but rebuilt with its run's
encoder by ``untwine.runs.load_dataset(path)``.
"""

from __future__ import annotations

from pathlib import Path

from .base import (SOURCE_KINDS, GroundTruthData, GroundTruthDataset, all_factors, data_dir, factor_strides,
                   factors_to_index, index_to_factors)
from .dsprites import DSprites, DSpritesNPZ
from .dsprites_variants import ColorDSprites, NoisyDSprites, ScreamDSprites
from .files import Cars3D, MPI3DReal, MPI3DRealistic, MPI3DToy, SmallNORB
from .perturb import PatternFactor, PerturbedDataset, from_description, perturb, perturb_lowest_mig, read_description
from .shapes3d import Shapes3D, Shapes3DH5
from .small import Digits, Pinwheel
from .subgrid import SubGrid

_CLASSES: tuple[type[GroundTruthDataset], ...] = (
    DSprites, DSpritesNPZ, ColorDSprites, NoisyDSprites, ScreamDSprites, Shapes3D, Shapes3DH5, Cars3D, SmallNORB,
    MPI3DToy, MPI3DRealistic, MPI3DReal, Pinwheel, Digits, PatternFactor,
)


def _registry(classes) -> dict[str, type[GroundTruthDataset]]:
    registry: dict[str, type[GroundTruthDataset]] = {}
    for cls in classes:
        if cls.name in registry:
            raise RuntimeError(f"two datasets are called {cls.name!r}: {registry[cls.name].__name__}, {cls.__name__}")
        if cls.source not in SOURCE_KINDS:
            raise RuntimeError(f"{cls.__name__}.source is {cls.source!r}, not one of {SOURCE_KINDS}")
        registry[cls.name] = cls
    return registry


#: name -> class, from each class's ``name``
DATASETS: dict[str, type[GroundTruthDataset]] = _registry(_CLASSES)


def get(name: str, options: dict | None = None, **more_options) -> GroundTruthDataset:
    """The dataset called ``name``, built with its options.

    Options are keyword arguments, or one dict ``options``, so that both
    ``get("pinwheel", num_arms=3)`` and ``get(**dataset.spec())`` work.
    A perturbed-dataset description (``*.json``) is not a name: use
    ``untwine.runs.load_dataset(path)``.

    >>> from untwine import data
    >>> data.get("dsprites").factor_sizes
    (3, 6, 40, 32, 32)
    """
    if isinstance(name, (str, Path)) and str(name).endswith(".json"):
        raise ValueError(f"{str(name)!r} is a perturbed-dataset description, not a dataset name: the data room does "
                         f"not open runs; use untwine.runs.load_dataset({str(name)!r})")
    try:
        cls = DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))} (a perturbed-dataset "
                         f"description, *.json, is read by untwine.runs.load_dataset)") from None
    if options is not None and not isinstance(options, dict):
        raise ValueError(f"options for dataset {name!r} must be a dict, got {type(options).__name__}")
    clash = sorted(set(options or {}) & set(more_options))
    if clash:
        raise ValueError(f"option(s) {', '.join(clash)} of dataset {name!r} given twice (in options and as keywords)")
    options = {**(options or {}), **more_options}
    try:
        return cls(**options)
    except TypeError as error:
        raise ValueError(f"bad options {options} for dataset {name!r}: {error}") from None


def names() -> list[str]:
    return sorted(DATASETS)


def catalog() -> list[dict]:
    """One dict per dataset: name, kind, files looked for, present, path, description.

    ``kind`` is the class's ``source``: "procedural" (rendered here), "bundled"
    (ships with an installed package) or "file" (published files read from
    :func:`data_dir`). ``present`` is True when nothing is missing; ``path`` is
    where the (first) file is looked for, or, when any one file is enough, the
    first one found.
    """
    entries = []
    for name in names():
        cls = DATASETS[name]
        files = cls.expected_paths()
        if not files:
            present = True
        elif cls.any_file:
            present = any(f.exists() for f in files)
        else:
            present = all(f.exists() for f in files)
        found = [f for f in files if f.exists()]
        doc = (cls.__doc__ or "").strip().splitlines()
        entries.append({
            "name": name,
            "kind": cls.source,
            "files": [str(f) for f in files],
            "present": present,
            "path": str(found[0] if found and cls.any_file else files[0]) if files else None,
            "description": doc[0] if doc else "",
        })
    return entries


__all__ = [
    "DATASETS", "GroundTruthData", "GroundTruthDataset", "DSprites", "DSpritesNPZ", "ColorDSprites",
    "NoisyDSprites", "ScreamDSprites", "Shapes3D", "Shapes3DH5", "Cars3D", "SmallNORB", "MPI3DToy",
    "MPI3DRealistic", "MPI3DReal", "Pinwheel", "Digits", "PatternFactor", "PerturbedDataset", "all_factors",
    "catalog", "data_dir", "factor_strides", "factors_to_index", "from_description", "get", "index_to_factors",
    "names", "perturb", "perturb_lowest_mig", "read_description", "SubGrid",
]
