"""The perturbed-dataset description file: its format and version, the check of a description, and reading one.

A description is JSON (format ``untwine.perturbed-dataset``, version 3; the package docstring,
:mod:`untwine.data.perturb`, lists what it holds and how versions 1 and 2 are read). It is written by
:meth:`~untwine.data.perturb.PerturbedDataset.save` and rebuilt by
:meth:`~untwine.data.perturb.PerturbedDataset.from_description`; this module only reads and checks it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .patterns import KINDS

FORMAT = "untwine.perturbed-dataset"
VERSION = 3


def description_clip(description: dict) -> bool:
    """Whether a description's observations are clipped: its ``clip``, or True for version 1 (which clipped).

    Parameters
    ----------
    description
        A perturbed-dataset description (as ``read_description`` returns it).

    Returns
    -------
    bool
        Its ``clip`` where it has one; otherwise True for a version-1 description and False for a later
        one (a description without ``version`` counts as the current one).
    """
    if "clip" in description:
        return bool(description["clip"])
    return description.get("version", VERSION) < 2  # version 1 was written before clip was an option


def check_description(description, source: str) -> None:
    """Raise ValueError (naming ``source``) unless ``description`` is a valid perturbed-dataset description."""
    if not isinstance(description, dict):
        raise ValueError(f"{source} is not a JSON object")
    if description.get("format") != FORMAT:
        raise ValueError(f"{source}: 'format' is {description.get('format')!r}, not {FORMAT!r}")
    version = description.get("version", VERSION)
    if not isinstance(version, int) or version > VERSION:
        raise ValueError(f"{source}: version {version!r} is newer than this untwine reads ({VERSION}); upgrade untwine")
    base = description.get("base")
    if not isinstance(base, dict) or not isinstance(base.get("name"), str):
        raise ValueError(f'{source}: \'base\' must be {{"name": DATASET, "options": {{...}}}}, got {base!r}')
    if not isinstance(base.get("options") or {}, dict):
        raise ValueError(f"{source}: 'base.options' must be an object, got {base.get('options')!r}")
    clip = description.get("clip")
    if clip is None and version >= 2:
        raise ValueError(f"{source}: a version-{version} description must say 'clip' (true or false)")
    if clip is not None and not isinstance(clip, bool):
        raise ValueError(f"{source}: 'clip' must be true or false, got {clip!r}")
    rescale = description.get("rescale")
    if rescale is None and version >= 3:
        raise ValueError(f"{source}: a version-{version} description must say 'rescale' (true or false)")
    if rescale is not None and not isinstance(rescale, bool):
        raise ValueError(f"{source}: 'rescale' must be true or false, got {rescale!r}")
    if rescale and description_clip(description):
        raise ValueError(f"{source}: 'clip' and 'rescale' exclude each other; set one of them to false")
    selection = description.get("selection")
    if selection is not None and not isinstance(selection, dict):
        raise ValueError(f"{source}: 'selection' must be an object, got {selection!r}")
    kind = description.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{source}: 'kind' must be one of {', '.join(KINDS)}, got {kind!r}")
    for key, convert in (("epsilon", float), ("seed", int)):
        try:
            convert(description[key])
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{source}: {key!r} must be a number, got {description.get(key)!r}") from None
    if kind == "pattern":
        try:
            int(description["latent"])
            float(description["scaling"]["offset"])
            float(description["scaling"]["rows_per_unit"])
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"{source}: a pattern perturbation needs 'latent' and 'scaling' {{'offset', 'rows_per_unit'}}"
            ) from None
    run_dir = description.get("run_dir")
    if run_dir is not None and not isinstance(run_dir, str):
        raise ValueError(f"{source}: 'run_dir' must be a string, got {run_dir!r}")


def read_description(path: str | Path) -> dict:
    """Read and check a perturbed-dataset description (JSON written by `PerturbedDataset.save`).

    The dataset itself is rebuilt by `PerturbedDataset.from_description` (or
    ``untwine.runs.load_dataset(path)``, which also loads the run's encoder).

    Parameters
    ----------
    path
        The description file.

    Returns
    -------
    dict
        The description, as read from the file.

    Raises
    ------
    FileNotFoundError
        No file at ``path``; the message names it and how to write a good one.
    ValueError
        A malformed file: not readable JSON, or not a valid description (a wrong format, a version newer
        than this untwine reads, a bad field, or both ``clip`` and ``rescale`` set); the message names
        the file and how to write a good one.
    """
    path = Path(path)
    fix = f"write it again with `untwine perturb RUN_DIR --epsilon E --out {path}` (or PerturbedDataset.save)"
    if not path.is_file():
        raise FileNotFoundError(f"perturbed-dataset description not found: {path}; {fix}")
    try:
        description = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise ValueError(
            f"{path} is not a perturbed-dataset description (not readable JSON: {error}); {fix}"
        ) from error
    try:
        check_description(description, str(path))
    except ValueError as error:
        raise ValueError(f"{error}; {fix}") from None
    return description
