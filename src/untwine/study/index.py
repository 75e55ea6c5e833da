"""What ``collect`` and ``status`` learnt about each run last time, and whether it still holds.

A paper-sized study has 12,600 run directories; reading every one of them on each
``untwine study collect``, ``status`` or ``report`` costs minutes. Each command keeps an
index in the study directory (a JSON file, written atomically): for every run, the
*signature* of the files it read (inode, size and modification time in nanoseconds of each,
or nothing where the file is absent) and what it learnt from them. On the next call a run
whose signature is unchanged is not read again.

Every file of a run directory is written by replacing it (:func:`untwine.atomic.atomic_write`:
a new inode each time), so a changed file always changes its signature; an edit in place
changes its size or its modification time. An index that is missing, damaged, of another
format or written for another question (``key``: e.g. the metrics a spec asks for) is
ignored and rebuilt: it is a cache, never the only copy of anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..atomic import atomic_write

__all__ = ["signature", "RunIndex"]

FORMAT = 1


def signature(run_dir: Path, names) -> list:
    """[inode, size, mtime_ns] of each file ``names`` (relative to ``run_dir``), None for an absent one."""
    out = []
    for name in names:
        try:
            stat = os.stat(os.path.join(run_dir, name))
        except (FileNotFoundError, NotADirectoryError):
            out.append(None)
        else:
            out.append([stat.st_ino, stat.st_size, stat.st_mtime_ns])
    return out


class RunIndex:
    """A cache of one fact per run, valid while the run's signature and the index's ``key`` are unchanged.

    ``get(path, sig)`` gives the stored fact or None; ``put(path, sig, fact)`` records one;
    ``save()`` writes the index if anything changed (a directory that cannot be written, e.g. a
    read-only copy of a finished study, only loses the speed-up)."""

    def __init__(self, path: Path, key):
        self.path = Path(path)
        self.key = key
        self.runs: dict = {}
        self.extra: dict = {}
        self.changed = False
        try:
            data = json.loads(self.path.read_bytes().decode("utf-8"))
        except (OSError, ValueError):
            return
        if (
            isinstance(data, dict)
            and data.get("format") == FORMAT
            and data.get("key") == key
            and isinstance(data.get("runs"), dict)
        ):
            self.runs = data["runs"]
            self.extra = data.get("extra") if isinstance(data.get("extra"), dict) else {}

    def get(self, path: str, sig: list):
        entry = self.runs.get(path)
        if isinstance(entry, dict) and entry.get("sig") == sig:
            return entry.get("fact")
        return None

    def put(self, path: str, sig: list, fact) -> None:
        self.runs[path] = {"sig": sig, "fact": fact}
        self.changed = True

    def keep_only(self, paths) -> None:
        """Forget runs that are not in ``paths`` (runs of a spec no longer asked for)."""
        paths = set(paths)
        gone = [p for p in self.runs if p not in paths]
        for path in gone:
            del self.runs[path]
        self.changed = self.changed or bool(gone)

    def save(self) -> None:
        if not self.changed:
            return
        text = json.dumps(
            {"format": FORMAT, "key": self.key, "extra": self.extra, "runs": self.runs}, separators=(",", ":")
        )
        try:
            atomic_write(self.path, text)
        except OSError:
            return  # a read-only study directory: the next call reads the runs again
        self.changed = False
