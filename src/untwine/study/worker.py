"""What an executor runs: one task, in whatever process or machine the executor picked.

A task is a record of plain data (:mod:`.tasks`: picklable, sendable to a Ray worker or a
SLURM job), and so is its outcome. :func:`execute` runs one:

- :class:`~.tasks.RunTask`: take the run directory's lock, train the run (continuing it
  from its checkpoint when it has one, :func:`untwine.runs.train_run`), score what is
  missing on each representation (:func:`untwine.runs.score_run`), write its TensorBoard events
  (:mod:`.events`). An exception (a NaN loss, a missing dataset file, anything) is recorded
  in the run's ``error.json`` and returned as a failed outcome: the study goes on.
- :class:`~.tasks.UDRTask`: UDR over the runs of one cell (:mod:`.udr`).

Every file a task writes is its own run's, written atomically; a kill at any moment
leaves the directory resumable. The lock (``.lock``, an ``flock``) makes a second task on
the same run (a resubmitted job, a retried task whose first try is still dying) wait
for the first instead of writing beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import traceback
from pathlib import Path

import torch

from ..atomic import atomic_write
from ..config import RunConfig
from ..run_files import read_manifest
from ..runs import score_run, train_run
from . import events
from .files import ERROR_FILE, LOCK_FILE, RUNNING_FILE, read_error, record_error, run_lock, utc_now  # noqa: F401 (re-exported)
from .results import training_summary
from .tasks import Outcome, RunTask, Task, UDRTask
from .udr import execute_udr

__all__ = ["execute", "ERROR_FILE", "RUNNING_FILE", "LOCK_FILE", "read_error", "record_error", "run_lock"]


def _step(run_dir: Path) -> int | None:
    try:
        manifest = read_manifest(run_dir)
    except ValueError:
        return None
    return None if manifest is None else manifest.step


def _summary(run_dir: Path) -> dict:
    """A few numbers for the driver's line about a finished run."""
    out = {}
    try:
        out.update({k: v for k, v in training_summary(run_dir).items() if v == v})
    except (OSError, ValueError):
        pass
    return out


def _execute_run(task: RunTask) -> Outcome:
    run_dir = Path(task.out)
    config = RunConfig.from_dict(task.config)
    started = time.perf_counter()
    with run_lock(run_dir):
        atomic_write(
            run_dir / RUNNING_FILE, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": utc_now()})
        )
        try:
            train_run(config, run_dir, progress=False)
            trained = time.perf_counter()
            if task.representations:
                score_run(run_dir, list(task.representations), list(task.metrics), task.seed, task.fast, task.params)
            scored = time.perf_counter()
            events.write_events(run_dir, task.hparams)
            (run_dir / ERROR_FILE).unlink(missing_ok=True)
            return Outcome(
                task.path,
                ok=True,
                train_seconds=trained - started,
                score_seconds=scored - trained,
                summary=_summary(run_dir),
            )
        except Exception as error:  # noqa: BLE001 - any failure of one run is recorded and the study goes on
            message = f"{type(error).__name__}: {error}"
            record_error(run_dir, type(error).__name__, message, traceback.format_exc(), _step(run_dir))
            with contextlib.suppress(Exception):
                events.write_events(run_dir, task.hparams)
            return Outcome(task.path, ok=False, error=message)
        finally:
            (run_dir / RUNNING_FILE).unlink(missing_ok=True)


def execute(task: Task) -> Outcome:
    """Run one task (see the module docstring); returns its outcome, never raises for a failure of the run."""
    if getattr(task, "threads", 0):  # not a task at all: the TypeError below names it
        torch.set_num_threads(task.threads)
    if isinstance(task, RunTask):
        return _execute_run(task)
    if isinstance(task, UDRTask):
        try:
            return execute_udr(task)
        except Exception as error:  # noqa: BLE001 - a failed UDR cell is reported; the study goes on
            return Outcome(
                task.path, ok=False, error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc()
            )
    raise TypeError(f"a study task is a RunTask or a UDRTask, got {type(task).__name__}")
