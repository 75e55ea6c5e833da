"""Ground-truth datasets: a finite factor space and a way to observe it.

``untwine.data.get(name, **options)`` returns a dataset by name, or rebuilds a
perturbed dataset from its JSON description when ``name`` is a path ending in
``.json``; ``DATASETS`` maps every name to its class (the one place where names
live); :func:`catalog` says for each whether it is rendered here or read from a
file, and whether that file is present.
"""

from __future__ import annotations

from pathlib import Path

from .base import GroundTruthData, GroundTruthDataset, data_dir
from .dsprites import DSprites, DSpritesNPZ
from .dsprites_variants import SCREAM_FILENAMES, ColorDSprites, NoisyDSprites, ScreamDSprites
from .files import Cars3D, MPI3DReal, MPI3DRealistic, MPI3DToy, SmallNORB
from .perturb import PerturbedDataset, perturb
from .shapes3d import Shapes3D, Shapes3DH5
from .small import Digits, Pinwheel

DATASETS: dict[str, type] = {
    "dsprites": DSprites,
    "dsprites-npz": DSpritesNPZ,
    "color-dsprites": ColorDSprites,
    "noisy-dsprites": NoisyDSprites,
    "scream-dsprites": ScreamDSprites,
    "shapes3d": Shapes3D,
    "shapes3d-h5": Shapes3DH5,
    "cars3d": Cars3D,
    "smallnorb": SmallNORB,
    "mpi3d-toy": MPI3DToy,
    "mpi3d-realistic": MPI3DRealistic,
    "mpi3d-real": MPI3DReal,
    "pinwheel": Pinwheel,
    "digits": Digits,
}

#: Where each dataset's observations come from: rendered here ("procedural"),
#: shipped with an installed package ("bundled"), or read from published files
#: in the data directory ("file"). scream-dsprites is rendered but needs the painting.
SOURCES: dict[str, str] = {
    "dsprites": "procedural", "color-dsprites": "procedural", "noisy-dsprites": "procedural",
    "scream-dsprites": "procedural", "shapes3d": "procedural", "pinwheel": "procedural",
    "digits": "bundled",
    "dsprites-npz": "file", "shapes3d-h5": "file", "cars3d": "file", "smallnorb": "file",
    "mpi3d-toy": "file", "mpi3d-realistic": "file", "mpi3d-real": "file",
}

_FILES: dict[str, tuple[str, ...]] = {
    "dsprites-npz": ("dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz",),
    "scream-dsprites": SCREAM_FILENAMES,  # either one
    "shapes3d-h5": ("3dshapes.h5",),
    "cars3d": Cars3D.files,
    "smallnorb": SmallNORB.files,
    "mpi3d-toy": MPI3DToy.files,
    "mpi3d-realistic": MPI3DRealistic.files,
    "mpi3d-real": MPI3DReal.files,
}
_ANY_OF = {"scream-dsprites"}


def get(name: str | Path, **options) -> GroundTruthDataset:
    """The dataset called ``name``, built with ``options``.

    ``name`` may also be the path of a perturbed-dataset description (``*.json``,
    written by ``untwine perturb`` or :meth:`PerturbedDataset.save`).

    >>> from untwine import data
    >>> data.get("dsprites").factor_sizes
    (3, 6, 40, 32, 32)
    """
    if str(name).endswith(".json"):
        if options:
            raise ValueError(f"a perturbed-dataset description takes no options, got {sorted(options)}")
        from .perturb import load

        dataset = load(name)
    else:
        try:
            cls = DATASETS[name]
        except (KeyError, TypeError):
            raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}, "
                             f"or the path of a perturbed-dataset description (*.json)") from None
        try:
            dataset = cls(**options)
        except TypeError as error:
            raise ValueError(f"bad options {options} for dataset {name!r}: {error}") from None
    # what rebuilds it (used by perturbed-dataset descriptions)
    dataset.registry_name = str(name)
    dataset.options = dict(options)
    return dataset


def names() -> list[str]:
    return sorted(DATASETS)


def catalog() -> list[dict]:
    """One dict per dataset: name, kind, files looked for, present, path, description.

    ``kind`` is "procedural" (rendered here), "bundled" (ships with an installed
    package) or "file" (published files read from :func:`data_dir`). ``present``
    is True when nothing is missing; ``path`` is where the (first) file is looked for.
    """
    entries = []
    for name in names():
        files = [data_dir() / f for f in _FILES.get(name, ())]
        if not files:
            present = True
        elif name in _ANY_OF:
            present = any(f.exists() for f in files)
        else:
            present = all(f.exists() for f in files)
        found = [f for f in files if f.exists()]
        doc = (DATASETS[name].__doc__ or "").strip().splitlines()
        entries.append({
            "name": name,
            "kind": SOURCES[name],
            "files": [str(f) for f in files],
            "present": present,
            "path": str(found[0] if found and name in _ANY_OF else files[0]) if files else None,
            "description": doc[0] if doc else "",
        })
    return entries


__all__ = [
    "DATASETS", "SOURCES", "GroundTruthData", "GroundTruthDataset", "DSprites", "DSpritesNPZ", "ColorDSprites",
    "NoisyDSprites", "ScreamDSprites", "Shapes3D", "Shapes3DH5", "Cars3D", "SmallNORB", "MPI3DToy",
    "MPI3DRealistic", "MPI3DReal", "Pinwheel", "Digits", "PerturbedDataset", "catalog", "data_dir", "get", "names",
    "perturb",
]
