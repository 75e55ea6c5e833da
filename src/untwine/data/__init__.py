"""Ground-truth datasets: a finite factor space and a way to observe it.

Each dataset is one class that describes itself (see ``GroundTruthDataset``):
its registry ``name``, its ``source`` ("procedural", "bundled" or "file"), the
``files`` it reads and whether any one of them is enough (``any_file``).
``DATASETS`` maps every name to its class, built from the classes themselves (the
one place where names live): adding a dataset is one class in one file, listed in
``_CLASSES`` below, which registers them in ``untwine.data.registry``.
``untwine.data.get(name, **options)`` builds one, and
``get(**dataset.spec())`` rebuilds it; ``catalog`` says for each whether it is
rendered here or read from a file, and whether that file is present.

The data room imports nothing above it: a perturbed-dataset description
(``*.json``) is read here (``read_description``) but rebuilt with its run's
encoder by ``untwine.runs.load_dataset(path)``.
"""

from __future__ import annotations

from .base import (
    GroundTruthData,
    GroundTruthDataset,
    all_factors,
    data_dir,
    factor_strides,
    factors_to_index,
    index_to_factors,
)
from .dsprites import DSprites, DSpritesNPZ
from .dsprites_variants import ColorDSprites, NoisyDSprites, ScreamDSprites
from .files import Cars3D, MPI3DReal, MPI3DRealistic, MPI3DToy, SmallNORB
from .perturb import PatternFactor, PerturbedDataset, from_description, perturb, perturb_lowest_mig, read_description
from .registry import DATASETS, catalog, get, names, register
from .shapes3d import Shapes3D, Shapes3DH5
from .small import Digits, Pinwheel
from .subgrid import SubGrid

_CLASSES: tuple[type[GroundTruthDataset], ...] = (
    DSprites,
    DSpritesNPZ,
    ColorDSprites,
    NoisyDSprites,
    ScreamDSprites,
    Shapes3D,
    Shapes3DH5,
    Cars3D,
    SmallNORB,
    MPI3DToy,
    MPI3DRealistic,
    MPI3DReal,
    Pinwheel,
    Digits,
    PatternFactor,
)


register(_CLASSES)


__all__ = [
    "DATASETS",
    "GroundTruthData",
    "GroundTruthDataset",
    "DSprites",
    "DSpritesNPZ",
    "ColorDSprites",
    "NoisyDSprites",
    "ScreamDSprites",
    "Shapes3D",
    "Shapes3DH5",
    "Cars3D",
    "SmallNORB",
    "MPI3DToy",
    "MPI3DRealistic",
    "MPI3DReal",
    "Pinwheel",
    "Digits",
    "PatternFactor",
    "PerturbedDataset",
    "all_factors",
    "catalog",
    "data_dir",
    "factor_strides",
    "factors_to_index",
    "from_description",
    "get",
    "index_to_factors",
    "names",
    "perturb",
    "perturb_lowest_mig",
    "read_description",
    "SubGrid",
]
