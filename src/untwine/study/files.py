"""The files a study keeps in a run directory beside the run's own (untwine.run_files names those): the
record of the run's last failure, the note of the task running it, and its lock. A leaf of the study room:
the state (what a directory says) and the worker (what a task writes) both read them here."""

from __future__ import annotations

import contextlib
import json
import socket
from datetime import datetime, timezone
from pathlib import Path

from ..atomic import atomic_write
from ..run_files import ERROR_FILE, LOCK_FILE, RUNNING_FILE

__all__ = ["ERROR_FILE", "RUNNING_FILE", "LOCK_FILE", "read_error", "record_error", "run_lock"]


def utc_now() -> str:
    """The time now, UTC, to the second, as the files of a run record it."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """An exclusive lock on a run directory for the life of a task (released by the OS if the process dies)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = open(run_dir / LOCK_FILE, "a+")
    try:
        try:
            import fcntl  # POSIX only: imported where it exists
        except ImportError:  # no flock (Windows): a study there runs one process per run directory anyway
            fcntl = None
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        handle.close()


def read_error(run_dir: str | Path) -> dict | None:
    """The failure recorded in a run directory, or None."""
    path = Path(run_dir) / ERROR_FILE
    if not path.is_file():
        return None
    try:
        error = json.loads(path.read_text())
        return error if isinstance(error, dict) else {"error": str(error)}
    except (OSError, ValueError) as error:
        return {"type": "unreadable", "error": f"{path} does not parse ({error})"}


def record_error(run_dir: str | Path, kind: str, message: str, trace: str = "", step: int | None = None) -> dict:
    record = {
        "type": kind,
        "error": message,
        "step": step,
        "time": utc_now(),
        "host": socket.gethostname(),
        "traceback": trace,
    }
    atomic_write(Path(run_dir) / ERROR_FILE, json.dumps(record, indent=1))
    return record
