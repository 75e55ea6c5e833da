"""Atomic file writing: the one helper every room uses to write a file.

A reader (or a process started after a kill) sees the old content or the new,
never half of either. Depends on nothing but the standard library, so that any
room, the lowest included, may import it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def fsync_directory(path: str | Path) -> None:
    """Make a rename inside ``path`` durable (a no-op where directories cannot be opened).

    Parameters
    ----------
    path : str or Path
        The directory whose entries were changed.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` so that readers see the old content or the new, never half of it.

    The bytes go to a temporary file in the same directory, are flushed to disk, and the
    temporary file is renamed over ``path``. If anything fails (a full disk, a kill), the
    temporary file is removed and ``path`` keeps its old content.

    Parameters
    ----------
    path : str or Path
        The file to write; its parent directories are created.
    data : bytes or str
        The whole content (a str is encoded as UTF-8).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def atomic_write_with(path: str | Path, write) -> None:
    """As ``atomic_write``, for a writer that takes a file name.

    ``write(tmp)`` writes the whole content to the temporary path ``tmp``, which is then flushed
    to disk and renamed over ``path``; if ``write`` raises, the temporary file is removed and
    ``path`` keeps its old content.

    Parameters
    ----------
    path : str or Path
        The file to write; its parent directories are created.
    write : callable
        Called with the temporary path (a str), e.g. ``lambda tmp: table.to_parquet(tmp)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def replace_directory(new: str | Path, target: str | Path) -> None:
    """Put the finished directory ``new`` in the place of ``target`` (which may not exist), both in one parent.

    A directory cannot be renamed over a non-empty one, so the old one is first moved aside
    (``.<name>-old-<pid>``), then ``new`` renamed into place, then the old one removed. A kill
    between the two renames leaves ``target`` missing and the old copy aside: whoever writes it
    next removes leftovers named ``.<name>-*`` and writes it again (use it for what can be
    rebuilt, such as TensorBoard events).

    Parameters
    ----------
    new : str or Path
        The finished directory.
    target : str or Path
        Where it goes, in the same parent as ``new``.
    """
    new, target = Path(new), Path(target)
    aside = target.with_name(f".{target.name}-old-{os.getpid()}")
    if target.exists():
        os.replace(target, aside)
    os.replace(new, target)
    fsync_directory(target.parent)
    if aside.exists():
        shutil.rmtree(aside, ignore_errors=True)


__all__ = ["atomic_write", "atomic_write_with", "replace_directory", "fsync_directory"]
