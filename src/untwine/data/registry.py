"""The dataset registry: each dataset's name, ``get`` to build one by name, ``names`` and ``catalog``.

``DATASETS`` maps every registry name to its class. This module imports no dataset: the package
(``untwine.data``, which Python imports before any of its modules) lists the classes and registers them
(``register``), so that a dataset that builds another one by name (``PatternFactor``, a perturbed dataset
rebuilt from its description) imports ``get`` from here without an import circle.
"""

from __future__ import annotations

from pathlib import Path

from .base import SOURCE_KINDS, GroundTruthDataset

#: name -> class, from each class's ``name``; filled by ``register`` (the package registers every dataset)
DATASETS: dict[str, type[GroundTruthDataset]] = {}


def _registry(classes) -> dict[str, type[GroundTruthDataset]]:
    registry: dict[str, type[GroundTruthDataset]] = {}
    for cls in classes:
        if cls.name in registry:
            raise RuntimeError(f"two datasets are called {cls.name!r}: {registry[cls.name].__name__}, {cls.__name__}")
        if cls.source not in SOURCE_KINDS:
            raise RuntimeError(f"{cls.__name__}.source is {cls.source!r}, not one of {SOURCE_KINDS}")
        registry[cls.name] = cls
    return registry


def register(classes) -> None:
    """Add ``classes`` to ``DATASETS`` under their ``name``, all or none.

    Parameters
    ----------
    classes : iterable of type[GroundTruthDataset]
        The dataset classes.

    Raises
    ------
    RuntimeError
        If a name is taken twice (among them or already registered) or a ``source`` is not in
        ``SOURCE_KINDS``; nothing is registered then.
    """
    DATASETS.update(_registry([*DATASETS.values(), *classes]))


def get(name: str, options: dict | None = None, **more_options) -> GroundTruthDataset:
    """The dataset called ``name``, built with its options.

    Options are keyword arguments, or one dict ``options``, so that both
    ``get("pinwheel", num_arms=3)`` and ``get(**dataset.spec())`` work.
    A perturbed-dataset description (``*.json``) is not a name: use
    ``untwine.runs.load_dataset(path)``.

    Parameters
    ----------
    name : str
        A registry name (``names()`` lists them).
    options : dict, optional
        The dataset's constructor options.
    **more_options
        More options, as keywords; none may also be in ``options``.

    Returns
    -------
    GroundTruthDataset
        The dataset.

    Raises
    ------
    ValueError
        If ``name`` is not a dataset (or is a ``*.json`` description), ``options`` is not a dict,
        an option is given twice, or the dataset does not take the options given.

    Examples
    --------
    >>> from untwine import data
    >>> data.get("dsprites").factor_sizes
    (3, 6, 40, 32, 32)
    """
    if isinstance(name, (str, Path)) and str(name).endswith(".json"):
        raise ValueError(
            f"{str(name)!r} is a perturbed-dataset description, not a dataset name: the data room does "
            f"not open runs; use untwine.runs.load_dataset({str(name)!r})"
        )
    try:
        cls = DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))} (a perturbed-dataset "
            f"description, *.json, is read by untwine.runs.load_dataset)"
        ) from None
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
    """The registry names of every dataset, sorted.

    Returns
    -------
    list of str
        The names ``get`` accepts.
    """
    return sorted(DATASETS)


def catalog() -> list[dict]:
    """One dict per dataset: name, kind, files looked for, present, path, description.

    ``kind`` is the class's ``source``: "procedural" (rendered here), "bundled"
    (ships with an installed package) or "file" (published files read from
    ``data_dir``). ``present`` is True when nothing is missing; ``path`` is
    where the (first) file is looked for, or, when any one file is enough, the
    first one found; ``description`` is the first line of the class's docstring.

    Returns
    -------
    list of dict
        One entry per dataset, sorted by name.
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
        entries.append(
            {
                "name": name,
                "kind": cls.source,
                "files": [str(f) for f in files],
                "present": present,
                "path": str(found[0] if found and cls.any_file else files[0]) if files else None,
                "description": doc[0] if doc else "",
            }
        )
    return entries
